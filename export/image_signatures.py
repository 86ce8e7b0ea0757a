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
from export import posterior
from export import prior
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
  image_spec = tf.TensorSpec([None, *event_shape], tf.float32)
  latent_spec = servable.spec([None, *posterior.latent_shape(model)], tf.float32, "z")

  def generate(z, seed):
    def compute():
      likelihood = model.likelihood(z, None, training=False)
      return {"probabilities": likelihood.mean(), "sampled": likelihood.sample(seed=seed)}
    return batching.unless_empty(tf.shape(z)[0], compute,
                                 {"probabilities": image_spec, "sampled": image_spec})

  def log_likelihood(images, z):
    check = batching.assert_same_batch(
        images, z, "log_likelihood: images and z must have the same batch size")
    with tf.control_dependencies([check]):
      x = _checked_pixels(images, "log_likelihood")

    def compute():
      return {"log_likelihood": model.likelihood(z, x, training=False).log_prob(x)}
    return batching.unless_empty(tf.shape(x)[0], compute,
                                 {"log_likelihood": tf.TensorSpec([None], tf.float32)})

  archive = keras.export.ExportArchive()
  for layer in model.serving_layers("decoder"):
    archive.track(layer)
  archive.add_endpoint("generate", generate,
                       [latent_spec, servable.spec([2], tf.int32, "seed")])
  archive.add_endpoint("log_likelihood", log_likelihood,
                       [servable.spec([None, *event_shape], tf.float32, "images"), latent_spec])
  prior.add_sample_prior(archive, model)
  z = posterior.latent_example(model)
  generate_example = {"z": z, "seed": servable.seed_example()}
  pixels = (np.arange(2 * np.prod(event_shape)) % 2).reshape([2, *event_shape])
  examples = {"generate": generate_example, "serving_default": generate_example,
              "log_likelihood": {"images": pixels.astype(np.float32), "z": z},
              "sample_prior": prior.example()}
  return servable.Servable(archive, examples)
