"""Mutual-information-constrained Monte-Carlo objectives (Melis et al. (2022), section 4;
METHODS.md M22).

All three estimate the augmented objective O(lambda, x) = ln p(x) +
lambda KL(p(z|x) || p(z)) of Melis et al. (2022), eq. 6, from the same K
proposal samples as a base estimator S^K of ln p(x) (`monte_carlo.py`):

  KL objective     S^N + lambda (U^M - S^M)                         eq. 11/12
  Renyi objective  S^N + lambda / (alpha - 1) (S_alpha^M - alpha S^M)    eq. 15/16
  power objective  S_alpha^K / alpha                                  eq. 18

U^M is the self-normalised estimate of eq. 9; S_alpha reuses the samples
with p(x|z)^alpha (section 4.2.1). "N/M" (Melis et al. (2022), Figures 4 and
7): the first N samples estimate ln p(x), the first M the KL term; N = M is
the paper's plain "K", where the KL objective is (1 - lambda) S^K + lambda U^K
exactly.
With K = 1 all three equal the beta-VAE with beta = 1 - lambda (KL, Renyi)
or 1 / alpha (power) (Props. 4-6).

Every function returns a [B] surrogate to *maximise*: its value is the
objective's estimate and its gradient is the base estimator's gradient of
it (score-function estimators are applied to the whole objective).
"""

import functools

import tensorflow as tf

from tfvae.objectives import monte_carlo
from tfvae.objectives.choices import MI_OBJECTIVES as OBJECTIVES


def _sample_counts(terms, num_marginal, num_kl):
  available = terms.num_samples
  num_marginal = available if num_marginal is None else int(num_marginal)
  num_kl = available if num_kl is None else int(num_kl)
  if not 1 <= num_marginal <= available or not 1 <= num_kl <= available:
    raise ValueError(f"N/M = {num_marginal}/{num_kl} samples asked of {available} drawn; "
                     "draw max(N, M) samples.")
  return num_marginal, num_kl


def _check_alpha(alpha, objective):
  if alpha <= 0 or (objective == "renyi" and alpha == 1):
    raise ValueError(f"The {objective} objective needs alpha > 0"
                     f"{' and alpha != 1' if objective == 'renyi' else ''}, got {alpha}.")


def _kl_value(terms, estimator, lam, num_marginal, num_kl):
  marginal = monte_carlo.log_marginal(terms.first(num_marginal), estimator)
  kl_terms = terms.first(num_kl)
  kl_estimate = (monte_carlo.self_normalised_log_likelihood(kl_terms)
                 - monte_carlo.log_marginal(kl_terms, estimator))
  return marginal + lam * kl_estimate


def _renyi_value(terms, estimator, lam, alpha, num_marginal, num_kl):
  marginal = monte_carlo.log_marginal(terms.first(num_marginal), estimator)
  kl_terms = terms.first(num_kl)
  divergence = (monte_carlo.log_marginal(kl_terms, estimator, alpha)
                - alpha * monte_carlo.log_marginal(kl_terms, estimator)) / (alpha - 1)
  return marginal + lam * divergence


def _power_value(terms, estimator, alpha):
  return monte_carlo.log_marginal(terms, estimator, alpha) / alpha


def objective_surrogate(terms, *, objective, estimator, lam=0.0, alpha=1.0, num_marginal=None,
                        num_kl=None):
  """The [B] surrogate of one of OBJECTIVES under one base estimator.

  Args:
    terms: SampleTerms from `monte_carlo.sample_terms` with this estimator.
    objective: "kl" (eq. 11), "renyi" (eq. 15) or "power" (eq. 18).
    estimator: one of monte_carlo.ESTIMATORS.
    lam: lambda, the weight of the KL term (kl, renyi).
    alpha: the Renyi order (renyi, power).
    num_marginal, num_kl: N and M; None uses every sample (power uses all).

  Returns:
    [B] tensor to maximise.
  """
  if objective not in OBJECTIVES:
    raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
  monte_carlo.check_estimator(estimator, terms.num_samples)
  if objective == "kl":
    num_marginal, num_kl = _sample_counts(terms, num_marginal, num_kl)
    value = functools.partial(_kl_value, estimator=estimator, lam=lam,
                              num_marginal=num_marginal, num_kl=num_kl)
  elif objective == "renyi":
    _check_alpha(alpha, objective)
    num_marginal, num_kl = _sample_counts(terms, num_marginal, num_kl)
    value = functools.partial(_renyi_value, estimator=estimator, lam=lam, alpha=alpha,
                              num_marginal=num_marginal, num_kl=num_kl)
  else:
    _check_alpha(alpha, objective)
    value = functools.partial(_power_value, estimator=estimator, alpha=alpha)
  if estimator in monte_carlo.SCORE_FUNCTION:
    return monte_carlo.score_function_surrogate(value, terms, estimator)
  return value(terms)


def mi_constrained_loss(model, x, *, objective, estimator, num_samples, seed, lam=0.0,
                        alpha=1.0, num_marginal=None, num_kl=None, training=True):
  """(per-example loss [B], terms) of an MI-constrained objective for one batch.

  The loss is minus the surrogate. The terms, each [B] and without gradient:
  `log_marginal` (the base estimate S^N of ln p(x)), `true_kl` (U^K - S^K over
  all K samples, the true-posterior KL that the objective constrains, E6),
  `kl` (the sample mean of ln q(z|x) / p(z), the representational KL),
  `recon` (-mean_k ln p(x|z_k)) and `elbo` (-recon - kl).
  """
  terms = monte_carlo.sample_terms(model, x, estimator=estimator, num_samples=num_samples,
                                   seed=seed, training=training)
  surrogate = objective_surrogate(terms, objective=objective, estimator=estimator, lam=lam,
                                  alpha=alpha, num_marginal=num_marginal, num_kl=num_kl)
  held = monte_carlo.SampleTerms(*[None if v is None else tf.stop_gradient(v) for v in terms])
  log_ratio = tf.reduce_mean(held.log_proposal - held.log_prior, 0)
  recon = -tf.reduce_mean(held.log_likelihood, 0)
  report = {"log_marginal": monte_carlo.log_marginal(held.first(num_marginal or num_samples),
                                                     estimator),
            "true_kl": monte_carlo.true_kl_estimate(held),
            "kl": log_ratio, "recon": recon, "elbo": -recon - log_ratio}
  return -surrogate, report
