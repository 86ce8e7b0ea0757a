r"""Training speed of the PTB text VAE: sentences/s of four ways to run a step.

  python -m benchmarks.train_speed --config=he2019 --steps=20 --warmup=3

Every variant gets a fresh model (same seed) and the same pre-fetched batches,
in one process:

  eager  the model's own `train_step` called eagerly (no tf.function): the
         baseline of the ratios;
  keras  the model's own `train_step` through `model.make_train_function()`
         (what `fit` runs), `compile(jit_compile=False)`;
  xla    the same with `compile(jit_compile=True)`;
  bf16   `keras` under the `mixed_bfloat16` dtype policy (set before the model
         is built, restored afterwards).

Each variant runs once per LSTM implementation of --lstm: `keras`
(keras.layers.LSTM; rows named after the variant alone, so `eager` stays the
baseline it always was) and `fused` (tfvae.nets.fused_lstm.FusedLSTM; rows
`<variant>+fused`).

All use SGD with learning rate 1 and gradients clipped to norm 5 (He et al. 2019).
Each variant first runs --warmup steps, then, for the compiled ones, one step on
every batch shape not yet seen (text batches differ in length T and XLA compiles
once per shape); that untimed time is the "warm-up s" column. Then each of the
--steps batches is one timed step (the call returns once the loss is read).
The input-pipeline wait share is measured afterwards with the `keras` model fed
from a prefetched tf.data pipeline: time blocked in `next(iterator)` over the
total time of those steps.

Matmul FLOPs of one training step, for a [B, T] batch, embeddings E, LSTM width
H, latent size d, vocabulary V, one multiply-add = 2 FLOPs:

  forward = 2 B [ T * 4H (E + H)            encoder LSTM, input and recurrent kernels,
                                            every padded step (masked steps still run)
                + H * 2d                    encoder last state -> (loc, log-variance)
                + d * H                     decoder z -> initial cell state
                + (T - 1) * 4H (E + d + H)  decoder LSTM on [embedding, z]
                + (T - 1) * H V ]           decoder output layer (logits)
  step    = 3 * forward                     backward ~ 2 x forward (gradients of
                                            activations and of weights)

Gate nonlinearities, the softmax, embedding look-ups and the optimiser update are
not counted. The achieved GFLOP/s is these FLOPs over the timed seconds; the
fraction of peak divides by the best of --peak_reps float32 tf.matmuls of
--peak_size squared matrices timed in the same process, before and again after
the variants (also for bf16). Two more rates bound what a step can reach: the
bfloat16 peak of the same matmul (with the bf16 variant; its ratio to the fp32
peak caps the bf16/fp32 speed ratio of any matmul-bound step) and the rate of
one LSTM step's recurrent matmul, [B, H] x [H, 4H], which the recurrence cannot
batch over time (a quarter of the he2019 FLOPs).
"""

import dataclasses
import gc
import math
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from benchmarks import cli
from benchmarks import common

VARIANTS = ("eager", "keras", "xla", "bf16")
LSTMS = ("keras", "fused")
LEARNING_RATE = common.LEARNING_RATE
GRAD_CLIP_NORM = common.GRAD_CLIP_NORM

flags.DEFINE_integer("steps", 20, "Timed training steps per variant.")
flags.DEFINE_integer("warmup", 3, "Untimed warm-up steps per variant.")
flags.DEFINE_list("variants", list(VARIANTS), f"Variants to run, among {VARIANTS}.")
flags.DEFINE_list("lstm", list(LSTMS), f"LSTM implementations to run each variant with, "
                  f"among {LSTMS}; rows of the fused one are named <variant>+fused.")
flags.DEFINE_integer("pipeline_steps", None,
                     "Steps of the tf.data wait measurement (default --steps; 0: skip).")

FLAGS = cli.FLAGS


@dataclasses.dataclass
class Timing:
  """What one variant measured."""

  variant: str  # the row name: <variant> (keras.layers.LSTM) or <variant>+fused
  seconds: float  # timed seconds, all steps
  steps: int
  sentences: int
  flops: float  # analytic FLOPs of the timed steps
  warmup_seconds: float

  @property
  def seconds_per_step(self):
    return self.seconds / self.steps

  @property
  def sentences_per_second(self):
    return self.sentences / self.seconds


# ----------------------------------------------------------------------------- batches
def timing_batches(config, dataset, rows, num_batches, seed):
  """`num_batches` full [B, T] int32 training batches of the chosen source."""
  return common.training_batches(config, dataset, rows, num_batches, seed)


