"""Stateless random numbers for training steps.

Every random draw in a training step comes from a stateless seed derived from
(base seed, step, stream), so a run resumed from a checkpoint draws exactly the
noise an uninterrupted run would have drawn (ARCHITECTURE.md section 4).

Under a `tf.distribute` strategy each replica sees a slice of the global batch.
`standard_normal` and `uniform` draw the noise of the *global* batch and keep
this replica's rows of it, so the same global batch gets the same noise on one
device or on several, also when it does not split evenly between replicas.
"""

import tensorflow as tf

from tfvae import distribute


def step_seed(base_seed, step, stream=0):
  """Returns an int32 [2] stateless seed for one (step, stream) pair.

  Args:
    base_seed: Python int, the run's seed.
    step: integer scalar tensor or int, usually `optimizer.iterations`.
    stream: Python int separating independent draws within one step.
  """
  step = tf.cast(step, tf.int64)
  mixed = tf.cast(base_seed, tf.int64) * 1_000_003 + stream
  return tf.cast(tf.stack([mixed % 2_147_483_647, step % 2_147_483_647]), tf.int32)


def split_seed(seed, count):
  """Splits a stateless seed into `count` independent seeds, shape [count, 2]."""
  return tf.random.experimental.stateless_split(seed, num=count)


def standard_normal(shape, seed, batch_axis=0, dtype=tf.float32):
  """Standard normal noise of `shape` that is replica-consistent.

  Args:
    shape: list of ints/scalar tensors, the local (per-replica) shape.
    seed: int32 [2] stateless seed, identical on every replica.
    batch_axis: which axis of `shape` is the per-replica batch axis.
    dtype: float dtype of the result.
  """
  return _replica_slice(tf.random.stateless_normal, shape, seed, batch_axis, dtype)


def uniform(shape, seed, batch_axis=0, dtype=tf.float32):
  """Uniform noise on [0, 1) of `shape`, replica-consistent like `standard_normal`."""
  return _replica_slice(tf.random.stateless_uniform, shape, seed, batch_axis, dtype)


def _replica_slice(draw, shape, seed, batch_axis, dtype):
  """This replica's rows of `draw`'s noise for the global batch (the draw itself on one device)."""
  if not distribute.several_replicas():
    return draw(shape, seed, dtype=dtype)
  shape = list(shape)
  offset, global_rows = distribute.replica_rows(shape[batch_axis])
  global_shape = shape[:batch_axis] + [global_rows] + shape[batch_axis + 1:]
  noise = draw(global_shape, seed, dtype=dtype)
  return tf.gather(noise, offset + tf.range(shape[batch_axis]), axis=batch_axis)
