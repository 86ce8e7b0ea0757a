"""Tests for tfvae.data.registry: names, options, data directory resolution."""

import os
import pathlib
import subprocess
import sys

import pytest

from tfvae import data
from tfvae.data import DataError

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = os.environ.get("TFVAE_DATA_DIR") or (str(_SHARED) if _SHARED.is_dir() else None)
needs_data = pytest.mark.skipif(DATA_DIR is None, reason="no TFVAE_DATA_DIR and no shared data")

NAMES = [
  "array_file",
  "binarized_mnist",
  "libi_cubic_jtex",
  "libi_gaussian",
  "libi_linear_jtex",
  "libi_mobius",
  "omniglot",
  "ptb",
  "synthetic_mog",
  "text_file",
  "uniform10k",
  "yahoo",
  "yelp",
]


def test_available_is_sorted_and_complete():
  assert data.available() == NAMES
  for name in NAMES:
    assert name in data.describe(name)


def test_unknown_name_lists_known_ones():
  with pytest.raises(DataError) as e:
    data.load("mnist")
  for name in NAMES:
    assert repr(name) in str(e.value)
  assert isinstance(e.value, ValueError)


def test_unknown_option_lists_valid_ones(tmp_path):
  with pytest.raises(DataError, match="vocab_sise") as e:
    data.load("ptb", str(tmp_path), vocab_sise=100)
  assert "'vocab_size'" in str(e.value) and "max_length" in str(e.value)
  with pytest.raises(DataError, match="none"):
    data.load("omniglot", str(tmp_path), binarize=False)
  with pytest.raises(DataError, match="text data sets"):
    data.load("binarized_mnist", str(tmp_path), max_length=10)


def test_missing_data_dir(monkeypatch, tmp_path):
  monkeypatch.delenv("TFVAE_DATA_DIR", raising=False)
  with pytest.raises(DataError) as e:
    data.load("ptb")
  msg = str(e.value)
  assert "TFVAE_DATA_DIR" in msg and "--data_dir" in msg and "prepare_ptb" in msg
  with pytest.raises(DataError, match="does not exist"):
    data.load("ptb", str(tmp_path / "nowhere"))
  monkeypatch.setenv("TFVAE_DATA_DIR", str(tmp_path / "nowhere"))
  with pytest.raises(DataError, match=r"\$TFVAE_DATA_DIR"):
    data.load("yelp")


def test_directory_without_the_corpus(tmp_path):
  with pytest.raises(DataError) as e:
    data.load("ptb", tmp_path)
  msg = str(e.value)
  assert str(tmp_path / "ptb" / "ptb.train.txt") in msg and "prepare_ptb" in msg
  with pytest.raises(DataError, match="yahoo.valid.txt"):
    data.load("yahoo", tmp_path)
  with pytest.raises(DataError, match="sentiment.dev.0"):
    data.load("yelp", tmp_path)


def test_default_needs_no_files(monkeypatch):
  monkeypatch.delenv("TFVAE_DATA_DIR", raising=False)
  ds = data.load(num_train=10, num_valid=2, num_test=2)
  assert ds.name == "synthetic_mog"


@needs_data
def test_data_dir_from_environment(monkeypatch):
  monkeypatch.setenv("TFVAE_DATA_DIR", DATA_DIR)
  assert data.load("ptb").num_examples("valid") == 3370


def test_import_does_not_pull_tensorflow_datasets():
  code = "import sys, tfvae.data; sys.exit('tensorflow_datasets' in sys.modules)"
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
  root = pathlib.Path(__file__).resolve().parents[1]
  done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=False)
  assert done.returncode == 0
