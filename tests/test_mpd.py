"""MPD and conditional entropy (E7, Shen et al. (2021), eqs. 2-5) against brute force, and Proposition 1."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import metrics
from tfvae.models.du_vae import ALPHA
from tfvae.models.linear_gaussian import LinearGaussianModel

tfd = tfp.distributions


def _kl_numpy(loc_p, scale_p, loc_q, scale_q):
  """KL(N(loc_p, diag scale_p^2) || N(loc_q, diag scale_q^2)), the textbook closed form."""
  return np.sum(np.log(scale_q / scale_p)
                + (scale_p**2 + (loc_p - loc_q)**2) / (2 * scale_q**2) - 0.5)


def _brute_force_mpd(loc, scale):
  """Eq. 2 over every ordered pair (i, j) of the set, (i, i) included, D_SKL the mean of both KLs."""
  num = len(loc)
  total = 0.0
  for i in range(num):
    for j in range(num):
      total += 0.5 * (_kl_numpy(loc[i], scale[i], loc[j], scale[j])
                      + _kl_numpy(loc[j], scale[j], loc[i], scale[i]))
  return total / num**2


def _gaussians(rng, num, dim):
  """Means and scales that differ per example and dimension (scales 0.2 to 1.5)."""
  loc = rng.normal(size=(num, dim)) * np.linspace(0.3, 2.0, dim)
  scale = rng.uniform(0.2, 1.5, size=(num, dim))
  return loc, scale


def test_accumulated_mpd_and_entropy_equal_brute_force_on_uneven_batches():
  loc, scale = _gaussians(np.random.default_rng(0), 37, 4)
  whole = metrics.posterior_moments(loc, scale)
  parts = [metrics.posterior_moments(loc[lo:hi], scale[lo:hi])
           for lo, hi in ((0, 5), (5, 25), (25, 26), (26, 37))]
  accumulated = parts[0] + parts[1] + parts[2] + parts[3]
  expected_mpd = _brute_force_mpd(loc, scale)
  expected_entropy = scipy.stats.norm(loc, scale).entropy().sum(-1).mean()
  for moments in (whole, accumulated):
    assert moments.count == 37
    np.testing.assert_allclose(metrics.mutual_posterior_divergence(moments), expected_mpd,
                               rtol=1e-10)
    np.testing.assert_allclose(metrics.conditional_entropy(moments), expected_entropy, rtol=1e-12)
  # Identical posteriors do not diverge (eq. 3's -1 is per dimension); their entropy is theirs.
  same = metrics.posterior_moments(np.tile(loc[:1], (6, 1)), np.tile(scale[:1], (6, 1)))
  assert abs(metrics.mutual_posterior_divergence(same)) < 1e-12
  np.testing.assert_allclose(metrics.conditional_entropy(same),
                             scipy.stats.norm(loc[0], scale[0]).entropy().sum(), rtol=1e-12)
  with pytest.raises(ValueError, match=r"must be \[N, d\]"):
    metrics.posterior_moments(loc[0], scale[0])


class _HeteroscedasticModel(LinearGaussianModel):
  """The linear-Gaussian model with per-example posterior scales s * exp(tanh(x_d) / 2)."""

  def posterior(self, x, training=False):
    q = super().posterior(x, training)
    x = tf.convert_to_tensor(x, q.mean().dtype)
    return tfd.Independent(
        tfd.Normal(q.mean(), q.stddev() * tf.exp(0.5 * tf.tanh(x[:, :self.latent_dim]))), 1)


class _FullCovarianceModel(LinearGaussianModel):
  """q(z|x) as a MultivariateNormalTriL: not a diagonal Gaussian, so no MPD or CE."""

  def posterior(self, x, training=False):
    q = super().posterior(x, training)
    return tfd.MultivariateNormalTriL(q.mean(), tf.linalg.diag(q.stddev()))


def _dataset(x, sizes):
  bounds = np.cumsum([0, *sizes])
  pieces = [tf.data.Dataset.from_tensors(x[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
  dataset = pieces[0]
  for piece in pieces[1:]:
    dataset = dataset.concatenate(piece)
  return dataset


def _linear_model(model_class):
  rng = np.random.default_rng(1)
  return model_class(rng.normal(size=(4, 3)), rng.normal(size=4), 0.5,
                     encoder_weight=rng.normal(size=(3, 4)), encoder_bias=rng.normal(size=3),
                     encoder_log_scale=np.log([0.3, 0.6, 0.9]))


def test_evaluate_reports_them_for_diagonal_gaussians_and_na_otherwise():
  x = np.random.default_rng(2).normal(size=(23, 4)).astype(np.float32)
  model = _linear_model(_HeteroscedasticModel)
  posterior = model.posterior(x)
  loc, scale = (t.numpy().astype(np.float64) for t in (posterior.mean(), posterior.stddev()))
  assert np.ptp(scale, axis=0).min() > 0.05  # The scales do vary over the examples.
  results = metrics.evaluate(model, _dataset(x, [6, 16, 1]), num_samples=2, chunk_size=2)
  np.testing.assert_allclose(results["mpd"], _brute_force_mpd(loc, scale), rtol=1e-5)
  np.testing.assert_allclose(results["conditional_entropy"],
                             scipy.stats.norm(loc, scale).entropy().sum(-1).mean(), rtol=1e-5)
  other = metrics.evaluate(_linear_model(_FullCovarianceModel), _dataset(x, [23]), num_samples=2,
                           chunk_size=2)
  assert other["mpd"] is None and other["conditional_entropy"] is None
  assert other["nll"] is not None  # Only the parameter-form metrics are n/a.


# ----------------------------------------------------------- Proposition 1
NUM, DIM, DRAWS = 400, 3, 200


def _dropout_moments(loc, variance, keep_prob, rng):
  """The sums over DRAWS dropout masks of eq. 6: var_hat = g (var - alpha) + alpha, g ~ B(p) / p.

  Pairs of independent draws from the DRAWS x NUM posteriors are pairs of independent
  (x, g) from p_D x B, the distribution of Proposition 1.
  """
  total = None
  for _ in range(DRAWS):
    keep = (rng.uniform(size=variance.shape) < keep_prob) / keep_prob
    moments = metrics.posterior_moments(loc, np.sqrt(keep * (variance - ALPHA) + ALPHA))
    total = moments if total is None else total + moments
  return total


def _proposition_1(keep_prob):
  """Each claim of Shen et al. (2021), eqs. 7-8, measured through the metric functions.

  Monte-Carlo tolerances: the mean variance over DRAWS masks differs from the exact one by
  less than 5 standard errors, sqrt(mean (var - alpha)^2 (1 - p) / p / (NUM DRAWS)); the MPD
  and CE must move by more than 1e-6 relative, far above rounding (1e-15) and far below the
  moves dropout causes (here p = 0.8 raises the MPD from 16.5 to 30.8).
  """
  rng = np.random.default_rng(3)
  loc = rng.normal(size=(NUM, DIM)) * np.array([0.3, 1.0, 2.0])
  variance = rng.uniform(ALPHA, 1.0, size=(NUM, DIM))
  plain = metrics.posterior_moments(loc, np.sqrt(variance))
  dropped = _dropout_moments(loc, variance, keep_prob, rng)
  standard_error = np.sqrt(np.mean((variance - ALPHA)**2, axis=0) * (1 - keep_prob) / keep_prob
                           / (NUM * DRAWS))
  mpd, mpd_dropped = (metrics.mutual_posterior_divergence(m) for m in (plain, dropped))
  entropy, entropy_dropped = (metrics.conditional_entropy(m) for m in (plain, dropped))
  bound = (1 - keep_prob) / ALPHA * np.sum(np.var(loc, axis=0))  # Var over p_D: divisor N.
  return {
      "mean variance kept": bool(np.all(np.abs(dropped.expectation("variance")
                                               - plain.expectation("variance"))
                                        <= 5 * standard_error + 1e-12)),
      "MPD rises": mpd_dropped > mpd * (1 + 1e-6),
      "CE falls": entropy_dropped < entropy - 1e-6 * abs(entropy),
      "MPD above eq. 8's bound": mpd_dropped > bound,
  }


@pytest.mark.parametrize("keep_prob", [0.5, 0.8, 0.95])
def test_dropout_on_variances_keeps_their_mean_raises_mpd_and_lowers_entropy(keep_prob):
  claims = _proposition_1(keep_prob)
  assert all(claims.values()), claims


def test_the_check_fails_without_dropout():
  """p = 1 keeps every variance: the MPD and CE do not move, so the strict inequalities fail."""
  claims = _proposition_1(1.0)
  assert claims["mean variance kept"] and claims["MPD above eq. 8's bound"]  # The bound is 0.
  assert not claims["MPD rises"] and not claims["CE falls"], claims
