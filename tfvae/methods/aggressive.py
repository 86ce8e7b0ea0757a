"""--model=aggressive: aggressive inference-network training (He et al. 2019; M7)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require
from tfvae.objectives.choices import VAE_OBJECTIVES


def build(config, dataset):
  from tfvae import models
  return models.AggressiveVAE(
      count_units=dataset.count_tokens if dataset.kind == "text" else None,
      inner_cap=config.inner_cap, check_every=config.check_every, beta=config.beta,
      objective=config.objective, free_bits=config.fb_lambda,
      **models.model_arguments(config, dataset))


def validate(config):
  require(config.inner_cap > 0 and config.check_every > 0,
          f"--inner_cap and --check_every must be positive integers, got {config.inner_cap}, "
          f"{config.check_every}.")
  require(config.inner_cap >= config.check_every,
          f"--inner_cap ({config.inner_cap}) must be at least --check_every "
          f"({config.check_every}).")
  require(config.lag_segments is None or config.lag_segments >= 1,
          f"--lag_segments must be a positive integer, got {config.lag_segments}.")
  require(config.mixed_precision != "mixed_float16",
          "--model=aggressive cannot use --mixed_precision=mixed_float16 (its two optimisers "
          "cannot share a loss-scale optimiser); use mixed_bfloat16 or float32.")


def callbacks(config, steps_per_epoch):
  from tfvae import models
  if config.lag_segments:
    return [models.SegmentStarts(config.epochs * steps_per_epoch, config.lag_segments)]
  return [models.AggressivePhaseEnd()]


METHOD = Method(
    name="aggressive",
    summary="aggressive inference-network training until validation MI stops rising "
            "(He et al. 2019; M7)",
    build=build,
    options=(
        Option("inner_cap", 100, "Aggressive training (M7): most encoder steps per decoder "
               "step."),
        Option("check_every", 15, "Aggressive training: encoder steps between checks of the "
               "loss."),
        Option("lag_segments", None, "Aggressive training in R segments (Yacoby et al. "
               "(2020), appendix E): each of R equal parts of the run starts with one inner "
               "loop, then trains jointly; unset: He et al.'s phase that ends when validation "
               "MI stops rising.", kind=int),
    ),
    validate=validate,
    callbacks=callbacks,
    objectives=VAE_OBJECTIVES,
    presets={"he2019_aggressive": Preset("aggressive inference-network training (He et al. "
                                         "2019; Li et al. (2019), Yahoo table, row "
                                         "'+ aggressive')",
                                         {"model": "aggressive"})},
)
