r"""Evaluation speed of the importance-weighted log-likelihood (METHODS.md E1-E5).

  python -m benchmarks.eval_speed --config=he2019 --sentences=16 --samples=500
  python -m benchmarks.eval_speed --config=he2019 --sentences=0 --baseline_sentences=16 \
      --sort_by_length --variants=per_sentence_eager,evaluate      # the whole test split
  python -m benchmarks.eval_speed --config=he2019 --sentences=10 --longest \
      --batch_size=10 --variants=evaluate        # memory of the longest batch of the split

log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), K = --samples,
on the same sentences in up to four ways, with the same untrained model (the
cost does not depend on the weights):

  per_sentence_eager   the baseline, as the reference harness of He et al. (2019)
                       computes it: one sentence at a time, the K samples in chunks
                       of --chunk_size (100), the decoder's input projection of
                       the words repeated for every sample, eager TensorFlow
                       ops; on the first --baseline_sentences sentences
                       (default: all of them);
  batched_per_row      batched_tf_function below, but with the words projected
                       for every sample as in the baseline
                       (`LSTMDecoder.project_words_once=False`): the two
                       batched rows give the gain of projecting them once;
  batched_tf_function  `tfvae.metrics.iw_log_likelihood` on batches of
                       --batch_size consecutive sentences (padded to the longest;
                       in length order with --sort_by_length), inside one
                       tf.function traced once for [None, None] batches,
                       scoring at most --decode_budget samples x tokens per
                       decoder call (`tfvae.metrics.decoder_log_prob`);
  evaluate             `tfvae.metrics.evaluate` on the same batches: every
                       metric of `launch.evaluate` (IW-NLL, PPL, reconstruction,
                       KL, MI, active units) in one pass over the data. It
                       traces its own step in the timed call, as a user's
                       command does; "warm-up s" is a first untimed call on the
                       shortest sentence.

`--sentences=0` takes the whole test split. The table gives seconds per
sentence, sentences/s, the ratio of each rate to the baseline's rate (taken in
the same process; with fewer baseline sentences the sets differ, and the header
gives the mean length of each), the achieved matmul GFLOP/s and its share of the
fp32 matmul peak measured in the same process, and the mean estimate of
-log p(x) of each variant: they draw different samples, so they agree only up
to Monte-Carlo noise.

Matmul FLOPs of the estimate for one sentence of T tokens (unpadded; padding
the batched variants compute is not counted as useful work):
encoder(T) + words(T) + K (decoder(T) - words(T)), with
`benchmarks.common.encoder_flops`, `decoder_flops` (the formula of
benchmarks/train_speed.py) and `word_projection_flops` (the decoder's input
projection of the words, the same for every sample; `tfvae.nets.LSTMDecoder`
computes it once per sentence, the baseline once per sample). Divided by the
measured peak it gives the FLOP floor: the fastest any implementation doing
these matmuls in float32 could evaluate on this machine, printed as sentences/s
and as the time of the whole test split. Under the table: the peak resident
memory of the process (`getrusage`), which bounds each variant's.
"""

import contextlib
import math
import resource

import keras
import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from benchmarks import cli
from benchmarks import common
from tfvae import data
from tfvae import metrics

# Sentences (and batch size) per config when --sentences (--batch_size) is not given,
# chosen so that each config runs in a couple of minutes on 2 CPU cores.
DEFAULT_SENTENCES = {"he2019": 16, "small": 16, "tiny": 4}
DEFAULT_BATCH_SIZE = {"he2019": 8, "small": 8, "tiny": 2}
VARIANTS = ("per_sentence_eager", "batched_per_row", "batched_tf_function", "evaluate")
BASELINE = VARIANTS[0]

flags.DEFINE_integer("sentences", None, "Sentences to evaluate (default: per config; 0: the "
                     "whole test split).")
flags.DEFINE_integer("baseline_sentences", None, "Sentences of the per-sentence baseline (the "
                     "first ones; default: all of --sentences).")
flags.DEFINE_list("variants", list(VARIANTS), f"Variants to run, among {VARIANTS}.")
flags.DEFINE_integer("samples", 500, "Importance samples K per sentence.")
flags.DEFINE_integer("chunk_size", 100, "Samples per chunk (every variant).")
flags.DEFINE_integer("batch_size", None, "Sentences per batch of the batched variants "
                     "(default: per config; the decoder sees chunk_size x batch_size rows).")
flags.DEFINE_bool("longest", False, "Evaluate the longest test sentences (the memory worst "
                  "case) instead of the first ones.")
flags.DEFINE_integer("decode_budget", metrics.DECODE_BUDGET, "Most samples x tokens per decoder "
                     "call of the batched variants (tfvae.metrics.decoder_log_prob); 0: whole "
                     "chunks.", lower_bound=0)
