"""DU-VAE (Shen et al. 2021): dropout on the posterior variances, BN on the means (METHODS.md M17).

Shen et al. (2021), Algorithm 1, with q(z|x) = N(mu_hat_x, delta_hat_x^2):

* means: the batch normalisation of eq. 9 with a learned scale gamma_d per
  dimension, initialised at gamma and re-scaled after every optimiser step so
  that mean_d gamma_d^2 = gamma^2 (`MeanBatchNorm(learn_scale=True)`);
* variances: delta_x^2 = alpha + exp(encoder output), alpha = 1 / (2 pi e),
  so that every variance stays above alpha (their section 3.1: the noise of
  variance alpha has zero entropy); in training, dropout on them, eq. 6:
  delta_hat^2 = g (delta^2 - alpha) + alpha, g ~ Bernoulli(p) / p drawn per
  example and dimension, which keeps the mean variance and (Proposition 1)
  raises the mutual posterior divergence and lowers the conditional entropy.
  Evaluation and exports use no dropout.

The paper writes the variance floor as noise added to z; adding alpha to the
encoder's variance is the same distribution of z, and is what Shen et al.'s
code does. Their `--p_drop` is 1 - p; their table's "DU-VAE (0.5, 0.8)" is
gamma = 0.5, p = 0.8.
"""

import math

import tensorflow as tf

from tfvae import random as tfvae_random
from tfvae.latents.families import GaussianLatents
from tfvae.models.bn_vae import MeanBatchNorm
from tfvae.models.vae import VAE

ALPHA = 1.0 / (2.0 * math.pi * math.e)
_DROPOUT_STREAM = 1


class DUVAE(VAE):
  """The VAE of Shen et al. (2021), Algorithm 1.

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE`; the latents must be
      Gaussian.
    du_gamma: gamma, the root mean square of the learned BN scales.
    du_keep_prob: p, the probability that a variance keeps its value in the
      dropout (0 < p <= 1; Shen et al. use 0.8-0.9).
  """

  def __init__(self, encoder, decoder, latent_dim, *, du_gamma, du_keep_prob, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if not isinstance(self.latent_family, GaussianLatents):
      raise ValueError("DU-VAE regularises the means and variances of Gaussian latents; got "
                       f"{type(self.latent_family).__name__}.")
    if not 0.0 < du_keep_prob <= 1.0:
      raise ValueError(f"du_keep_prob must be in (0, 1], got {du_keep_prob}.")
    self.keep_prob = float(du_keep_prob)
    self.mean_norm = MeanBatchNorm(du_gamma, learn_scale=True, name="mean_norm")

  def _parameters(self, x, training):
    """(mu_hat [B, d], delta^2 - alpha [B, d], IAF context if any) before any dropout."""
    loc, log_variance, *context = self.encoder(x, training=training)
    return self.mean_norm(loc, training=training), tf.exp(log_variance), context

  def posterior(self, x, training=False):
    loc, excess, context = self._parameters(x, training)
    return self.make_posterior((loc, tf.math.log(excess + ALPHA), *context))

  def step_posterior(self, x, *, seed, training):
    """In training, the variances after the dropout of eq. 6."""
    if not training:
      return self.posterior(x, training=False)
    loc, excess, context = self._parameters(x, training)
    dropout_seed = tf.random.experimental.stateless_fold_in(seed, _DROPOUT_STREAM)
    noise = tfvae_random.uniform([tf.shape(excess)[0], excess.shape[-1]], dropout_seed)
    keep = tf.cast(noise < self.keep_prob, excess.dtype) / self.keep_prob
    return self.make_posterior((loc, tf.math.log(keep * excess + ALPHA), *context))

  def post_step_update(self, x, per_example_loss, terms):
    self.mean_norm.rescale()

  def serving_layers(self, half):
    layers = super().serving_layers(half)
    return [*layers, self.mean_norm] if half == "encoder" else layers
