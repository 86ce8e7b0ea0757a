"""Evaluates the latest checkpoint of a run: `python -m launch.evaluate --model_dir=RUN`.

Prints the metrics table (IW-NLL, PPL, -ELBO, KL, MI, AU) and writes
`eval_<split>.json` into the run directory; with --projector=N also the
posterior means of N examples for TensorBoard's projector.
"""

import json
import os

from absl import app
from absl import flags

from launch import common
from tfvae import metrics
from tfvae.training import loop
from tfvae.training import report

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by launch.train.")
flags.DEFINE_enum("split", "test", ["train", "valid", "test"], "Split to evaluate.")
flags.DEFINE_integer("eval_samples", 500, "Importance samples K for IW-NLL.")
flags.DEFINE_integer("eval_chunk_size", 100, "Importance samples per chunk.")
flags.DEFINE_integer("eval_batch_size", None,
                     "Examples per evaluation batch (default: 1000 // eval_chunk_size).")
flags.DEFINE_integer("eval_decode_budget", metrics.DECODE_BUDGET,
                     "Most importance samples x data elements (tokens, pixels) scored in one "
                     "decoder call: bounds memory on long sentences without changing the "
                     "numbers. 0: whole chunks.", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the importance samples.")
flags.DEFINE_bool("sort_by_length", False,
                  "Text: batch the split in length order (little padding, a faster pass; the "
                  "default stored order reproduces the numbers of the run's own evaluation).")
flags.DEFINE_integer("verbose", 1, "1: a progress bar over the batches with the time left; 2: "
                     "one line per batch; 0: quiet.", lower_bound=0, upper_bound=2)
flags.DEFINE_integer("projector", 0, "Also write the posterior means of the first N examples "
                     "of --split, with their sentences (or classes) as metadata, for "
                     "TensorBoard's projector, into <model_dir>/projector; 0: no.",
                     lower_bound=0)
flags.mark_flag_as_required("model_dir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  restored = common.run_or_exit(loop.restore_run, FLAGS.model_dir)
  results = common.run_or_exit(loop.evaluate_run, FLAGS.model_dir, split=FLAGS.split,
                               num_samples=FLAGS.eval_samples,
                               chunk_size=FLAGS.eval_chunk_size, seed=FLAGS.seed,
                               batch_size=FLAGS.eval_batch_size,
                               sort_by_length=FLAGS.sort_by_length,
                               decode_budget=FLAGS.eval_decode_budget or None,
                               verbose=FLAGS.verbose, restored=restored)
  path = os.path.join(FLAGS.model_dir, f"eval_{FLAGS.split}.json")
  with open(path, "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  print(report.metrics_table(results, f"{FLAGS.split} metrics ({FLAGS.model_dir})"))
  print(f"\nWritten to {path}")
  if FLAGS.projector:
    from tfvae.training import projector

    log_dir = os.path.join(FLAGS.model_dir, "projector")
    _, dataset, model = restored
    count = projector.write_projector(model, dataset, FLAGS.split, FLAGS.projector, log_dir)
    print(f"Posterior means of {count} {FLAGS.split} examples for the projector: "
          f"tensorboard --logdir {log_dir}")


if __name__ == "__main__":
  app.run(main)
