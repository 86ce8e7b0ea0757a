"""Serving signatures of a VAE on real vectors (the LiBI sets, Gaussian p(x|z)).

Encoder (`<name>_encoder`):

* `serving_default(vectors: float32 [B, D])` -> the posterior outputs of
  `export.posterior` (`loc`, `scale`, `z` float32 [B, d], `kl` float32 [B] for
  Gaussian latents). A request of another shape or dtype is refused by the
  signature; NaN or infinite values with InvalidArgumentError.

Decoder (`<name>_decoder`):

* `generate(z: float32 [B, d], seed: int32 [2])` -> `mean` float32 [B, D]
  (E[x|z]) and `sampled` float32 [B, D], a draw of p(x|z) with the stateless
  `seed` (same z and seed, same draw). `serving_default` is this signature too;
* `log_likelihood(vectors: float32 [B, D], z: float32 [B, d])` ->
  `log_likelihood` float32 [B] = `model.likelihood(z, x).log_prob(x)`;
* `sample_prior(num_samples: int32 [], seed: int32 [2])` -> `z` float32
  [num_samples, d] drawn from p(z) (`export.prior`).

D comes from the data set (2 or 4 for the LiBI sets).
"""

import keras
import numpy as np
import tensorflow as tf

from export import batching
from export import fixed_size_decoder
from export import posterior
from export import servable


def _checked_vectors(vectors, signature):
  """`vectors` after an assertion that every value is finite."""
  check = tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(vectors)), [
      f"{signature}: vectors must be finite float32 values"])
  with tf.control_dependencies([check]):
    return tf.identity(vectors)


def _example(event_shape):
  """A small valid request: two vectors of the data set's size."""
  return (np.arange(2 * np.prod(event_shape)) % 3 - 1).reshape([2, *event_shape]).astype(
      np.float32) / 10


def build_encoder(model, event_shape):
  """The encoder `Servable` of a model of vectors of `event_shape` ([D])."""
  specs = posterior.posterior_specs(model)

  def serving_default(vectors):
    x = _checked_vectors(vectors, "serving_default")
    return batching.unless_empty(tf.shape(x)[0], lambda: posterior.posterior_outputs(model, x),
                                 specs)

  archive = keras.export.ExportArchive()
  for layer in model.serving_layers("encoder"):
    archive.track(layer)
  archive.add_endpoint("serving_default", serving_default,
                       [servable.spec([None, *event_shape], tf.float32, "vectors")])
  return servable.Servable(archive, {"serving_default": {"vectors": _example(event_shape)}})


def build_decoder(model, event_shape):
  """The decoder `Servable` of a model of vectors of `event_shape` ([D])."""
  return fixed_size_decoder.build(model, event_shape, input_name="vectors", mean_name="mean",
                                  check_input=_checked_vectors,
                                  input_example=_example(event_shape))
