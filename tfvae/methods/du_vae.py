"""--model=du_vae: dropout on the posterior variances, BN on the means (Shen et al. 2021; M17)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  return models.DUVAE(du_gamma=config.du_gamma, du_keep_prob=config.du_keep_prob,
                      beta=config.beta, **models.model_arguments(config, dataset))


def validate(config):
  require(config.du_gamma > 0, f"--du_gamma must be positive, got {config.du_gamma}.")
  require(0 < config.du_keep_prob <= 1,
          f"--du_keep_prob must be in (0, 1], got {config.du_keep_prob}.")


METHOD = Method(
    name="du_vae",
    summary="DU-VAE: dropout on the posterior variances, batch-normalised means with learned "
            "scales of root mean square --du_gamma (Shen et al. 2021; M17)",
    build=build,
    options=(
        Option("du_gamma", 0.5, "DU-VAE (M17): gamma, the root mean square of the learned BN "
               "scales of the posterior means."),
        Option("du_keep_prob", 0.8, "DU-VAE: p, the probability that a posterior variance keeps "
               "its value in the dropout."),
    ),
    validate=validate,
    flow_posteriors=True,
    presets={"du_vae": Preset("DU-VAE, gamma = 0.5, p = 0.8 (Shen et al. (2021), table 1, row "
                              "'DU-VAE (0.5, 0.8)')",
                              {"model": "du_vae", "du_gamma": 0.5, "du_keep_prob": 0.8}),
             "du_iaf": Preset("DU-IAF: two IAF steps over z0 regularised as DU-VAE, gamma = 0.6, "
                              "p = 0.7 (Shen et al. (2021), table 1, row 'DU-IAF', Yelp)",
                              {"model": "du_vae", "du_gamma": 0.6, "du_keep_prob": 0.7,
                               "iaf_steps": 2})},
)
