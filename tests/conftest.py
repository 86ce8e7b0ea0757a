"""Test-session set-up: the data directory, TensorFlow's thread pools, two logical CPU devices.

The split must happen before TensorFlow initialises its devices, so it runs at
import time of this conftest, before any test module touches TensorFlow ops.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pytest-xdist workers share the cores: each TensorFlow (and each launcher it
# starts) gets its share of threads instead of one per core. Two workers with
# two threads each on two cores ran test_collapse_remedies.py 1.46x slower than
# with one each (benchmarks/results/2026-12-03_suite_time.md).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
  _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
  os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _THREADS)
  os.environ.setdefault("TF_NUM_INTEROP_THREADS", _THREADS)
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


# The test files that take longest, longest first (per-file times of the suite
# on 2 cores, benchmarks/results/2026-12-03_suite_time.md). With `--dist=loadfile`
# pytest-xdist hands out whole files in collection order (pytest.ini turns off
# its reordering by test count), so starting these first keeps a long file
# from starting last, while the other worker sits idle.
LONGEST_FIRST = (
    "test_conformance.py", "test_launch.py", "test_launch_methods.py",
    "test_inner_loop_remedies.py", "test_monte_carlo_vae.py", "test_collapse_remedies.py",
    "test_sa_vae.py", "test_multi_worker.py", "test_export.py", "test_strategies.py",
    "test_reproduce.py", "test_aggressive.py",
)


def pytest_collection_modifyitems(items):
  """Orders files as LONGEST_FIRST, then the rest as collected; tests inside a file keep their order."""
  rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
