"""Gradient clipping that is correct under tf.distribute strategies.

Keras optimizers clip each replica's gradients before summing them across
replicas, so `global_clipnorm` would clip local gradients. Here the gradients
are summed first, the global norm is clipped, and each replica passes on its
1/N share so that the optimizer's own cross-replica sum gives the clipped
global gradient.

Sparse gradients (embeddings) are made dense first: the norm of an
`IndexedSlices` taken over its values is wrong when an index repeats (a word
occurring twice in a batch), and `tf.clip_by_global_norm` does exactly that.
"""

import tensorflow as tf


def clip_by_global_norm(grads, clip_norm, loss_scale=None):
  """Clips `grads` (a list, None entries allowed) to global norm `clip_norm`.

  Args:
    grads: per-replica gradients of the globally averaged loss.
    clip_norm: float or None (no clipping).
    loss_scale: the factor the loss was multiplied by before differentiation
      (1 unless a loss-scale optimizer is used for mixed_float16), so that the
      threshold applies to the true gradients.
  """
  if not clip_norm:
    return grads
  threshold = clip_norm if loss_scale is None else clip_norm * tf.cast(loss_scale, tf.float32)
  present = [i for i, g in enumerate(grads) if g is not None]
  dense = [tf.convert_to_tensor(grads[i]) for i in present]
  context = tf.distribute.get_replica_context()
  replicas = context.num_replicas_in_sync if context is not None else 1
  if replicas > 1:
    dense = _sum_across_replicas(context, dense)
  clipped, _ = tf.clip_by_global_norm(dense, threshold)
  result = list(grads)
  for index, grad in zip(present, clipped):
    result[index] = grad / replicas
  return result


def _sum_across_replicas(context, tensors):
  """All-reduces a list of dense tensors as one flat vector (one collective)."""
  flat = tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)
  total = context.all_reduce(tf.distribute.ReduceOp.SUM, flat)
  sizes = [tf.size(t) for t in tensors]
  return [tf.reshape(part, tf.shape(t))
          for part, t in zip(tf.split(total, sizes), tensors)]
