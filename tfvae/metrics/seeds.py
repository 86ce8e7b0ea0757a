"""Stateless seeds of the evaluation metrics.

Every metric takes `seed`, a python int or a shape [2] integer tensor, and
derives independent streams from it with
`tf.random.experimental.stateless_fold_in`, so that a result is exactly
reproducible and does not depend on which other metrics run beside it.

`evaluate` derives, from s = stateless_seed(seed):

  batch b:              s_b = fold_in(fold_in(s, BATCH), b)
  inside batch b:       fold_in(s_b, IMPORTANCE | RECONSTRUCTION | TRUE_KL |
                                     POSTERIOR_MEAN | MI_SAMPLE |
                                     SURROGATE)
  over the whole set:   fold_in(s, MUTUAL_INFORMATION)

A model's own metrics (`extra_metrics`) use streams from FIRST_EXTRA_STREAM on.
"""

import numpy as np
import tensorflow as tf

__all__ = ["stateless_seed", "fold_in"]

# Streams of the evaluation seed.
BATCH = 0
MUTUAL_INFORMATION = 1
# Streams of a batch's seed.
IMPORTANCE = 0
RECONSTRUCTION = 1
TRUE_KL = 2
POSTERIOR_MEAN = 3
MI_SAMPLE = 4
SURROGATE = 5
FIRST_EXTRA_STREAM = 16


def stateless_seed(seed) -> tf.Tensor:
  """Turns `seed` (python int or shape [2] integer tensor) into a [2] int32 seed.

  An int `s` becomes `[0, s]` (its low 31 bits); a tensor is cast to int32.
  """
  if isinstance(seed, (int, np.integer)):
    return tf.constant([0, int(seed) & 0x7FFFFFFF], dtype=tf.int32)
  seed = tf.convert_to_tensor(seed)
  if seed.dtype != tf.int32:
    seed = tf.cast(seed, tf.int32)
  return tf.ensure_shape(seed, [2])


def fold_in(seed, stream) -> tf.Tensor:
  """The independent seed number `stream` derived from the stateless `seed`."""
  return tf.random.experimental.stateless_fold_in(seed, stream)
