"""--model=mae: the mutual posterior-divergence regulariser on the ELBO (Ma et al. 2019; M20).

The names follow Ma et al.'s code: eta scales the diversity term, gamma
weighs the smoothness term. Shen et al. (2021), section 4.1, give MAE
"parameters gamma and eta controlling the diversity and smoothness", in that
order, and their table 1 lists "MAE (1/ 2/ 0.5, 0.2/ 0.2/ 0.2)" as (gamma, eta)
for Yahoo/Yelp/OMNIGLOT: their gamma is our eta. Read that way the Yelp row
is --mae_eta=2 --mae_gamma=0.2, the defaults; read the other way
(--mae_eta=0.2 --mae_gamma=2) MAE collapses on D4 (KL 0.000 after 10 epochs)
where Shen et al. report KL 8.0 on Yelp.
"""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  return models.MAE(mae_eta=config.mae_eta, mae_gamma=config.mae_gamma, beta=config.beta,
                    **models.model_arguments(config, dataset))


def validate(config):
  require(config.mae_eta >= 0, f"--mae_eta must be >= 0 (0: no diversity term), got "
          f"{config.mae_eta}.")
  require(config.mae_gamma >= 0, f"--mae_gamma must be >= 0 (0: no smoothness term), got "
          f"{config.mae_gamma}.")


METHOD = Method(
    name="mae",
    summary="MAE: reward the mean pairwise symmetric KL between the batch's posteriors "
            "(--mae_eta), penalise its spread (--mae_gamma) (Ma et al. 2019; M20)",
    build=build,
    options=(
        Option("mae_eta", 2.0, "MAE (M20): eta, the scale of the diversity term "
               "eta sum_d softplus(-MPD_d / eta); 0 drops it."),
        Option("mae_gamma", 0.2, "MAE: gamma, the weight of the smoothness term, the standard "
               "deviation of the batch's pairwise symmetric KL divergences."),
    ),
    validate=validate,
    presets={"mae": Preset("MAE, diversity 2, smoothness 0.2 (Shen et al. (2021), table 1, row "
                           "'MAE (1/ 2/ 0.5, 0.2/ 0.2/ 0.2)', Yelp; their gamma weighs the "
                           "diversity, our --mae_eta)",
                           {"model": "mae", "mae_eta": 2.0, "mae_gamma": 0.2})},
)
