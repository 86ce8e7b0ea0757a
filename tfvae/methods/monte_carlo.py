"""--model=monte_carlo: MI-constrained Monte-Carlo objectives (Melis et al. 2022; M22-M24)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import require
from tfvae.objectives.choices import ESTIMATORS
from tfvae.objectives.choices import MI_OBJECTIVES
from tfvae.objectives.choices import SCORE_FUNCTION_ESTIMATORS


def build(config, dataset):
  from tfvae import models
  return models.MonteCarloVAE(mi_objective=config.mi_objective, estimator=config.estimator,
                              num_samples=config.num_samples, mi_lambda=config.mi_lambda,
                              renyi_alpha=config.renyi_alpha, num_marginal=config.num_marginal,
                              num_kl=config.num_kl, **models.model_arguments(config, dataset))


def validate(config):
  require(config.beta == 1.0, "--model=monte_carlo weighs the KL term with --mi_lambda (beta = "
          "1 - lambda); leave --objective=elbo, --beta=1 and --beta_schedule=constant.")
  if config.latent_type == "categorical":
    require(config.estimator in SCORE_FUNCTION_ESTIMATORS,
            "--latent_type=categorical has no reparameterisation: train it with "
            "--model=monte_carlo and --estimator=reinforce or vimco.")
  for name in ("num_samples", "num_marginal", "num_kl"):
    value = getattr(config, name)
    require(value is None or 0 < value <= config.num_samples,
            f"--{name} must be in [1, --num_samples={config.num_samples}], got {value}.")
  require(config.estimator != "vimco" or config.num_samples >= 2,
          "--estimator=vimco needs --num_samples >= 2; with one sample use "
          "--estimator=reinforce.")
  if config.mi_objective == "renyi":
    require(config.renyi_alpha > 0 and config.renyi_alpha != 1.0,
            f"--mi_objective=renyi needs --renyi_alpha > 0 and != 1, got {config.renyi_alpha}.")
  if config.mi_objective == "power":
    require(config.renyi_alpha > 0,
            f"--mi_objective=power needs --renyi_alpha > 0, got {config.renyi_alpha}.")


METHOD = Method(
    name="monte_carlo",
    summary="MI-constrained Monte-Carlo objectives: KL, Renyi or power over IWAE, STL, DReG, "
            "REINFORCE or VIMCO (Melis et al. 2022; M22-M24)",
    build=build,
    options=(
        Option("mi_objective", "kl", "--model=monte_carlo (Melis et al. (2022), M22): the "
               "KL (eq. 11), Renyi (eq. 15) or power (eq. 18) objective.", choices=MI_OBJECTIVES),
        Option("estimator", "dreg", "--model=monte_carlo (M23): base estimator of ln p(x) and "
               "its gradient.", choices=ESTIMATORS),
        Option("num_samples", 16, "--model=monte_carlo: K, proposal samples per example."),
        Option("mi_lambda", 0.0, "--model=monte_carlo: lambda, weight of the true-KL term (0: "
               "the plain Monte-Carlo objective)."),
        Option("renyi_alpha", 1.0, "--model=monte_carlo: alpha of the Renyi and power "
               "objectives."),
        Option("num_marginal", None, "--model=monte_carlo: N of 'N/M', the samples estimating "
               "ln p(x) (default K).", kind=int),
        Option("num_kl", None, "--model=monte_carlo: M of 'N/M', the samples estimating the KL "
               "term (default K).", kind=int),
    ),
    validate=validate,
    beta_schedule=False,
    latent_types=("gaussian", "categorical", "spherical"),
)