def training_pipeline(config, dataset, rows, num_batches, seed):
  """A prefetched tf.data stream of training batches (for the wait measurement)."""
  if dataset is not None:
    return dataset.train_batches(config.batch_size, seed=seed)
  indices = common.bucketed_batches(rows, config.batch_size, num_batches, seed)
  return common.ragged_pipeline(rows, indices)


# ----------------------------------------------------------------------------- steps
def eager_step_fn(model):
  """One `train_step` run eagerly (no tf.function); returns the step's loss."""

  def step(x):
    model.train_step(x)
    return float(model.batch_loss.numpy())

  return step


def keras_step_fn(model):
  """One call of the compiled Keras train function on x; returns the logged loss."""
  model.make_train_function()
  train_function = model.train_function

  def step(x):
    # A list is not a tf.data iterator, so Keras runs its one-step function on x.
    logs = train_function([x])
    return float(logs["loss"])

  return step


def row_name(variant, lstm):
  """The table row of `variant` run with LSTM implementation `lstm`."""
  return variant if lstm == "keras" else f"{variant}+{lstm}"


def make_step(variant, config, first_batch, seed, lstm="keras"):
  """A fresh model for `variant` with `lstm`, built and compiled; returns its step function."""
  keras.utils.set_random_seed(seed)  # same initial weights in every variant
  model = common.build_vae(config, seed, grad_clip_norm=GRAD_CLIP_NORM, lstm=lstm)
  model(first_batch)
  model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), jit_compile=variant == "xla")
  if variant == "xla" and not model.jit_compile:
    raise RuntimeError("Keras refused jit_compile=True for this model.")
  model.build_optimizers()
  if variant == "eager":
    return eager_step_fn(model)
  return keras_step_fn(model)


def warm_up(step, batches, num_steps, cover_shapes):
  """Runs num_steps untimed steps, then one per unseen batch shape if cover_shapes."""
  seen = set()
  for i in range(num_steps):
    x = batches[i % len(batches)]
    step(x)
    seen.add(tuple(x.shape))
  if cover_shapes:
    for x in batches:
      if tuple(x.shape) not in seen:
        step(x)
        seen.add(tuple(x.shape))


def time_steps(step, batches):
  """Total seconds of one step on each batch, and the last loss."""
  total, loss = 0.0, math.nan
  for x in batches:
    loss, seconds = common.timed(step, x)
    total += seconds
  return total, loss


def pipeline_wait_share(step, pipeline, warmup, num_steps):
  """Share of step time spent waiting in next(iterator) over num_steps steps."""
  iterator = iter(pipeline)
  for _ in range(warmup):
    step(next(iterator))
  wait = total = 0.0
  for _ in range(num_steps):
    start = time.perf_counter()
    x = next(iterator)
    fetched = time.perf_counter()
    step(x)
    wait += fetched - start
    total += time.perf_counter() - start
  return wait / total


def run_variant(variant, config, batches, seed, warmup, pipeline=None, pipeline_steps=0,
                lstm="keras"):
  """Times `variant` with `lstm` on `batches`; returns (Timing, wait share or None)."""
  policy = "mixed_bfloat16" if variant == "bf16" else "float32"
  name = row_name(variant, lstm)
  with common.dtype_policy(policy):
    start = time.perf_counter()
    step = make_step(variant, config, batches[0], seed, lstm)
    warm_up(step, batches, warmup, cover_shapes=variant != "eager")
    warmup_seconds = time.perf_counter() - start
    seconds, loss = time_steps(step, batches)
    logging.info("%s: %.3f s for %d steps (last loss %.3f), warm-up %.1f s", name, seconds,
                 len(batches), loss, warmup_seconds)
    wait = None
    if pipeline is not None and pipeline_steps > 0:
      wait = pipeline_wait_share(step, pipeline, warmup, pipeline_steps)
      logging.info("%s: input-pipeline wait share %.4f", name, wait)
  flops = sum(common.train_step_flops(config, x.shape) for x in batches)
  sentences = sum(int(x.shape[0]) for x in batches)
  return Timing(name, seconds, len(batches), sentences, flops, warmup_seconds), wait


def release_memory():
  """Drops Keras's global state and collects garbage between variants."""
  keras.backend.clear_session()
  gc.collect()


