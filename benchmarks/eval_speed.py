r"""Evaluation speed of the importance-weighted log-likelihood (METHODS.md E1).

  python -m benchmarks.eval_speed --config=he2019 --sentences=16 --samples=500

log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), K = --samples,
on the same sentences in two ways, with the same untrained model (the cost does
not depend on the weights):

  per_sentence_eager   the baseline, as the reference harness of He et al. (2019)
                       computes it: one sentence at a time, the K samples in chunks
                       of --chunk_size (100), eager TensorFlow ops;
  batched_tf_function  `tfvae.metrics.iw_log_likelihood` on batches of
                       --batch_size consecutive sentences (padded to the longest;
                       in length order with --sort_by_length), inside one
                       tf.function traced once for [None, None] batches.

Each variant first runs once, untimed, on the shortest sentence ("warm-up s":
tracing, graph optimisation). The table gives seconds per sentence,
sentences/s, the ratio of the batched rate to the baseline rate, and the mean
estimate of -log p(x) of each variant: they draw different samples, so they
agree only up to Monte-Carlo noise.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from benchmarks import cli
from benchmarks import common
from tfvae import metrics

# Sentences (and batch size) per config when --sentences (--batch_size) is not given,
# chosen so that each config runs in a couple of minutes on 2 CPU cores.
DEFAULT_SENTENCES = {"he2019": 16, "small": 16, "tiny": 4}
DEFAULT_BATCH_SIZE = {"he2019": 8, "small": 8, "tiny": 2}

flags.DEFINE_integer("sentences", None, "Sentences to evaluate (default: per config).")
flags.DEFINE_integer("samples", 500, "Importance samples K per sentence.")
flags.DEFINE_integer("chunk_size", 100, "Samples per chunk (both variants).")
flags.DEFINE_integer("batch_size", None, "Sentences per batch of the batched variant "
                     "(default: per config; the decoder sees chunk_size x batch_size rows).")
flags.DEFINE_bool("sort_by_length", False, "Batch the sentences in length order (as the "
                  "reference harness does) instead of their stored order (as tfvae's evaluate).")

FLAGS = cli.FLAGS


# ----------------------------------------------------------------------------- data
def eval_rows(config, dataset, count, data_dir, seed):
  """`count` unpadded id rows: the first test sentences (ptb) or random synthetic rows."""
  if dataset is not None:
    rows = []
    for batch in dataset.batches("test", config.batch_size):
      rows.extend(common.strip_padding(batch.numpy()))
      if len(rows) >= count:
        break
    return rows[:count], "ptb test split (tfvae.data.load), first sentences"
  rows, source = common.synthetic_rows(config, data_dir, seed)
  picked = np.random.default_rng(seed).choice(len(rows), size=count, replace=False)
  return [rows[i] for i in picked], source


def make_batches(rows, size, sort_by_length):
  """Padded int32 batches of `size` consecutive rows, in length order if asked."""
  if sort_by_length:
    rows = sorted(rows, key=len)
  return [common.pad_rows(rows[i:i + size]) for i in range(0, len(rows), size)]


# ----------------------------------------------------------------------------- variants
def per_sentence_log_px(model, row, num_samples, chunk_size, seed):
  """Eager IW estimate of log p(x) for one sentence, K samples in chunks (the baseline)."""
  x = tf.constant(row[np.newaxis, :])
  posterior = model.posterior(x, training=False)
  per_chunk = []
  for index, start in enumerate(range(0, num_samples, chunk_size)):
    count = min(chunk_size, num_samples - start)
    z = posterior.sample(count, seed=tf.random.experimental.stateless_fold_in(seed, index))
    log_w = (model.likelihood(z, x, training=False).log_prob(x) + model.prior.log_prob(z)
             - posterior.log_prob(z))
    per_chunk.append(tf.reduce_logsumexp(log_w, axis=0))
  log_px = tf.reduce_logsumexp(tf.stack(per_chunk), axis=0) - math.log(num_samples)
  return float(log_px[0])


def batched_log_px_fn(model, num_samples, chunk_size):
  """tf.function: (x [B, T] int32, seed [2] int32) -> [B] IW log p(x), one trace."""
  signature = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([2], tf.int32)]

  @tf.function(input_signature=signature)
  def log_px(x, seed):
    return metrics.iw_log_likelihood(model, x, num_samples=num_samples, chunk_size=chunk_size,
                                     seed=seed)

  return log_px


def run_baseline(model, rows, num_samples, chunk_size, seed):
  """(log p(x) per row, seconds) of the per-sentence eager baseline."""

  def run():
    return [per_sentence_log_px(model, row, num_samples, chunk_size,
                                tf.random.experimental.stateless_fold_in(seed, i))
            for i, row in enumerate(rows)]

  return common.timed(run)


def run_batched(log_px, batches, seed):
  """(log p(x) per row, seconds) of the batched tf.function."""

  def run():
    out = [log_px(tf.constant(b), tf.random.experimental.stateless_fold_in(seed, i)).numpy()
           for i, b in enumerate(batches)]
    return list(np.concatenate(out))

  return common.timed(run)


# ----------------------------------------------------------------------------- report
def report(config, source, rows, batches, results):
  """The final table and its header lines, as one string."""
  baseline_rate = len(rows) / results[0][2]
  table = []
  for name, values, seconds, warmup in results:
    rate = len(rows) / seconds
    table.append([name, len(rows), common.fmt(seconds / len(rows)), common.fmt(rate),
                  common.fmt(rate / baseline_rate), common.fmt(-float(np.mean(values)), 4),
                  common.fmt(warmup)])
  headers = ["variant", "sentences", "s/sentence", "sentences/s", "ratio vs baseline",
             "mean -log p(x)", "warm-up s"]
  words = sum(len(r) - 2 for r in rows)
  padded = sum(b.size for b in batches)
  real = sum(int(np.sum(b != common.PAD_ID)) for b in batches)
  order = "length-sorted" if FLAGS.sort_by_length else "stored order"
  lines = [
      f"eval_speed: config {config.describe()}; source {source}",
      f"{len(rows)} sentences ({words / len(rows):.1f} words on average), K = "
      f"{FLAGS.samples} in chunks of {FLAGS.chunk_size}; batched variant: "
      f"{len(batches)} batches of <= {batch_size()}, {order} (padding "
      f"{100.0 * (1 - real / padded):.1f}% of positions)",
      "",
      common.format_table(headers, table),
  ]
  return "\n".join(lines)


def sentence_count():
  return FLAGS.sentences or DEFAULT_SENTENCES[FLAGS.config]


def batch_size():
  return FLAGS.batch_size or DEFAULT_BATCH_SIZE[FLAGS.config]


def main(argv):
  del argv
  if FLAGS.samples < 1 or FLAGS.chunk_size < 1 or sentence_count() < 1 or batch_size() < 1:
    raise app.UsageError("--samples, --chunk_size, --sentences, --batch_size must be >= 1.")
  config, dataset = common.resolve_config(FLAGS.config, FLAGS.source, FLAGS.data_dir)
  rows, source = eval_rows(config, dataset, sentence_count(), FLAGS.data_dir, FLAGS.seed)
  batches = make_batches(rows, batch_size(), FLAGS.sort_by_length)
  shortest = min(rows, key=len)
  keras.utils.set_random_seed(FLAGS.seed)
  model = common.build_vae(config, FLAGS.seed)
  model(tf.constant(batches[0]))
  seed = metrics.stateless_seed(FLAGS.seed)
  samples, chunk = FLAGS.samples, FLAGS.chunk_size

  logging.info("Baseline: %d sentences one at a time, eager", len(rows))
  _, warmup = common.timed(per_sentence_log_px, model, shortest, samples, chunk, seed)
  values, seconds = run_baseline(model, rows, samples, chunk, seed)
  results = [("per_sentence_eager", values, seconds, warmup)]
  logging.info("Baseline: %.2f s", seconds)

  logging.info("Batched: %d batches in a tf.function", len(batches))
  log_px = batched_log_px_fn(model, samples, chunk)
  _, warmup = common.timed(lambda: log_px(tf.constant(shortest[np.newaxis]), seed).numpy())
  values, seconds = run_batched(log_px, batches, seed)
  results.append(("batched_tf_function", values, seconds, warmup))
  logging.info("Batched: %.2f s", seconds)
  print(report(config, source, rows, batches, results))


if __name__ == "__main__":
  app.run(main)
