"""--model=bn_vae: batch-normalised posterior means with a fixed scale (Zhu et al. 2020; M16)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  return models.BNVAE(bn_gamma=config.bn_gamma, beta=config.beta,
                      **models.model_arguments(config, dataset))


def validate(config):
  require(config.bn_gamma > 0, f"--bn_gamma must be positive, got {config.bn_gamma}.")


METHOD = Method(
    name="bn_vae",
    summary="BN-VAE: batch-normalised posterior means, fixed scale --bn_gamma, keep the KL "
            "above d gamma^2 / 2 (Zhu et al. 2020; M16)",
    build=build,
    options=(
        Option("bn_gamma", 0.6, "BN-VAE (M16): the fixed scale gamma of the batch-normalised "
               "posterior means."),
    ),
    validate=validate,
    flow_posteriors=True,
    presets={"bn_vae": Preset("BN-VAE, gamma = 0.6 (Shen et al. (2021), table 1, row "
                              "'BN-VAE (0.6/ 0.6/ 0.5)', Yelp)", {"model": "bn_vae",
                                                                  "bn_gamma": 0.6}),
             "iaf_bn": Preset("IAF+BN: two IAF steps over z0 with batch-normalised means, "
                              "gamma = 0.7 (Shen et al. (2021), table 1, row 'IAF+BN', Yelp)",
                              {"model": "bn_vae", "bn_gamma": 0.7, "iaf_steps": 2})},
)
