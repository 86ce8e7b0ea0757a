"""--model=savae: the semi-amortised VAE (Kim et al. 2018; M8)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  return models.SAVAE(refinement_steps=config.refine_steps,
                      refinement_step_size=config.refine_step_size,
                      refinement_momentum=config.refine_momentum, beta=config.beta,
                      **models.model_arguments(config, dataset))


def validate(config):
  require(config.refine_steps >= 0 and config.refine_step_size > 0,
          "--refine_steps must be >= 0 and --refine_step_size positive, got "
          f"{config.refine_steps}, {config.refine_step_size}.")
  require(0.0 <= config.refine_momentum < 1.0,
          f"--refine_momentum must be in [0, 1), got {config.refine_momentum}.")


METHOD = Method(
    name="savae",
    summary="semi-amortised VAE: SVI steps refine each posterior (Kim et al. 2018; M8)",
    build=build,
    options=(
        Option("refine_steps", 20, "SA-VAE (M8): gradient steps refining q's parameters."),
        Option("refine_step_size", 0.03125, "SA-VAE: step size of the refinement, per example "
               "(Kim et al.'s 1 on a batch mean of 32 = 1/32)."),
        Option("refine_momentum", 0.5, "SA-VAE: momentum of the refinement (Kim et al.)."),
    ),
    validate=validate,
    presets={"kim2018_savae": Preset(
        "semi-amortised VAE: 20 refinement steps, size 1 on the batch mean (1/32 per example), "
        "momentum 0.5 (Kim et al. 2018; Fang et al. (2019), PTB table, row 'SA-VAE')",
        {"model": "savae", "refine_steps": 20, "refine_step_size": 1 / 32,
         "refine_momentum": 0.5})},
)
