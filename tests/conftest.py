"""Test-session set-up: the data directory and two logical CPU devices.

The split must happen before TensorFlow initialises its devices, so it runs at
import time of this conftest, before any test module touches TensorFlow ops.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The corpora: TFVAE_DATA_DIR if set (CI sets it), else ../shared/data beside the repo.
_SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if "TFVAE_DATA_DIR" not in os.environ and _SHARED_DATA.is_dir():
  os.environ["TFVAE_DATA_DIR"] = str(_SHARED_DATA)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfvae.training import strategies  # noqa: E402

try:
  strategies.split_cpu(2)
except RuntimeError:  # Devices already initialised by an earlier import.
  pass

assert len(tf.config.list_logical_devices("CPU")) >= 1


@pytest.fixture(scope="session")
def mirrored_strategy():
  """One MirroredStrategy over two logical CPUs for the whole session.

  Several MirroredStrategy objects in one process can hand out clashing
  collective-op keys, so every test shares this one.
  """
  devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
  assert len(devices) == 2, "the CPU split into two logical devices failed"
  return tf.distribute.MirroredStrategy(devices)
