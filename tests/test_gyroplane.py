"""The gyroplane layer (tfvae.nets.gyroplane): distances to the plane against a brute-force minimum
over its points, the Euclidean limit, signs, shapes with sample dimensions, and training."""

import keras
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from tfvae.latents import poincare
from tfvae.nets import gyroplane


def _np_mobius_add(x, y, c):
  xy, xx, yy = np.dot(x, y), np.dot(x, x), np.dot(y, y)
  return ((1 + 2 * c * xy + c * yy) * x + (1 - c * xx) * y) / (1 + 2 * c * xy + c**2 * xx * yy)


def _np_expmap(x, u, c):
  norm, factor = np.linalg.norm(u), 2 / (1 - c * np.dot(x, x))
  if norm == 0:
    return x
  return _np_mobius_add(x, np.tanh(np.sqrt(c) * factor * norm / 2) * u / (np.sqrt(c) * norm), c)


def _np_distance(x, y, c):
  """arcosh(1 + 2c ||x - y||^2 / ((1 - c||x||^2)(1 - c||y||^2))) / sqrt(c)."""
  shrink = (1 - c * np.dot(x, x)) * (1 - c * np.dot(y, y))
  return np.arccosh(1 + 2 * c * np.dot(x - y, x - y) / shrink) / np.sqrt(c)


def _brute_force_distance(z, normal, offset, c):
  """min over the gyroplane {exp_p(t a_perp)} of d(z, .): a grid over t, then a bounded search."""
  along = np.array([-normal[1], normal[0]]) / np.linalg.norm(normal)
  factor = 2 / (1 - c * np.dot(offset, offset))
  grid = np.linspace(-16, 16, 3201) / (np.sqrt(c) * factor)  # geodesic lengths up to 16 / sqrt(c)

  def gap(t):
    return _np_distance(z, _np_expmap(offset, t * along, c), c)

  best = int(np.argmin([gap(t) for t in grid]))
  bounds = (grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)])
  return scipy.optimize.minimize_scalar(gap, bounds=bounds, method="bounded",
                                        options=dict(xatol=1e-12)).fun


def _ball_points(rng, shape, c, max_fraction):
  directions = rng.normal(size=shape)
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  return directions * rng.uniform(0.0, max_fraction, [*shape[:-1], 1]) / np.sqrt(c)


def _layer(units, inputs, c, seed=0, dtype="float64"):
  """A built Gyroplane with random normals and offsets (offsets' tangent vectors of norm ~1)."""
  layer = gyroplane.Gyroplane(units, curvature=c, dtype=dtype)
  layer.build((None, inputs))
  rng = np.random.default_rng(seed)
  layer.normal_weight.assign(rng.normal(size=[units, inputs]))
  layer.offset_weight.assign(rng.normal(size=[units, inputs]) * 0.6)
  return layer


@pytest.mark.parametrize("c", [0.5, 1.0, 3.0])
def test_the_feature_is_the_scaled_signed_distance_to_the_nearest_point_of_the_plane(c):
  rng = np.random.default_rng(int(c * 10))
  z, offsets = _ball_points(rng, [8, 2], c, 0.9), _ball_points(rng, [8, 2], c, 0.8)
  normals = rng.normal(size=[8, 2])
  signed = gyroplane.signed_distance_to_gyroplane(tf.constant(z), tf.constant(normals),
                                                  tf.constant(offsets), c=c).numpy()
  features = gyroplane.gyroplane_features(tf.constant(z), tf.constant(normals),
                                          tf.constant(offsets), c=c).numpy()
  for i in range(8):
    distance = _brute_force_distance(z[i], normals[i], offsets[i], c)
    np.testing.assert_allclose(abs(signed[i]), distance, rtol=1e-7, atol=1e-9)
    # f = sign(<a, log_p z>_p) ||a||_p d(z, H), with ||a||_p = lambda_p ||a||.
    log_p = poincare.logmap(tf.constant(offsets[i]), tf.constant(z[i]), c=c).numpy()
    factor = 2 / (1 - c * np.dot(offsets[i], offsets[i]))
    expected = np.sign(np.dot(normals[i], log_p)) * factor * np.linalg.norm(normals[i]) * distance
    np.testing.assert_allclose(features[i], expected, rtol=1e-7, atol=1e-9)


