"""Tests for tfvae.data.images: formats, binarisation, real image sets."""

import os
import pathlib

import numpy as np
import pytest

from tfvae import data
from tfvae.data import DataError
from tfvae.data import images as images_lib

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = os.environ.get("TFVAE_DATA_DIR") or (str(_SHARED) if _SHARED.is_dir() else None)
needs_data = pytest.mark.skipif(DATA_DIR is None, reason="no TFVAE_DATA_DIR and no shared data")


def _pass(ds, split, **kw):
  return np.concatenate([x.numpy() for x in ds.batches(split, 64, **kw)])


@pytest.mark.parametrize(
  "shape", [(5, 28, 28), (5, 784), (5, 28, 28, 1)], ids=["nhw", "flat", "nhwc"]
)
def test_accepted_shapes(shape):
  pixels, binary = images_lib.to_unit_images(np.zeros(shape, np.uint8), source="t")
  assert pixels.shape == (5, 28, 28, 1) and binary


@pytest.mark.parametrize(
  "array,match",
  [
    (np.zeros((5, 27, 28)), "N x 28 x 28"),
    (np.zeros((5, 28, 28, 3)), "N x 28 x 28"),
    (np.zeros((0, 784)), "no images"),
    (np.full((2, 784), 300, np.int32), "0..255"),
    (np.full((2, 784), 1.5), r"\[0, 1\]"),
    (np.full((2, 784), np.nan), "NaN"),
  ],
)
def test_malformed_arrays(array, match):
  with pytest.raises(DataError, match=match):
    images_lib.to_unit_images(array, source="t")


def _grey_files(tmp_path):
  rng = np.random.RandomState(0)
  train = rng.randint(0, 256, size=(300, 28, 28)).astype(np.uint8)
  np.save(tmp_path / "train.npy", train)
  np.savez(tmp_path / "held.npz", valid=rng.rand(40, 784), test=rng.rand(30, 784))
  return train


def test_array_file_binarisation(tmp_path):
  train = _grey_files(tmp_path)
  ds = data.load(
    "array_file",
    str(tmp_path),
    train="train.npy",
    valid=str(tmp_path / "held.npz"),
    test=str(tmp_path / "held.npz"),
  )
  assert [ds.num_examples(s) for s in ds.splits] == [300, 40, 30]
  # dynamic binarisation: binary, mean tracks the grey level, pure function of (seed, epoch)
  e0 = _pass(ds, "train", seed=1, epoch=0)
  assert set(np.unique(e0)) == {0.0, 1.0}
  assert abs(e0.mean() - train.mean() / 255) < 0.01
  assert np.array_equal(e0, _pass(ds, "train", seed=1, epoch=0))
  assert not np.array_equal(e0, _pass(ds, "train", seed=1, epoch=1))
  s0 = _pass(ds, "train", shuffle=True, seed=1, epoch=0)
  assert np.array_equal(s0, _pass(ds, "train", shuffle=True, seed=1, epoch=0))
  # valid/test: one fixed draw, whatever the seed or epoch
  v = _pass(ds, "valid")
  assert set(np.unique(v)) == {0.0, 1.0}
  assert np.array_equal(v, _pass(ds, "valid", seed=9, epoch=4))


def test_binary_arrays_are_used_as_is(tmp_path):
  bits = (np.random.RandomState(1).rand(70, 784) < 0.3).astype(np.float32)
  np.save(tmp_path / "bits.npy", bits)
  ds = data.load("array_file", train=str(tmp_path / "bits.npy"))
  np.testing.assert_array_equal(_pass(ds, "train").reshape(70, 784), bits)


def test_array_file_errors(tmp_path):
  np.savez(tmp_path / "two.npz", a=np.zeros((2, 784)), b=np.zeros((2, 784)))
  with pytest.raises(DataError, match="key=NAME"):
    data.load("array_file", train=str(tmp_path / "two.npz"))
  ds = data.load("array_file", train=str(tmp_path / "two.npz"), key="b")
  assert ds.num_examples("train") == 2
  (tmp_path / "junk.npy").write_bytes(b"not an array at all")
  with pytest.raises(DataError, match="not a readable"):
    data.load("array_file", train=str(tmp_path / "junk.npy"))
  np.save(tmp_path / "rgb.npy", np.zeros((4, 28, 28, 3), np.uint8))
  with pytest.raises(DataError, match="shape"):
    data.load("array_file", train=str(tmp_path / "rgb.npy"))
  with pytest.raises(DataError, match="not found"):
    data.load("array_file", train=str(tmp_path / "absent.npy"))


def test_missing_image_files(tmp_path):
  with pytest.raises(DataError, match="binarized_mnist_train.amat"):
    data.load("binarized_mnist", str(tmp_path))
  (tmp_path / "binarized_mnist").mkdir()
  for split in ("train", "valid", "test"):
    (tmp_path / "binarized_mnist" / f"binarized_mnist_{split}.amat").write_text("0 1 0\n")
  with pytest.raises(DataError, match="MATLAB"):
    data.load("binarized_mnist", str(tmp_path))
  with pytest.raises(DataError, match="omniglot_28x28_images_only.npz"):
    data.load("omniglot", str(tmp_path))


@needs_data
def test_binarized_mnist_real():
  import scipy.io

  ds = data.load("binarized_mnist", DATA_DIR)
  assert [ds.num_examples(s) for s in ds.splits] == [50000, 10000, 10000]
  valid = _pass(ds, "valid")
  raw = scipy.io.loadmat(os.path.join(DATA_DIR, "binarized_mnist", "binarized_mnist_valid.amat"))
  np.testing.assert_array_equal(valid.reshape(10000, 784), raw["X"])  # used as is
  labels = ds.labels("test")
  assert labels.shape == (10000,) and (np.diff(labels) >= 0).all()  # test rows sorted by class
  assert set(labels.tolist()) == set(range(10))
  with pytest.raises(DataError, match="no labels"):
    ds.labels("train")


@needs_data
def test_omniglot_real():
  ds = data.load("omniglot", DATA_DIR)
  assert [ds.num_examples(s) for s in ds.splits] == [19280 - 1928, 1928, 13180]
  a = _pass(ds, "test")
  assert set(np.unique(a)) == {0.0, 1.0} and 0.05 < a.mean() < 0.15
  assert np.array_equal(a, _pass(data.load("omniglot", DATA_DIR), "test"))
