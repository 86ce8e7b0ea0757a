"""Exports a training run as two TF-Serving models: `<name>_encoder`, `<name>_decoder`.

Layout under the export base:

  <export_base>/<name>_encoder/<version>/saved_model.pb, variables/, assets.extra/
  <export_base>/<name>_decoder/<version>/...
  <export_base>/models.config

Both halves of one export get the same version, one more than the largest
existing one; nothing is ever overwritten.
"""

import dataclasses
import os
import re

from export import image_signatures
from export import serving_config
from export import text_signatures
from export import vector_signatures
from export import versions
from export import warmup
from export.errors import ExportError
from tfvae.training import loop

DEFAULT_MAX_WORDS = 100
DEFAULT_MAX_GENERATE = 40
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class ExportedRun:
  """Where an export went: the two version directories, their version, the config file."""

  encoder: str
  decoder: str
  version: int
  models_config: str


def text_limits(config, max_words, max_generate):
  """(words kept per sentence, tokens generated) for a text run.

  The run's `max_length` wins over `max_words` (the model never saw longer
  sentences); generation defaults to `max_length + 1` tokens (the words and
  `</s>`) when the run has a `max_length`, else to DEFAULT_MAX_GENERATE.
  """
  words = config.max_length or max_words
  if max_generate is None:
    max_generate = config.max_length + 1 if config.max_length else DEFAULT_MAX_GENERATE
  return words, max_generate


def build_servables(config, dataset, model, max_words, max_generate):
  """(encoder, decoder) `Servable`s for a restored run."""
  if dataset.kind == "text":
    words, steps = text_limits(config, max_words, max_generate)
    return (text_signatures.build_encoder(model, dataset.vocab, words),
            text_signatures.build_decoder(model, dataset.vocab, words, steps))
  if dataset.kind == "vectors":
    return (vector_signatures.build_encoder(model, dataset.event_shape),
            vector_signatures.build_decoder(model, dataset.event_shape))
  return (image_signatures.build_encoder(model, dataset.event_shape),
          image_signatures.build_decoder(model, dataset.event_shape))


def check_arguments(model_dir, name, max_words, max_generate):
  """Raises ExportError for a bad model name, a missing run directory or a bad limit."""
  if not _NAME.match(name or ""):
    raise ExportError(f"--name={name!r} must be letters, digits, '_', '.' or '-' "
                      "(it becomes the served model name).")
  if not os.path.isdir(model_dir):
    raise ExportError(f"Run directory {model_dir} does not exist; pass the --model_dir of a "
                      "`python -m launch.train` run.")
  for flag, value in (("max_words", max_words), ("max_generate", max_generate)):
    if value is not None and value <= 0:
      raise ExportError(f"--{flag} must be a positive integer, got {value}.")


def export_run(model_dir, export_base, name, *, max_words=DEFAULT_MAX_WORDS,
               max_generate=None):
  """Exports the latest checkpoint of `model_dir`; returns an `ExportedRun`.

  Raises:
    ExportError: bad name or limits, missing run directory, junk in a version
      directory. Errors of `restore_run` (RunDirectoryError when there is no
      config or checkpoint, CheckpointMismatchError, DataError) pass through.
  """
  check_arguments(model_dir, name, max_words, max_generate)
  model_dirs = {half: os.path.join(export_base, f"{name}_{half}")
                for half in ("encoder", "decoder")}
  version = versions.next_version(model_dirs.values())
  config, dataset, model = loop.restore_run(model_dir)
  servables = dict(zip(("encoder", "decoder"),
                       build_servables(config, dataset, model, max_words, max_generate)))
  staged = {}
  try:
    for half, servable in servables.items():
      staged[half] = versions.staging_directory(export_base)
      servable.write(staged[half])
      warmup.write_warmup(staged[half], os.path.basename(model_dirs[half]), servable.examples)
    published = {half: versions.publish(staged.pop(half), model_dirs[half], version)
                 for half in servables}
  finally:
    for directory in staged.values():
      versions.discard(directory)
  return ExportedRun(encoder=published["encoder"], decoder=published["decoder"],
                     version=version,
                     models_config=serving_config.write_models_config(export_base))
