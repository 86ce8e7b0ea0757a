"""Poincare-ball operations (tfvae.latents.poincare) against float64 numpy oracles and the
identities of the gyrovector calculus (Ganea et al. (2018); Mathieu et al. (2019))."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae.latents import poincare

CURVATURES = [0.3, 1.0, 2.5]


def _points(rng, shape, c, max_fraction=0.95):
  """Points of the ball of curvature -c: uniform directions, radii up to max_fraction / sqrt(c)."""
  directions = rng.normal(size=shape)
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  radii = rng.uniform(0.0, max_fraction, size=[*shape[:-1], 1]) / np.sqrt(c)
  return directions * radii


def _np_mobius_add(x, y, c):
  xy = np.sum(x * y, -1, keepdims=True)
  xx, yy = np.sum(x * x, -1, keepdims=True), np.sum(y * y, -1, keepdims=True)
  return (((1 + 2 * c * xy + c * yy) * x + (1 - c * xx) * y)
          / (1 + 2 * c * xy + c**2 * xx * yy))


def _np_lambda(x, c):
  return 2 / (1 - c * np.sum(x * x, -1, keepdims=True))


def _np_expmap(x, u, c):
  norm = np.linalg.norm(u, axis=-1, keepdims=True)
  step = np.tanh(np.sqrt(c) * _np_lambda(x, c) * norm / 2) * u / (np.sqrt(c) * norm)
  return _np_mobius_add(x, step, c)


def _np_distance(x, y, c):
  """The closed form d = arcosh(1 + 2c ||x - y||^2 / ((1 - c||x||^2)(1 - c||y||^2))) / sqrt(c)."""
  gap = np.sum((x - y) ** 2, -1)
  shrink = (1 - c * np.sum(x * x, -1)) * (1 - c * np.sum(y * y, -1))
  return np.arccosh(1 + 2 * c * gap / shrink) / np.sqrt(c)


def _np_gyration(a, b, w, c):
  """gyr[a, b] w from its definition -(a (+) b) (+) (a (+) (b (+) w)), for w in the ball."""
  return _np_mobius_add(-_np_mobius_add(a, b, c),
                        _np_mobius_add(a, _np_mobius_add(b, w, c), c), c)


def _metric(x, v, w, c):
  """<v, w>_x = lambda_x^2 <v, w>."""
  return (_np_lambda(x, c)[..., 0] ** 2) * np.sum(v * w, -1)


@pytest.mark.parametrize("c", CURVATURES)
def test_mobius_addition_matches_the_formula_and_cancels_on_the_left(c):
  rng = np.random.default_rng(0)
  x, y = _points(rng, [50, 3], c), _points(rng, [50, 3], c)
  total = poincare.mobius_add(tf.constant(x), tf.constant(y), c=c).numpy()
  np.testing.assert_allclose(total, _np_mobius_add(x, y, c), rtol=1e-12, atol=1e-12)
  assert np.all(c * np.sum(total**2, -1) < 1)
  back = poincare.mobius_add(tf.constant(-x), tf.constant(total), c=c).numpy()
  np.testing.assert_allclose(back, y, atol=1e-10)
  np.testing.assert_allclose(poincare.mobius_add(tf.zeros([3], tf.float64), tf.constant(y),
                                                 c=c).numpy(), y, atol=1e-15)


@pytest.mark.parametrize("c", CURVATURES)
def test_exponential_and_logarithmic_maps_invert_each_other_away_from_the_origin(c):
  rng = np.random.default_rng(1)
  base = tf.constant(_points(rng, [40, 4], c, 0.9))
  y = tf.constant(_points(rng, [40, 4], c, 0.9))
  # Riemannian norms lambda_x ||u|| of a few units: float64 resolves the ball to distances ~23.
  u = tf.constant(rng.normal(size=[40, 4]) * 2 / _np_lambda(base.numpy(), c))
  np.testing.assert_allclose(poincare.expmap(base, poincare.logmap(base, y, c=c), c=c).numpy(),
                             y.numpy(), atol=1e-9)
  np.testing.assert_allclose(poincare.logmap(base, poincare.expmap(base, u, c=c), c=c).numpy(),
                             u.numpy(), rtol=1e-7, atol=1e-9)
  np.testing.assert_allclose(poincare.expmap(base, u, c=c).numpy(),
                             _np_expmap(base.numpy(), u.numpy(), c), atol=1e-12)
  # The geodesic from x with velocity u has length lambda_x ||u||.
  np.testing.assert_allclose(
      poincare.distance(base, poincare.expmap(base, u, c=c), c=c).numpy(),
      _np_lambda(base.numpy(), c)[:, 0] * np.linalg.norm(u.numpy(), axis=-1), rtol=1e-8)


@pytest.mark.parametrize("c", CURVATURES)
def test_maps_at_the_origin_are_the_general_maps_with_a_zero_base(c):
  rng = np.random.default_rng(2)
  u = tf.constant(rng.normal(size=[30, 3]))
  y = tf.constant(_points(rng, [30, 3], c))
  zero = tf.zeros([3], tf.float64)
  np.testing.assert_allclose(poincare.expmap0(u, c=c).numpy(),
                             poincare.expmap(zero, u, c=c).numpy(), atol=1e-14)
  np.testing.assert_allclose(poincare.logmap0(y, c=c).numpy(),
                             poincare.logmap(zero, y, c=c).numpy(), atol=1e-12)
  np.testing.assert_allclose(poincare.logmap0(poincare.expmap0(u, c=c), c=c).numpy(), u.numpy(),
                             rtol=1e-8)
  np.testing.assert_allclose(poincare.conformal_factor(zero, c=c).numpy(), [2.0])


@pytest.mark.parametrize("c", CURVATURES)
def test_distance_is_a_metric_and_matches_the_closed_form(c):
  rng = np.random.default_rng(3)
  x, y, z = (tf.constant(_points(rng, [200, 3], c, 0.97)) for _ in range(3))
  d_xy = poincare.distance(x, y, c=c).numpy()
  np.testing.assert_allclose(d_xy, _np_distance(x.numpy(), y.numpy(), c), rtol=1e-9)
  np.testing.assert_allclose(d_xy, poincare.distance(y, x, c=c).numpy(), rtol=1e-12)
  np.testing.assert_allclose(poincare.distance(x, x, c=c).numpy(), 0.0, atol=1e-9)
  d_yz, d_xz = poincare.distance(y, z, c=c).numpy(), poincare.distance(x, z, c=c).numpy()
  assert np.all(d_xz <= d_xy + d_yz + 1e-10)
  # From the origin: 2 / sqrt(c) artanh(sqrt(c) ||y||).
  from_origin = poincare.distance(tf.zeros([3], tf.float64), y, c=c).numpy()
  np.testing.assert_allclose(
      from_origin, 2 / np.sqrt(c) * np.arctanh(np.sqrt(c) * np.linalg.norm(y.numpy(), axis=-1)),
      rtol=1e-12)


def test_float32_distance_and_logmap_near_the_boundary_lose_no_more_than_the_points_carry():
  """Two points with 1 - c||x||^2 down to 2e-3: an ulp of a coordinate moves them by about
  lambda ulp in distance, and the float32 results stay within twice that of the float64 values
  at the same (rounded) points. Through artanh(sqrt(c) ||(-x) (+) y||) they were up to 800
  times that off."""
  c = 1.0
  rng = np.random.default_rng(5)

  def points(n):
    directions = rng.normal(size=[n, 3])
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    return (directions * rng.uniform(0.99, 0.999, [n, 1])).astype(np.float32)

  x, y = points(500), points(500)
  x64, y64 = x.astype(np.float64), y.astype(np.float64)
  budget = np.finfo(np.float32).eps * (_np_lambda(x64, c) + _np_lambda(y64, c))[:, 0] / 2
  distance = poincare.distance(tf.constant(x), tf.constant(y), c=c).numpy()
  assert np.all(np.abs(distance - _np_distance(x64, y64, c)) < 2 * budget)
  k = _np_mobius_add(-x64, y64, c)
  norm = np.linalg.norm(k, axis=-1, keepdims=True)
  exact = 2 / (np.sqrt(c) * _np_lambda(x64, c)) * np.arctanh(np.sqrt(c) * norm) * k / norm
  error = np.linalg.norm(poincare.logmap(tf.constant(x), tf.constant(y), c=c).numpy() - exact,
                         axis=-1)
  assert np.all(error < 2 * budget * np.linalg.norm(exact, axis=-1))
  # At y = x the logarithmic map's Jacobian in y is the identity (exp_x(u) = x + u + O(u^2)).
  base = tf.constant(_points(rng, [4, 3], c, 0.9))
  with tf.GradientTape() as tape:
    tape.watch(base)
    log = poincare.logmap(tf.stop_gradient(base), base, c=c)
  np.testing.assert_allclose(tape.batch_jacobian(log, base).numpy(),
                             np.broadcast_to(np.eye(3), [4, 3, 3]), atol=1e-12)


def test_a_vanishing_curvature_recovers_the_euclidean_operations():
  c = 1e-7
  rng = np.random.default_rng(4)
  x, y, u, v = (tf.constant(rng.normal(size=[20, 3])) for _ in range(4))
  close = dict(rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(poincare.mobius_add(x, y, c=c).numpy(), (x + y).numpy(), **close)
  np.testing.assert_allclose(poincare.expmap(x, u, c=c).numpy(), (x + u).numpy(), **close)
  np.testing.assert_allclose(poincare.logmap(x, y, c=c).numpy(), (y - x).numpy(), **close)
  np.testing.assert_allclose(poincare.expmap0(u, c=c).numpy(), u.numpy(), **close)
  np.testing.assert_allclose(poincare.distance(x, y, c=c).numpy(),
                             2 * np.linalg.norm((x - y).numpy(), axis=-1), **close)
  np.testing.assert_allclose(poincare.conformal_factor(x, c=c).numpy(), 2.0, **close)
  np.testing.assert_allclose(poincare.transport_from_origin(x, v, c=c).numpy(), v.numpy(), **close)
  np.testing.assert_allclose(poincare.parallel_transport(x, y, v, c=c).numpy(), v.numpy(), **close)
  np.testing.assert_allclose(poincare.gyration(x, y, v, c=c).numpy(), v.numpy(), **close)


@pytest.mark.parametrize("c", CURVATURES)
def test_the_closed_form_gyration_is_the_mobius_definition_and_a_rotation(c):
  rng = np.random.default_rng(5)
  a, b, w = (_points(rng, [50, 3], c, 0.9) for _ in range(3))
  rotated = poincare.gyration(tf.constant(a), tf.constant(b), tf.constant(w), c=c).numpy()
  np.testing.assert_allclose(rotated, _np_gyration(a, b, w, c), atol=1e-12)
  # Linear and norm-preserving for any vector, not only points of the ball.
  big = rng.normal(size=[50, 3]) * 10
  big_rotated = poincare.gyration(tf.constant(a), tf.constant(b), tf.constant(big), c=c).numpy()
  np.testing.assert_allclose(np.linalg.norm(big_rotated, axis=-1),
                             np.linalg.norm(big, axis=-1), rtol=1e-12)
  combined = poincare.gyration(tf.constant(a), tf.constant(b), tf.constant(2 * w - big),
                               c=c).numpy()
  np.testing.assert_allclose(combined, 2 * rotated - big_rotated, atol=1e-10)


@pytest.mark.parametrize("c", CURVATURES)
def test_parallel_transport_is_an_isometry_and_carries_the_geodesic_velocity(c):
  rng = np.random.default_rng(6)
  x, y = _points(rng, [40, 4], c, 0.9), _points(rng, [40, 4], c, 0.9)
  v, w = rng.normal(size=[40, 4]), rng.normal(size=[40, 4])
  x_t, y_t = tf.constant(x), tf.constant(y)
  moved_v = poincare.parallel_transport(x_t, y_t, tf.constant(v), c=c).numpy()
  moved_w = poincare.parallel_transport(x_t, y_t, tf.constant(w), c=c).numpy()
  np.testing.assert_allclose(_metric(y, moved_v, moved_w, c), _metric(x, v, w, c), rtol=1e-9)
  back = poincare.parallel_transport(y_t, x_t, tf.constant(moved_v), c=c).numpy()
  np.testing.assert_allclose(back, v, rtol=1e-9, atol=1e-10)
  # Along the geodesic from x to y the velocity log_x(y) arrives as -log_y(x).
  velocity = poincare.parallel_transport(x_t, y_t, poincare.logmap(x_t, y_t, c=c), c=c)
  np.testing.assert_allclose(velocity.numpy(), -poincare.logmap(y_t, x_t, c=c).numpy(),
                             rtol=1e-8, atol=1e-10)
  # From the origin the transport is the rescaling by lambda_0 / lambda_mu, and back.
  zero = tf.zeros_like(x_t)
  from_origin = poincare.transport_from_origin(y_t, tf.constant(v), c=c).numpy()
  np.testing.assert_allclose(from_origin, poincare.parallel_transport(
      zero, y_t, tf.constant(v), c=c).numpy(), rtol=1e-12)
  np.testing.assert_allclose(from_origin, 2 / _np_lambda(y, c) * v, rtol=1e-12)
  np.testing.assert_allclose(poincare.transport_to_origin(y_t, tf.constant(from_origin),
                                                          c=c).numpy(), v, rtol=1e-12)


@pytest.mark.parametrize("c", [1.0, 4.0])
def test_points_and_huge_expmaps_stay_strictly_inside_the_ball_in_float32(c):
  rng = np.random.default_rng(7)
  directions = rng.normal(size=[64, 5])
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  outside = tf.constant(directions * np.array([[0.99999], [1.0], [1.5], [1e6]]).repeat(16, 0)
                        / np.sqrt(c), tf.float32)
  base = poincare.project(outside, c=c)
  huge = tf.constant(directions * 1e30, tf.float32)
  for z in (base, poincare.expmap0(huge, c=c), poincare.expmap(base, huge, c=c),
            poincare.expmap(base, -huge * 1e-28, c=c),
            poincare.project(poincare.mobius_add(base, base, c=c), c=c)):
    assert z.dtype == tf.float32
    assert np.all(np.isfinite(z.numpy()))
    assert np.all(c * np.sum(z.numpy().astype(np.float64) ** 2, -1) < 1)
    assert np.all(np.isfinite(poincare.conformal_factor(z, c=c).numpy()))
    assert np.all(np.isfinite(poincare.distance(tf.zeros([5]), z, c=c).numpy()))
  inside = tf.constant(directions * 0.5 / np.sqrt(c), tf.float32)
  np.testing.assert_array_equal(poincare.project(inside, c=c).numpy(), inside.numpy())


def _gradients(function, *arguments):
  with tf.GradientTape() as tape:
    for argument in arguments:
      tape.watch(argument)
    value = tf.reduce_sum(function(*arguments))
  return tape.gradient(value, arguments)


def test_gradients_are_finite_at_zero_tangent_vectors_and_near_the_boundary():
  c = 1.0
  zero = tf.zeros([2, 3])
  base = tf.constant([[0.3, -0.2, 0.1], [0.0, 0.0, 0.0]])
  # d exp_0(u) / du = I at u = 0.
  gradient, = _gradients(lambda u: poincare.expmap0(u, c=c), zero)
  np.testing.assert_allclose(gradient.numpy(), 1.0, rtol=1e-6)
  near_boundary = poincare.project(tf.constant([[1.0, 0.0, 0.0], [0.0, -0.6, 0.8]]), c=c)
  cases = [
      (lambda b, u: poincare.expmap(b, u, c=c), base, zero),
      (lambda b, y: poincare.logmap(b, y, c=c), base, base),
      (lambda b, y: poincare.distance(b, y, c=c), base, base),
      (lambda b, y: poincare.logmap(b, y, c=c), base, near_boundary),
      (lambda b, y: poincare.distance(b, y, c=c), -near_boundary, near_boundary),
      (lambda b, u: poincare.expmap(b, u, c=c), near_boundary, tf.fill([2, 3], 100.0)),
      (lambda b, y: poincare.logmap0(y, c=c) + b, base, near_boundary),
      (lambda b, y: poincare.parallel_transport(b, y, tf.ones([3]), c=c), base, near_boundary),
  ]
  for function, first, second in cases:
    for gradient in _gradients(function, first, second):
      assert np.all(np.isfinite(gradient.numpy()))
