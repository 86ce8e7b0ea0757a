"""Implicit posteriors: q(z|x) known only through a sampler, with no density.

iVAE (Fang et al. 2019, "Implicit Deep Latent Variable Models for Text
Generation", section 3) draws z = G_phi(x, eps), eps ~ N(0, I), from a
network whose output distribution has no tractable density, and replaces
the KL by a dual-form estimate from samples. `ImplicitPosterior` is such a
q(z|x) as a TFP distribution: it samples (reparameterised, differentiable in
the sampler's inputs) and refuses `log_prob` with a message that says why.
A model with such a posterior sets `posterior_has_density = False` and
supplies what it can estimate through its hooks (`estimate_kl`,
`estimate_mutual_information`, `density_surrogate`); the metrics that need
log q(z|x) and get none of these report "n/a". `ImplicitSampler` is the
network G_phi, and `fitted_diagonal_gaussian` the surrogate with a density
that iVAE's evaluation uses.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import random as tfvae_random

tfd = tfp.distributions

__all__ = ["ImplicitPosterior", "ImplicitSampler", "fitted_diagonal_gaussian"]


class ImplicitPosterior(tfd.Distribution):
  """q(z|x): z = sampler(noise), noise standard normal of shape [B, noise_dim].

  Args:
    sampler: function noise [..., B, noise_dim] -> z [..., B, d] (the
      network G_phi(x, .) with x fixed), differentiable.
    batch_size: B, a scalar (tensor).
    noise_dim: width of the noise.
    latent_dim: d.
    dtype: of z.
  """

  def __init__(self, sampler, batch_size, noise_dim, latent_dim, dtype=tf.float32,
               name="ImplicitPosterior"):
    parameters = dict(locals())
    self._sampler = sampler
    self._batch_size = batch_size
    self._noise_dim = int(noise_dim)
    self._latent_dim = int(latent_dim)
    super().__init__(dtype=dtype, reparameterization_type=tfd.FULLY_REPARAMETERIZED,
                     validate_args=False, allow_nan_stats=True, parameters=parameters,
                     name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return {}

  def _batch_shape_tensor(self):
    return tf.reshape(tf.cast(self._batch_size, tf.int32), [1])

  def _batch_shape(self):
    return tf.TensorShape([tf.get_static_value(self._batch_size)])

  def _event_shape_tensor(self):
    return tf.constant([self._latent_dim], tf.int32)

  def _event_shape(self):
    return tf.TensorShape([self._latent_dim])

  def _sample_n(self, n, seed=None):
    seed = tfp.random.sanitize_seed(seed)
    noise = tfvae_random.standard_normal([n, self._batch_size, self._noise_dim], seed,
                                         batch_axis=1, dtype=self.dtype)
    return self._sampler(noise)

  def _log_prob(self, value):
    raise NotImplementedError(
        "An implicit posterior has no density: log q(z|x) cannot be computed. Metrics "
        "that need it (IW-NLL, the ELBO's KL, true KL) are 'n/a' for this model unless it "
        "estimates them itself (LatentVariableModel.estimate_kl, "
        "estimate_mutual_information).")


class ImplicitSampler(keras.layers.Layer):
  """G_phi(h, eps): the sampler network of an implicit posterior (Fang et al. (2019), section 3).

  z = W_out relu(W_2 relu(W_1 [h, eps])): the features h [B, f] of x (the
  encoder's output) are concatenated with the noise eps [..., B, e] (leading
  sample dimensions broadcast over h) and mapped to z [..., B, d]. With no
  hidden units the map is linear, z = W_out [h, eps], as in Fang et al.'s
  code: then q(z|x) is in fact a Gaussian whose covariance is the same for
  every x, and only the hidden layers make it a general implicit posterior.

  Args:
    noise_dim: e.
    latent_dim: d.
    hidden_units: width of the two hidden layers; 0 for none (linear).
  """

  def __init__(self, noise_dim, latent_dim, hidden_units, **kwargs):
    super().__init__(**kwargs)
    self.noise_dim = int(noise_dim)
    self.latent_dim = int(latent_dim)
    self.hidden = [keras.layers.Dense(hidden_units, activation="relu", name=f"hidden_{i}")
                   for i in range(2 if hidden_units else 0)]
    self.to_latent = keras.layers.Dense(latent_dim, name="to_latent")

  def call(self, features, noise):
    features = tf.broadcast_to(
        features, tf.concat([tf.shape(noise)[:-1], tf.shape(features)[-1:]], axis=0))
    h = tf.concat([features, tf.cast(noise, features.dtype)], axis=-1)
    for layer in self.hidden:
      h = layer(h)
    return self.to_latent(h)

  def posterior(self, features):
    """q(z|x) for the features h [B, f] of a batch: an `ImplicitPosterior` over this network."""
    return ImplicitPosterior(lambda noise: self(features, noise), tf.shape(features)[0],
                             self.noise_dim, self.latent_dim, dtype=features.dtype)


def fitted_diagonal_gaussian(samples, min_scale=1e-3):
  """N(mean, diag(var)) matched to samples [S, B, d] of B posteriors: a stand-in with a density.

  Evaluation uses it where a metric needs log q(z|x) of a sampler: as the
  proposal of the importance-sampled NLL (any proposal gives a consistent
  estimate of p(x)) and for the MI estimate. Against p = N(0, I), KL(fit || p)
  is a lower bound of KL(q || p): E log p(z) depends on the first two moments
  only, which the fit matches per dimension, and a Gaussian has the largest
  entropy among distributions of the same variances, so H(fit) >= H(q).

  Args:
    samples: [S, B, d] with S >= 2.
    min_scale: floor on the fitted standard deviations (a sampler may be
      nearly deterministic in some dimension).
  """
  mean, variance = tf.nn.moments(samples, axes=[0])
  sample_count = tf.cast(tf.shape(samples)[0], samples.dtype)
  scale = tf.sqrt(variance * sample_count / (sample_count - 1.0))
  return tfd.Independent(tfd.Normal(mean, tf.maximum(scale, min_scale)),
                         reinterpreted_batch_ndims=1)
