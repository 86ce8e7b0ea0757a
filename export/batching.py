"""Batches at the serving signatures: empty requests, equal batch sizes, log p(x|z).

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


def log_likelihood(model, examples, z, to_input, input_name):
  """The decoders' "log_likelihood" signature: {"log_likelihood": log p(x|z) [B]}.

  Args:
    model: the model whose `likelihood(z, x)` is scored.
    examples: the request's inputs, batch first.
    z: the request's latents [B, ...].
    to_input: examples -> x, the model's input (checked or converted).
    input_name: the examples' name in the signature, for the batch-size error.
  """
  check = assert_same_batch(
      examples, z, f"log_likelihood: {input_name} and z must have the same batch size")
  with tf.control_dependencies([check]):
    x = to_input(examples)

  def compute():
    return {"log_likelihood": model.likelihood(z, x, training=False).log_prob(x)}
  return unless_empty(tf.shape(x)[0], compute,
                      {"log_likelihood": tf.TensorSpec([None], tf.float32)})
