"""The RealNVP prior of Ding and Gimpel (2021) (FlowPrior), against independent oracles.

Its density integrates to one (quadrature), its log-determinant is the one of the
autodiff Jacobian of the flow, its samples follow its density (a chi-square
test against quadrature), it starts as N(0, I), and its weights are tracked,
trained and checkpointed with a Keras model that holds it.
"""

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.latents.flow_prior import RealNVPPrior
from tfvae.training import checkpoints

tfd = tfp.distributions

WEIGHTS_PER_COUPLING = 7  # Three Dense layers (kernel, bias) and the log-scale range.


def _randomised_prior(latent_dim, num_couplings, hidden_units=16, seed=0, stddev=0.5):
  """A prior whose weights are all N(0, stddev^2) draws: far from its identity start."""
  prior = RealNVPPrior(latent_dim, num_couplings, hidden_units)
  rng = np.random.default_rng(seed)
  for weight in prior.weights:
    weight.assign(rng.normal(0.0, stddev, weight.shape))
  return prior


def _grid_points(low, high, num):
  """The num x num grid over [low, high]^2 as float32 points [num^2, 2], and its spacing."""
  axis = np.linspace(low, high, num)
  points = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
  return points.astype(np.float32), axis[1] - axis[0]


def _density(prior, points):
  return np.exp(prior.distribution().log_prob(points).numpy().astype(np.float64))


def test_the_density_integrates_to_one_in_two_dimensions():
  """Riemann sum over [-20, 20]^2, spacing 0.05: the flow's samples stay within |z| < 12
  (200k draws), and halving the spacing moves the sum by 6e-6, so 1e-3 is ample."""
  prior = _randomised_prior(2, 4)
  points, step = _grid_points(-20.0, 20.0, 801)
  density = _density(prior, points)
  standard = np.exp(tfd.MultivariateNormalDiag(tf.zeros(2)).log_prob(points).numpy())
  assert np.abs(density - standard).max() > 0.05, "the randomised flow is not N(0, I)"
  assert abs(density.sum() * step**2 - 1.0) < 1e-3


def test_the_log_determinant_is_the_one_of_the_autodiff_jacobian():
  """log p(z) - log N(f^{-1}(z)) = -log |det df/dz_0|, the Jacobian from autodiff (d = 5)."""
  prior = _randomised_prior(5, 3)
  z0 = tf.random.stateless_normal([64, 5], seed=(3, 4))
  with tf.GradientTape() as tape:
    tape.watch(z0)
    z = prior.bijector().forward(z0)
  jacobian = tape.batch_jacobian(z, z0).numpy().astype(np.float64)
  sign, log_det = np.linalg.slogdet(jacobian)
  assert np.all(sign != 0)
  # Fresh bijectors, so nothing comes from the cache of the forward pass above.
  recovered = prior.bijector().inverse(z)
  np.testing.assert_allclose(recovered.numpy(), z0.numpy(), atol=1e-4)
  base = tfd.MultivariateNormalDiag(tf.zeros(5))
  log_det_from_prior = prior.distribution().log_prob(z) - base.log_prob(recovered)
  assert np.abs(log_det).max() > 1.0, "the randomised flow changes volume"
  np.testing.assert_allclose(log_det_from_prior.numpy(), -log_det, atol=2e-4)


@pytest.mark.parametrize("latent_dim", [2, 3, 5])
def test_two_couplings_transform_every_coordinate(latent_dim):
  """No output of the flow is a copied input: no row of its Jacobian is a unit vector."""
  prior = _randomised_prior(latent_dim, 2)
  z0 = tf.random.stateless_normal([8, latent_dim], seed=(5, 6))
  with tf.GradientTape() as tape:
    tape.watch(z0)
    z = prior.bijector().forward(z0)
  jacobian = tape.batch_jacobian(z, z0).numpy()
  is_unit_row = np.isclose(np.abs(jacobian).sum(-1), 1.0) & np.isclose(
      np.abs(jacobian).max(-1), 1.0)
  assert not is_unit_row.any()


def _bin_probabilities(prior, edges, points_per_bin=40):
  """P(z in bin) for the bins edges x edges, by the midpoint rule on a sub-grid of each bin."""
  width = edges[1] - edges[0]
  spacing = width / points_per_bin
  axis = np.arange(edges[0] + spacing / 2, edges[-1], spacing)
  points = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
  density = _density(prior, points).reshape(len(axis), len(axis))
  num_bins = len(edges) - 1
  cells = density.reshape(num_bins, points_per_bin, num_bins, points_per_bin)
  return cells.sum(axis=(1, 3)) * spacing**2


def _chi_square(counts, probabilities, total):
  """Pearson's statistic and its degrees of freedom for `total` draws: the bins expecting at
  least 5 of them, and the rest of the plane as one more bin."""
  expected = total * probabilities.ravel()
  kept = expected >= 5
  observed = np.append(counts.ravel()[kept], total - counts.ravel()[kept].sum())
  expected = np.append(expected[kept], total - expected[kept].sum())
  return ((observed - expected)**2 / expected).sum(), len(observed) - 1


