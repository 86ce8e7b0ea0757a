"""Global-batch arithmetic inside a replica of a tf.distribute strategy.

Under a strategy each replica sees a slice of the global batch; a model's step
must still compute what one device computes on the whole batch. The slices
need not be equal: a global batch of 5 over two replicas splits 3/2, and the
last, partial batch of an epoch may leave a replica with no rows at all. The
helpers below therefore all-reduce actual row counts, never assume
`local rows x replicas`. Outside a strategy (or with one replica) each is the
plain one-device computation.

This is a bottom-layer module: models, objectives and `tfvae.random` use it;
it imports nothing of tfvae.
"""

import tensorflow as tf


def _replica_context():
  """The replica context if there are several replicas in sync, else None."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return None
  return context


def several_replicas():
  """Whether this code runs in one of several replicas in sync."""
  return _replica_context() is not None


def replica_rows(local_rows):
  """(offset, global_rows): where this replica's rows start in the global batch, and its size.

  Replicas hold consecutive slices of the global batch in replica order, as
  tf.distribute splits it; the sizes are all-gathered, so uneven slices work.
  """
  local_rows = tf.cast(local_rows, tf.int32)
  context = _replica_context()
  if context is None:
    return tf.constant(0, tf.int32), local_rows
  sizes = context.all_gather(tf.reshape(local_rows, [1]), axis=0)
  offset = tf.reduce_sum(sizes[:context.replica_id_in_sync_group])
  return offset, tf.reduce_sum(sizes)


def global_sum(values):
  """Sum of `values` over the replicas of the step (the value itself on one device)."""
  context = _replica_context()
  return values if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, values)


def global_batch(values):
  """The global batch [B_global, ...] of which `values` [B, ...] holds this replica's rows.

  An all-gather in replica order (uneven slices allowed; the value itself on
  one device), for batch statistics that couple the examples (MAE's pairwise
  divergences), which need every row, not only sums. Its gradient is the
  gathered rows' gradient summed over the replicas and sliced back to this
  replica's rows (`ReplicaContext.all_gather`), so a loss on the global batch,
  shared out by `global_average_loss`, trains like one device.
  """
  context = _replica_context()
  return values if context is None else context.all_gather(values, axis=0)


def _global_count(values):
  """Rows of the global batch of which `values` [B, ...] holds this replica's slice."""
  return global_sum(tf.cast(tf.shape(values)[0], values.dtype))


def global_batch_mean(values):
  """Mean of `values` [B, ...] over the global batch, along axis 0, on every replica.

  Batch statistics (free bits' per-dimension KL, the controller's observed
  KL, the VQ-VAE's code frequencies) need the mean one device would compute
  on the whole global batch.
  """
  values = tf.convert_to_tensor(values)
  return global_sum(tf.reduce_sum(values, axis=0)) / _global_count(values)


def global_average_loss(per_example_loss):
  """This replica's share of the mean loss over the global batch.

  The local sum divided by the global number of examples: summed over
  replicas, as optimisers sum their gradients, the shares give the mean over
  the whole global batch, whatever the split. (`tf.nn.compute_average_loss`
  without `global_batch_size` divides by local rows x replicas instead, which
  is wrong for uneven slices: losses [1, 2, 3] split 2/1 give 0.75 + 1.5.)
  """
  per_example_loss = tf.convert_to_tensor(per_example_loss)
  return tf.reduce_sum(per_example_loss) / _global_count(per_example_loss)


def clip_by_global_norm(grads, clip_norm, loss_scale=None):
  """Clips `grads` (a list, None entries allowed) to global norm `clip_norm`.

  Keras optimisers clip each replica's gradients before summing them across
  replicas, so their `global_clipnorm` would clip local gradients. Here the
  gradients are summed first, the global norm is clipped, and each replica
  passes on its 1/N share, so that the optimiser's own cross-replica sum gives
  the clipped global gradient.

  Sparse gradients (embeddings) are made dense first: the norm of an
  `IndexedSlices` taken over its values is wrong when an index repeats (a
  word occurring twice in a batch), and `tf.clip_by_global_norm` does exactly
  that.

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
  context = _replica_context()
  replicas = 1 if context is None else context.num_replicas_in_sync
  if context is not None:
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
