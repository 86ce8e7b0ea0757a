"""Data sets by name: `load(name, data_dir, max_length=..., **options)`.

The names, kinds and options are in `tfvae.data.catalog` (which needs no
TensorFlow); an unknown name or option raises `DataError` listing the valid
ones. The default data set is `synthetic_mog` (METHODS.md D4), which needs no
files.
"""

from __future__ import annotations

import importlib
import os
import time

from absl import logging

from tfvae.data import catalog
from tfvae.data.dataset import DataSet
from tfvae.data.errors import resolve_data_dir


def load(
  name: str = catalog.DEFAULT,
  data_dir: str | os.PathLike | None = None,
  *,
  max_length: int | None = None,
  **options,
) -> DataSet:
  """Loads a data set by name.

  Args:
    name: one of `catalog.available()`; default `synthetic_mog`.
    data_dir: folder holding the corpora (`ptb/`, `yahoo/`, ...); defaults to
      `$TFVAE_DATA_DIR`. Not needed by `synthetic_mog`; for `text_file` and
      `array_file` it is where relative paths are also looked up.
    max_length: text only: keep at most this many words per sentence.
    **options: data-set specific, see `catalog.describe(name)`; e.g.
      `vocab_size` (cap, reserved symbols included), `min_count`, `vocab` (a
      `Vocabulary` or the path of a saved one) for corpora; `num_train`,
      `seed`, ... for `synthetic_mog`; `train`/`valid`/`test` paths for
      `text_file`/`array_file`.

  Raises:
    DataError: unknown name or option, or a missing/malformed file.
  """
  entry = catalog.check_request(name, options, max_length)
  if entry.kind == "text":
    options["max_length"] = max_length
  loader = getattr(importlib.import_module(entry.module), entry.function)
  start = time.perf_counter()
  if entry.data_dir == catalog.DATA_DIR_UNUSED:
    dataset = loader(**options)
  elif entry.data_dir == catalog.DATA_DIR_REQUIRED:
    dataset = loader(resolve_data_dir(data_dir, dataset=name), **options)
  else:
    dataset = loader(None if data_dir is None else os.fspath(data_dir), **options)
  logging.info("loaded %r in %.2f s", dataset, time.perf_counter() - start)
  return dataset
