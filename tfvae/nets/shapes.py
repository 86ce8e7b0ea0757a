"""Helpers for decoders that accept z with leading sample dimensions."""

import tensorflow as tf


def flatten_samples(z, batch_size):
  """Folds z [..., B, d] into [S*B, d]; returns it and the leading shape [...].

  Rows are ordered sample-major, so row s*B + b pairs with example b.
  """
  leading = tf.shape(z)[:-2]
  flat = tf.reshape(z, [-1, tf.shape(z)[-1]])
  num_samples = tf.shape(flat)[0] // batch_size
  return flat, leading, num_samples


def unflatten_samples(values, leading, batch_size):
  """Inverse of `flatten_samples` for per-row outputs [S*B, ...]."""
  rest = tf.shape(values)[1:]
  return tf.reshape(values, tf.concat([leading, [batch_size], rest], axis=0))
