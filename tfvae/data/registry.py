"""Data sets by name: `load(name, data_dir, max_length=..., **options)` and `available()`.

Each entry names its loader, whether it reads files (then the data directory is
the `data_dir` argument or `$TFVAE_DATA_DIR`), its kind and the options it takes;
an unknown name or option raises `DataError` listing the valid ones. The default
data set is `synthetic_mog` (METHODS.md D4), which needs no files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

from absl import logging

from tfvae.data import images
from tfvae.data import symbols
from tfvae.data import synthetic
from tfvae.data import text
from tfvae.data.dataset import DataSet
from tfvae.data.errors import DataError
from tfvae.data.errors import known_list
from tfvae.data.errors import resolve_data_dir

DEFAULT = "synthetic_mog"
_TEXT_OPTIONS = ("vocab_size", "min_count", "vocab")


@dataclasses.dataclass(frozen=True)
class _Entry:
  loader: Callable[..., DataSet]
  kind: str
  options: tuple[str, ...]
  needs_data_dir: bool  # True: resolve_data_dir; False: pass data_dir through (may be None)
  summary: str


_REGISTRY: dict[str, _Entry] = {
  "synthetic_mog": _Entry(
    lambda data_dir, **kw: synthetic.load_synthetic_mog(**kw),
    "text",
    tuple(synthetic.DEFAULTS),
    False,
    "2-d MoG latent + random LSTM text (D4), generated",
  ),
  "uniform10k": _Entry(
    lambda data_dir, **kw: symbols.load_uniform_symbols(**kw),
    "symbols",
    tuple(symbols.DEFAULTS),
    False,
    "single symbols uniform over 10000, optimum NLL ln 10000 (D2), generated",
  ),
  "ptb": _Entry(text.load_ptb, "text", _TEXT_OPTIONS, True, "Penn Treebank, Mikolov (D1)"),
  "yahoo": _Entry(text.load_yahoo, "text", _TEXT_OPTIONS, True, "Yahoo Answers (D6)"),
  "yelp": _Entry(text.load_yelp, "text", _TEXT_OPTIONS, True, "Yelp sentiment (D6)"),
  "text_file": _Entry(
    text.load_text_file,
    "text",
    ("train", "valid", "test", *_TEXT_OPTIONS),
    False,
    "your text files, one sentence per line",
  ),
  "binarized_mnist": _Entry(
    lambda data_dir: images.load_binarized_mnist(data_dir),
    "image",
    (),
    True,
    "binarized MNIST 50k/10k/10k (D5)",
  ),
  "omniglot": _Entry(
    lambda data_dir: images.load_omniglot(data_dir), "image", (), True, "OMNIGLOT 28x28 (D5)"
  ),
  "array_file": _Entry(
    images.load_array_file,
    "image",
    ("train", "valid", "test", "key"),
    False,
    "your .npy/.npz image arrays",
  ),
}


def available() -> list[str]:
  """Sorted names of the data sets `load` knows."""
  return sorted(_REGISTRY)


def describe(name: str) -> str:
  """One line about a data set: kind, options, summary."""
  entry = _entry(name)
  opts = ", ".join(entry.options) or "none"
  return f"{name} ({entry.kind}): {entry.summary}; options: {opts}"


def _entry(name: str) -> _Entry:
  try:
    return _REGISTRY[name]
  except (KeyError, TypeError):
    raise DataError(
      f"Unknown data set {name!r}; known data sets: {known_list(_REGISTRY)}."
    ) from None


def load(
  name: str = DEFAULT,
  data_dir: str | os.PathLike | None = None,
  *,
  max_length: int | None = None,
  **options,
) -> DataSet:
  """Loads a data set by name.

  Args:
    name: one of `available()`; default `synthetic_mog`.
    data_dir: folder holding the corpora (`ptb/`, `yahoo/`, ...); defaults to
      `$TFVAE_DATA_DIR`. Not needed by `synthetic_mog`; for `text_file` and
      `array_file` it is where relative paths are also looked up.
    max_length: text only: keep at most this many words per sentence.
    **options: data-set specific, see `describe(name)`; e.g. `vocab_size` (cap,
      reserved symbols included), `min_count`, `vocab` (a `Vocabulary` or the
      path of a saved one) for corpora; `num_train`, `seed`, ... for
      `synthetic_mog`; `train`/`valid`/`test` paths for `text_file`/`array_file`.

  Raises:
    DataError: unknown name or option, or a missing/malformed file.
  """
  entry = _entry(name)
  unknown = sorted(set(options) - set(entry.options))
  if unknown:
    valid = known_list(entry.options) if entry.options else "none"
    raise DataError(
      f"Data set {name!r} does not take option(s) {unknown}; its options are: {valid}"
      + (" (and max_length)." if entry.kind == "text" else ".")
    )
  if entry.kind == "text":
    options["max_length"] = text.check_max_length(max_length)
  elif max_length is not None:
    raise DataError(f"max_length applies to text data sets; {name!r} holds {entry.kind} data.")
  if entry.needs_data_dir:
    data_dir = resolve_data_dir(data_dir, dataset=name)
  elif data_dir is not None:
    data_dir = os.fspath(data_dir)
  start = time.perf_counter()
  dataset = entry.loader(data_dir, **options)
  logging.info("loaded %r in %.2f s", dataset, time.perf_counter() - start)
  return dataset
