"""Diagonal-Gaussian posterior and standard-normal prior (METHODS.md M1).

The posterior is q(z|x) = N(mu(x), diag(sigma(x)^2)) with sigma = exp(log_var/2)
as in Kingma and Welling (2014; He's lecture notes (2026), section on the
reparameterisation trick); the prior is p(z) = N(0, I). Both are
`tfd.Independent(tfd.Normal, 1)`, so batch shape is [B] and event shape [d],
and the per-dimension KL (needed by free bits, M5) is the KL of the wrapped
`tfd.Normal`s (`tfvae.divergences.kl_per_dimension`).
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import random as tfvae_random

tfd = tfp.distributions


def diagonal_gaussian(loc, log_variance):
  """q(z|x) with mean `loc` [B, d] and log-variance `log_variance` [B, d]."""
  scale = tf.exp(0.5 * log_variance)
  return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)


def standard_normal_prior(latent_dim, dtype=tf.float32):
  """p(z) = N(0, I_d) with event shape [latent_dim]."""
  zeros = tf.zeros([latent_dim], dtype=dtype)
  return tfd.Independent(tfd.Normal(loc=zeros, scale=tf.ones_like(zeros)),
                         reinterpreted_batch_ndims=1)


def reparameterized_sample(posterior, seed, num_samples=None):
  """z = mu + sigma * eps with replica-consistent noise (Kingma and Welling).

  A normalising flow over such a Gaussian (`tfd.TransformedDistribution`,
  e.g. the IAF posterior of Kingma et al. 2016) samples its base z0 the same
  way and returns bijector(z0); `base_and_sample` gives both.

  Args:
    posterior: a diagonal Gaussian from `diagonal_gaussian`, or a flow over one.
    seed: int32 [2] stateless seed.
    num_samples: None for one sample per example ([B, d]), or K for [K, B, d].

  Returns:
    Samples that carry gradients to the posterior's mean and scale (and the
    flow's parameters).
  """
  return base_and_sample(posterior, seed, num_samples)[1]


def is_flow(distribution):
  """Whether `distribution` is a base distribution pushed through a bijector.

  `tfd.TransformedDistribution` returns an instance of its non-composite base
  class when the bijector is not a composite tensor (a flow whose network is a
  Python function, as the IAF's), so the check is on the parts, not the class.
  """
  return (isinstance(getattr(distribution, "bijector", None), tfp.bijectors.Bijector)
          and isinstance(getattr(distribution, "distribution", None), tfd.Distribution))


def base_and_sample(posterior, seed, num_samples=None):
  """(z0, z): the base Gaussian's sample and the posterior's (equal without a flow).

  Regularisers of flow posteriors act on z0 (the sample before the bijector).
  """
  if is_flow(posterior):
    base, _ = base_and_sample(posterior.distribution, seed, num_samples)
    return base, posterior.bijector.forward(base)
  normal = posterior.distribution
  loc, scale = normal.loc, normal.scale
  shape = tf.shape(loc)
  if num_samples is None:
    noise = tfvae_random.standard_normal([shape[0], shape[1]], seed, batch_axis=0,
                                         dtype=loc.dtype)
  else:
    noise = tfvae_random.standard_normal([num_samples, shape[0], shape[1]], seed,
                                         batch_axis=1, dtype=loc.dtype)
  z = loc + scale * noise
  return z, z
