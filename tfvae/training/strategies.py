"""One factory for every tf.distribute strategy the launchers offer.

  default       tf.distribute.get_strategy(): one device, no distribution.
  mirrored      MirroredStrategy over the local devices (GPUs, or logical CPUs
                made with `split_cpu`).
  multi_worker  MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG.
  tpu           TPUStrategy on the TPU named by `tpu` (a name or grpc:// address).

Losses are averaged over the global batch by the models (tf.nn.compute_average_loss),
so every strategy trains the same model on the same global batches.
"""

import os

import tensorflow as tf


def split_cpu(num_devices):
  """Splits the host CPU into `num_devices` logical devices.

  Must run before TensorFlow initialises its devices (before any op runs).
  """
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def make_strategy(name, tpu=None):
  """Returns the tf.distribute.Strategy called `name` (see the module doc)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                       "describing the cluster and this worker's task (see README, "
                       "'Scaling out').")
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    if not tpu:
      raise ValueError("--strategy=tpu needs --tpu=ADDRESS.")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"Unknown strategy {name!r}; choose default, mirrored, multi_worker or tpu.")

