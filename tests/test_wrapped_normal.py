"""The wrapped normal on the Poincare ball (tfvae.latents.wrapped_normal): its log-density against
autodiff Jacobians of the sampler, quadrature over the disc and binned samples, its Euclidean and
small-scale limits, float32 safety near the boundary, and its use in a mixture."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.latents import wrapped_normal

tfd = tfp.distributions
SEED = tf.constant([4, 2], tf.int32)
# 2-d cases (loc, scale, c): at the origin, away from it, near the boundary of a curved ball,
# and in a flatter ball.
DISC_CASES = [
    ([0.0, 0.0], [0.5, 0.5], 1.0),
    ([0.5, -0.3], [0.3, 0.6], 1.0),
    ([0.8 / np.sqrt(2.5) * 0.6, -0.8 / np.sqrt(2.5) * 0.8], [0.4, 0.2], 2.5),
    ([1.0, 0.5], [0.7, 0.5], 0.3),
]


def _ball_points(rng, shape, c, max_fraction):
  directions = rng.normal(size=shape)
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  return directions * rng.uniform(0.0, max_fraction, [*shape[:-1], 1]) / np.sqrt(c)


def _distribution(loc, scale, c, dtype=tf.float64):
  return wrapped_normal.PoincareWrappedNormal(tf.constant(loc, dtype), tf.constant(scale, dtype),
                                              c)


@pytest.mark.parametrize("dim, c", [(2, 1.0), (3, 0.4), (5, 2.0)])
def test_log_prob_is_the_normal_density_over_the_autodiff_jacobian_of_the_sampler(dim, c):
  rng = np.random.default_rng(dim)
  loc = tf.constant(_ball_points(rng, [16, dim], c, 0.9))
  scale = tf.constant(rng.uniform(0.2, 1.5, [16, dim]))
  noise = tf.constant(rng.normal(size=[16, dim]))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(noise)
    z = wrapped_normal.sample_from_noise(loc, scale, noise, c)
    z_of_v = wrapped_normal.sample_from_noise(loc, tf.ones_like(scale), noise, c)
  # log |det dz/dv| at v = noise, with the sampler taking v itself (scale 1).
  _, log_det_v = np.linalg.slogdet(tape.batch_jacobian(z_of_v, noise).numpy())
  np.testing.assert_allclose(wrapped_normal.log_det_jacobian(loc, z_of_v, c).numpy(), log_det_v,
                             rtol=1e-9, atol=1e-9)
  # The density of z is that of the standard-normal noise over |det dz/dnoise|.
  _, log_det_noise = np.linalg.slogdet(tape.batch_jacobian(z, noise).numpy())
  log_noise = scipy.stats.norm.logpdf(noise.numpy()).sum(-1)
  log_prob = wrapped_normal.PoincareWrappedNormal(loc, scale, c).log_prob(z).numpy()
  np.testing.assert_allclose(log_prob, log_noise - log_det_noise, rtol=1e-9, atol=1e-9)
  np.testing.assert_allclose(wrapped_normal.origin_tangent(loc, z, c).numpy(),
                             (scale * noise).numpy(), rtol=1e-8, atol=1e-10)


def _disc_cells(c, radius_edges, sectors, nodes=24):
  """Gauss-Legendre nodes and weights over polar cells of the disc of curvature -c.

  A cell is [s_i, s_{i+1}] x [theta_j, theta_{j+1}], with s = 2 artanh(sqrt(c) rho) the
  (curvature-scaled) hyperbolic distance from the origin of the Euclidean radius rho,
  so the cells are fine near the boundary, where rho = tanh(s / 2) / sqrt(c) crowds.

  Returns:
    z [cells, nodes^2, 2] and the weights of Lebesgue measure, rho drho dtheta, at them.
  """
  x, w = np.polynomial.legendre.leggauss(nodes)
  theta_edges = np.linspace(-np.pi, np.pi, sectors + 1)

  def scaled(edges):
    low, high = edges[:-1, None], edges[1:, None]
    return (low + high) / 2 + (high - low) / 2 * x, (high - low) / 2 * w

  s, s_weights = scaled(np.asarray(radius_edges))
  theta, theta_weights = scaled(theta_edges)
  rho = np.tanh(s / 2) / np.sqrt(c)
  radial = s_weights * rho / (2 * np.sqrt(c) * np.cosh(s / 2) ** 2)  # rho drho/ds ds
  directions = np.stack([np.cos(theta), np.sin(theta)], -1)
  points = rho[:, None, :, None, None] * directions[None, :, None, :, :]
  weights = radial[:, None, :, None] * theta_weights[None, :, None, :]
  cells = len(radius_edges) - 1
  return points.reshape(cells * sectors, nodes * nodes, 2), weights.reshape(cells * sectors, -1)


def _cell_probabilities(distribution, c, radius_edges, sectors):
  points, weights = _disc_cells(c, radius_edges, sectors)
  density = np.exp(distribution.log_prob(tf.constant(points)).numpy())
  return np.sum(density * weights, -1)


@pytest.mark.parametrize("loc, scale, c", DISC_CASES)
def test_the_2d_density_integrates_to_one_over_the_disc(loc, scale, c):
  probabilities = _cell_probabilities(_distribution(loc, scale, c), c, np.linspace(0, 16, 33), 32)
  np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-6)


@pytest.mark.parametrize("loc, scale, c", DISC_CASES[1:3])
def test_samples_fall_into_polar_cells_with_the_quadrature_probabilities(loc, scale, c):
  distribution = _distribution(loc, scale, c)
  radius_edges, sectors, num = np.linspace(0, 16, 33), 12, 20_000
  expected = num * _cell_probabilities(distribution, c, radius_edges, sectors)
  z = distribution.sample(num, seed=SEED).numpy()
  s = 2 * np.arctanh(np.sqrt(c) * np.linalg.norm(z, axis=-1))
  sector = np.minimum((np.arctan2(z[:, 1], z[:, 0]) + np.pi) / (2 * np.pi) * sectors, sectors - 1)
  cell = np.digitize(s, radius_edges[1:-1]) * sectors + sector.astype(int)
  observed = np.bincount(cell, minlength=len(expected)).astype(float)
  small = expected < 5  # Cells too rare for the chi-square approximation are pooled.
  observed = np.append(observed[~small], observed[small].sum())
  expected = np.append(expected[~small], expected[small].sum())
  assert len(observed) > 30
  assert scipy.stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-3


def test_a_vanishing_curvature_gives_the_euclidean_normal():
  rng = np.random.default_rng(1)
  loc, scale = rng.normal(size=[4, 3]), rng.uniform(0.3, 2.0, [4, 3])
  c = 1e-7
  distribution = _distribution(loc, scale, c)
  z = rng.normal(size=[6, 4, 3]) * 2
  np.testing.assert_allclose(distribution.log_prob(tf.constant(z)).numpy(),
                             scipy.stats.norm.logpdf(z, loc, scale).sum(-1), rtol=1e-5, atol=1e-5)
  noise = rng.normal(size=[6, 4, 3])
  np.testing.assert_allclose(
      wrapped_normal.sample_from_noise(tf.constant(loc), tf.constant(scale), tf.constant(noise),
                                       c).numpy(), loc + scale * noise, rtol=1e-5, atol=1e-5)


def test_a_small_scale_gives_a_normal_with_the_transported_scale():
  """Near mu, exp_mu(u) ~ mu + u, so z ~ N(mu, diag((lambda_0 / lambda_mu)^2 sigma^2))."""
  c, loc, sigma = 1.5, np.array([0.4, -0.3, 0.2]), np.array([1e-6, 2e-6, 3e-6])
  shrink = 1 - c * np.sum(loc**2)  # lambda_0 / lambda_mu
  z = loc + shrink * sigma * np.random.default_rng(2).normal(size=[20, 3])
  log_prob = _distribution(loc, sigma, c).log_prob(tf.constant(z)).numpy()
  # The relative corrections are O(sigma / (1 - c ||mu||^2)).
  np.testing.assert_allclose(log_prob, scipy.stats.norm.logpdf(z, loc, shrink * sigma).sum(-1),
                             atol=1e-4)


def test_float32_samples_stay_inside_the_ball_near_the_boundary_with_a_large_scale():
  c = 2.0
  direction = np.array([0.6, 0.0, -0.8], np.float32)
  loc = tf.constant([direction * 0.99999 / np.sqrt(c), -direction * 0.9 / np.sqrt(c)], tf.float32)
  distribution = wrapped_normal.PoincareWrappedNormal(loc, tf.fill([2, 3], 5.0), c)
  z = distribution.sample(2000, seed=SEED)
  assert z.dtype == tf.float32 and z.shape == [2000, 2, 3]
  assert np.all(c * np.sum(z.numpy().astype(np.float64) ** 2, -1) < 1)
  assert np.all(np.isfinite(distribution.log_prob(z).numpy()))


def test_shapes_sampling_and_reparameterised_gradients():
  loc = tf.Variable(np.full([4, 1, 3], 0.1, np.float32))
  scale = tf.Variable(np.full([5, 3], 0.5, np.float32))
  with tf.GradientTape() as tape:
    distribution = wrapped_normal.PoincareWrappedNormal(loc, scale, 0.7)
    z = distribution.sample(2, seed=SEED)
    loss = tf.reduce_sum(z * [1.0, -2.0, 0.5]) + tf.reduce_sum(distribution.log_prob(z))
  assert distribution.batch_shape == [4, 5] and distribution.event_shape == [3]
  assert distribution.reparameterization_type == tfd.FULLY_REPARAMETERIZED
  assert z.shape == [2, 4, 5, 3] and distribution.log_prob(z).shape == [2, 4, 5]
  for gradient in tape.gradient(loss, [loc, scale]):
    assert np.all(np.isfinite(gradient.numpy())) and np.any(gradient.numpy() != 0)
  np.testing.assert_array_equal(distribution.sample(2, seed=SEED).numpy(), z.numpy())
  assert distribution[1:3].batch_shape == [2, 5]
  with pytest.raises(ValueError, match="curvature must be a scalar"):
    wrapped_normal.PoincareWrappedNormal(loc, scale, [1.0, 2.0])
  with pytest.raises(tf.errors.InvalidArgumentError, match="inside the ball"):
    wrapped_normal.PoincareWrappedNormal([0.6, 0.9], [1.0, 1.0], 1.0, validate_args=True)


def test_a_two_component_mixture_has_the_logsumexp_log_prob():
  rng = np.random.default_rng(3)
  c = 1.3
  loc = _ball_points(rng, [3, 2, 4], c, 0.8)  # batch 3, components 2, event 4
  scale = rng.uniform(0.2, 1.0, [3, 2, 4])
  logits = rng.normal(size=[3, 2])
  components = _distribution(loc, scale, c)
  mixture = tfd.MixtureSameFamily(tfd.Categorical(logits=tf.constant(logits)), components)
  assert mixture.batch_shape == [3] and mixture.event_shape == [4]
  z = mixture.sample(7, seed=SEED)
  assert z.shape == [7, 3, 4] and np.all(c * np.sum(z.numpy() ** 2, -1) < 1)
  each = components.log_prob(z[..., None, :]).numpy()  # [7, 3, 2]
  manual = scipy.special.logsumexp(scipy.special.log_softmax(logits, -1) + each, axis=-1)
  np.testing.assert_allclose(mixture.log_prob(z).numpy(), manual, rtol=1e-10)
