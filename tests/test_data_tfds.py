"""Tests for tfvae.data.tfds_builders: local builders, no network."""

import os
import pathlib
import socket

import pytest
import tensorflow_datasets as tfds

import tfvae.data.tfds_builders  # noqa: F401  (registers the builders)
from tfvae.data import DataError

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = os.environ.get("TFVAE_DATA_DIR") or (str(_SHARED) if _SHARED.is_dir() else None)
needs_data = pytest.mark.skipif(DATA_DIR is None, reason="no TFVAE_DATA_DIR and no shared data")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
  """Any attempt to open a connection fails the test at once instead of hanging."""

  def refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args}")

  monkeypatch.setattr(socket.socket, "connect", refuse)
  monkeypatch.setattr(socket, "create_connection", refuse)


def _load(name, tmp_path, manual_dir=None):
  config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
  return tfds.load(
    name,
    data_dir=str(tmp_path / "tfds"),
    download_and_prepare_kwargs={"download_config": config},
  )


def _sizes(splits):
  return {name: int(ds.cardinality()) for name, ds in splits.items()}


def test_builders_are_registered():
  for name in ("ptb_text", "yahoo_text", "yelp_text"):
    assert name in tfds.list_builders(with_community_datasets=False)


@needs_data
def test_ptb_from_manual_dir(tmp_path):
  splits = _load("ptb_text", tmp_path, manual_dir=DATA_DIR)  # about 1-2 s on a laptop core
  assert _sizes(splits) == {"train": 42068, "valid": 3370, "test": 3761}
  first = next(iter(splits["valid"]))["text"].numpy().decode()
  assert first.startswith("consumers may want to move")  # file order is kept


def _fake_yelp(root):
  folder = root / "yelp_sentiment"
  folder.mkdir(parents=True)
  for label, n in ((0, 20), (1, 30)):
    for stage in ("dev", "test"):
      (folder / f"sentiment.{stage}.{label}").write_text(
        "".join(f"{stage} sentence {i}\n" for i in range(n))
      )


def test_yelp_from_environment_with_labels(tmp_path, monkeypatch):
  _fake_yelp(tmp_path / "corpora")
  monkeypatch.setenv("TFVAE_DATA_DIR", str(tmp_path / "corpora"))
  splits = _load("yelp_text", tmp_path)
  assert _sizes(splits) == {"train": 45, "valid": 5, "test": 50}
  labels = [int(ex["label"]) for ex in splits["test"]]
  assert labels == [0] * 20 + [1] * 30


def test_missing_sources_raise(tmp_path, monkeypatch):
  monkeypatch.setenv("TFVAE_DATA_DIR", str(tmp_path / "empty"))
  with pytest.raises(DataError, match="yahoo.valid.txt"):
    _load("yahoo_text", tmp_path)
