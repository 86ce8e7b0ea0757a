"""Tests of tfvae.henze_zirkler against a separate numpy/scipy reference."""

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import tensorflow as tf

from tfvae.henze_zirkler import default_beta
from tfvae.henze_zirkler import henze_zirkler_statistic
from tfvae.henze_zirkler import henze_zirkler_test

DIMS = (1, 2, 5)
SHAPES = ("gaussian", "exponential", "uniform", "bimodal")


# ------------------------------------------------------------------ reference
def _reference(points, beta=None):
  """(T, p-value) in numpy/scipy: pairwise Mahalanobis distances by cdist.

  Written from Henze and Zirkler (1990) without looking at the module: the
  covariance is inverted with numpy, distances come from scipy's
  'mahalanobis' metric (squared here), and the p-value is scipy's log-normal
  survival function with the null mean and variance of T.
  """
  n, d = points.shape
  mean = points.sum(axis=0) / n
  cov = (points - mean).T @ (points - mean) / n
  inverse = np.linalg.inv(cov)
  if beta is None:
    beta = ((2 * d + 1) * n / 4) ** (1 / (d + 4)) / np.sqrt(2)
  pair_sq = scipy.spatial.distance.cdist(points, points, "mahalanobis", VI=inverse) ** 2
  mean_sq = scipy.spatial.distance.cdist(points, mean[None, :], "mahalanobis", VI=inverse)[:, 0] ** 2
  b2 = beta**2
  statistic = (np.exp(-b2 / 2 * pair_sq).sum() / n
               - 2 / (1 + b2) ** (d / 2) * np.exp(-b2 / (2 * (1 + b2)) * mean_sq).sum()
               + n / (1 + 2 * b2) ** (d / 2))
  a = 1 + 2 * b2
  w = (1 + b2) * (1 + 3 * b2)
  mu = 1 - (1 + d * b2 / a + d * (d + 2) * b2**2 / (2 * a**2)) / a ** (d / 2)
  var = (2 / (1 + 4 * b2) ** (d / 2)
         + 2 / a**d * (1 + 2 * d * b2**2 / a**2 + 3 * d * (d + 2) * b2**4 / (4 * a**4))
         - 4 / w ** (d / 2) * (1 + 3 * d * b2**2 / (2 * w) + d * (d + 2) * b2**4 / (2 * w**2)))
  sigma = np.sqrt(np.log(1 + var / mu**2))
  p_value = scipy.stats.lognorm.sf(statistic, sigma, scale=mu / np.sqrt(1 + var / mu**2))
  return statistic, p_value


def _sample(shape, d, n=200, seed=0):
  rng = np.random.default_rng([seed, d, SHAPES.index(shape)])
  if shape == "gaussian":
    return rng.normal(size=(n, d))
  if shape == "exponential":
    return rng.exponential(size=(n, d))
  if shape == "uniform":
    return rng.uniform(size=(n, d))
  centres = np.where(rng.random((n, 1)) < 0.5, -2.0, 2.0)
  return centres + 0.5 * rng.normal(size=(n, d))


