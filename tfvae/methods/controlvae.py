"""--model=controlvae: beta set by a PI controller (Shao et al. 2020, Algorithm 1; M11)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  return models.ControlVAE(desired_kl=config.desired_kl, kp=config.kp, ki=config.ki,
                           beta_min=config.beta_min, beta_max=config.beta_max,
                           **models.model_arguments(config, dataset))


def validate(config):
  require(0.0 <= config.beta_min < config.beta_max,
          f"Need 0 <= --beta_min < --beta_max, got {config.beta_min}, {config.beta_max}.")
  require(config.desired_kl >= 0, f"--desired_kl must be >= 0, got {config.desired_kl}.")


def callbacks(config, steps_per_epoch):
  from tfvae import models
  del config, steps_per_epoch
  return [models.KLController()]


METHOD = Method(
    name="controlvae",
    summary="ControlVAE: a PI controller steers the KL to --desired_kl (Shao et al. 2020; M11)",
    build=build,
    options=(
        Option("desired_kl", 15.0, "ControlVAE (M11): KL the controller steers towards."),
        Option("kp", 0.01, "ControlVAE: proportional gain K_p."),
        Option("ki", 1e-4, "ControlVAE: integral gain K_i."),
        Option("beta_min", 0.0, "ControlVAE: lower clamp of beta."),
        Option("beta_max", 1.0, "ControlVAE: upper clamp of beta."),
    ),
    validate=validate,
    callbacks=callbacks,
    beta_schedule=False,
    presets={f"controlvae_kl{kl}": Preset(
        f"ControlVAE with desired KL {kl} (Shao et al. (2020) and its ControlVAE table, row "
        f"'ControlVAE-KL-{kl}')", {"model": "controlvae", "desired_kl": float(kl)})
             for kl in (15, 25, 35)},
)
