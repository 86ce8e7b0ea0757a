"""--model=apo_vae: the adversarial Poincare VAE (Dai et al. 2021).

APo-VAE has P-VAE's latents (`tfvae.methods.p_vae`: z in the Poincare ball of
curvature -c, the wrapped-normal q(z|x) of Dai et al. (2021), eq. 7, and the
gyroplane decoder input of their eq. 8) but does not evaluate the KL from the
densities: it reads it off a critic nu(x, z) trained on the KL's dual form
(their eqs. 9-11, Algorithm 1), as iVAE does (`tfvae.models.DualKLVAE`). Each
training step is --critic_steps ascent steps of the critic, then one step of
the model on -log p(x|z) + beta nu(x, z). The prior is the wrapped normal at
the origin (preset `apo_vae`) or the hyperbolic VampPrior (1/K) sum_k q(z|s_k)
over learned pseudo-inputs (preset `apo_vae_vp`, Dai et al. (2021), eq. 12):
the critic step, which needs only its samples, moves the pseudo-inputs down
the dual bound, toward the posterior's samples (Algorithm 1, line 11 updates
them with the critic; descent, since ascent would push the prior away from
the aggregate posterior it is meant to match). The critic's options (--critic_hidden,
--critic_steps, --critic_learning_rate) are iVAE's, and --curvature is
P-VAE's. The presets train the critic at 3e-5: on PTB at cpu scale, with
iVAE's 1e-5 the posterior's Monte-Carlo KL reached 112 nats in 400 steps
while the critic read 0.75, and at 3e-5 the critic had pulled it back to 5
nats by then (though not for the whole run: docs/methods.md, APo-VAE).
"""

from tfvae.methods import ivae
from tfvae.methods.p_vae import poincare_latents
from tfvae.methods.p_vae import validate_hyperbolic
from tfvae.methods.spec import Method
from tfvae.methods.spec import Preset

# The presets' critic: iVAE's schedule (5 steps per model step) at 3e-5.
CRITIC = {"critic_learning_rate": 3e-5}


def build(config, dataset):
  from tfvae import models
  return models.DualKLVAE(beta=config.beta, **ivae.dual_kl_arguments(config, sees_x=True),
                          **models.model_arguments(config, dataset, poincare_latents(config)))


def validate(config):
  validate_hyperbolic(config)
  ivae.validate_critic(config)


METHOD = Method(
    name="apo_vae",
    summary="APo-VAE: P-VAE's hyperbolic latents with the KL read off a critic nu(x, z) of its "
            "dual form (Dai et al. 2021)",
    build=build,
    validate=validate,
    vamp_prior=True,
    presets={
        "apo_vae": Preset("APo-VAE with the wrapped normal at the origin as prior, the KL weight "
                          "warmed up as iVAE's (Dai et al. (2021), PTB table, row 'APo-VAE')",
                          {"model": "apo_vae", **CRITIC, **ivae.WARM_UP}),
        "apo_vae_vp": Preset("APo-VAE+VP: the hyperbolic VampPrior over 10 pseudo-inputs, "
                             "trained in the critic step (Dai et al. (2021), eq. 12, Algorithm "
                             "1; PTB table, row 'APo-VAE+VP')",
                             {"model": "apo_vae", "prior": "vamp", "prior_components": 10,
                              **CRITIC, **ivae.WARM_UP}),
    },
)
