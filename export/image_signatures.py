"""Serving signatures of an image VAE (MLP or conv networks, Bernoulli pixels).

Encoder (`<name>_encoder`):

* `serving_default(images: float32 [B, H, W, C])`, pixel values in [0, 1]
  (values outside, or NaN, are refused with InvalidArgumentError) ->
  `loc`, `scale`, `z` float32 [B, d], `kl` float32 [B];
* `encode_uint8(images: uint8 [B, H, W, C])` -> the same for 0..255 pixels
  (divided by 255 in the graph).

Decoder (`<name>_decoder`):

* `generate(z: float32 [B, d], seed: int32 [2])` -> `probabilities` float32
  [B, H, W, C] (the Bernoulli means) and `sampled` float32 [B, H, W, C]
  (a binary image drawn from them with the stateless `seed`: same z and seed,
  same image). `serving_default` is this signature too;
* `log_likelihood(images: float32 [B, H, W, C], z: float32 [B, d])` ->
  `log_likelihood` float32 [B] = `model.likelihood(z, x).log_prob(x)`;
* `sample_prior(num_samples: int32 [], seed: int32 [2])` -> `z` float32
  [num_samples, d] drawn from p(z) (`export.prior`).

H, W, C come from the data set (28, 28, 1 for the MNIST and OMNIGLOT sets).

Shapes are those of Gaussian latents; categorical latents and VQ-VAE codes
take and return one-hot z [B, n, C], and the encoder returns `probabilities`
[B, n, C], `z`, `kl`; for spherical latents it returns `mean_direction` [B, d],
`concentration` [B], `z`, `kl` (`export.posterior`).
"""

import keras
import numpy as np
import tensorflow as tf

from export import batching
from export import fixed_size_decoder
from export import posterior
from export import servable


def _checked_pixels(images, signature):
  """`images` after an assertion that every value lies in [0, 1]."""
  in_range = tf.reduce_all((images >= 0.0) & (images <= 1.0))
  check = tf.debugging.Assert(in_range, [
      f"{signature}: images must be float32 pixel values in [0, 1] "
      "(send 0..255 pixels as uint8 to encode_uint8)"])
  with tf.control_dependencies([check]):
    return tf.identity(images)


def build_encoder(model, event_shape):
  """The encoder `Servable` of an image model for images of `event_shape`."""
  specs = posterior.posterior_specs(model)

  def encode(x):
    return batching.unless_empty(tf.shape(x)[0], lambda: posterior.posterior_outputs(model, x),
                                 specs)

  def serving_default(images):
    return encode(_checked_pixels(images, "serving_default"))

  def encode_uint8(images):
    return encode(tf.cast(images, tf.float32) / 255.0)

  archive = keras.export.ExportArchive()
  for layer in model.serving_layers("encoder"):
    archive.track(layer)
  archive.add_endpoint("serving_default", serving_default,
                       [servable.spec([None, *event_shape], tf.float32, "images")])
  archive.add_endpoint("encode_uint8", encode_uint8,
                       [servable.spec([None, *event_shape], tf.uint8, "images")])
  pixels = (np.arange(2 * np.prod(event_shape)) % 2).reshape([2, *event_shape])
  examples = {"serving_default": {"images": pixels.astype(np.float32)},
              "encode_uint8": {"images": (255 * pixels).astype(np.uint8)}}
  return servable.Servable(archive, examples)


def build_decoder(model, event_shape):
  """The decoder `Servable` of an image model."""
  pixels = (np.arange(2 * np.prod(event_shape)) % 2).reshape([2, *event_shape])
  return fixed_size_decoder.build(model, event_shape, input_name="images",
                                  mean_name="probabilities", check_input=_checked_pixels,
                                  input_example=pixels.astype(np.float32))
