"""tfvae.divergences: closed forms where TFP has them, Monte Carlo elsewhere, per dimension."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import divergences

tfd = tfp.distributions

LOC = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.4]], np.float32)
SCALE = np.array([[0.5, 1.3, 0.9], [0.2, 1.0, 2.0]], np.float32)


def _diagonal(loc, scale):
  return tfd.Independent(tfd.Normal(loc, scale), 1)


def _gaussian_kl_numpy(loc, scale):
  """KL(N(loc, diag scale^2) || N(0, I)) per dimension (Kingma and Welling 2014, app. B)."""
  return 0.5 * (scale**2 + loc**2 - 1.0 - 2.0 * np.log(scale))


def _mixture_prior():
  """A two-component Gaussian mixture in 3-d: KL to it has no closed form."""
  return tfd.MixtureSameFamily(
      tfd.Categorical(logits=[0.0, 0.7]),
      _diagonal(np.array([[1.0, 0.0, -1.0], [-0.5, 0.5, 0.0]], np.float32),
                np.array([[0.7, 1.0, 1.5], [1.2, 0.6, 1.0]], np.float32)))


def _mixture_log_density_numpy(z):
  weights = scipy.special.softmax([0.0, 0.7])
  locs = [[1.0, 0.0, -1.0], [-0.5, 0.5, 0.0]]
  scales = [[0.7, 1.0, 1.5], [1.2, 0.6, 1.0]]
  parts = [np.log(w) + scipy.stats.norm(m, s).logpdf(z).sum(-1)
           for w, m, s in zip(weights, locs, scales)]
  return scipy.special.logsumexp(parts, axis=0)


def test_closed_form_for_diagonal_gaussians():
  q, p = _diagonal(LOC, SCALE), _diagonal(np.zeros(3, np.float32), np.ones(3, np.float32))
  assert divergences.has_closed_form(q, p)
  expected = _gaussian_kl_numpy(LOC, SCALE)
  np.testing.assert_allclose(divergences.kl(q, p), expected.sum(-1), rtol=1e-5)
  np.testing.assert_allclose(divergences.kl_per_dimension(q, p), expected, rtol=1e-5)


def test_monte_carlo_of_a_closed_form_pair_agrees_within_its_standard_error():
  q, p = _diagonal(LOC, SCALE), _diagonal(np.zeros(3, np.float32), np.ones(3, np.float32))
  z = q.sample(1_000_000, seed=[1, 2])
  differences = (q.log_prob(z) - p.log_prob(z)).numpy()
  standard_error = differences.std(0) / 1000.0
  estimate = divergences.monte_carlo_kl(q, p, z)
  np.testing.assert_allclose(estimate, differences.mean(0), rtol=1e-5)
  assert np.all(np.abs(estimate - _gaussian_kl_numpy(LOC, SCALE).sum(-1)) < 4 * standard_error)


def test_without_closed_form_the_estimate_uses_the_given_samples():
  q, p = _diagonal(LOC, SCALE), _mixture_prior()
  assert not divergences.has_closed_form(q, p)
  z = q.sample(1_000_000, seed=[3, 4])
  estimate = divergences.kl(q, p, z).numpy()
  # The same expectation, computed from the samples with scipy's densities.
  z_numpy = z.numpy().astype(np.float64)
  log_q = scipy.stats.norm(LOC, SCALE).logpdf(z_numpy).sum(-1)
  differences = log_q - _mixture_log_density_numpy(z_numpy)
  np.testing.assert_allclose(estimate, differences.mean(0), rtol=1e-4)
  # Fresh samples from a seed: another draw of the same expectation.
  fresh = divergences.kl(q, p, seed=[5, 6], num_samples=1_000_000).numpy()
  standard_error = differences.std(0) / 1000.0
  assert np.all(np.abs(fresh - estimate) < 6 * standard_error), (fresh, estimate)


def test_gradients_flow_through_the_monte_carlo_samples():
  loc = tf.Variable(LOC)
  with tf.GradientTape() as tape:
    q = _diagonal(loc, SCALE)
    z = q.sample(4, seed=[7, 8])  # reparameterised
    total = tf.reduce_sum(divergences.kl(q, _mixture_prior(), z))
  assert tape.gradient(total, loc) is not None


def test_per_dimension_monte_carlo_sums_to_the_total():
  q = _diagonal(LOC, SCALE)
  p = _diagonal(np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32))
  z = q.sample(10, seed=[9, 9])
  per_dimension = divergences.monte_carlo_kl(q.distribution, p.distribution, z)
  np.testing.assert_allclose(tf.reduce_sum(per_dimension, -1), divergences.monte_carlo_kl(q, p, z),
                             rtol=1e-5)


def test_clear_errors():
  q = _diagonal(LOC, SCALE)
  with pytest.raises(ValueError, match="no closed form.*samples z"):
    divergences.kl(q, _mixture_prior())
  with pytest.raises(ValueError, match="factorise over the last axis"):
    divergences.kl_per_dimension(q, _mixture_prior())


def test_pairwise_symmetric_kl_is_the_mean_of_both_directions():
  rng = np.random.default_rng(0)
  loc = rng.normal(size=(5, 3))
  scale = rng.uniform(0.3, 2.0, size=(5, 3))
  per_dimension = divergences.pairwise_symmetric_kl(loc, scale, per_dimension=True).numpy()
  total = divergences.pairwise_symmetric_kl(loc, scale).numpy()
  assert per_dimension.shape == (5, 5, 3) and total.shape == (5, 5)
  # Per dimension KL(N(m_i, s_i^2) || N(m_j, s_j^2)) in the textbook form, log terms included.
  directed = (np.log(scale[None] / scale[:, None])
              + (scale[:, None]**2 + (loc[:, None] - loc[None])**2) / (2 * scale[None]**2) - 0.5)
  np.testing.assert_allclose(per_dimension, 0.5 * (directed + directed.transpose(1, 0, 2)),
                             rtol=1e-12, atol=1e-14)
  np.testing.assert_allclose(total, per_dimension.sum(-1), rtol=1e-12)
  np.testing.assert_array_equal(np.diag(total), 0.0)
  np.testing.assert_array_equal(total, total.T)
