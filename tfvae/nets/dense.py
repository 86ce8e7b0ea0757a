"""MLP encoder and Bernoulli MLP decoder for fixed-size inputs such as images."""

import math

import keras
import tensorflow as tf

from tfvae import likelihoods
from tfvae.nets.posterior_head import PosteriorParams


def _hidden_stack(sizes, activation, name):
  return [keras.layers.Dense(size, activation=activation, name=f"{name}_{i}")
          for i, size in enumerate(sizes)]


class MLPEncoder(keras.layers.Layer):
  """x [B, ...] -> posterior parameters (`PosteriorParams`) through a stack of Dense layers."""

  def __init__(self, hidden_sizes, latent_dim, activation="relu", **kwargs):
    super().__init__(**kwargs)
    self.flatten = keras.layers.Flatten()
    self.hidden = _hidden_stack(hidden_sizes, activation, "hidden")
    self.to_params = PosteriorParams(latent_dim)

  def call(self, x, training=False):
    h = self.flatten(x)
    for layer in self.hidden:
      h = layer(h)
    return self.to_params(h)

  def encode_continuous(self, x, training=False):
    """Posterior parameters of real-valued inputs (a VampPrior's pseudo-inputs): `call` itself."""
    return self(x, training=training)


class MLPDecoder(keras.layers.Layer):
  """p(x|z) = independent Bernoulli pixels with logits from an MLP of z."""

  def __init__(self, hidden_sizes, event_shape, activation="relu", **kwargs):
    super().__init__(**kwargs)
    self.event_shape = tuple(event_shape)
    self.hidden = _hidden_stack(hidden_sizes, activation, "hidden")
    self.to_logits = keras.layers.Dense(math.prod(self.event_shape), dtype="float32",
                                        name="to_logits")

  def call(self, z, x=None, training=False):
    flat_z = tf.reshape(z, [-1, tf.shape(z)[-1]])
    h = flat_z
    for layer in self.hidden:
      h = layer(h)
    logits = self.to_logits(h)
    return tf.reshape(logits, tf.concat([tf.shape(z)[:-1], self.event_shape], axis=0))

  def likelihood(self, z, x=None, training=False):
    return likelihoods.bernoulli_pixels(self(z, x, training=training), len(self.event_shape))