# ----------------------------------------------------------------------------- report
def report(config, source, batches, timings, peak, wait, bf16_peak, recurrent):
  """The final table and its summary lines, as one string."""
  baseline = next((t for t in timings if t.variant == "eager"), None)
  rows = []
  for t in timings:
    ratio = (t.sentences_per_second / baseline.sentences_per_second) if baseline else math.nan
    achieved = t.flops / t.seconds / 1e9
    rows.append([t.variant, common.fmt(t.seconds_per_step), common.fmt(t.sentences_per_second),
                 common.fmt(ratio), common.fmt(achieved), common.fmt(100.0 * achieved / peak),
                 common.fmt(t.warmup_seconds)])
  headers = ["variant", "s/step", "sentences/s", "ratio vs eager", "GFLOP/s", "% fp32 peak",
             "warm-up s"]
  lengths = [int(x.shape[1]) for x in batches]
  step_flops = np.mean([common.train_step_flops(config, x.shape) for x in batches])
  lines = [
      f"train_speed: config {config.describe()}; source {source}",
      f"{len(batches)} timed steps per variant; batch length T mean {np.mean(lengths):.1f} "
      f"(min {min(lengths)}, max {max(lengths)}); analytic matmul FLOPs/step "
      f"{common.fmt(step_flops / 1e9)} GFLOP (3 x forward)",
      f"fp32 matmul peak ({FLAGS.peak_size}x{FLAGS.peak_size}, best of {FLAGS.peak_reps} "
      "before and after the variants): "
      f"{peak:.1f} GFLOP/s",
      f"recurrent matmul of one LSTM step ([{config.batch_size}, {config.hidden_dim}] x "
      f"[{config.hidden_dim}, {4 * config.hidden_dim}], best of {FLAGS.peak_reps}): "
      f"{recurrent:.1f} GFLOP/s, {100.0 * recurrent / peak:.1f}% of the fp32 peak",
  ]
  if bf16_peak is not None:
    lines.append(f"bf16 matmul peak (same size): {bf16_peak:.1f} GFLOP/s, "
                 f"{bf16_peak / peak:.2f} x the fp32 peak (the most a matmul-bound step can "
                 "gain from bfloat16 here)")
  lines += ["", common.format_table(headers, rows)]
  if wait is not None:
    lines += ["", f"input pipeline (tf.data -> keras step with the {selected_lstms()[0]} LSTM, "
                  f"{pipeline_steps()} steps): "
                  f"wait {100.0 * wait:.2f}% of step time"]
  return "\n".join(lines)


def selected_lstms():
  """The LSTM implementations of --lstm, in the order of LSTMS."""
  return [m for m in LSTMS if m in FLAGS.lstm]


def pipeline_steps():
  return FLAGS.steps if FLAGS.pipeline_steps is None else FLAGS.pipeline_steps


def check_flags():
  unknown = sorted(set(FLAGS.variants) - set(VARIANTS))
  if unknown:
    raise app.UsageError(f"--variants: unknown {unknown}; choose among {VARIANTS}.")
  unknown = sorted(set(FLAGS.lstm) - set(LSTMS))
  if unknown or not FLAGS.lstm:
    raise app.UsageError(f"--lstm: unknown {unknown}; choose among {LSTMS}.")
  if FLAGS.steps < 1 or FLAGS.warmup < 0:
    raise app.UsageError("--steps must be >= 1 and --warmup >= 0.")


def main(argv):
  del argv
  check_flags()
  config, dataset = common.resolve_config(FLAGS.config, FLAGS.source, FLAGS.data_dir)
  if dataset is None:
    rows, source = common.synthetic_rows(config, FLAGS.data_dir, FLAGS.seed)
  else:
    rows, source = None, "ptb (tfvae.data.load)"
  batches = timing_batches(config, dataset, rows, FLAGS.steps, FLAGS.seed)
  logging.info("Measuring the fp32 matmul peak")
  peak = common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps)
  timings, wait = [], None
  lstms = selected_lstms()
  for variant in [v for v in VARIANTS if v in FLAGS.variants]:
    for lstm in lstms:
      logging.info("Variant %s", row_name(variant, lstm))
      pipeline = None
      if variant == "keras" and lstm == lstms[0] and pipeline_steps() > 0:
        pipeline = training_pipeline(config, dataset, rows, pipeline_steps() + FLAGS.warmup,
                                     FLAGS.seed + 1)
      timing, variant_wait = run_variant(variant, config, batches, FLAGS.seed, FLAGS.warmup,
                                         pipeline, pipeline_steps(), lstm)
      timings.append(timing)
      wait = variant_wait if variant_wait is not None else wait
      release_memory()
  # A second measurement after the variants: a peak taken while the machine was
  # briefly busy would inflate every "% fp32 peak".
  peak = max(peak, common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps))
  bf16_peak = None
  if "bf16" in FLAGS.variants:
    bf16_peak = max(common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps, tf.bfloat16)
                    for _ in range(2))
  recurrent = common.matmul_rate(config.batch_size, config.hidden_dim, 4 * config.hidden_dim,
                                 FLAGS.peak_reps)
  print(report(config, source, batches, timings, peak, wait, bf16_peak, recurrent))


if __name__ == "__main__":
  app.run(main)