def _as_float(tensor):
  return float(tensor.numpy())


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("shape", SHAPES)
def test_statistic_and_p_value_match_reference(shape, d):
  points = _sample(shape, d)
  expected_t, expected_p = _reference(points)
  statistic, p_value = henze_zirkler_test(tf.constant(points))
  assert statistic.dtype == tf.float64
  np.testing.assert_allclose(_as_float(statistic), expected_t, rtol=1e-6)
  np.testing.assert_allclose(_as_float(henze_zirkler_statistic(points)), expected_t, rtol=1e-6)
  np.testing.assert_allclose(_as_float(p_value), expected_p, rtol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_explicit_beta_matches_reference(beta):
  points = _sample("exponential", 2, n=80)
  expected_t, expected_p = _reference(points, beta)
  statistic, p_value = henze_zirkler_test(points, beta=beta)
  np.testing.assert_allclose(_as_float(statistic), expected_t, rtol=1e-6)
  np.testing.assert_allclose(_as_float(p_value), expected_p, rtol=1e-6)


def test_default_beta():
  # 1/sqrt(2) * (5 * 100 / 4)^(1/6) for n = 100, d = 2.
  np.testing.assert_allclose(_as_float(default_beta(100, 2, tf.float64)),
                             125 ** (1 / 6) / np.sqrt(2), rtol=1e-12)


@pytest.mark.parametrize("d", DIMS)
def test_gaussian_samples_are_not_rejected(d):
  _, p_value = henze_zirkler_test(_sample("gaussian", d, seed=1))
  assert _as_float(p_value) > 0.05


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("shape", ["exponential", "uniform", "bimodal"])
def test_non_gaussian_samples_are_rejected(shape, d):
  _, p_value = henze_zirkler_test(_sample(shape, d, n=300, seed=1))
  assert _as_float(p_value) < 1e-3


def test_float32_close_to_float64():
  points = _sample("bimodal", 5)
  expected_t, _ = _reference(points)
  statistic = henze_zirkler_statistic(points.astype(np.float32))
  assert statistic.dtype == tf.float32
  np.testing.assert_allclose(_as_float(statistic), expected_t, rtol=1e-4)


def test_affine_invariance():
  rng = np.random.default_rng(3)
  points = _sample("exponential", 5)
  matrix = rng.normal(size=(5, 5)) + 3.0 * np.eye(5)
  assert abs(np.linalg.det(matrix)) > 1e-3
  moved = points @ matrix + rng.normal(scale=10.0, size=5)
  np.testing.assert_allclose(_as_float(henze_zirkler_statistic(moved)),
                             _as_float(henze_zirkler_statistic(points)), rtol=1e-9)


def test_dynamic_shape_in_tf_function():
  statistic = tf.function(henze_zirkler_statistic,
                          input_signature=[tf.TensorSpec([None, None], tf.float64)])
  points = _sample("uniform", 2, n=50)
  np.testing.assert_allclose(_as_float(statistic(points)), _reference(points)[0], rtol=1e-6)


# ------------------------------------------------------------------ gradients
def test_gradients_are_finite():
  for dtype in (np.float32, np.float64):
    points = tf.Variable(_sample("bimodal", 2, n=100).astype(dtype))
    with tf.GradientTape() as tape:
      statistic = henze_zirkler_statistic(points)
    gradient = tape.gradient(statistic, points)
    assert gradient is not None
    assert np.all(np.isfinite(gradient.numpy()))
    assert np.any(gradient.numpy() != 0.0)


def test_gradient_descent_reduces_statistic():
  """LiBI's use: moving the points down T's gradient makes them more Gaussian."""
  points = tf.Variable(_sample("exponential", 2, n=100))
  values = []
  for _ in range(10):
    with tf.GradientTape() as tape:
      statistic = henze_zirkler_statistic(points)
    values.append(_as_float(statistic))
    points.assign_sub(0.2 * tape.gradient(statistic, points))
  final, p_value = henze_zirkler_test(points)
  values.append(_as_float(final))
  assert all(later < earlier for earlier, later in zip(values, values[1:]))
  assert values[-1] < 0.3 * values[0]
  assert _as_float(henze_zirkler_test(_sample("exponential", 2, n=100))[1]) < 1e-6
  assert _as_float(p_value) > 1e-3


# ------------------------------------------------------------------ errors
def test_rank_one_raises():
  with pytest.raises(ValueError, match="rank-2"):
    henze_zirkler_statistic(np.zeros(5))


def test_single_point_raises():
  with pytest.raises(ValueError, match="at least 2 points"):
    henze_zirkler_statistic(np.zeros((1, 1)))


def test_too_few_points_for_dimension_raises():
  with pytest.raises(ValueError, match="n > d"):
    henze_zirkler_test(np.random.default_rng(0).normal(size=(3, 3)))


def test_integer_input_raises():
  with pytest.raises(TypeError, match="float"):
    henze_zirkler_statistic(np.ones((5, 2), dtype=np.int32))


def test_singular_covariance_raises_when_run():
  column = _sample("gaussian", 1, n=20)
  with pytest.raises(tf.errors.InvalidArgumentError, match="not positive definite"):
    henze_zirkler_statistic(np.hstack([column, 2.0 * column]))
