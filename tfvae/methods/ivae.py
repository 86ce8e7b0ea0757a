"""--model=ivae: implicit posteriors with the KL in dual form (Fang et al. 2019; M9, M10).

iVAE draws z = G(x, eps) from a sampler with no density and trains on
log p(x|z) - nu(x, z), with a critic nu(x, z) that keeps up with the KL's
dual form by a step of its own before every model step
(`tfvae.models.DualKLVAE`). iVAE_MI (preset `ivae_mi`, --critic_sees=z) gives
the critic z alone: the KL becomes that of the aggregate posterior q(z), and
the objective no longer penalises I(x; z).
"""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require

CRITIC_INPUTS = ("xz", "z")


def build_critic(config, sees_x=True):
  """A critic of --critic_hidden units, reading (x, z) or z alone."""
  from tfvae.nets.critic import Critic
  return Critic(config.critic_hidden, sees_x=sees_x, name="critic")


def build(config, dataset):
  from tfvae import latents
  from tfvae import models
  family = latents.ImplicitLatents(config.latent_dim, config.noise_dim, config.sampler_hidden)
  return models.DualKLVAE(critic=build_critic(config, config.critic_sees == "xz"),
                          beta=config.beta, **models.model_arguments(config, dataset, family))


def validate(config):
  require(config.noise_dim >= 1 and config.sampler_hidden >= 1 and config.critic_hidden >= 1,
          f"--noise_dim, --sampler_hidden and --critic_hidden must be positive, got "
          f"{config.noise_dim}, {config.sampler_hidden}, {config.critic_hidden}.")
  require(config.objective == "elbo",
          f"--model=ivae trains its own dual-form objective; drop --objective={config.objective}.")
  require(config.prior in (None, "standard_normal"),
          f"--model=ivae samples its prior N(0, I); drop --prior={config.prior}.")


METHOD = Method(
    name="ivae",
    summary="iVAE / iVAE_MI: sampler posterior z = G(x, eps), KL by its dual form with a critic "
            "nu(x, z) or nu(z) (Fang et al. 2019; M9, M10)",
    build=build,
    options=(
        Option("noise_dim", 32, "--model=ivae (M9): width of the sampler's noise eps."),
        Option("sampler_hidden", 256, "--model=ivae: hidden units of the sampler G(x, eps)."),
        Option("critic_hidden", 256, "--model=ivae (and apo_vae): hidden units of the critic."),
        Option("critic_sees", "xz", "--model=ivae: the critic reads (x, z) (iVAE) or z alone "
               "(iVAE_MI: KL of the aggregate posterior).", choices=CRITIC_INPUTS),
    ),
    validate=validate,
    presets={
        "ivae": Preset("iVAE (Fang et al. (2019), PTB table, row 'iVAE')",
                       {"model": "ivae", "critic_sees": "xz"}),
        "ivae_mi": Preset("iVAE_MI: the critic sees z alone (Fang et al. (2019), PTB table, row "
                          "'iVAE_MI')", {"model": "ivae", "critic_sees": "z"}),
    },
)
