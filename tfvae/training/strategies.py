"""One factory for every tf.distribute strategy the launchers offer.

  default       tf.distribute.get_strategy(): one device, no distribution.
  mirrored      MirroredStrategy over the local devices (GPUs, or logical CPUs
                made with `split_cpu`).
  multi_worker  MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG.
  tpu           TPUStrategy on the TPU named by `tpu` (a name or grpc:// address).

Losses are averaged over the global batch by the models
(`tfvae.distribute.global_average_loss`, which counts the actual rows of each
replica), so every strategy trains the same model on the same global batches.

Multi-worker runs: every worker runs the same command; `is_chief` says which
one writes the run directory, `shard_by_batch` gives each worker its slices of
every global batch, and `make_logs_reducible` works around Keras 3's reduction
of step logs across workers.
"""

import os

import tensorflow as tf

from tfvae.training.config import ConfigError


def split_cpu(num_devices):
  """Splits the host CPU into `num_devices` logical devices.

  Must run before TensorFlow initialises its devices (before any op runs).
  """
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def is_chief(strategy):
  """Whether this process writes the run directory: True except on non-chief workers.

  MultiWorkerMirroredStrategy names its chief from TF_CONFIG (task `chief`, or
  `worker` 0 when the cluster has no chief); every other strategy runs in one
  process, which is the chief.
  """
  return bool(strategy.extended.should_checkpoint)


def spans_workers(strategy):
  """Whether `strategy` has replicas in other processes (a multi-worker cluster)."""
  return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
          and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


def shard_by_batch(dataset):
  """`dataset` of global batches, to be split between workers batch by batch.

  Every worker builds the same stream and keeps its replicas' slices of each
  global batch (tf.data's DATA auto-shard policy), so several workers train on
  the global batches one device would see. The default policy would instead
  give each worker whole files if the pipeline ever read files.
  """
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return dataset.with_options(options)


def make_logs_reducible(model, strategy):
  """Lets Keras reduce `model`'s step logs across workers; a no-op on one worker.

  Keras 3 mean-reduces the per-replica logs of a multi-worker step along axis
  0, which fails for the scalars that train_step and test_step return
  (tensorflow/tensorflow#72388). Handed over as [1] vectors they reduce to
  the mean over all replicas, as MirroredStrategy's logs do. The steps are
  wrapped on this model instance, so subclasses' own steps are covered too.
  """
  if not spans_workers(strategy):
    return

  def with_vector_logs(step):
    def step_returning_vectors(data):
      def as_vector(value):
        value = tf.convert_to_tensor(value)
        return tf.reshape(value, [1]) if value.shape.rank == 0 else value
      return tf.nest.map_structure(as_vector, step(data))
    return step_returning_vectors

  model.train_step = with_vector_logs(model.train_step)
  model.test_step = with_vector_logs(model.test_step)


def make_strategy(name, tpu=None, collective_timeout=None):
  """Returns the tf.distribute.Strategy called `name` (see the module doc).

  `collective_timeout` (seconds; None: wait forever) bounds every collective
  op of a multi-worker strategy, so that a dead or silent worker stops the
  others with an error instead of blocking them.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ConfigError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                       "describing the cluster and this worker's task (see "
                       "docs/scaling.md).")
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
  if name == "tpu":
    if not tpu:
      raise ValueError("--strategy=tpu needs --tpu=ADDRESS.")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"Unknown strategy {name!r}; choose default, mirrored, multi_worker or tpu.")
