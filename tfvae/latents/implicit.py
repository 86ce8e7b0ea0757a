"""Implicit posteriors: q(z|x) known only through a sampler, with no density.

iVAE (Fang et al. 2019, "Implicit Deep Latent Variable Models for Text
Generation", section 3) draws z = G_phi(x, eps), eps ~ N(0, I), from a
network whose output distribution has no tractable density, and replaces
the KL by a dual-form estimate from samples. `ImplicitPosterior` is such a
q(z|x) as a TFP distribution: it samples (reparameterised, differentiable in
the sampler's inputs) and refuses `log_prob` with a message that says why.
A model with such a posterior sets `posterior_has_density = False` and
supplies what it can estimate through its hooks (`estimate_kl`,
`estimate_mutual_information`); the metrics that need log q(z|x) report
"n/a".
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import random as tfvae_random

tfd = tfp.distributions

__all__ = ["ImplicitPosterior"]


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
