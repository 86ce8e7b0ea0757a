"""The gyroplane layer: the hyperbolic analogue of an affine map, for decoders of Poincare-ball z.

A Euclidean affine feature <a, z - p> is ||a|| times the signed distance from z
to the hyperplane {x : <a, x - p> = 0}. Ganea et al. (2018) carry this to the
Poincare ball B_c^n with the gyroplane through a point p with normal a in T_p B,

  H_{a,p} = {exp_p(w) : <a, w> = 0} = {z : <(-p) (+) z, a> = 0},

and Dai et al. (2021), eq. 8 (after Mathieu et al. (2019)), use the feature

  f_{a,p}(z) = sign(<a, log_p(z)>_p) ||a||_p d_c(z, H_{a,p}),
  d_c(z, H_{a,p}) = 1 / sqrt(c) asinh(2 sqrt(c) |<k, a>| / ((1 - c ||k||^2) ||a||)),
  k = (-p) (+)_c z,

with <u, w>_p = lambda_p^2 <u, w> and ||a||_p = lambda_p ||a||. log_p(z) is a
positive multiple of k, so the sign is that of <k, a>, and since asinh is odd

  f_{a,p}(z) = lambda_p ||a|| / sqrt(c) asinh(2 sqrt(c) <k, a> / ((1 - c ||k||^2) ||a||)).

As c -> 0, lambda_p -> 2 and k -> z - p, so f tends to the affine map 4 <a, z - p>.

Parametrisation (Ganea et al. (2018)): each unit has an unconstrained offset
weight o and a normal weight w in the tangent space at the origin; p = exp_0(o)
lies in the ball for every o, and a = P_{0->p}(w) = (lambda_0 / lambda_p) w, so
that ||a||_p = 2 ||w|| does not grow as p nears the boundary.
"""

import keras
import tensorflow as tf

from tfvae.latents import poincare


def signed_distance_to_gyroplane(z, normal, offset, *, c):
  """sign(<k, a>) d_c(z, H_{a,p}), the signed geodesic distance from z to the gyroplane H_{a,p}.

  Args:
    z: [..., n] points in the ball.
    normal: [..., n] normals a (tangent vectors at p), broadcasting with z.
    offset: [..., n] points p of the planes, broadcasting with z.
    c: the curvature magnitude, c > 0.

  Returns:
    [...] distances, positive on the side that a points to.
  """
  c = poincare.as_curvature(c, z.dtype)
  sqrt_c = tf.sqrt(c)
  k = poincare.project(poincare.mobius_add(-offset, z, c=c), c=c)
  normal_norm = poincare.safe_norm(normal)
  ratio = (2.0 * sqrt_c * tf.reduce_sum(k * normal, axis=-1, keepdims=True)
           / ((1.0 - c * poincare.squared_norm(k)) * normal_norm))
  return tf.squeeze(tf.math.asinh(ratio) / sqrt_c, axis=-1)


def gyroplane_features(z, normal, offset, *, c):
  """f_{a,p}(z) = ||a||_p sign(<k, a>) d_c(z, H_{a,p}) (Dai et al. (2021), eq. 8).

  Args:
    z: [..., n] points in the ball.
    normal: [..., n] normals a (tangent vectors at p), broadcasting with z.
    offset: [..., n] points p of the planes, broadcasting with z.
    c: the curvature magnitude, c > 0.

  Returns:
    [...] the features, lambda_p ||a|| times the signed distance.
  """
  scale = poincare.conformal_factor(offset, c=c) * poincare.safe_norm(normal)
  return tf.squeeze(scale, axis=-1) * signed_distance_to_gyroplane(z, normal, offset, c=c)


class Gyroplane(keras.layers.Layer):
  """z [..., n] on the Poincare ball -> [..., units] gyroplane features, one plane per unit.

  The weights are `normal_weight` and `offset_weight`, each [units, n]; the
  planes' points are p = exp_0(offset_weight) and their normals
  a = P_{0->p}(normal_weight) (see the module docstring).
  """

  def __init__(self, units, curvature=1.0, normal_initializer="glorot_uniform",
               offset_initializer="zeros", **kwargs):
    """Builds the layer.

    Args:
      units: the number of planes, the output size.
      curvature: the curvature magnitude c > 0 of the input ball.
      normal_initializer: the Keras initializer of the normals at the origin.
      offset_initializer: the Keras initializer of the offsets' tangent vectors at the origin.
      **kwargs: passed to `keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self.units = int(units)
    self.curvature = float(curvature)
    self.normal_initializer = keras.initializers.get(normal_initializer)
    self.offset_initializer = keras.initializers.get(offset_initializer)

  def build(self, input_shape):
    """Creates the [units, n] normal and offset weights for inputs of size n."""
    shape = (self.units, int(input_shape[-1]))
    self.normal_weight = self.add_weight(shape=shape, initializer=self.normal_initializer,
                                         name="normal")
    self.offset_weight = self.add_weight(shape=shape, initializer=self.offset_initializer,
                                         name="offset")

  @property
  def offsets(self):
    """The planes' points p = exp_0(offset_weight), [units, n]."""
    return poincare.expmap0(tf.convert_to_tensor(self.offset_weight), c=self.curvature)

  @property
  def normals(self):
    """The planes' normals a = P_{0->p}(normal_weight) at their points p, [units, n]."""
    return poincare.transport_from_origin(self.offsets, tf.convert_to_tensor(self.normal_weight),
                                          c=self.curvature)

  def call(self, z):
    """The features f_{a_k,p_k}(z) of every unit.

    Args:
      z: [..., n] points in the ball, with any leading dimensions (e.g. [K, B, n]).

    Returns:
      [..., units] gyroplane features.
    """
    return gyroplane_features(z[..., None, :], self.normals, self.offsets, c=self.curvature)

  def compute_output_shape(self, input_shape):
    """[..., n] -> [..., units]."""
    return (*input_shape[:-1], self.units)

  def get_config(self):
    """The constructor's arguments, for Keras serialisation."""
    return dict(super().get_config(), units=self.units, curvature=self.curvature,
                normal_initializer=keras.initializers.serialize(self.normal_initializer),
                offset_initializer=keras.initializers.serialize(self.offset_initializer))
