"""The one exception type of `tfvae.data`, and the file look-ups that raise it.

Every problem a user can fix (a missing or malformed file, an unknown data set or
option, an unknown split) raises `DataError`, a `ValueError`, with a message that
says what was wrong, where the code looked and what to do about it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tfvae.errors import UserError

DATA_DIR_ENV = "TFVAE_DATA_DIR"


class DataError(UserError, ValueError):
  """A data set could not be found, read or used as asked."""


def known_list(names: Iterable[str]) -> str:
  """Formats names as `'a', 'b', 'c'` for messages."""
  return ", ".join(repr(n) for n in sorted(names))


def resolve_data_dir(data_dir: str | os.PathLike | None, *, dataset: str) -> str:
  """Returns the data directory from the argument or `$TFVAE_DATA_DIR`.

  Raises:
    DataError: neither is given, or the directory does not exist.
  """
  source = "the data_dir argument"
  if data_dir is None or str(data_dir) == "":
    data_dir = os.environ.get(DATA_DIR_ENV) or None
    source = f"${DATA_DIR_ENV}"
  if data_dir is None:
    raise DataError(
      f"Data set {dataset!r} reads files, but no data directory was given. Pass "
      f"data_dir=DIR (--data_dir DIR on the command line) or set {DATA_DIR_ENV}=DIR, "
      f"where DIR holds the corpora (e.g. DIR/ptb/ptb.train.txt). "
      f"For PTB, `python -m tfvae.data.prepare_ptb --data_dir DIR` fetches the files."
    )
  data_dir = os.fspath(data_dir)
  if not os.path.isdir(data_dir):
    raise DataError(
      f"Data directory {data_dir!r} (from {source}) does not exist or is not a "
      f"directory. Pass data_dir=DIR (--data_dir) or set {DATA_DIR_ENV} to the folder "
      f"holding the corpora."
    )
  return data_dir


def missing_file(path: str, *, dataset: str, how_to_get: str) -> DataError:
  """Builds the error for a source file that is not where it should be."""
  folder = os.path.dirname(path) or "."
  where = (
    f"the folder {folder!r} exists but lacks it"
    if os.path.isdir(folder)
    else f"the folder {folder!r} does not exist"
  )
  return DataError(
    f"Data set {dataset!r}: file not found: {path!r} ({where}). "
    f"Point data_dir (--data_dir) or ${DATA_DIR_ENV} at the folder that contains "
    f"'{os.path.basename(folder)}/'. {how_to_get}"
  )


def require_file(path: str, *, dataset: str, how_to_get: str) -> str:
  """Returns `path` if it is a readable file, else raises `missing_file`."""
  if not os.path.isfile(path):
    raise missing_file(path, dataset=dataset, how_to_get=how_to_get)
  return path


def find_user_file(path: str | os.PathLike, data_dir: str | None, *, dataset: str) -> str:
  """Finds a user-named file: as given, else relative to the data directory.

  The data directory is `data_dir`, else `$TFVAE_DATA_DIR` (either may be unset).
  """
  path = os.fspath(path)
  candidates = [path]
  base = data_dir or os.environ.get(DATA_DIR_ENV)
  if base and not os.path.isabs(path):
    candidates.append(os.path.join(os.fspath(base), path))
  for candidate in candidates:
    if os.path.isfile(candidate):
      return candidate
  looked = ", ".join(repr(os.path.abspath(c)) for c in candidates)
  raise DataError(
    f"Data set {dataset!r}: file not found: {path!r} (looked at {looked}). Give an "
    f"existing path, absolute or relative to the working directory or to data_dir "
    f"(--data_dir) / ${DATA_DIR_ENV}."
  )
