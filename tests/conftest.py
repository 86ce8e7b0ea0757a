"""Test-session set-up: two logical CPU devices for the tf.distribute tests.

The split must happen before TensorFlow initialises its devices, so it runs at
import time of this conftest, before any test module touches TensorFlow ops.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from tfvae.training import strategies  # noqa: E402

try:
  strategies.split_cpu(2)
except RuntimeError:  # Devices already initialised by an earlier import.
  pass

assert len(tf.config.list_logical_devices("CPU")) >= 1
