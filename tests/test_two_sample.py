"""Tests of tfvae.metrics.two_sample against brute-force numpy references.

The references are written from the definitions, not from the module: every
neighbour marginal is a sum over all k-subsets of the other points
(itertools.combinations), distances come from loops over pairs, and the null
mean and variance of the cross-sample mass are those of the uniform
distribution over all n-subsets of labels, enumerated. No closed form of the
module (subset recursions, permutation moments) is reused.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfvae.metrics.two_sample import DEFAULT_K
from tfvae.metrics.two_sample import DEFAULT_TEMPERATURE
from tfvae.metrics.two_sample import averaged_smooth_knn
from tfvae.metrics.two_sample import smooth_knn_statistic

fold_in = tf.random.experimental.stateless_fold_in


# ------------------------------------------------------------------ references
def _pair_distances(points):
  size = len(points)
  out = np.zeros((size, size))
  for i in range(size):
    for j in range(size):
      out[i, j] = np.sqrt(np.sum((points[i] - points[j]) ** 2))
  return out


def _soft_marginals(points, k, temperature):
  """mu_ij = P(j in S_i), S_i a k-subset of the other points, p ~ exp(-sum dist / lambda)."""
  distances = _pair_distances(points)
  size = len(points)
  marginals = np.zeros((size, size))
  for i in range(size):
    others = [j for j in range(size) if j != i]
    subsets = list(itertools.combinations(others, k))
    energy = np.array([distances[i, list(s)].sum() for s in subsets]) / temperature
    weights = np.exp(-(energy - energy.min()))
    weights /= weights.sum()
    for subset, weight in zip(subsets, weights):
      marginals[i, list(subset)] += weight
  return marginals


def _hard_adjacency(points, k):
  """a_ij = 1 if j is one of the k nearest other points of i (Schilling (1986))."""
  distances = _pair_distances(points)
  adjacency = np.zeros_like(distances)
  for i in range(len(points)):
    others = [j for j in range(len(points)) if j != i]
    nearest = sorted(others, key=lambda j: distances[i, j])[:k]
    adjacency[i, nearest] = 1.0
  return adjacency


def _labelings(size, n):
  """Every labelling with n points in the first sample, as boolean rows."""
  for chosen in itertools.combinations(range(size), n):
    labels = np.zeros(size, dtype=bool)
    labels[list(chosen)] = True
    yield labels


def _cross(weights, labels):
  return float(sum(weights[i, j] for i in range(len(labels)) for j in range(len(labels))
                   if labels[i] != labels[j]))


def _standardised_cross(weights, n):
  """(E[T] - T) / sd[T], T the cross-sample mass, moments over all labellings."""
  size = len(weights)
  observed = _cross(weights, np.arange(size) < n)
  null = np.array([_cross(weights, labels) for labels in _labelings(size, n)])
  return (null.mean() - observed) / null.std()


def _henze_schilling(points, n, k):
  """Standardised number of same-sample k-NN pairs (Schilling (1986), Henze (1988))."""
  adjacency = _hard_adjacency(points, k)
  size = len(points)

  def same(labels):
    return float(sum(adjacency[i, j] for i in range(size) for j in range(size)
                     if labels[i] == labels[j]))

  observed = same(np.arange(size) < n)
  null = np.array([same(labels) for labels in _labelings(size, n)])
  return (observed - null.mean()) / null.std()


def _gaussian_sampler(shift=0.0, scale=1.0, dim=2, dtype=tf.float64):
  offset = np.zeros(dim)
  offset[0] = shift

  def sample(num, seed):
    return scale * tf.random.stateless_normal([num, dim], seed, dtype=dtype) + offset

  return sample


def _stat(x, y, **kwargs):
  return float(smooth_knn_statistic(tf.constant(x), tf.constant(y), **kwargs).numpy())


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("temperature", [0.3, 1.5])
@pytest.mark.parametrize("sizes", [(5, 4), (3, 6)])
def test_matches_brute_force_reference(k, temperature, sizes):
  n, m = sizes
  rng = np.random.default_rng([k, n, int(10 * temperature)])
  x = rng.normal(size=(n, 3))
  y = rng.normal(size=(m, 3)) + 0.4
  expected = _standardised_cross(_soft_marginals(np.concatenate([x, y]), k, temperature), n)
  statistic = smooth_knn_statistic(tf.constant(x), tf.constant(y), k=k, temperature=temperature)
  assert statistic.dtype == tf.float64 and statistic.shape == ()
  np.testing.assert_allclose(float(statistic.numpy()), expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_zero_temperature_limit_is_hard_knn_statistic(k):
  """lambda -> 0: the standardised hard k-NN coincidence count, brute force."""
  rng = np.random.default_rng(100 + k)
  x = rng.normal(size=(6, 2))
  y = 1.5 * rng.normal(size=(5, 2))
  expected = _henze_schilling(np.concatenate([x, y]), 6, k)
  np.testing.assert_allclose(_stat(x, y, k=k, temperature=1e-6), expected, rtol=1e-8, atol=1e-8)
  # Far from the limit the smoothed value differs.
  assert abs(_stat(x, y, k=k, temperature=3.0) - expected) > 1e-3


@pytest.mark.parametrize("k", [1, 2])
def test_exact_mean_zero_variance_one_over_all_labellings(k):
  """The standardisation is exact: over every split of a fixed pooled set, mean 0, var 1."""
  rng = np.random.default_rng(7)
  pooled = rng.normal(size=(8, 2))
  values = []
  for labels in _labelings(8, 4):
    values.append(_stat(pooled[labels], pooled[~labels], k=k, temperature=0.5))
  np.testing.assert_allclose(np.mean(values), 0.0, atol=1e-10)
  np.testing.assert_allclose(np.var(values), 1.0, rtol=1e-10)


def test_float32_agrees_with_float64():
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(60, 2)), rng.normal(size=(50, 2)) + 0.3
  for k in (1, 2):
    single = smooth_knn_statistic(x.astype(np.float32), y.astype(np.float32), k=k)
    assert single.dtype == tf.float32
    np.testing.assert_allclose(float(single.numpy()), _stat(x, y, k=k), atol=1e-3)


def test_gradient_is_finite_even_for_coincident_points():
  rng = np.random.default_rng(4)
  x = tf.constant(rng.normal(size=(10, 2)))
  y = tf.constant(np.concatenate([rng.normal(size=(9, 2)), x.numpy()[:1]]))  # y_9 == x_0
  for k in (1, 2):
    with tf.GradientTape() as tape:
      tape.watch([x, y])
      statistic = smooth_knn_statistic(x, y, k=k)
    gx, gy = tape.gradient(statistic, [x, y])
    assert np.all(np.isfinite(gx.numpy())) and np.all(np.isfinite(gy.numpy()))
    assert np.any(gx.numpy() != 0.0)


# ------------------------------------------------------------------ symmetries
@pytest.mark.parametrize("k", [1, 3])
def test_symmetries_of_the_definition(k):
  """Swapping the samples, reordering rows, rigid motions, and joint rescaling of
  data and temperature leave S unchanged (it depends on distances and on the
  partition of the pooled points only)."""
  rng = np.random.default_rng(11 + k)
  x = rng.normal(size=(25, 3))
  y = rng.normal(size=(30, 3)) * 1.3 + 0.2
  value = _stat(x, y, k=k, temperature=0.4)
  np.testing.assert_allclose(_stat(y, x, k=k, temperature=0.4), value, rtol=1e-10)
  np.testing.assert_allclose(
    _stat(x[rng.permutation(25)], y[rng.permutation(30)], k=k, temperature=0.4), value, rtol=1e-10)
  rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  shift = np.array([5.0, -3.0, 2.0])
  np.testing.assert_allclose(
    _stat(x @ rotation + shift, y @ rotation + shift, k=k, temperature=0.4), value, rtol=1e-8)
  np.testing.assert_allclose(_stat(7.0 * x, 7.0 * y, k=k, temperature=2.8), value, rtol=1e-8)


# ------------------------------------------------------------------ the protocol
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_null_average_is_near_zero(seed):
  """Same 2-d Gaussian: S has mean 0 and variance 1 exactly under the null (the
  pooled points are exchangeable), so the mean of R draws has sd 1/sqrt(R);
  |mean| < 4/sqrt(R) fails with probability ~6e-5, and the sd of R values lies
  within 0.1 of 1 (about 4.5 of its own standard errors)."""
  repetitions = 1000
  summary = averaged_smooth_knn(_gaussian_sampler(), _gaussian_sampler(), repetitions, seed=seed)
  assert summary.values.shape == (repetitions,)
  assert abs(summary.mean) < 4.0 / np.sqrt(repetitions)
  assert abs(summary.std - 1.0) < 0.1
  np.testing.assert_allclose(summary.standard_error, summary.std / np.sqrt(repetitions))


def _means(samplers, repetitions=300):
  summaries = [averaged_smooth_knn(_gaussian_sampler(), q, repetitions, seed=5) for q in samplers]
  return [s.mean for s in summaries], [s.standard_error for s in summaries]


def _assert_increasing(means, errors):
  for i in range(len(means) - 1):
    margin = 3.0 * np.hypot(errors[i], errors[i + 1])
    assert means[i + 1] > means[i] + margin, (means, errors)


def test_grows_with_mean_shift():
  means, errors = _means([_gaussian_sampler(shift=s) for s in (0.0, 0.5, 1.0, 2.0)])
  assert abs(means[0]) < 0.3
  _assert_increasing(means, errors)


def test_grows_with_scale_change():
  means, errors = _means([_gaussian_sampler(scale=s) for s in (1.0, 1.5, 2.0, 3.0)])
  _assert_increasing(means, errors)


def test_protocol_matches_per_repetition_statistics_and_is_deterministic():
  """Batch b draws with fold_in(fold_in(seed, b), 0 | 1); rows split in blocks."""
  p, q = _gaussian_sampler(), _gaussian_sampler(shift=0.5, dim=2)
  summary = averaged_smooth_knn(p, q, 7, sample_size=10, seed=42, k=2, batch_size=3)
  expected = []
  base = tf.constant([0, 42], tf.int32)
  for batch, count in enumerate((3, 3, 1)):
    x = p(count * 10, fold_in(fold_in(base, batch), 0)).numpy()
    y = q(count * 10, fold_in(fold_in(base, batch), 1)).numpy()
    for r in range(count):
      expected.append(_stat(x[10 * r:10 * (r + 1)], y[10 * r:10 * (r + 1)], k=2))
  np.testing.assert_allclose(summary.values, expected, rtol=1e-10)
  np.testing.assert_allclose(summary.mean, np.mean(expected), rtol=1e-10)
  np.testing.assert_allclose(summary.std, np.std(expected, ddof=1), rtol=1e-10)
  again = averaged_smooth_knn(p, q, 7, sample_size=10, seed=42, k=2, batch_size=3)
  np.testing.assert_array_equal(again.values, summary.values)
  other = averaged_smooth_knn(p, q, 7, sample_size=10, seed=43, k=2, batch_size=3)
  assert not np.allclose(other.values, summary.values)


def test_defaults_are_documented_values():
  assert DEFAULT_K == 1
  assert DEFAULT_TEMPERATURE == 0.25
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
  assert _stat(x, y) == _stat(x, y, k=1, temperature=0.25)


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_value_error():
  x = np.zeros((5, 2))
  with pytest.raises(ValueError, match="same number of features"):
    smooth_knn_statistic(x, np.zeros((5, 3)))
  with pytest.raises(ValueError, match="too few points for k = 9"):
    smooth_knn_statistic(x, np.zeros((5, 2)), k=9)
  with pytest.raises(ValueError, match="at least 2 points"):
    smooth_knn_statistic(x, np.zeros((1, 2)))
  with pytest.raises(ValueError, match="rank-2"):
    smooth_knn_statistic(np.zeros(5), np.zeros(5))
  with pytest.raises(ValueError, match="positive integer"):
    smooth_knn_statistic(x, x, k=0)
  for bad in (0.0, -1.0, np.inf):
    with pytest.raises(ValueError, match="temperature"):
      smooth_knn_statistic(x, x, temperature=bad)
  with pytest.raises(TypeError, match="same dtype"):
    smooth_knn_statistic(x, x.astype(np.float32))
  with pytest.raises(TypeError, match="float"):
    smooth_knn_statistic(np.zeros((5, 2), np.int32), np.zeros((5, 2), np.int32))


def test_protocol_bad_input_raises():
  p = _gaussian_sampler()
  with pytest.raises(ValueError, match="sample_size"):
    averaged_smooth_knn(p, p, 10, sample_size=1)
  with pytest.raises(ValueError, match="too few points"):
    averaged_smooth_knn(p, p, 10, sample_size=3, k=5)
  with pytest.raises(ValueError, match="repetitions"):
    averaged_smooth_knn(p, p, 0)
  with pytest.raises(TypeError, match="callable"):
    averaged_smooth_knn(np.zeros((100, 2)), p, 10)
  with pytest.raises(ValueError, match="same number of features"):
    averaged_smooth_knn(p, _gaussian_sampler(dim=3), 2, sample_size=10)
  with pytest.raises(ValueError, match="must return"):
    averaged_smooth_knn(p, lambda num, seed: p(num + 1, seed), 2, sample_size=10)
