"""--model=ivae: implicit posteriors with the KL in dual form (Fang et al. 2019; M9, M10).

iVAE draws z = G(x, eps) from a sampler with no density and trains on
log p(x|z) - nu(x, z), with a critic nu(x, z) that keeps up with the KL's
dual form by steps of its own before every model step
(`tfvae.models.DualKLVAE`). The defaults are those of Fang et al.'s code: a
linear sampler of [h(x), eps], a critic of three leaky-ReLU layers of 512
units taking 5 Adam steps at 1e-5 per model step, the KL weight warmed up. iVAE_MI (preset `ivae_mi`, --critic_sees=z) gives
the critic z alone: the KL becomes that of the aggregate posterior q(z), and
the objective no longer penalises I(x; z).
"""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require

CRITIC_INPUTS = ("xz", "z")
# Fang et al.'s code raises the KL weight linearly from 0.1 to 1 over 10 epochs.
WARM_UP = {"beta_schedule": "linear", "anneal_start": 0.1, "anneal_epochs": 10.0}


def dual_kl_arguments(config, sees_x=True):
  """The critic of `config` and its schedule, as `DualKLVAE` keywords (iVAE, APo-VAE)."""
  from tfvae.nets.critic import Critic
  return dict(critic=Critic(config.critic_hidden, sees_x=sees_x, name="critic"),
              critic_steps=config.critic_steps,
              critic_learning_rate=config.critic_learning_rate)


def validate_critic(config):
  """Checks the critic's options (iVAE, APo-VAE)."""
  require(config.critic_hidden >= 1 and config.critic_steps >= 1,
          f"--critic_hidden and --critic_steps must be positive, got {config.critic_hidden}, "
          f"{config.critic_steps}.")
  require(config.critic_learning_rate is None or config.critic_learning_rate > 0,
          f"--critic_learning_rate must be positive, got {config.critic_learning_rate}.")


def build(config, dataset):
  from tfvae import latents
  from tfvae import models
  family = latents.ImplicitLatents(config.latent_dim, config.noise_dim, config.sampler_hidden)
  return models.DualKLVAE(beta=config.beta, **dual_kl_arguments(config, config.critic_sees == "xz"),
                          **models.model_arguments(config, dataset, family))


def validate(config):
  validate_critic(config)
  require(config.noise_dim >= 1 and config.sampler_hidden >= 0,
          f"--noise_dim must be positive and --sampler_hidden at least 0, got "
          f"{config.noise_dim}, {config.sampler_hidden}.")
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
        Option("sampler_hidden", 0, "--model=ivae: hidden units of the sampler G(x, eps)'s two "
               "hidden layers; 0: linear in [h(x), eps], as Fang et al.'s code."),
        Option("critic_hidden", 512, "--model=ivae (and apo_vae): units of each of the "
               "critic's three hidden layers."),
        Option("critic_steps", 5, "--model=ivae (and apo_vae): critic steps before each model "
               "step."),
        Option("critic_learning_rate", 1e-5, "--model=ivae (and apo_vae): the critic's Adam "
               "learning rate (Fang et al.'s code: 1e-5).", kind=float),
        Option("critic_sees", "xz", "--model=ivae: the critic reads (x, z) (iVAE) or z alone "
               "(iVAE_MI: KL of the aggregate posterior).", choices=CRITIC_INPUTS),
    ),
    validate=validate,
    presets={
        "ivae": Preset("iVAE, the KL weight warmed up from 0.1 over 10 epochs as Fang et al.'s "
                       "code (Fang et al. (2019), PTB table, row 'iVAE')",
                       {"model": "ivae", "critic_sees": "xz", **WARM_UP}),
        "ivae_mi": Preset("iVAE_MI: the critic sees z alone (Fang et al. (2019), PTB table, row "
                          "'iVAE_MI')", {"model": "ivae", "critic_sees": "z", **WARM_UP}),
    },
)