def test_a_vanishing_curvature_gives_the_affine_map_four_times_a_dot_z_minus_p():
  layer = _layer(units=5, inputs=3, c=1e-7)
  z = np.random.default_rng(1).normal(size=[10, 3])
  normals, offsets = layer.normal_weight.numpy(), layer.offset_weight.numpy()
  # lambda_p -> 2 gives ||a||_p -> 2 ||a|| and asinh(2 <z - p, a> / ||a||) ~ 2 <z - p, a> / ||a||.
  affine = 4 * (z @ normals.T - np.sum(normals * offsets, -1))
  np.testing.assert_allclose(layer(tf.constant(z)).numpy(), affine, rtol=1e-5, atol=1e-5)


def test_the_sign_flips_across_the_plane_and_vanishes_on_it():
  c = 1.0
  layer = _layer(units=4, inputs=3, c=c, seed=2)
  offsets, normals = layer.offsets, layer.normals
  rng = np.random.default_rng(3)
  tangents = tf.constant(rng.normal(size=[50, 4, 3]))
  on_plane = tangents - (tf.reduce_sum(tangents * normals, -1, keepdims=True)
                         / tf.reduce_sum(normals * normals, -1, keepdims=True) * normals)
  for w, sign in ((on_plane + 0.05 * normals, 1.0), (on_plane - 0.05 * normals, -1.0)):
    # Unit k is fed exp_{p_k}(w_k) and its own feature read off the diagonal.
    z = poincare.expmap(offsets, w, c=c)
    features = tf.linalg.diag_part(layer(z)).numpy()
    assert np.all(np.sign(features) == sign)
  z = poincare.expmap(offsets, on_plane, c=c)
  np.testing.assert_allclose(tf.linalg.diag_part(layer(z)).numpy(), 0.0, atol=1e-9)


def test_leading_sample_dimensions_are_kept_and_the_config_round_trips():
  layer = gyroplane.Gyroplane(7, curvature=0.5)
  z = poincare.expmap0(tf.random.stateless_normal([3, 4, 5], [1, 2]), c=0.5)
  out = layer(z)
  assert out.shape == [3, 4, 7] and out.dtype == tf.float32
  assert layer(z[0]).shape == [4, 7]
  np.testing.assert_allclose(layer(z[0]).numpy(), out[0].numpy(), rtol=1e-6)
  assert layer.compute_output_shape((3, 4, 5)) == (3, 4, 7)
  assert [w.shape for w in layer.weights] == [(7, 5), (7, 5)]
  copy = gyroplane.Gyroplane.from_config(layer.get_config())
  assert copy.units == 7 and copy.curvature == 0.5


def test_gradients_are_finite_near_the_boundary_and_at_the_offsets_and_the_layer_trains():
  c = 1.0
  student, teacher = _layer(3, 2, c, seed=4, dtype="float32"), _layer(3, 2, c, seed=5,
                                                                       dtype="float32")
  z = poincare.expmap0(tf.random.stateless_normal([256, 2], [3, 4]) * 1.5, c=c)
  edge = tf.concat([poincare.project(tf.constant([[1.0, 0.0], [0.0, -1.0]]), c=c),
                    student.offsets[:2]], axis=0)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(edge)
    edge_out = tf.reduce_sum(student(edge))
  for gradient in tape.gradient(edge_out, [edge, *student.trainable_weights]):
    assert np.all(np.isfinite(gradient.numpy()))
  targets = teacher(z)
  optimizer = keras.optimizers.Adam(0.05)

  def loss():
    return tf.reduce_mean((student(z) - targets) ** 2)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      value = loss()
    gradients = tape.gradient(value, student.trainable_weights)
    optimizer.apply_gradients(zip(gradients, student.trainable_weights))
    return gradients

  initial = loss().numpy()
  assert all(np.any(g.numpy() != 0) for g in step())
  for _ in range(150):
    step()
  assert loss().numpy() < 0.1 * initial
