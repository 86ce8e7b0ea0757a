"""The decoder's `sample_prior` signature, shared by the text and image exports.

`sample_prior(num_samples: int32 [], seed: int32 [2])` -> `z` float32
[num_samples, d]: latents drawn from the model's prior p(z) with TFP's
stateless sampling, so the same seed gives the same z, equal to
`model.prior.sample(num_samples, seed=seed)` in Keras. A learned prior
(`--prior=mog`) is exported with its trained weights. Feed `z` to `generate`
to sample new data: x ~ p(x|z), z ~ p(z).
"""

import numpy as np
import tensorflow as tf

from export import servable


def add_sample_prior(archive, model):
  """Adds `sample_prior` to `archive` (which must track `model.latent_prior`)."""

  def sample_prior(num_samples, seed):
    check = tf.debugging.Assert(num_samples >= 0, [
        "sample_prior: num_samples must be >= 0, got", num_samples])
    with tf.control_dependencies([check]):
      num_samples = tf.identity(num_samples)
    return {"z": tf.cast(model.prior.sample(num_samples, seed=seed), tf.float32)}

  archive.add_endpoint("sample_prior", sample_prior,
                       [servable.spec([], tf.int32, "num_samples"),
                        servable.spec([2], tf.int32, "seed")])


def example():
  """The warm-up request of `sample_prior`."""
  return {"num_samples": np.array(2, np.int32), "seed": servable.seed_example()}
