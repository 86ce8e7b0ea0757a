"""Categorical latents with a uniform prior (Melis et al. (2022), sections 7.1.1 and 7.1.5;
METHODS.md M24).

Melis et al. (2022) use n = 8 categorical latent variables of C = 10 categories
each, with q(z|x) = prod_i Categorical(softmax(o_i)) and a uniform prior, and
embed the values of the latents before the decoder's first layer. Here a value
is the one-hot tensor [n, C] (`tfd.OneHotCategorical` in float32), so q(z|x)
and p(z) are `tfd.Independent(tfd.OneHotCategorical, 1)` with event shape
[n, C], and the embedding is one table of C vectors per latent
(`CategoricalEmbedding`).

Samples carry no gradient (there is no reparameterisation): the encoder learns
through the score-function estimators, REINFORCE or VIMCO (METHODS.md M23).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import random as tfvae_random

tfd = tfp.distributions


def categorical_posterior(logits):
  """q(z|x) from `logits` [B, n, C]: n independent categoricals, one-hot values [B, n, C]."""
  return tfd.Independent(tfd.OneHotCategorical(logits=logits, dtype=tf.float32),
                         reinterpreted_batch_ndims=1)


def uniform_categorical_prior(num_latents, num_categories):
  """p(z): n independent uniform categoricals over C categories, event shape [n, C]."""
  logits = tf.zeros([num_latents, num_categories])
  return tfd.Independent(tfd.OneHotCategorical(logits=logits, dtype=tf.float32),
                         reinterpreted_batch_ndims=1)


def sample_one_hot(posterior, seed, num_samples=None):
  """One-hot samples of a `categorical_posterior` by the Gumbel-max trick.

  argmax_c(logit_c + g_c) with g_c = -ln(-ln u_c) standard Gumbel is a draw
  of Categorical(softmax(logits)). The uniforms come from
  `tfvae.random.uniform`, so a global batch gets the same samples on one
  device or split over replicas.

  Args:
    posterior: a distribution from `categorical_posterior`.
    seed: int32 [2] stateless seed.
    num_samples: None for [B, n, C], or K for [K, B, n, C].

  Returns:
    float32 one-hot samples, held constant (no gradient).
  """
  logits = tf.stop_gradient(posterior.distribution.logits_parameter())
  shape = tf.unstack(tf.shape(logits))
  batch_axis = 0
  if num_samples is not None:
    shape, batch_axis = [num_samples, *shape], 1
  tiny = tf.constant(1e-20, logits.dtype)
  u = tfvae_random.uniform(shape, seed, batch_axis=batch_axis, dtype=logits.dtype)
  gumbel = -tf.math.log(-tf.math.log(u + tiny) + tiny)
  choice = tf.argmax(logits + gumbel, axis=-1)
  return tf.one_hot(choice, tf.shape(logits)[-1], dtype=tf.float32)


class CategoricalEmbedding(keras.layers.Layer):
  """One-hot latents [..., n, C] -> [..., n * embed_dim]: one embedding table per latent.

  Melis et al. (2022), section 7.1.1: "values of categorical latents are first
  embedded" before the decoder's first layer. A one-hot row selects its
  category's vector, so this is a lookup; written as a contraction it also
  accepts relaxed (non-one-hot) inputs.
  """

  def __init__(self, num_latents, num_categories, embed_dim, **kwargs):
    super().__init__(**kwargs)
    self.num_latents = int(num_latents)
    self.num_categories = int(num_categories)
    self.embed_dim = int(embed_dim)

  def build(self, input_shape):
    self.table = self.add_weight(name="table",
                                 shape=(self.num_latents, self.num_categories, self.embed_dim),
                                 initializer=keras.initializers.RandomNormal(stddev=0.1))

  def call(self, z):
    z = tf.cast(z, self.compute_dtype)
    embedded = tf.einsum("...nc,nce->...ne", z, tf.cast(self.table, self.compute_dtype))
    shape = tf.concat([tf.shape(z)[:-2], [self.num_latents * self.embed_dim]], axis=0)
    return tf.reshape(embedded, shape)
