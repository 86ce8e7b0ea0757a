"""Continuous vectors in R^D (kind "vectors"): the LiBI sets (METHODS.md D3).

A batch is one float32 tensor `[B, D]`. Four data sets of this kind are
registered, the synthetic sets of Yacoby et al. (2020), appendix E, drawn by
`tfvae.data.libi.generate` (which states the generative processes and the seed
rule):

* `libi_linear_jtex`: x = L z + eps in R^2 (Linear JTEx);
* `libi_cubic_jtex`: x = (L z)^3 + eps in R^2, the cube element-wise (Cubic JTEx);
* `libi_gaussian`: x = z^T A + eps in R^4;
* `libi_mobius`: x = f(z) + eps in R^2, f a network fitted to a Mobius transform
  (option `generator="exact"`: the transform itself).

Options: `replicate` (which data set of the kind, 0, 1, ...; the paper has 0..4),
`num_per_split` (points in each of train, valid and test; the paper: 500), and
for `libi_mobius` `generator`. The true z of every split is kept: `latents(split)`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from tfvae.data import libi
from tfvae.data.dataset import DataSet
from tfvae.data.errors import DataError
from tfvae.data.errors import known_list

__all__ = [
  "LIBI_PREFIX",
  "VectorSplit",
  "build_vector_dataset",
  "libi_kind",
  "load_libi_cubic_jtex",
  "load_libi_gaussian",
  "load_libi_linear_jtex",
  "load_libi_mobius",
  "load_libi_set",
]

LIBI_PREFIX = "libi_"


class VectorSplit:
  """One split: a fixed float32 matrix [N, D] of examples, and optionally their true z."""

  lengths = None
  labels = None

  def __init__(self, x: np.ndarray, latents: np.ndarray | None = None):
    if latents is not None and len(latents) != len(x):
      raise ValueError(f"latents has {len(latents)} rows for {len(x)} examples")
    self.size = len(x)
    self.element_spec = tf.TensorSpec([None, x.shape[1]], tf.float32)
    self.latents = None if latents is None else _frozen(latents)
    self._x = _frozen(x)
    self._tensor_cache = None

  def make_batch(self, indices: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
    del noise_seed  # Vectors carry no per-pass randomness.
    if self._tensor_cache is None:
      with tf.init_scope():  # an eager constant, whatever graph asks first
        self._tensor_cache = tf.constant(self._x)
    return tf.gather(self._tensor_cache, indices)


def _frozen(a) -> np.ndarray:
  a = np.array(a, np.float32)
  a.setflags(write=False)
  return a


def _checked(name: str, split: str, x) -> np.ndarray:
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
    raise DataError(f"{name}/{split}: vectors must be a non-empty N x D array, got shape "
                    f"{x.shape}.")
  if not np.all(np.isfinite(x)):
    raise DataError(f"{name}/{split}: the array holds NaN or infinite values.")
  return x


def build_vector_dataset(
  name: str,
  arrays: Mapping[str, np.ndarray],
  *,
  latents: Mapping[str, np.ndarray] | None = None,
  info: str = "",
) -> DataSet:
  """Wraps per-split arrays [N, D] (one D for all splits) as a "vectors" DataSet.

  Args:
    name: the data set's registry name.
    arrays: split -> examples [N, D], any real dtype (stored as float32).
    latents: optional split -> true latent codes [N, d] (`DataSet.latents`).
    info: where the data came from.

  Raises:
    DataError: an array is not a non-empty 2-d finite array, or the splits
      disagree on D.
  """
  checked = {split: _checked(name, split, x) for split, x in arrays.items()}
  dims = {x.shape[1] for x in checked.values()}
  if len(dims) != 1:
    shapes = {split: x.shape for split, x in checked.items()}
    raise DataError(f"{name}: every split must have the same vector size D, got {shapes}.")
  parts = {split: VectorSplit(x, None if latents is None else latents.get(split))
           for split, x in checked.items()}
  return DataSet(name, "vectors", parts, event_shape=(dims.pop(),), info=info)


def libi_kind(name: str) -> str:
  """The `tfvae.data.libi` kind of a LiBI data set's name: "libi_mobius" -> "mobius".

  Raises:
    DataError: `name` is not one of the LiBI sets.
  """
  prefixed = isinstance(name, str) and name.startswith(LIBI_PREFIX)
  kind = name[len(LIBI_PREFIX):] if prefixed else None
  if kind not in libi.TYPES:
    raise DataError(f"{name!r} is not a LiBI data set; they are "
                    f"{known_list(LIBI_PREFIX + t for t in libi.TYPES)}.")
  return kind


def load_libi_set(kind: str, replicate: int = 0, num_per_split: int = libi.NUM_PER_SPLIT,
                  generator: str = "network") -> DataSet:
  """One synthetic set of Yacoby et al. (2020), appendix E, as the DataSet `libi_<kind>`.

  Args:
    kind: one of `tfvae.data.libi.TYPES`.
    replicate: which data set of this kind (0, 1, ...; the paper uses 0..4).
    num_per_split: examples in each of train, valid and test (the paper: 500).
    generator: `mobius` only: "network" (the paper's fitted f) or "exact" (m).
      The Mobius network is trained once and cached (`tfvae.data.libi.cache_path`).

  Raises:
    DataError: unknown kind or generator, replicate < 0, num_per_split < 1, or
      an argument that is not an integer.
  """
  splits = libi.generate(kind, replicate, num_per_split, generator=generator)
  about = f"generator={generator}, " if kind == "mobius" else ""
  return build_vector_dataset(
    LIBI_PREFIX + kind, {split: x for split, (x, _) in splits.items()},
    latents={split: z for split, (_, z) in splits.items()},
    info=f"LiBI {kind} (Yacoby et al. (2020), appendix E), replicate={replicate}, "
         f"{about}{num_per_split} examples per split")


def load_libi_linear_jtex(**options) -> DataSet:
  """`libi_linear_jtex`: `load_libi_set("linear_jtex", **options)`."""
  return load_libi_set("linear_jtex", **options)


def load_libi_cubic_jtex(**options) -> DataSet:
  """`libi_cubic_jtex`: `load_libi_set("cubic_jtex", **options)`."""
  return load_libi_set("cubic_jtex", **options)


def load_libi_gaussian(**options) -> DataSet:
  """`libi_gaussian`: `load_libi_set("gaussian", **options)`."""
  return load_libi_set("gaussian", **options)


def load_libi_mobius(**options) -> DataSet:
  """`libi_mobius`: `load_libi_set("mobius", **options)`."""
  return load_libi_set("mobius", **options)
