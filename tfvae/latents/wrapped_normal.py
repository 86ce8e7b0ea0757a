"""The wrapped normal distribution on the Poincare ball, the hyperbolic posterior of APo-VAE.

Dai et al. (2021), eq. 7, after Mathieu et al. (2019), push a Gaussian in the
tangent space at the origin onto the ball B_c^d of curvature -c:

  v ~ N(0, diag(sigma^2))                        a tangent vector at the origin,
  u = P_{0->mu}(v) = (lambda_0 / lambda_mu) v    transported to mu,
  z = exp_mu(u)                                  and mapped onto the ball.

The map v -> z is a diffeomorphism from R^d onto the ball, so z has the density
q(z) = N(v; 0, diag(sigma^2)) / |det dz/dv| on the ball's coordinates (Lebesgue
measure). The determinant is the product of four volume changes, with
r = d_c(mu, z) = lambda_mu ||u|| = 2 ||v||:

  1. v -> u scales Lebesgue measure by (lambda_0 / lambda_mu)^d = (2 / lambda_mu)^d;
  2. Lebesgue measure on T_mu is lambda_mu^(-d) times the Riemannian one (metric
     lambda_mu^2 I);
  3. exp_mu takes Riemannian volume on T_mu to Riemannian volume on the ball with
     the factor (sinh(sqrt(c) r) / (sqrt(c) r))^(d-1), the Jacobi fields of
     constant curvature -c (the correction of Mathieu et al. (2019) to the
     Riemannian density of the wrapped normal);
  4. the Riemannian volume of the ball is (lambda_z)^d times Lebesgue measure.

The factors lambda_mu cancel:

  log |det dz/dv| = (d - 1) log(sinh(sqrt(c) r) / (sqrt(c) r)) + d log(2 / lambda_z)
                  = (d - 1) log(sinh(sqrt(c) r) / (sqrt(c) r)) + d log(1 - c ||z||^2),

and log q(z) = log N(v; 0, diag(sigma^2)) - log |det dz/dv| with
v = P_{mu->0}(log_mu(z)) = (lambda_mu / 2) log_mu(z). As c -> 0 every factor
tends to 1 and q is N(mu, diag(sigma^2)); for small sigma at a fixed c it is
close to N(mu, diag((2 / lambda_mu)^2 sigma^2)).

`sample_from_noise` maps standard-normal noise to z, so a caller can supply
noise drawn for the global batch; `reparameterized_sample` does so with the
noise of `tfvae.random`, so that a global batch gets the same samples on one
device or split over replicas. `PoincareWrappedNormal.sample` draws its own
noise with TFP's stateless seeds, for the local rows only.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import random as tfvae_random
from tfvae.latents import poincare

tfd = tfp.distributions
tfb = tfp.bijectors

# Below this argument log(sinh(x) / x) is its Taylor series, which avoids 0 / 0 at x = 0.
_SINHC_SERIES_BELOW = 0.1


def sample_from_noise(loc, scale, noise, c):
  """Maps standard-normal noise to wrapped-normal samples, z = exp_mu(P_{0->mu}(sigma * noise)).

  Args:
    loc: [..., d] the means mu, points in the ball.
    scale: [..., d] the tangent-space standard deviations sigma > 0.
    noise: [..., d] standard-normal draws, broadcasting with loc and scale (e.g. [K, B, d]).
    c: the curvature magnitude, c > 0.

  Returns:
    [..., d] points strictly inside the ball, differentiable in loc and scale.
  """
  tangent = poincare.transport_from_origin(loc, scale * noise, c=c)
  return poincare.expmap(loc, tangent, c=c)


def reparameterized_sample(posterior, seed, num_samples=None):
  """Replica-consistent samples of a `PoincareWrappedNormal` with batch shape [B].

  The standard-normal noise comes from `tfvae.random.standard_normal` with the
  batch axis marked, and goes through `sample_from_noise`.

  Args:
    posterior: a `PoincareWrappedNormal` with batch shape [B] and event [d].
    seed: int32 [2] stateless seed.
    num_samples: None for one sample per example ([B, d]), or K for [K, B, d].

  Returns:
    Points strictly inside the ball that carry gradients to the posterior's loc and scale.
  """
  loc = tf.convert_to_tensor(posterior.loc)
  shape = tf.shape(loc)
  if num_samples is None:
    noise = tfvae_random.standard_normal([shape[0], shape[1]], seed, batch_axis=0,
                                         dtype=loc.dtype)
  else:
    noise = tfvae_random.standard_normal([num_samples, shape[0], shape[1]], seed, batch_axis=1,
                                         dtype=loc.dtype)
  return sample_from_noise(loc, posterior.scale, noise, posterior.curvature)


def origin_tangent(loc, z, c):
  """The inverse of the sample map: v = P_{mu->0}(log_mu(z)), the tangent vector at the origin.

  Args:
    loc: [..., d] the means mu, points in the ball.
    z: [..., d] points in the ball.
    c: the curvature magnitude, c > 0.

  Returns:
    [..., d] vectors v with sample_from_noise(loc, 1, v, c) = z.
  """
  return poincare.transport_to_origin(loc, poincare.logmap(loc, z, c=c), c=c)


def _log_sinhc(x):
  """log(sinh(x) / x) for x >= 0: a Taylor series near 0, a form that cannot overflow above."""
  small = tf.minimum(x, _SINHC_SERIES_BELOW)
  series = small**2 / 6.0 - small**4 / 180.0 + small**6 / 2835.0
  large = tf.maximum(x, _SINHC_SERIES_BELOW)
  closed_form = large + tf.math.log1p(-tf.exp(-2.0 * large)) - tf.math.log(2.0 * large)
  return tf.where(x < _SINHC_SERIES_BELOW, series, closed_form)


def log_det_jacobian(loc, z, c):
  """log |det dz/dv| of the sample map v -> z at the point z (see the module docstring).

  Args:
    loc: [..., d] the means mu, points in the ball.
    z: [..., d] points in the ball.
    c: the curvature magnitude, c > 0.

  Returns:
    [...] (d - 1) log(sinh(sqrt(c) r) / (sqrt(c) r)) + d log(1 - c ||z||^2), r = d_c(mu, z).
  """
  dim = tf.cast(tf.shape(z)[-1], z.dtype)
  c = poincare.as_curvature(c, z.dtype)
  radius = poincare.distance(loc, z, c=c)
  shrink = 1.0 - c * tf.squeeze(poincare.squared_norm(z), axis=-1)
  return (dim - 1.0) * _log_sinhc(tf.sqrt(c) * radius) + dim * tf.math.log(shrink)


def _diagonal_normal_log_prob(v, scale):
  """log N(v; 0, diag(scale^2)), summed over the last axis."""
  standardized = v / scale
  return -tf.reduce_sum(0.5 * standardized**2 + tf.math.log(scale) + 0.5 * math.log(2 * math.pi),
                        axis=-1)


def _no_constraining_bijector():
  """The ball that loc lives in depends on the curvature: there is no fixed bijector onto it."""
  raise NotImplementedError("PoincareWrappedNormal has no constraining bijector for `loc`.")


class PoincareWrappedNormal(tfd.Distribution):
  """The wrapped normal WN_c(loc, diag(scale^2)) on the Poincare ball (Dai et al. (2021), eq. 7).

  Batch shape: the broadcast of loc.shape[:-1] and scale.shape[:-1]; event
  shape: [d]. Samples are reparameterised; `log_prob` is the exact density with
  respect to Lebesgue measure on the ball's coordinates, so the distribution can
  be the component family of `tfd.MixtureSameFamily`.
  """

  def __init__(self, loc, scale, curvature=1.0, validate_args=False, allow_nan_stats=True,
               name="PoincareWrappedNormal"):
    """Builds the distribution.

    Args:
      loc: [..., d] the means, points in the ball of radius 1 / sqrt(curvature).
      scale: [..., d] positive standard deviations in the tangent space at the origin.
      curvature: the curvature magnitude c > 0 of the ball (curvature -c), a scalar.
      validate_args: whether to check that scale and curvature are positive and loc is inside
        the ball.
      allow_nan_stats: passed to `tfd.Distribution`.
      name: the name scope of the distribution's ops.

    Raises:
      ValueError: if curvature is not a scalar.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._loc = tf.convert_to_tensor(loc, dtype_hint=tf.float32, name="loc")
      dtype = self._loc.dtype
      self._scale = tf.convert_to_tensor(scale, dtype=dtype, name="scale")
      self._curvature = tf.convert_to_tensor(curvature, dtype=dtype, name="curvature")
      if self._curvature.shape.rank != 0:
        raise ValueError(f"curvature must be a scalar, got shape {self._curvature.shape}.")
      super().__init__(dtype=dtype, reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                       validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                       parameters=parameters, name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(
        loc=tfp.util.ParameterProperties(
            event_ndims=1, default_constraining_bijector_fn=_no_constraining_bijector),
        scale=tfp.util.ParameterProperties(event_ndims=1,
                                           default_constraining_bijector_fn=tfb.Softplus),
        # A scalar shared by the whole batch: event_ndims=None keeps it out of batch
        # shapes and batch slicing.
        curvature=tfp.util.ParameterProperties(event_ndims=None,
                                               default_constraining_bijector_fn=tfb.Softplus))

  @property
  def loc(self):
    """The means, points in the ball."""
    return self._loc

  @property
  def scale(self):
    """The standard deviations in the tangent space at the origin."""
    return self._scale

  @property
  def curvature(self):
    """The curvature magnitude c of the ball."""
    return self._curvature

  def _event_shape(self):
    return tf.broadcast_static_shape(self._loc.shape[-1:], self._scale.shape[-1:])

  def _event_shape_tensor(self):
    return tf.broadcast_dynamic_shape(tf.shape(self._loc)[-1:], tf.shape(self._scale)[-1:])

  def _sample_n(self, n, seed=None):
    seed = tfp.random.sanitize_seed(seed, salt="PoincareWrappedNormal")
    shape = tf.concat([[n], self.batch_shape_tensor(), self.event_shape_tensor()], axis=0)
    noise = tf.random.stateless_normal(shape, seed=seed, dtype=self.dtype)
    return sample_from_noise(self._loc, self._scale, noise, self._curvature)

  def _log_prob(self, x):
    v = origin_tangent(self._loc, x, self._curvature)
    return (_diagonal_normal_log_prob(v, self._scale)
            - log_det_jacobian(self._loc, x, self._curvature))

  def _parameter_control_dependencies(self, is_init):
    if not self.validate_args:
      return []
    inside = self._curvature * tf.reduce_sum(self._loc**2, axis=-1)
    return [tf.debugging.assert_positive(self._scale, message="scale must be positive."),
            tf.debugging.assert_positive(self._curvature, message="curvature must be positive."),
            tf.debugging.assert_less(inside, tf.ones_like(inside),
                                     message="loc must lie inside the ball.")]
