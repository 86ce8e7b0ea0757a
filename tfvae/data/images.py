"""Binary 28x28 images (METHODS.md D5): loaders and batching.

A batch is one float32 tensor `[B, 28, 28, 1]` with values in {0, 1}; the models
use a Bernoulli likelihood (Shen et al. (2021), section 5, OMNIGLOT; He's lecture
notes (2026)).

Binarisation, following the usual practice for grey-level sources (e.g. Burda et
al. 2016 for OMNIGLOT):

* sources already binary (every value 0 or 1) are used as they are; this is the
  case of `binarized_mnist`, the fixed binarisation of Larochelle and Murray
  (2011) distributed as MATLAB v5 `.amat` files;
* grey-level training images are binarised dynamically: each pass draws
  pixel ~ Bernoulli(intensity) with a stateless seed derived from
  `(seed, epoch)` and the batch, so a resumed run sees identical draws;
* grey-level valid/test images are binarised once, at load time, with a fixed
  seed (`FIXED_BINARIZATION_SEED`), so every evaluation scores the same bits.

Data sets (files relative to the data directory):

* `binarized_mnist`: `binarized_mnist/binarized_mnist_{train,valid,test}.amat`
  (50,000 / 10,000 / 10,000). Test labels come from
  `binarized_mnist_test_labels_DERIVED.txt` when present (train/valid have none).
* `omniglot`: `omniglot/omniglot_28x28_images_only.npz` (uint8, strokes white =
  255 -> pixel 1). train = the `background` images minus every tenth one
  (index i % 10 == 9, two of each character's 20 drawings), valid = those held out,
  test = `evaluation`. Not the split of Burda et al., so NLLs are not directly
  comparable with published OMNIGLOT numbers.
* `array_file`: the user's `.npy`/`.npz` arrays, N x 28 x 28 (x 1) or N x 784,
  values uint8 0..255 or floats in [0, 1]; options `train` (required), `valid`,
  `test`, `key` (array name inside `.npz` files).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae.data.dataset import DataSet
from tfvae.data.errors import DataError
from tfvae.data.errors import find_user_file
from tfvae.data.errors import require_file

__all__ = [
  "EVENT_SHAPE",
  "ImageSplit",
  "build_image_dataset",
  "load_array_file",
  "load_binarized_mnist",
  "load_omniglot",
  "to_unit_images",
]

EVENT_SHAPE = (28, 28, 1)
FIXED_BINARIZATION_SEED = 20160901
HOLDOUT_EVERY = 10
_SPLIT_INDEX = {"train": 0, "valid": 1, "test": 2}

MNIST_HOW_TO_GET = (
  "Binarized MNIST (Larochelle and Murray 2011; e.g. the ARM-gradient repository's "
  "MATLAB files) is expected as DIR/binarized_mnist/binarized_mnist_{train,valid,test}.amat."
)
OMNIGLOT_HOW_TO_GET = (
  "OMNIGLOT at 28x28 is expected as DIR/omniglot/omniglot_28x28_images_only.npz with "
  "arrays 'background' and 'evaluation' (uint8, N x 28 x 28)."
)


class ImageSplit:
  """One split of images; `dynamic` splits are re-binarised on every pass."""

  element_spec = tf.TensorSpec([None, *EVENT_SHAPE], tf.float32)
  lengths = None
  latents = None

  def __init__(self, pixels: np.ndarray, *, dynamic: bool, labels: np.ndarray | None = None):
    if labels is not None and len(labels) != len(pixels):
      raise ValueError(f"labels has {len(labels)} entries for {len(pixels)} images")
    self.size = len(pixels)
    self.dynamic = dynamic
    self.labels = None if labels is None else _frozen(labels)
    self._pixels = _frozen(pixels)
    self._scale = 1.0 / 255.0 if pixels.dtype == np.uint8 and dynamic else 1.0
    self._tensor_cache = None

  def _tensor(self) -> tf.Tensor:
    if self._tensor_cache is None:
      with tf.init_scope():  # an eager constant, whatever graph asks first
        self._tensor_cache = tf.constant(self._pixels)
    return self._tensor_cache

  def make_batch(self, indices: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
    x = tf.cast(tf.gather(self._tensor(), indices), tf.float32)
    if not self.dynamic:
      return x
    probs = x * self._scale
    u = tf.random.stateless_uniform(tf.shape(probs), seed=noise_seed, alg="philox")
    return tf.cast(u < probs, tf.float32)


def _frozen(a) -> np.ndarray:
  a = np.array(a)
  a.setflags(write=False)
  return a


def to_unit_images(array: np.ndarray, *, source: str) -> tuple[np.ndarray, bool]:
  """Checks and reshapes an image array to N x 28 x 28 x 1.

  Returns `(pixels, is_binary)`: binary sources as uint8 {0, 1}; grey levels
  as uint8 0..255 (integer sources) or float32 in [0, 1] (float sources).

  Raises:
    DataError: wrong shape, or values outside 0..255 / [0, 1].
  """
  a = np.asarray(array)
  n = a.shape[0] if a.ndim else 0
  if a.ndim == 2 and a.shape[1] == 784:
    a = a.reshape(n, 28, 28, 1)
  elif a.ndim == 3 and a.shape[1:] == (28, 28):
    a = a[..., None]
  elif not (a.ndim == 4 and a.shape[1:] == EVENT_SHAPE):
    raise DataError(
      f"{source}: images must be N x 28 x 28, N x 28 x 28 x 1 or N x 784; got shape {a.shape}."
    )
  if n == 0:
    raise DataError(f"{source}: the array holds no images.")
  if a.dtype == bool:
    return a.astype(np.uint8), True
  if np.issubdtype(a.dtype, np.integer):
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > 255:
      raise DataError(f"{source}: integer pixels must lie in 0..255; got {lo}..{hi}.")
    if hi <= 1:
      return a.astype(np.uint8), True
    return a.astype(np.uint8), False
  if np.issubdtype(a.dtype, np.floating):
    if not np.all(np.isfinite(a)):
      raise DataError(f"{source}: the array holds NaN or infinite values.")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
      raise DataError(
        f"{source}: float pixels must lie in [0, 1]; got {lo:g}..{hi:g}. Divide "
        f"0..255 data by 255 or store it as uint8."
      )
    if np.all((a == 0) | (a == 1)):
      return a.astype(np.uint8), True
    return a.astype(np.float32), False
  raise DataError(f"{source}: unsupported pixel dtype {a.dtype}.")


def fixed_binarization(pixels: np.ndarray, split: str) -> np.ndarray:
  """One Bernoulli draw with a fixed seed per split (valid/test), as uint8."""
  probs = pixels.astype(np.float32) / 255.0 if pixels.dtype == np.uint8 else pixels
  rng = np.random.RandomState([FIXED_BINARIZATION_SEED, _SPLIT_INDEX[split]])
  return (rng.random_sample(probs.shape) < probs).astype(np.uint8)


def build_image_dataset(
  name: str,
  arrays: Mapping[str, np.ndarray],
  *,
  labels: Mapping[str, np.ndarray] | None = None,
  info: str = "",
) -> DataSet:
  """Wraps per-split image arrays (any shape/dtype `to_unit_images` accepts)."""
  parts = {}
  for split, array in arrays.items():
    pixels, binary = to_unit_images(array, source=f"{name}/{split}")
    dynamic = not binary and split == "train"
    if not binary and not dynamic:
      pixels = fixed_binarization(pixels, split)
    parts[split] = ImageSplit(
      pixels, dynamic=dynamic, labels=None if labels is None else labels.get(split)
    )
    mode = "binary" if binary else ("dynamic" if dynamic else "fixed") + " binarisation"
    logging.info("%s/%s: %d images, %s", name, split, len(pixels), mode)
  return DataSet(name, "image", parts, event_shape=EVENT_SHAPE, info=info)


# Loaders ---------------------------------------------------------------------------


def _load_amat(path: str) -> np.ndarray:
  import scipy.io  # imported here: only this loader needs scipy

  require_file(path, dataset="binarized_mnist", how_to_get=MNIST_HOW_TO_GET)
  try:
    contents = scipy.io.loadmat(path)
  except Exception as e:  # scipy raises several types for a bad file
    raise DataError(
      f"Data set 'binarized_mnist': {path!r} is not a readable MATLAB v5 file ({e}). "
      f"{MNIST_HOW_TO_GET}"
    ) from e
  if "X" not in contents:
    keys = [k for k in contents if not k.startswith("__")]
    raise DataError(f"Data set 'binarized_mnist': {path!r} has no matrix 'X' (has {keys}).")
  return contents["X"]


def load_binarized_mnist(data_dir: str) -> DataSet:
  """Binarized MNIST 50k/10k/10k, already binary and used as is (D5)."""
  folder = os.path.join(data_dir, "binarized_mnist")
  arrays = {
    s: _load_amat(os.path.join(folder, f"binarized_mnist_{s}.amat"))
    for s in ("train", "valid", "test")
  }
  labels = {}
  label_path = os.path.join(folder, "binarized_mnist_test_labels_DERIVED.txt")
  if os.path.isfile(label_path):
    values = np.loadtxt(label_path, dtype=np.int32, ndmin=1)
    if len(values) != len(arrays["test"]):
      raise DataError(
        f"Data set 'binarized_mnist': {label_path!r} has {len(values)} labels for "
        f"{len(arrays['test'])} test images."
      )
    labels["test"] = values
  return build_image_dataset(
    "binarized_mnist", arrays, labels=labels, info=f"binarized MNIST from {folder}"
  )


def load_omniglot(data_dir: str) -> DataSet:
  """OMNIGLOT 28x28: background minus a held-out tenth / evaluation (D5)."""
  path = os.path.join(data_dir, "omniglot", "omniglot_28x28_images_only.npz")
  arrays = _read_npz(path, dataset="omniglot", how_to_get=OMNIGLOT_HOW_TO_GET)
  missing = {"background", "evaluation"} - set(arrays)
  if missing:
    raise DataError(
      f"Data set 'omniglot': {path!r} lacks arrays {sorted(missing)} (has "
      f"{sorted(arrays)}). {OMNIGLOT_HOW_TO_GET}"
    )
  background = arrays["background"]
  held = np.arange(len(background)) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
  return build_image_dataset(
    "omniglot",
    {"train": background[~held], "valid": background[held], "test": arrays["evaluation"]},
    info=f"OMNIGLOT from {path}: train/valid = background minus/only every 10th image",
  )


def _read_npz(path: str, *, dataset: str, how_to_get: str = "") -> dict[str, np.ndarray]:
  require_file(path, dataset=dataset, how_to_get=how_to_get)
  try:
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
      return {"": loaded}
    with loaded:
      return {k: loaded[k] for k in loaded.files}
  except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
    raise DataError(
      f"Data set {dataset!r}: {path!r} is not a readable .npy/.npz file ({e})."
    ) from e


def load_array_file(
  data_dir: str | None,
  *,
  train: str | os.PathLike | None = None,
  valid: str | os.PathLike | None = None,
  test: str | os.PathLike | None = None,
  key: str | None = None,
) -> DataSet:
  """The user's image arrays, one `.npy`/`.npz` per split; `train` is required.

  Inside an `.npz` the array is `key` if given, else the file's only array, else
  the array named after the split. Relative paths are looked up from the
  working directory, then from the data directory.
  """
  if train is None:
    raise DataError("Data set 'array_file' needs train=PATH (and optionally valid, test).")
  arrays = {}
  for split, path in (("train", train), ("valid", valid), ("test", test)):
    if path is None:
      continue
    found = find_user_file(path, data_dir, dataset="array_file")
    contents = _read_npz(found, dataset="array_file")
    arrays[split] = _pick_array(contents, found, split, key)
  return build_image_dataset("array_file", arrays, info="user arrays")


def _pick_array(contents: dict[str, np.ndarray], path: str, split: str, key: str | None):
  if "" in contents:  # a .npy file
    return contents[""]
  for candidate in [key] if key is not None else [None, split]:
    if candidate is None and len(contents) == 1:
      return next(iter(contents.values()))
    if candidate is not None and candidate in contents:
      return contents[candidate]
  raise DataError(
    f"Data set 'array_file': cannot tell which array of {path!r} holds the {split} "
    f"images (arrays: {sorted(contents)}); pass key=NAME or name the array {split!r}."
  )
