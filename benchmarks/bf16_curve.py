r"""Mixed bfloat16 against float32: the same training run twice, its loss curves and speeds.

  python -m benchmarks.bf16_curve --config=he2019 --steps=200

Two models of the same configuration, one built under the `float32` dtype
policy and one under `mixed_bfloat16`, start from the same weights (the float32
model's, copied into the other: the variables are float32 in both) and train
with the model's own `train_step` (what `fit` runs; SGD with learning rate 1,
gradient norm clipped at 5, as in He et al. 2019) on the same --steps
pre-fetched training batches, in the same order, with the same per-step noise
(the VAE draws it from stateless seeds of its step counter). Each step's loss
is the per-step training loss (the metric trackers are reset before every
step, outside the timing).

Printed: each policy's seconds per step (over the steps after the first
--skip, which include tracing), its loss at the first step and its smoothed
loss at the last, and two summary lines:

* max relative deviation of the loss curves: both curves are smoothed with a
  trailing mean over --window steps (steps window..N), and the maximum over
  steps of |bf16 - fp32| / fp32 is reported (also the mean);
* speed ratio: float32 seconds per step over bfloat16 seconds per step.
"""

import time

import keras
import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from benchmarks import cli
from benchmarks import common

POLICIES = ("float32", "mixed_bfloat16")

flags.DEFINE_integer("steps", 200, "Training steps of each run.")
flags.DEFINE_integer("window", 10, "Trailing-mean window of the loss smoothing.")
flags.DEFINE_integer("skip", 20, "First steps left out of the timing (tracing).")
flags.DEFINE_enum("lstm", None, ["keras", "fused"],
                  "LSTM implementation (default: the library's).")
flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"],
                  "adam: Adam 1e-3 without clipping (the library's default training); sgd: "
                  "SGD 1 with the gradient norm clipped at 5 (He et al.; train_speed's).")

FLAGS = cli.FLAGS


def training_batches(config, dataset, num_batches, seed):
  """`num_batches` full training batches of the chosen source (as train_speed times)."""
  rows = None
  if dataset is None:
    rows, _ = common.synthetic_rows(config, FLAGS.data_dir, seed)
  return common.training_batches(config, dataset, rows, num_batches, seed)


def build(config, policy, first_batch, weights=None):
  """A compiled VAE under `policy` (SGD 1, clip 5), with `weights` copied in if given."""
  with common.dtype_policy(policy):
    keras.utils.set_random_seed(FLAGS.seed)
    sgd = FLAGS.optimizer == "sgd"
    model = common.build_vae(config, FLAGS.seed,
                             grad_clip_norm=common.GRAD_CLIP_NORM if sgd else None,
                             lstm=FLAGS.lstm)
    model(first_batch)
    if weights is not None:
      for variable, value in zip(model.weights, weights, strict=True):
        variable.assign(value)
    optimizer = (keras.optimizers.SGD(common.LEARNING_RATE) if sgd
                 else keras.optimizers.Adam(1e-3))
    model.compile(optimizer=optimizer, jit_compile=False)
    optimizer.build(model.trainable_variables)
    model.make_train_function()
  return model


def train(model, batches):
  """(per-step losses, per-step seconds) of one pass of model.train_function over batches."""
  losses, seconds = [], []
  for x in batches:
    model.reset_metrics()
    start = time.perf_counter()
    logs = model.train_function([x])
    losses.append(float(logs["loss"]))
    seconds.append(time.perf_counter() - start)
  return np.array(losses), np.array(seconds)


def smooth(values, window):
  """Trailing mean over `window` steps: entry i averages steps i .. i + window - 1."""
  return np.convolve(values, np.ones(window) / window, mode="valid")


def report(config, source, batches, runs):
  """The table and the two summary lines, as one string."""
  window, skip = FLAGS.window, FLAGS.skip
  smoothed = {policy: smooth(losses, window) for policy, (losses, _) in runs.items()}
  rows = []
  for policy, (losses, seconds) in runs.items():
    rows.append([policy, common.fmt(float(np.mean(seconds[skip:]))), common.fmt(losses[0], 4),
                 common.fmt(smoothed[policy][-1], 4)])
  deviation = np.abs(smoothed["mixed_bfloat16"] - smoothed["float32"]) / smoothed["float32"]
  ratio = np.mean(runs["float32"][1][skip:]) / np.mean(runs["mixed_bfloat16"][1][skip:])
  lengths = [int(x.shape[1]) for x in batches]
  headers = ["policy", "s/step", "loss step 1", f"loss steps {len(batches) - window + 1}-"
             f"{len(batches)} (mean)"]
  lines = [
      f"bf16_curve: config {config.describe()}; source {source}; LSTM "
      f"{FLAGS.lstm or 'library default'}",
      f"{len(batches)} steps from the same initial weights on the same batches (T mean "
      f"{np.mean(lengths):.1f}); s/step over steps {skip + 1}-{len(batches)}",
      "",
      common.format_table(headers, rows),
      "",
      f"loss curves smoothed over {window} steps: max relative deviation bf16 vs fp32 "
      f"{100.0 * deviation.max():.2f}% (at steps {int(deviation.argmax()) + 1}-"
      f"{int(deviation.argmax()) + window}), mean {100.0 * deviation.mean():.2f}%",
      f"speed ratio fp32 s/step / bf16 s/step: {ratio:.2f}x",
  ]
  return "\n".join(lines)


def main(argv):
  del argv
  if FLAGS.steps < 1 or FLAGS.window < 1 or FLAGS.window > FLAGS.steps or FLAGS.skip < 0 \
      or FLAGS.skip >= FLAGS.steps:
    raise app.UsageError("Need 1 <= --window <= --steps and 0 <= --skip < --steps.")
  config, dataset = common.resolve_config(FLAGS.config, FLAGS.source, FLAGS.data_dir)
  source = "ptb (tfvae.data.load)" if dataset is not None else "synthetic"
  batches = training_batches(config, dataset, FLAGS.steps, FLAGS.seed)
  runs, weights = {}, None
  for policy in POLICIES:
    model = build(config, policy, batches[0], weights)
    if weights is None:
      weights = [tf.identity(v.value) for v in model.weights]
    logging.info("Training %d steps under %s", len(batches), policy)
    runs[policy] = train(model, batches)
    logging.info("%s: last loss %.3f, %.3f s/step", policy, runs[policy][0][-1],
                 np.mean(runs[policy][1][FLAGS.skip:]))
    del model
    keras.backend.clear_session()
  print(report(config, source, batches, runs))


if __name__ == "__main__":
  app.run(main)
