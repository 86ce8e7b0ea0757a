"""Exports a run for TF Serving: `python -m export.savedmodel --model_dir=RUN ...`.

Writes `<export_base>/<name>_encoder/<version>/` and
`<export_base>/<name>_decoder/<version>/` (SavedModels with warm-up requests)
and `<export_base>/models.config`, then prints where they went. User errors
(no run directory, no checkpoint, junk in a version directory, bad flags)
end with one line `error: ...` and exit status 1.
"""

import sys

from absl import app
from absl import flags

from export import exporter
from tfvae.errors import UserError

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by launch.train.")
flags.DEFINE_string("export_base", "exports", "Directory of the served models.")
flags.DEFINE_string("name", None, "Model name; serves as <name>_encoder and <name>_decoder.")
flags.DEFINE_integer("max_words", exporter.DEFAULT_MAX_WORDS,
                     "Text: words kept per sentence when the run has no --max_length.")
flags.DEFINE_integer("max_generate", None,
                     "Text: tokens generated per sentence (default: the run's "
                     f"max_length + 1, else {exporter.DEFAULT_MAX_GENERATE}).")
flags.mark_flags_as_required(["model_dir", "name"])

export_run = exporter.export_run


def summary(exported):
  """The lines printed after a successful export."""
  return "\n".join([
      f"Exported version {exported.version}:",
      f"  encoder  {exported.encoder}",
      f"  decoder  {exported.decoder}",
      f"  config   {exported.models_config}",
      "Check: saved_model_cli show --all --dir " + exported.encoder,
      "Serve: tensorflow_model_server --rest_api_port=8501 "
      f"--model_config_file={exported.models_config}",
  ])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  try:
    exported = export_run(FLAGS.model_dir, FLAGS.export_base, FLAGS.name,
                          max_words=FLAGS.max_words, max_generate=FLAGS.max_generate)
  except UserError as error:
    message = " ".join(str(error).splitlines())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)
  print(summary(exported))


if __name__ == "__main__":
  app.run(main)
