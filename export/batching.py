"""Requests with an empty batch.

Keras' LSTM cannot run on zero rows (its TensorArray stack fails), so every
signature answers an empty batch without running the networks: outputs with
zero rows and the documented trailing shapes.
"""

import tensorflow as tf


def unless_empty(batch_size, compute, output_specs):
  """`compute()` if batch_size > 0, else zero-row tensors shaped like `output_specs`.

  Args:
    batch_size: scalar int32 tensor, the request's batch size.
    compute: callable returning a dict of tensors, each with the batch first.
    output_specs: dict name -> `tf.TensorSpec` [None, ...] of those tensors
      (trailing dimensions fully known).
  """
  def empty():
    return {name: tf.zeros([0, *spec.shape[1:]], spec.dtype)
            for name, spec in output_specs.items()}
  return tf.cond(batch_size > 0, compute, empty)


def assert_same_batch(first, second, message):
  """An assertion (InvalidArgumentError at run time) that two inputs have equal batch sizes."""
  return tf.debugging.assert_equal(tf.shape(first)[0], tf.shape(second)[0], message=message)
