"""The linear probe of a trained run: `python -m launch.probe --model_dir=RUN`.

Trains a logistic-regression classifier on the posterior means of the run's
latest checkpoint with 100, 500, 1k, 2k and 10k labels (Shen et al. (2021),
tables 2-3; `tfvae.metrics.probe`), prints its held-out accuracy for each
count and writes `probe.json` into the run directory.
"""

import json
import os

from absl import app
from absl import flags

from launch import common
from tfvae.errors import ConfigError

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by launch.train.")
flags.DEFINE_list("labels", ["100", "500", "1000", "2000", "10000"],
                  "Sizes of the labelled subsets the classifier is trained on.")
flags.DEFINE_integer("seed", 0, "Seed of the labelled subsets (and of the held-out set when "
                     "only the test split has labels).")
flags.DEFINE_float("l2", 1e-3, "L2 penalty of the classifier's weights (on the mean "
                   "cross-entropy).", lower_bound=0.0)
flags.mark_flag_as_required("model_dir")


def _label_counts(values):
  try:
    counts = [int(value) for value in values]
  except ValueError:
    counts = []
  if not counts or min(counts) < 1:
    raise ConfigError(f"--labels must be positive integers separated by commas, got "
                      f"{','.join(values)!r}.")
  return counts


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  counts = common.run_or_exit(_label_counts, FLAGS.labels)
  from tfvae.metrics import probe
  from tfvae.training import loop

  _, dataset, model = common.run_or_exit(loop.restore_run, FLAGS.model_dir)
  accuracy = common.run_or_exit(probe.linear_probe, model, dataset, label_counts=counts,
                                seed=FLAGS.seed, l2=FLAGS.l2)
  path = os.path.join(FLAGS.model_dir, "probe.json")
  with open(path, "w") as f:
    json.dump({"dataset": dataset.name, "seed": FLAGS.seed, "l2": FLAGS.l2,
               "accuracy": {str(count): value for count, value in accuracy.items()}}, f,
              indent=2)
  print(f"Linear probe on the posterior means ({FLAGS.model_dir}, {dataset.name})")
  print("labels    accuracy")
  for count, value in accuracy.items():
    print(f"{count:>6}    {100 * value:6.2f}%")
  left_out = [count for count in counts if count not in accuracy]
  if left_out:
    print(f"Left out (more than the labelled examples): {left_out}")
  print(f"\nWritten to {path}")


if __name__ == "__main__":
  app.run(main)