flags.DEFINE_bool("sort_by_length", False, "Batch the sentences in length order (as the "
                  "reference harness does) instead of their stored order (as tfvae's evaluate).")

FLAGS = cli.FLAGS


# ----------------------------------------------------------------------------- data
def eval_rows(config, dataset, count, data_dir, seed):
  """`count` (0: all) unpadded id rows: test sentences (ptb) or synthetic rows.

  The first sentences of the split (random synthetic rows), or with --longest
  the longest ones: the batches that need the most memory.
  """
  if dataset is not None:
    rows = []
    for batch in dataset.batches("test", config.batch_size):
      rows.extend(common.strip_padding(batch.numpy()))
      if count and len(rows) >= count and not FLAGS.longest:
        break
    source = "ptb test split (tfvae.data.load)"
  else:
    rows, source = common.synthetic_rows(config, data_dir, seed)
    if not FLAGS.longest:
      order = np.random.default_rng(seed).permutation(len(rows))
      rows = [rows[i] for i in order]
  if FLAGS.longest:
    rows = sorted(rows, key=len)[::-1]
    source += ", longest first"
  return rows[:count or None], source


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
                                     seed=seed, decode_budget=FLAGS.decode_budget or None)

  return log_px


@contextlib.contextmanager
def words_projected_per_row(model):
  """Inside the block the decoder projects the words for every sample, as the reference does."""
  model.decoder.project_words_once = False
  try:
    yield
  finally:
    model.decoder.project_words_once = True


def run_per_sentence_eager(model, rows, shortest, seed):
  """(-log p(x) per row, seconds, warm-up seconds) of the per-sentence eager baseline."""
  samples, chunk = FLAGS.samples, FLAGS.chunk_size

  def run():
    return [-per_sentence_log_px(model, row, samples, chunk,
                                 tf.random.experimental.stateless_fold_in(seed, i))
            for i, row in enumerate(rows)]

  with words_projected_per_row(model):
    _, warmup = common.timed(per_sentence_log_px, model, shortest, samples, chunk, seed)
    return (*common.timed(run), warmup)


def run_batched_tf_function(model, batches, shortest, seed):
  """(-log p(x) per row, seconds, warm-up seconds) of the batched tf.function."""
  log_px = batched_log_px_fn(model, FLAGS.samples, FLAGS.chunk_size)
  _, warmup = common.timed(lambda: log_px(tf.constant(shortest[np.newaxis]), seed).numpy())

  def run():
    out = [log_px(tf.constant(b), tf.random.experimental.stateless_fold_in(seed, i)).numpy()
           for i, b in enumerate(batches)]
    return list(-np.concatenate(out))

  return (*common.timed(run), warmup)


def run_batched_per_row(model, batches, shortest, seed):
  """`run_batched_tf_function` with the words projected for every sample (traced inside)."""
  with words_projected_per_row(model):
    return run_batched_tf_function(model, batches, shortest, seed)


def run_evaluate(model, batches, shortest):
  """(mean NLL repeated per row, seconds, warm-up seconds) of `tfvae.metrics.evaluate`."""

  def run(some_batches):
    return metrics.evaluate(model, [tf.constant(b) for b in some_batches], num_samples=FLAGS.samples,
                            chunk_size=FLAGS.chunk_size, seed=FLAGS.seed,
                            count_tokens=data.count_tokens,
                            decode_budget=FLAGS.decode_budget or None)

  _, warmup = common.timed(run, [shortest[np.newaxis]])
  results, seconds = common.timed(run, batches)
  logging.info("evaluate: %s", {k: v for k, v in results.items() if np.isscalar(v)})
  return [results["nll"]] * results["num_examples"], seconds, warmup


