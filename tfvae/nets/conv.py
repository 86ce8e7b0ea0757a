"""A small convolutional encoder and decoder for 28x28x1 images."""

import keras
import tensorflow as tf

from tfvae import likelihoods
from tfvae.nets.posterior_head import PosteriorParams


class ConvEncoder(keras.layers.Layer):
  """x [B, 28, 28, 1] -> posterior parameters (`PosteriorParams`): two stride-2 convolutions."""

  def __init__(self, latent_dim, filters=(32, 64), hidden_dim=256, **kwargs):
    super().__init__(**kwargs)
    self.convs = [keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu",
                                      name=f"conv_{i}") for i, f in enumerate(filters)]
    self.flatten = keras.layers.Flatten()
    self.hidden = keras.layers.Dense(hidden_dim, activation="relu", name="hidden")
    self.to_params = PosteriorParams(latent_dim)

  def call(self, x, training=False):
    h = x
    for conv in self.convs:
      h = conv(h)
    h = self.hidden(self.flatten(h))
    return self.to_params(h)

  def encode_continuous(self, x, training=False):
    """Posterior parameters of real-valued inputs (a VampPrior's pseudo-inputs): `call` itself."""
    return self(x, training=training)


class ConvDecoder(keras.layers.Layer):
  """p(x|z): Bernoulli pixels from transposed convolutions, 7x7 -> 14x14 -> 28x28."""

  def __init__(self, filters=(64, 32), hidden_dim=256, **kwargs):
    super().__init__(**kwargs)
    self.hidden = keras.layers.Dense(hidden_dim, activation="relu", name="hidden")
    self.to_grid = keras.layers.Dense(7 * 7 * filters[0], activation="relu", name="to_grid")
    self.deconv = keras.layers.Conv2DTranspose(filters[1], 3, strides=2, padding="same",
                                               activation="relu", name="deconv")
    self.to_logits = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same",
                                                  dtype="float32", name="to_logits")
    self._grid_channels = filters[0]

  def call(self, z, x=None, training=False):
    flat_z = tf.reshape(z, [-1, tf.shape(z)[-1]])
    h = self.to_grid(self.hidden(flat_z))
    h = tf.reshape(h, [-1, 7, 7, self._grid_channels])
    logits = self.to_logits(self.deconv(h))
    return tf.reshape(logits, tf.concat([tf.shape(z)[:-1], [28, 28, 1]], axis=0))

  def likelihood(self, z, x=None, training=False):
    return likelihoods.bernoulli_pixels(self(z, x, training=training), 3)
