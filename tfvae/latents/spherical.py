"""Spherical latents: a power-spherical posterior and the uniform prior on S^{d-1} (METHODS.md M15).

Xu and Durrett (2018) put z on the unit sphere S^{d-1} in R^d, with a von
Mises-Fisher posterior vMF(mu(x), kappa) and the uniform prior: the KL depends
on kappa only, so with kappa fixed it is a constant that the optimiser cannot
drive to zero, and the posterior cannot collapse onto the prior.

TFP's `tfd.VonMisesFisher` samples only for d <= 5 and is reparameterised in
kappa only for d = 3, while the text models use d = 32. The power-spherical
distribution of De Cao and Aziz (2020), `tfd.PowerSpherical`, plays the same
role, with density

  q(z|x) = (1 + mu^T z)^kappa / N(kappa, d),
  N = 2^(a + b) pi^b Gamma(a) / Gamma(a + b), a = (d - 1)/2 + kappa, b = (d - 1)/2,

and a sampler without rejection in every dimension (De Cao and Aziz (2020),
Algorithm 1):

  x ~ Beta(a, b) and t = 2x - 1, the cosine mu^T z;
  v ~ uniform on S^{d-2}, a normalised standard-normal vector;
  z = H(mu) [t, sqrt(1 - t^2) v], H(mu) the Householder reflection taking
      e_1 to mu.

Here y = 1 - x ~ Beta(b, a) is drawn instead (so that 1 - t = 2y stays
accurate for large kappa), as the inverse CDF of Beta(b, a) at a uniform u
(`tfp.math.betaincinv`, whose gradient in a is the implicit
reparameterisation gradient dy/da = -(dF/da) / p(y) of Figurnov et al.
(2018)). u and v come from `tfvae.random`, so a global batch gets the same
samples on one device or split over replicas; `PowerSpherical.sample`,
which draws for the local rows only, does not.

KL(q || uniform) = log |S^{d-1}| - H(q), with |S^{d-1}| = 2 pi^(d/2) / Gamma(d/2)
and H(q) = log N - kappa (log 2 + psi(a) - psi(a + b)) (De Cao and Aziz
(2020)), is registered in TFP; `tfvae.divergences.kl` uses it.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import random as tfvae_random

tfd = tfp.distributions

# A learned concentration is kappa = softplus(o) + KAPPA_FLOOR, the "+ 1" of the
# reference implementation of Davidson et al. (2018): it keeps q(z|x) away from
# the uniform prior (kappa = 0), i.e. from a collapsed posterior.
KAPPA_FLOOR = 1.0


def power_spherical(mean_direction, concentration):
  """q(z|x) on S^{d-1}: PowerSpherical(mu [B, d] unit vectors, kappa [B] > 0)."""
  return tfd.PowerSpherical(mean_direction=mean_direction, concentration=concentration)


def spherical_uniform_prior(latent_dim, dtype=tf.float32):
  """p(z): the uniform distribution on S^{d-1} in R^d, event shape [latent_dim]."""
  return tfd.SphericalUniform(dimension=int(latent_dim), dtype=dtype)


def reparameterized_sample(posterior, seed, num_samples=None):
  """Replica-consistent samples of a `power_spherical` posterior (De Cao and Aziz (2020),
  Algorithm 1; see the module docstring).

  Args:
    posterior: a `tfd.PowerSpherical` with batch shape [B] and event [d].
    seed: int32 [2] stateless seed.
    num_samples: None for one sample per example ([B, d]), or K for [K, B, d].

  Returns:
    Unit vectors that carry gradients to the mean direction and the concentration.
  """
  mean_direction = tf.convert_to_tensor(posterior.mean_direction)
  concentration = tf.convert_to_tensor(posterior.concentration)
  dtype = mean_direction.dtype
  latent_dim = mean_direction.shape[-1]
  rows = tf.shape(mean_direction)[0]
  shape, batch_axis = ([rows], 0) if num_samples is None else ([num_samples, rows], 1)
  beta_seed, direction_seed = tf.unstack(tfvae_random.split_seed(seed, 2))
  # Uniform draws are multiples of machine epsilon in [0, 1); their midpoints lie in (0, 1),
  # so y > 0 and t > -1 (the density is 0 at -mu).
  half_step = tf.constant(np.finfo(dtype.as_numpy_dtype).eps / 2, dtype)
  u = tfvae_random.uniform(shape, beta_seed, batch_axis=batch_axis, dtype=dtype) + half_step
  half = tf.constant((latent_dim - 1) / 2, dtype)
  y = tfp.math.betaincinv(half, half + concentration, u)
  t = 1.0 - 2.0 * y
  v = tf.math.l2_normalize(tfvae_random.standard_normal(
      [*shape, latent_dim - 1], direction_seed, batch_axis=batch_axis, dtype=dtype), axis=-1)
  tangent = 2.0 * tf.sqrt(y * (1.0 - y))  # sqrt(1 - t^2)
  on_axis = tf.concat([t[..., None], tangent[..., None] * v], axis=-1)
  # H(mu) = I - 2 w w^T with w = (e_1 - mu) / |e_1 - mu| (w = 0 and H = I when mu = e_1).
  e_1 = tf.one_hot(0, latent_dim, dtype=dtype)
  w = tf.math.l2_normalize(e_1 - mean_direction, axis=-1)
  reflected = on_axis - 2.0 * tf.reduce_sum(on_axis * w, axis=-1, keepdims=True) * w
  return tf.math.l2_normalize(reflected, axis=-1)


def split_parameters(params, latent_dim, kappa=None):
  """The encoder's last layer [B, d + 1] (or [B, d] with a fixed kappa) -> (mu [B, d], kappa [B]).

  mu is the first d outputs normalised to unit length; kappa is
  softplus(last output) + KAPPA_FLOOR, or the fixed `kappa` of Xu and Durrett
  (2018) for every example.
  """
  mean_direction = tf.math.l2_normalize(params[..., :latent_dim], axis=-1)
  if kappa is None:
    concentration = tf.nn.softplus(params[..., latent_dim]) + KAPPA_FLOOR
  else:
    concentration = tf.fill(tf.shape(params)[:-1], tf.constant(kappa, params.dtype))
  return mean_direction, concentration
