"""A VAE trained with an MI-constrained Monte-Carlo objective (Melis et al. (2022);
METHODS.md M22, M23).

Melis et al. (2022), "Mutual information constraints for Monte-Carlo
objectives": the model maximises ln p(x) + lambda KL(p(z|x) || p(z)) (eq. 6),
both terms estimated from the same K proposal samples by a base estimator
(`tfvae.objectives.monte_carlo`) inside the KL, Renyi or power objective
(`tfvae.objectives.mi_constrained`). lambda = 0 with the KL or Renyi objective
is the plain Monte-Carlo objective (IWAE, DReG, ...); K = 1 is the beta-VAE
with beta = 1 - lambda (Props. 4-6).

The logs carry, per batch: `log_marginal` (the base estimate S^N of ln p(x)),
`true_kl` (U^K - S^K, the estimate of the true-posterior KL that the
objective constrains), `kl` (the sample mean of ln q(z|x) / p(z), the
representational KL), `recon` (-mean_k ln p(x|z_k)) and `elbo`.
"""

from tfvae.models.vae import VAE
from tfvae.objectives import mi_constrained
from tfvae.objectives import monte_carlo

__all__ = ["MonteCarloVAE"]


class MonteCarloVAE(VAE):
  """VAE whose loss is minus an MI-constrained Monte-Carlo objective of Melis et al. (2022).

  Args:
    encoder, decoder, latent_dim: as for `VAE`.
    mi_objective: "kl" (Melis et al. (2022), eq. 11), "renyi" (eq. 15) or "power" (eq. 18).
    estimator: base estimator, one of `monte_carlo.ESTIMATORS`.
    num_samples: K, the samples drawn per example (max(N, M) for "N/M").
    mi_lambda: lambda, the weight of the KL term (kl, renyi).
    renyi_alpha: alpha (renyi, power).
    num_marginal, num_kl: N and M of "N/M" (None: K).
    **kwargs: seed, grad_clip_norm, name, ... as for `VAE` (beta and the VAE
      objectives do not apply).

  With categorical latents (`tfvae.latents.CategoricalLatents`, Melis et al.
  (2022), section 7.1.5) the estimator must be a score-function one (reinforce
  or vimco).
  """

  trains_without_reparameterisation = True  # By score-function estimators.

  def __init__(self, encoder, decoder, latent_dim, *, mi_objective="kl", estimator="dreg",
               num_samples=16, mi_lambda=0.0, renyi_alpha=1.0, num_marginal=None, num_kl=None,
               **kwargs):
    for name in ("beta", "objective", "free_bits"):
      if name in kwargs:
        raise ValueError(f"MonteCarloVAE takes mi_objective, estimator and mi_lambda, not {name}.")
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if mi_objective not in mi_constrained.OBJECTIVES:
      raise ValueError(f"Unknown mi_objective {mi_objective!r}; choose one of "
                       f"{', '.join(mi_constrained.OBJECTIVES)}.")
    monte_carlo.check_estimator(estimator, num_samples)
    if not self.latent_family.reparameterised and estimator not in monte_carlo.SCORE_FUNCTION:
      raise ValueError(f"{type(self.latent_family).__name__} have no reparameterisation; "
                       f"estimator {estimator!r} needs one: use reinforce or vimco.")
    self.settings = dict(objective=mi_objective, estimator=estimator,
                         num_samples=int(num_samples), lam=float(mi_lambda),
                         alpha=float(renyi_alpha), num_marginal=num_marginal, num_kl=num_kl)
    self.add_trackers("log_marginal", "true_kl")

  def compute_objective(self, x, *, seed, training):
    """(minus the objective's surrogate [B], reported terms [B] each)."""
    return mi_constrained.mi_constrained_loss(self, x, seed=seed, training=training,
                                              **self.settings)