def test_samples_follow_the_density():
  """A histogram of 100k samples on 12 x 12 unit bins against quadrature of exp(log_prob):
  Pearson's chi-square under its 0.999 quantile (66 for 62 degrees of freedom, measured).
  The quadrature error, at most 1.4e-5 per bin (halving the sub-grid spacing), is far below
  the sampling noise (about 3e-4 for a bin of probability 0.01)."""
  prior = _randomised_prior(2, 4)
  samples = prior.distribution().sample(100_000, seed=(7, 8)).numpy()
  edges = np.linspace(-6.0, 6.0, 13)
  counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=[edges, edges])
  statistic, dof = _chi_square(counts, _bin_probabilities(prior, edges), len(samples))
  threshold = scipy.stats.chi2.ppf(0.999, dof)
  assert statistic < threshold, (statistic, dof)
  # The test has power: the same samples are far from N(0, I)'s bin probabilities.
  cdf = scipy.stats.norm.cdf(edges)
  standard = np.outer(np.diff(cdf), np.diff(cdf))
  assert _chi_square(counts, standard, len(samples))[0] > 10 * threshold


def test_it_starts_as_the_standard_normal_for_leading_sample_dims():
  """Zero output layers: every coupling is the identity and p = N(0, I), z of shape [K, B, d]
  with d odd, in float32."""
  prior = RealNVPPrior(3, 3, 8)
  z = tf.random.stateless_normal([4, 6, 3], seed=(9, 10)) * 2.0
  log_prob = prior.distribution().log_prob(z)
  assert log_prob.shape == (4, 6) and log_prob.dtype == tf.float32
  expected = tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(z)
  np.testing.assert_allclose(log_prob.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_leading_sample_dims_are_batch_dims():
  prior = _randomised_prior(3, 3)
  z = tf.random.stateless_normal([4, 6, 3], seed=(11, 12))
  log_prob = prior.distribution().log_prob(z)
  assert log_prob.shape == (4, 6)
  flat = prior.distribution().log_prob(tf.reshape(z, [24, 3]))
  np.testing.assert_allclose(log_prob.numpy().ravel(), flat.numpy(), rtol=1e-6, atol=1e-6)


class _PriorHolder(keras.Model):
  """A Keras model whose only part is a RealNVP prior, as a VAE holds one."""

  def __init__(self, latent_dim=3, num_couplings=3, hidden_units=8):
    super().__init__()
    self.prior = RealNVPPrior(latent_dim, num_couplings, hidden_units, name="prior")
    self.built = True


def _fit(model, data, steps=40, learning_rate=1e-2):
  """Adam steps of maximising the mean log p(data)."""
  optimizer = keras.optimizers.Adam(learning_rate)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(model.prior.distribution().log_prob(data))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))

  for _ in range(steps):
    step()


def test_the_weights_are_tracked_trained_and_checkpointed(tmp_path):
  """40 Adam steps on N([2, -1, 0.5], diag([0.5, 2, 1]^2)) data take the held-out mean
  log-likelihood from -7.95 to -4.68 (measured; the true density gives -4.28)."""
  keras.utils.set_random_seed(0)
  model = _PriorHolder()
  paths = [variable.path for variable in model.trainable_variables]
  assert len(paths) == len(set(paths)) == 3 * WEIGHTS_PER_COUPLING
  assert all(path.startswith("prior/coupling_") for path in paths)

  shifted = tfd.MultivariateNormalDiag([2.0, -1.0, 0.5], [0.5, 2.0, 1.0])
  data = shifted.sample(512, seed=(13, 14))
  held_out = shifted.sample(512, seed=(15, 16))
  before_training = [variable.numpy() for variable in model.trainable_variables]
  log_likelihood_before = float(tf.reduce_mean(model.prior.distribution().log_prob(held_out)))
  _fit(model, data)
  log_likelihood_after = float(tf.reduce_mean(model.prior.distribution().log_prob(held_out)))
  assert log_likelihood_after > log_likelihood_before + 1.0, (
      log_likelihood_before, log_likelihood_after)
  for path, before, variable in zip(paths, before_training, model.trainable_variables):
    assert not np.allclose(before, variable.numpy()), f"{path} did not move"

  expected = model.prior.distribution().log_prob(held_out).numpy()
  saved = tf.train.Checkpoint(model=checkpoints.model_weights(model)).write(
      str(tmp_path / "prior"))
  restored = _PriorHolder()
  tf.train.Checkpoint(model=checkpoints.model_weights(restored)).read(saved).assert_consumed()
  np.testing.assert_array_equal(restored.prior.distribution().log_prob(held_out).numpy(),
                                expected)
  model.save_weights(str(tmp_path / "prior.weights.h5"))
  loaded = _PriorHolder()
  loaded.load_weights(str(tmp_path / "prior.weights.h5"))
  np.testing.assert_array_equal(loaded.prior.distribution().log_prob(held_out).numpy(),
                                expected)


@pytest.mark.parametrize("latent_dim, num_couplings, message", [
    (1, 2, "latent_dim >= 2"),
    (0, 2, "latent_dim >= 2"),
    (4, 0, "num_couplings >= 1"),
])
def test_bad_sizes_are_refused(latent_dim, num_couplings, message):
  with pytest.raises(ValueError, match=message):
    RealNVPPrior(latent_dim, num_couplings, 8)
