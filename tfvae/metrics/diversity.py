"""Diversity and uncertainty of the latent space (E7): MPD and the conditional entropy.

Shen et al. (2021), section 3.1, measure the latent space of a VAE with
diagonal Gaussian posteriors q(z|x) = N(mu_x, diag delta_x^2), z in R^n, by

  MPD = E_{x1, x2 ~ p_D i.i.d.} D_SKL[q(z|x1) || q(z|x2)]          (eq. 2)
  H_q(z|x) = E_{p_D} H(q(z|x)) = n/2 log(2 pi e) + 1/2 sum_d E log delta_{x,d}^2   (eqs. 4-5)

with D_SKL the mean of the two KL directions (`tfvae.divergences.pairwise_symmetric_kl`).
The MPD needs no pairs: per dimension (index d dropped), with P = 1 / delta^2
and x1, x2 independent,

  E[(mu_1 - mu_2)^2 / delta_1^2] = E[mu^2 P] - 2 E[mu P] E[mu] + E[P] E[mu^2]
                                 = E[P (mu - E mu)^2] + E[P] Var[mu],

so that

  2 MPD = sum_d ( E[mu^2 P] - 2 E[mu P] E[mu] + E[P] E[mu^2] + E[delta^2] E[P] - 1 )   (eq. 3),

the -1 inside the sum (eq. 3 prints it after the sums; per dimension is what
the KL gives, and what makes MPD = 0 for identical posteriors). Both MPD and
CE are therefore functions of seven per-dimension sums over the data
(`GaussianMoments`), which `evaluate` accumulates batch by batch in float64.

p_D is the empirical distribution of the evaluated set: the pairs x1, x2 are
independent draws from it, so the N pairs (x, x), whose D_SKL is 0, count.
MPD is then a function of that distribution alone (a set evaluated twice over
has the same MPD), as Proposition 1 needs; the mean over distinct pairs only,
MAE's batch statistic (`tfvae.objectives.posterior_divergence`), is N / (N - 1)
times it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["GaussianMoments", "conditional_entropy", "mutual_posterior_divergence",
           "posterior_moments"]

_LOG_2PI_E = math.log(2.0 * math.pi * math.e)


@dataclasses.dataclass(frozen=True)
class GaussianMoments:
  """Per-dimension sums over a set of diagonal Gaussians N(mu_x, diag delta_x^2).

  Attributes:
    count: the number N of Gaussians.
    loc, loc_squared: sums of mu and mu^2, [d] each.
    variance, precision: sums of delta^2 and 1 / delta^2.
    precision_loc, precision_loc_squared: sums of mu / delta^2 and mu^2 / delta^2.
    log_variance: sums of log delta^2.
  """

  count: int
  loc: np.ndarray
  loc_squared: np.ndarray
  variance: np.ndarray
  precision: np.ndarray
  precision_loc: np.ndarray
  precision_loc_squared: np.ndarray
  log_variance: np.ndarray

  def __add__(self, other: GaussianMoments) -> GaussianMoments:
    """The sums of the union of the two sets."""
    return GaussianMoments(**{field.name: getattr(self, field.name) + getattr(other, field.name)
                              for field in dataclasses.fields(self)})

  def expectation(self, name: str) -> np.ndarray:
    """E over the set of the quantity summed in field `name`, [d] (e.g. "variance": E[delta^2])."""
    return getattr(self, name) / self.count


def posterior_moments(loc, scale) -> GaussianMoments:
  """The `GaussianMoments` of the Gaussians N(loc_i, diag scale_i^2), loc and scale [N, d]."""
  loc = np.asarray(loc, np.float64)
  variance = np.square(np.broadcast_to(np.asarray(scale, np.float64), loc.shape))
  if loc.ndim != 2:
    raise ValueError(f"posterior means must be [N, d], got shape {loc.shape}")
  precision = 1.0 / variance
  return GaussianMoments(
      count=loc.shape[0], loc=loc.sum(0), loc_squared=np.square(loc).sum(0),
      variance=variance.sum(0), precision=precision.sum(0),
      precision_loc=(precision * loc).sum(0),
      precision_loc_squared=(precision * np.square(loc)).sum(0),
      log_variance=np.log(variance).sum(0))


def mutual_posterior_divergence(moments: GaussianMoments) -> float:
  """MPD, Shen et al. (2021), eqs. 2-3, from the sums of the set (see the module docstring).

  Pairs x1, x2 are independent draws from the set's empirical distribution.
  """
  mean = moments.expectation
  spread = (mean("precision_loc_squared") - 2.0 * mean("precision_loc") * mean("loc")
            + mean("precision") * mean("loc_squared"))
  return float(0.5 * np.sum(spread + mean("variance") * mean("precision") - 1.0))


def conditional_entropy(moments: GaussianMoments) -> float:
  """H_q(z|x) = n/2 log(2 pi e) + 1/2 sum_d E log delta_d^2, Shen et al. (2021), eq. 5."""
  log_variance = moments.expectation("log_variance")
  return float(0.5 * (log_variance.size * _LOG_2PI_E + np.sum(log_variance)))