# ----------------------------------------------------------------------------- report
def peak_memory_gb():
  """Peak resident memory of this process so far, in GB (Linux reports ru_maxrss in KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def useful_flops(config, rows):
  return sum(common.iw_log_likelihood_flops(config, len(r), FLAGS.samples) for r in rows)


def report(config, source, rows, baseline_rows, batches, results, peak, split_size):
  """The final table and its header lines, as one string."""
  rates = {name: len(nlls) / seconds for name, (nlls, seconds, _) in results.items()}
  table = []
  for name, (nlls, seconds, warmup) in results.items():
    measured = baseline_rows if name == BASELINE else rows
    gflops = useful_flops(config, measured) / seconds / 1e9
    ratio = rates[name] / rates[BASELINE] if BASELINE in rates else math.nan
    table.append([name, len(measured), common.fmt(seconds / len(measured)),
                  common.fmt(rates[name]), common.fmt(ratio), common.fmt(gflops),
                  common.fmt(100.0 * gflops / peak), common.fmt(float(np.mean(nlls)), 4),
                  common.fmt(warmup)])
  headers = ["variant", "sentences", "s/sentence", "sentences/s", "ratio vs baseline",
             "GFLOP/s", "% fp32 peak", "mean -log p(x)", "warm-up s"]

  def mean_words(some_rows):
    return sum(len(r) - 2 for r in some_rows) / len(some_rows)

  padded = sum(b.size for b in batches)
  real = sum(int(np.sum(b != common.PAD_ID)) for b in batches)
  order = "length-sorted" if FLAGS.sort_by_length else "stored order"
  per_sentence = useful_flops(config, rows) / len(rows)
  floor_rate = peak * 1e9 / per_sentence
  lines = [
      f"eval_speed: config {config.describe()}; source {source}",
      f"{len(rows)} sentences ({mean_words(rows):.1f} words on average), K = "
      f"{FLAGS.samples} in chunks of {FLAGS.chunk_size}; batched variants: "
      f"{len(batches)} batches of <= {batch_size()}, {order} (padding "
      f"{100.0 * (1 - real / padded):.1f}% of positions), decode budget "
      f"{FLAGS.decode_budget or 'none'}; baseline on the first "
      f"{len(baseline_rows)} ({mean_words(baseline_rows):.1f} words on average)",
      f"IW-NLL matmul FLOPs (encoder + words once + K decoders, unpadded): "
      f"{per_sentence / 1e9:.1f} GFLOP "
      f"per sentence; fp32 matmul peak ({FLAGS.peak_size}x{FLAGS.peak_size}, best of "
      f"{FLAGS.peak_reps} before and after): {peak:.1f} GFLOP/s",
      f"FLOP floor at that peak: {common.fmt(floor_rate)} sentences/s, {split_size} sentences "
      f"(the whole test split with source ptb) in {common.fmt(split_size / floor_rate / 60)} min",
      "",
      common.format_table(headers, table),
      "",
      f"peak resident memory of the process: {peak_memory_gb():.2f} GB",
  ]
  return "\n".join(lines)


def sentence_count():
  return DEFAULT_SENTENCES[FLAGS.config] if FLAGS.sentences is None else FLAGS.sentences


def batch_size():
  return FLAGS.batch_size or DEFAULT_BATCH_SIZE[FLAGS.config]


def check_flags():
  unknown = sorted(set(FLAGS.variants) - set(VARIANTS))
  if unknown or not FLAGS.variants:
    raise app.UsageError(f"--variants={','.join(FLAGS.variants)}: choose among {VARIANTS}.")
  if FLAGS.samples < 1 or FLAGS.chunk_size < 1 or batch_size() < 1:
    raise app.UsageError("--samples, --chunk_size, --batch_size must be >= 1.")
  if sentence_count() < 0 or (FLAGS.baseline_sentences or 0) < 0:
    raise app.UsageError("--sentences and --baseline_sentences must be >= 0 (0: all).")


def main(argv):
  del argv
  check_flags()
  config, dataset = common.resolve_config(FLAGS.config, FLAGS.source, FLAGS.data_dir)
  rows, source = eval_rows(config, dataset, sentence_count(), FLAGS.data_dir, FLAGS.seed)
  baseline_rows = rows[:FLAGS.baseline_sentences or None]
  batches = make_batches(rows, batch_size(), FLAGS.sort_by_length)
  split_size = dataset.num_examples("test") if dataset is not None else len(rows)
  shortest = min(rows, key=len)
  keras.utils.set_random_seed(FLAGS.seed)
  model = common.build_vae(config, FLAGS.seed)
  model(tf.constant(batches[0]))
  seed = metrics.stateless_seed(FLAGS.seed)

  logging.info("Measuring the fp32 matmul peak")
  peak = common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps)
  results = {}
  for name in VARIANTS:
    if name not in FLAGS.variants:
      continue
    logging.info("%s: %d sentences", name, len(baseline_rows if name == BASELINE else rows))
    if name == BASELINE:
      results[name] = run_per_sentence_eager(model, baseline_rows, shortest, seed)
    elif name == "batched_per_row":
      results[name] = run_batched_per_row(model, batches, shortest, seed)
    elif name == "batched_tf_function":
      results[name] = run_batched_tf_function(model, batches, shortest, seed)
    else:
      results[name] = run_evaluate(model, batches, shortest)
    logging.info("%s: %.2f s", name, results[name][1])
  peak = max(peak, common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps))
  print(report(config, source, rows, baseline_rows, batches, results, peak, split_size))


if __name__ == "__main__":
  app.run(main)
