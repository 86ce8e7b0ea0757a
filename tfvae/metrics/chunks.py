"""Computing a large result in chunks, one chunk alive at a time (memory-bounded metrics)."""

import tensorflow as tf

__all__ = ["concat_chunks"]


def concat_chunks(compute, num_chunks):
  """Each output of compute(0), ..., compute(num_chunks - 1), concatenated along axis 0.

  `compute(i)` returns a tuple of tensors whose first dimension is chunk i's
  length (the other dimensions may vary only where the shapes say None).
  Chunk 0 runs first on its own (it fixes the dtypes), the others in a
  `tf.while_loop` with parallel_iterations=1, so that only one chunk's
  intermediate tensors are alive at a time, which is the point. Works
  eagerly and inside `tf.function`; `num_chunks` may be a tensor.

  Returns:
    A list with one concatenated tensor per output of `compute`.
  """
  first = compute(0)
  arrays = [tf.TensorArray(value.dtype, size=num_chunks, infer_shape=False,
                           element_shape=tf.TensorShape([None] * value.shape.rank)).write(0, value)
            for value in first]

  def body(i, arrays):
    return i + 1, [array.write(i, value) for array, value in zip(arrays, compute(i))]

  _, arrays = tf.while_loop(lambda i, _: i < num_chunks, body, (tf.constant(1), arrays),
                            parallel_iterations=1)
  return [array.concat() for array in arrays]
