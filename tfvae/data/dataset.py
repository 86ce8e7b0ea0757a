"""`DataSet`: the one immutable container every loader returns.

A data set holds its splits in memory (numpy) and builds `tf.data` pipelines on
demand. The order of a pass is computed inside the graph from stateless random
ops keyed by `(seed, epoch)` (Philox), never from a `tf.data` shuffle buffer, so:

* `batches("train", B, shuffle=True, seed=s, epoch=e)` is a pure function of
  `(s, e)`: a run resumed at epoch e sees exactly the batches an uninterrupted run
  saw there, and `train_batches(B, seed=s, start_epoch=e)` chains those passes;
* a pass has exactly `ceil(num_examples / B)` batches, shuffled or not, and only
  the last batch of the pass may be smaller than B, so `num_batches` is exact and
  can serve as `steps_per_epoch` for the infinite `train_batches`.

Text is length-bucketed when shuffled: the shuffled split is cut into pools of
`POOL_BATCHES * B` sentences, each pool is sorted by length and cut into
batches, and the batch order is shuffled again. This is the pooled form of
bucketing (sentences of a batch have near-equal lengths) and, unlike
`bucket_by_sequence_length`, leaves only one partial batch per pass.
Unshuffled passes keep the stored order (no bucketing) so that outputs line up
with `labels(split)` and `latents(split)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import numpy as np
import tensorflow as tf

from tfvae.data.errors import DataError
from tfvae.data.vocabulary import Vocabulary

SPLITS = ("train", "valid", "test")
KINDS = ("text", "image", "symbols", "vectors")
POOL_BATCHES = 50
_RNG_ALG = "philox"
# Purposes folded into the stateless key (seed, 4 * epoch + purpose).
_KEY_ORDER, _KEY_BATCH_ORDER, _KEY_BATCH_NOISE = 0, 1, 2


class SplitData(Protocol):
  """What `DataSet` needs from one split (e.g. `text.TextSplit`, `images.ImageSplit`)."""

  size: int
  lengths: np.ndarray | None  # per-example sequence length (text), for bucketing
  labels: np.ndarray | None
  latents: np.ndarray | None
  element_spec: tf.TensorSpec

  def make_batch(self, indices: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
    """The batch of the examples `indices`; `noise_seed` keys any random draw."""

  def rows(self) -> list[np.ndarray]:
    """Text only: the framed id sequence of every example, in stored order."""


def epoch_key(seed, epoch, purpose: int) -> tf.Tensor:
  """Stateless-RNG key `[seed, 4 * epoch + purpose]` (int64, shape [2])."""
  seed = tf.cast(seed, tf.int64)
  epoch = tf.cast(epoch, tf.int64)
  return tf.stack([seed, 4 * epoch + purpose])


class DataSet:
  """Splits of one corpus plus the pipelines that batch them.

  Attributes:
    name: registry name.
    kind: "text", "image", "symbols" (one id per example, `symbols.py`) or
      "vectors" (real vectors, `vectors.py`).
    vocab: the `Vocabulary` (text) or None.
    num_symbols: the alphabet size of a "symbols" data set (None otherwise).
    event_shape: shape of one example: `(None,)` for text (a sequence of ids),
      `()` for symbols, `(28, 28, 1)` for images, `(D,)` for vectors.
    splits: the split names this data set has, in the order train/valid/test.
  """

  __slots__ = ("_event_shape", "_info", "_kind", "_name", "_num_symbols", "_parts", "_vocab")

  def __init__(
    self,
    name: str,
    kind: str,
    parts: Mapping[str, SplitData],
    *,
    vocab: Vocabulary | None = None,
    event_shape: tuple,
    num_symbols: int | None = None,
    info: str = "",
  ):
    if kind not in KINDS:
      raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if (kind == "text") != (vocab is not None):
      raise ValueError("a text data set needs a vocabulary; other kinds have none")
    if (kind == "symbols") != (num_symbols is not None):
      raise ValueError("a symbols data set needs num_symbols; other kinds have none")
    unknown = set(parts) - set(SPLITS)
    if unknown:
      raise ValueError(f"unknown split names {sorted(unknown)}")
    self._name = name
    self._kind = kind
    self._vocab = vocab
    self._event_shape = tuple(event_shape)
    self._parts = {s: parts[s] for s in SPLITS if s in parts}
    self._num_symbols = num_symbols
    self._info = info

  # Description ---------------------------------------------------------------

  name = property(lambda self: self._name)
  kind = property(lambda self: self._kind)
  vocab = property(lambda self: self._vocab)
  num_symbols = property(lambda self: self._num_symbols)
  event_shape = property(lambda self: self._event_shape)
  info = property(lambda self: self._info, doc="Where the data came from, how it was split.")

  @property
  def splits(self) -> tuple[str, ...]:
    return tuple(self._parts)

  def __repr__(self) -> str:
    sizes = ", ".join(f"{s}={p.size}" for s, p in self._parts.items())
    extra = f", vocab={self._vocab.size}" if self._vocab is not None else ""
    return f"DataSet({self._name!r}, kind={self._kind!r}, {sizes}{extra})"

  def summary(self) -> dict:
    """Name, kind and split sizes; for text also the vocabulary size and OOV rates."""
    summary = {"name": self._name, "kind": self._kind,
               "examples": {split: part.size for split, part in self._parts.items()}}
    if self._kind == "text":
      summary["vocab_size"] = self._vocab.size
      summary["oov_rate"] = {split: part.oov_rate for split, part in self._parts.items()}
    return summary

  def _part(self, split: str) -> SplitData:
    try:
      return self._parts[split]
    except (KeyError, TypeError):
      raise DataError(
        f"Data set {self._name!r} has no split {split!r}; its splits are {list(self._parts)}."
      ) from None

  def num_examples(self, split: str) -> int:
    return self._part(split).size

  def num_batches(self, split: str, batch_size: int) -> int:
    """Exact number of batches in one pass, shuffled or not: ceil(n / batch_size)."""
    return math.ceil(self._part(split).size / _check_batch_size(batch_size))

  def labels(self, split: str) -> np.ndarray:
    """Class labels aligned with the stored (unshuffled) order of `split`."""
    part = self._part(split)
    if part.labels is None:
      raise DataError(f"Data set {self._name!r} has no labels for split {split!r}.")
    return part.labels

  def latents(self, split: str) -> np.ndarray:
    """True latent codes (synthetic sets only), aligned like `labels`."""
    part = self._part(split)
    if part.latents is None:
      raise DataError(f"Data set {self._name!r} has no true latents; only generated sets do.")
    return part.latents

  # Text helpers ----------------------------------------------------------------

  def _require_text(self, what: str) -> None:
    if self._kind != "text":
      raise DataError(f"{what} applies to text data sets; {self._name!r} holds {self._kind} data.")

  def count_tokens(self, x: tf.Tensor) -> tf.Tensor:
    """Predicted tokens per example of a text batch (words plus `</s>`), int32 [B].

    Perplexity (METHODS.md E2) divides the total NLL by the sum of these.
    """
    self._require_text("count_tokens")
    return count_tokens(x)

  def oov_rate(self, split: str) -> float:
    """Share of the words of `split` that the vocabulary maps to `<unk>` (0 to 1)."""
    self._require_text("oov_rate")
    return self._part(split).oov_rate

  def sentences(self, split: str) -> list[str]:
    """The text of `split` as the model sees it (after `<unk>` mapping, truncation)."""
    self._require_text("sentences")
    part = self._part(split)
    return [self._vocab.decode(row) for row in part.rows()]

  # Pipelines -----------------------------------------------------------------

  def batches(
    self, split: str, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0,
    by_length: bool = False,
  ) -> tf.data.Dataset:
    """One finite pass over `split`.

    With `shuffle=False` the examples come in stored order (the order of
    `labels`/`latents`), or, with `by_length=True` (text only), sorted by
    length (stable), so that a batch holds sentences of nearly one length and
    little padding: what evaluation wants (He et al.'s harness batches its
    test set so). With `shuffle=True` the order (and, for grey-level
    training images, the binarisation) is a pure function of `(seed, epoch)`.
    """
    part = self._part(split)
    batch_size = _check_batch_size(batch_size)
    if by_length:
      self._require_text("batches(by_length=True)")
      if shuffle:
        raise DataError("batches: by_length=True sorts the split; it cannot also shuffle it.")
    ds = _epoch_dataset(part, batch_size, bool(shuffle), int(seed), int(epoch),
                        by_length=bool(by_length))
    return ds.prefetch(tf.data.AUTOTUNE)

  def train_batches(
    self, batch_size: int, *, seed: int = 0, start_epoch: int = 0
  ) -> tf.data.Dataset:
    """Endless training stream: epochs start_epoch, start_epoch + 1, ...

    Epoch e is exactly `batches("train", batch_size, shuffle=True, seed=seed,
    epoch=e)`, and has `num_batches("train", batch_size)` batches: use that as
    `steps_per_epoch` and `start_epoch` = the Keras `initial_epoch` to resume.
    """
    part = self._part("train")
    batch_size = _check_batch_size(batch_size)
    seed = int(seed)
    epochs = tf.data.Dataset.range(int(start_epoch), np.iinfo(np.int64).max // 8)
    ds = epochs.flat_map(lambda e: _epoch_dataset(part, batch_size, True, seed, e))
    return ds.prefetch(tf.data.AUTOTUNE)


def count_tokens(x: tf.Tensor) -> tf.Tensor:
  """Non-pad tokens minus the leading `<s>` per row of `[B, T]` ids, as int32 [B]."""
  x = tf.convert_to_tensor(x)
  nonpad = tf.reduce_sum(tf.cast(tf.not_equal(x, Vocabulary.PAD_ID), tf.int32), axis=-1)
  return nonpad - 1


def _check_batch_size(batch_size) -> int:
  if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
    raise DataError(f"batch_size must be a positive integer, got {batch_size!r}.")
  return int(batch_size)


def _epoch_dataset(part: SplitData, batch_size: int, shuffle: bool, seed, epoch,
                   by_length: bool = False):
  """The batches of one pass; `epoch` may be a Python int or a scalar tensor."""
  n = part.size
  num_batches = math.ceil(n / batch_size)
  if shuffle:
    order = tf.random.experimental.stateless_shuffle(
      tf.range(n, dtype=tf.int64), epoch_key(seed, epoch, _KEY_ORDER), alg=_RNG_ALG
    )
    if part.lengths is not None:
      order = _pool_sort(order, part.lengths, batch_size * POOL_BATCHES)
    batch_order = tf.random.experimental.stateless_shuffle(
      tf.range(num_batches, dtype=tf.int64),
      epoch_key(seed, epoch, _KEY_BATCH_ORDER),
      alg=_RNG_ALG,
    )
  else:
    if by_length:
      order = tf.constant(np.argsort(part.lengths, kind="stable"), tf.int64)
    else:
      order = tf.range(n, dtype=tf.int64)
    batch_order = tf.range(num_batches, dtype=tf.int64)
  # One stateless seed per batch for any random draw (image binarisation).
  noise_seeds = tf.random.stateless_uniform(
    [num_batches, 2],
    seed=epoch_key(seed, epoch, _KEY_BATCH_NOISE),
    minval=None,
    maxval=None,
    dtype=tf.int64,
    alg=_RNG_ALG,
  )

  def make(b):
    start = b * batch_size
    indices = order[start : tf.minimum(start + batch_size, n)]
    return part.make_batch(indices, noise_seeds[b])

  return tf.data.Dataset.from_tensor_slices(batch_order).map(
    make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
  )


def _pool_sort(order: tf.Tensor, lengths: np.ndarray, pool: int) -> tf.Tensor:
  """Sorts each consecutive pool of `order` by example length (stable)."""
  lengths = np.asarray(lengths, np.int64)
  span = int(lengths.max()) + 1 if lengths.size else 1
  position = tf.range(tf.size(order, out_type=tf.int64))
  key = (position // pool) * span + tf.gather(tf.constant(lengths), order)
  return tf.gather(order, tf.argsort(key, stable=True))
