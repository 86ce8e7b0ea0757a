"""--model=delta_vae: posterior variances limited so that each KL_d >= delta (Razavi et al. 2019; M19)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  return models.DeltaVAE(delta=config.delta, beta=config.beta,
                         **models.model_arguments(config, dataset))


def validate(config):
  require(config.delta > 0, f"--delta must be a positive rate in nats, got {config.delta}.")
  require(config.prior in (None, "standard_normal"),
          f"--model=delta_vae bounds the KL to the N(0, I) prior; --prior={config.prior} is "
          "another: use --prior=standard_normal.")


METHOD = Method(
    name="delta_vae",
    summary="delta-VAE: posterior variances kept in (0, v_low] so that every dimension's KL "
            "is at least --delta nats (Razavi et al. 2019; M19)",
    build=build,
    options=(
        Option("delta", 0.1, "delta-VAE (M19): the committed rate per latent dimension, in "
               "nats."),
    ),
    validate=validate,
    presets={"delta_vae": Preset("delta-VAE, delta = 0.1 (Shen et al. (2021), table 1, row "
                                 "'delta-VAE (0.1)')",
                                 {"model": "delta_vae", "delta": 0.1})},
)
