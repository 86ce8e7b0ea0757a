"""Integer version directories of a served model, as TF Serving expects them.

TF Serving watches `<base_path>/<version>/` for integer version names and
serves the largest. An export never overwrites: it takes one more than the
largest version already present, writes into a temporary directory beside
the model directories and renames it into place, so a server watching the
base path never sees a half-written version.
"""

import os
import shutil
import tempfile

from export.errors import ExportError


def existing_versions(model_dir):
  """Sorted integer versions under `model_dir` ([] if it does not exist).

  Raises:
    ExportError: `model_dir` holds an entry whose name is not a version
      number; TF Serving would ignore it, but it is a sign of a wrong
      `--export_base` or of a half-finished manual copy.
  """
  if not os.path.isdir(model_dir):
    if os.path.exists(model_dir):
      raise ExportError(f"{model_dir} exists and is not a directory; choose another "
                        "--export_base or --name.")
    return []
  versions, junk = [], []
  for entry in sorted(os.listdir(model_dir)):
    if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry)):
      versions.append(int(entry))
    else:
      junk.append(entry)
  if junk:
    raise ExportError(f"{model_dir} holds {junk[:5]}, which are not integer version "
                      "directories; move them away (a served model directory holds only "
                      "<version>/ subdirectories).")
  return sorted(versions)


def next_version(model_dirs):
  """One more than the largest version in any of `model_dirs` (1 if none).

  The encoder and the decoder of one export share the version number, so the
  two halves of a model can be matched by it.
  """
  latest = 0
  for model_dir in model_dirs:
    latest = max([latest, *existing_versions(model_dir)])
  return latest + 1


def staging_directory(export_base):
  """A fresh temporary directory under `export_base` (same file system as the target)."""
  os.makedirs(export_base, exist_ok=True)
  return tempfile.mkdtemp(prefix=".staging-", dir=export_base)


def publish(staged, model_dir, version):
  """Moves the finished SavedModel `staged` to `model_dir/<version>`; returns that path.

  Raises:
    ExportError: the version directory appeared meanwhile (another export
      running at the same time); nothing is overwritten.
  """
  os.makedirs(model_dir, exist_ok=True)
  target = os.path.join(model_dir, str(version))
  if os.path.exists(target):
    raise ExportError(f"{target} already exists (another export running?); "
                      "nothing was overwritten, run the export again.")
  os.rename(staged, target)
  return target


def discard(staged):
  """Removes a staging directory left by a failed export."""
  shutil.rmtree(staged, ignore_errors=True)
