"""Pieces shared by the tfvae speed benchmarks: configs, text batches, models, tables.

The benchmarks time the PTB text VAE of He et al. (2019): an LSTM encoder and an
LSTM language-model decoder conditioned on z (`tfvae.nets.LSTMEncoder`,
`tfvae.nets.LSTMDecoder`). Batches come from one of two sources:

* `ptb` (the default): the real corpus through `tfvae.data.load("ptb", data_dir)`;
  training batches from its `train_batches` (length-bucketed), evaluation
  sentences from the start of its test split.
* `synthetic`: PTB-shaped batches built here with plain Python from
  `ptb/ptb.train.txt` (its sentence lengths and its words, numbered by
  descending frequency like `tfvae.data.Vocabulary`, ids past the config's
  vocabulary mapped to `<unk>`), independent of `tfvae.data`. Without the file,
  lengths come from a normal law fitted to PTB (mean 21, sd 10, 1..82 words)
  and ids are random.

Both sources give int32 [B, T] rows `<s> w1 .. wn </s>` padded with 0.
Synthetic training batches are length-bucketed the way the tfvae loader does it
(pools of 50 batches sorted by length, batch order shuffled), so padding is small.
"""

import contextlib
import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import nets
from tfvae.nets import text as text_nets
from tfvae.models import VAE

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
NUM_RESERVED = 4
UNK_SPELLINGS = frozenset({"<unk>", "<UNK>", "_UNK"})
POOL_BATCHES = 50
DATA_DIR_ENV = "TFVAE_DATA_DIR"
# PTB train: 42,068 sentences, mean 21.1 words, sd 10.1, 1..82 (the fallback law).
PTB_LENGTH_MEAN, PTB_LENGTH_SD, PTB_LENGTH_MAX = 21.1, 10.1, 82


@dataclasses.dataclass(frozen=True)
class BenchConfig:
  """Network sizes and batch size of one benchmark configuration."""

  name: str
  vocab_size: int
  embed_dim: int
  hidden_dim: int
  latent_dim: int
  batch_size: int

  def describe(self):
    return (f"{self.name} (vocab {self.vocab_size}, embed {self.embed_dim}, "
            f"LSTM {self.hidden_dim}, d {self.latent_dim}, batch {self.batch_size})")


CONFIGS = {
    # He et al. (2019), PTB: embeddings 512, one-layer LSTMs of 1024, d = 32, batch 32.
    "he2019": BenchConfig("he2019", 10002, 512, 1024, 32, 32),
    "small": BenchConfig("small", 10002, 256, 256, 32, 32),
    # For the functional test only.
    "tiny": BenchConfig("tiny", 50, 16, 16, 4, 4),
}

# ----------------------------------------------------------------------------- data
def resolve_data_dir(data_dir):
  """`data_dir`, else $TFVAE_DATA_DIR, else None."""
  return data_dir or os.environ.get(DATA_DIR_ENV) or None


def ptb_train_path(data_dir):
  """Path of ptb/ptb.train.txt under `data_dir` (see resolve_data_dir) if it exists, else None."""
  folder = resolve_data_dir(data_dir)
  if folder is None:
    return None
  path = os.path.join(folder, "ptb", "ptb.train.txt")
  return path if os.path.isfile(path) else None


def read_ptb_rows(path, vocab_size):
  """Framed id rows of a PTB file, words numbered by descending frequency.

  Ids 0..3 are <pad>, <unk>, <s>, </s>; word i of the frequency order (ties
  alphabetical) gets id 4 + i, and ids >= vocab_size become <unk>.
  """
  with open(path, encoding="utf-8") as f:
    sentences = [line.split() for line in f if line.strip()]
  counts = {}
  for words in sentences:
    for word in words:
      if word not in UNK_SPELLINGS:
        counts[word] = counts.get(word, 0) + 1
  ranked = sorted(counts, key=lambda w: (-counts[w], w))
  ids = {w: NUM_RESERVED + i for i, w in enumerate(ranked) if NUM_RESERVED + i < vocab_size}
  return [np.array([BOS_ID, *(ids.get(w, UNK_ID) for w in words), EOS_ID], np.int32)
          for words in sentences]


def fallback_rows(vocab_size, count, seed):
  """`count` rows with PTB-like lengths and uniform random word ids (no file needed)."""
  rng = np.random.default_rng(seed)
  lengths = np.clip(np.rint(rng.normal(PTB_LENGTH_MEAN, PTB_LENGTH_SD, count)), 1,
                    PTB_LENGTH_MAX).astype(int)
  return [np.array([BOS_ID, *rng.integers(NUM_RESERVED, vocab_size, n), EOS_ID], np.int32)
          for n in lengths]


def synthetic_rows(config, data_dir, seed):
  """(rows, description) of the synthetic source for `config`."""
  path = ptb_train_path(data_dir)
  if path is None:
    logging.warning("No ptb/ptb.train.txt under --data_dir or $%s: synthetic rows use a "
                    "PTB-like length law and random ids.", DATA_DIR_ENV)
    return fallback_rows(config.vocab_size, 42068, seed), "synthetic (PTB-like length law)"
  logging.info("Reading sentence lengths and word ids from %s", path)
  return read_ptb_rows(path, config.vocab_size), "synthetic (PTB train lengths and word ids)"


def load_ptb(data_dir):
  """The PTB `DataSet` of the library's loader, `tfvae.data.load("ptb", data_dir)`."""
  from tfvae import data as tfvae_data  # pylint: disable=import-outside-toplevel

  return tfvae_data.load("ptb", resolve_data_dir(data_dir))


def pad_rows(rows):
  """Right-pads a list of 1-D id arrays into one int32 [B, T] array."""
  width = max(len(r) for r in rows)
  out = np.full([len(rows), width], PAD_ID, np.int32)
  for i, row in enumerate(rows):
    out[i, :len(row)] = row
  return out


def strip_padding(batch):
  """The rows of a padded [B, T] batch without their trailing padding."""
  batch = np.asarray(batch)
  lengths = np.sum(batch != PAD_ID, axis=1)
  return [batch[i, :n] for i, n in enumerate(lengths)]


def bucketed_batches(rows, batch_size, num_batches, seed):
  """Index lists of `num_batches` full batches, pooled-length-bucketed.

  The rows are shuffled, cut into pools of POOL_BATCHES * batch_size, each pool
  sorted by length and cut into batches whose order is shuffled again (the
  tfvae loader's scheme). A new permutation starts when the rows run out.
  """
  rng = np.random.default_rng(seed)
  lengths = np.array([len(r) for r in rows])
  pool = POOL_BATCHES * batch_size
  batches = []
  while len(batches) < num_batches:
    order = rng.permutation(len(rows))
    for start in range(0, len(order) - batch_size + 1, pool):
      chunk = order[start:start + pool]
      chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
      cut = [chunk[i:i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
      batches.extend(cut[i] for i in rng.permutation(len(cut)))
      if len(batches) >= num_batches:
        break
  return batches[:num_batches]


def ragged_pipeline(rows, index_batches):
  """tf.data pipeline padding the given index batches of `rows` in the graph, prefetched."""
  ragged = tf.RaggedTensor.from_row_lengths(
      tf.constant(np.concatenate(rows)), tf.constant([len(r) for r in rows], tf.int64))
  indices = tf.constant(np.stack(index_batches), tf.int64)
  dataset = tf.data.Dataset.from_tensor_slices(indices)
  dataset = dataset.map(lambda idx: tf.gather(ragged, idx).to_tensor(default_value=PAD_ID),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return dataset.prefetch(tf.data.AUTOTUNE)


def resolve_config(name, source, data_dir):
  """(config, DataSet or None): `CONFIGS[name]`, with the corpus's vocabulary for source ptb."""
  config = CONFIGS[name]
  if source == "ptb":
    dataset = load_ptb(data_dir)
    config = dataclasses.replace(config, vocab_size=dataset.vocab.size)
    return config, dataset
  return config, None


def training_batches(config, dataset, rows, num_batches, seed):
  """`num_batches` full [B, T] int32 training batches: of `dataset` (source ptb), else of `rows`."""
  if dataset is not None:
    stream = dataset.train_batches(config.batch_size, seed=seed)
    full = (x for x in stream if x.shape[0] == config.batch_size)
    return [x for x, _ in zip(full, range(num_batches))]
  indices = bucketed_batches(rows, config.batch_size, num_batches, seed)
  return [tf.constant(pad_rows([rows[i] for i in idx])) for idx in indices]


# ----------------------------------------------------------------------------- FLOPs
def encoder_flops(config, length):
  """Matmul FLOPs of the encoder on one row of `length` tokens: T 4H(E + H) + 2dH, x 2."""
  e, h, d = config.embed_dim, config.hidden_dim, config.latent_dim
  return 2.0 * (length * 4 * h * (e + h) + h * 2 * d)


def decoder_flops(config, length):
  """Matmul FLOPs of the decoder on one row of `length` tokens and one z.

  2 [dH + (T - 1)(4H(E + d + H) + HV)]: z -> initial cell, the LSTM on
  [embedding, z] and the logits of every predicted position.
  """
  e, h, d, v = config.embed_dim, config.hidden_dim, config.latent_dim, config.vocab_size
  return 2.0 * (d * h + (length - 1) * (4 * h * (e + d + h) + h * v))


def forward_flops(config, batch_size, length):
  """Matmul FLOPs of one forward pass on a [batch_size, length] batch.

  B (encoder + decoder): the encoder LSTM runs every padded step, its output
  layer, then the decoder for one z per row (see benchmarks/train_speed.py).
  """
  return batch_size * (encoder_flops(config, length) + decoder_flops(config, length))


def word_projection_flops(config, length):
  """Matmul FLOPs of the decoder's input projection of the words of one row: 2 (T - 1) 4H E.

  The same for every sample of z, so `tfvae.nets.LSTMDecoder` computes it once
  per sentence when it decodes several samples.
  """
  return 2.0 * (length - 1) * 4 * config.hidden_dim * config.embed_dim


def iw_log_likelihood_flops(config, length, num_samples):
  """Matmul FLOPs of the IW estimate of log p(x) for one unpadded row.

  The encoder, the words' input projection once, and K decoders without it.
  """
  word_part = word_projection_flops(config, length)
  return (encoder_flops(config, length) + word_part
          + num_samples * (decoder_flops(config, length) - word_part))


def train_step_flops(config, batch_shape):
  """Matmul FLOPs of one training step on a batch of `batch_shape`: 3 x forward."""
  batch_size, length = batch_shape
  return 3.0 * forward_flops(config, batch_size, length)


# ---------------------------------------------------------------------------- models
# He et al. (2019) train with SGD, learning rate 1, gradient norm clipped at 5.
LEARNING_RATE = 1.0
GRAD_CLIP_NORM = 5.0


def build_vae(config, seed, grad_clip_norm=None, lstm=None):
  """A fresh, unbuilt VAE with the LSTM encoder/decoder of `config`.

  `lstm` picks the recurrent layer of both networks: "keras" (keras.layers.LSTM)
  or "fused" (tfvae.nets.fused_lstm.FusedLSTM); None: the library's default.
  """
  lstm = lstm or text_nets.DEFAULT_LSTM
  encoder = nets.LSTMEncoder(config.vocab_size, config.embed_dim, config.hidden_dim,
                             config.latent_dim, lstm=lstm, name="encoder")
  decoder = nets.LSTMDecoder(config.vocab_size, config.embed_dim, config.hidden_dim,
                             config.latent_dim, lstm=lstm, name="decoder")
  return VAE(encoder, decoder, config.latent_dim, seed=seed, grad_clip_norm=grad_clip_norm,
             name="vae")


@contextlib.contextmanager
def dtype_policy(name):
  """Sets Keras's global dtype policy to `name` inside the block, restoring the old one after."""
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_dtype_policy(previous)


# ---------------------------------------------------------------------------- timing
def timed(fn, *args):
  """(result of fn(*args), wall seconds)."""
  start = time.perf_counter()
  result = fn(*args)
  return result, time.perf_counter() - start


def matmul_rate(m, k, n, reps=5, dtype=tf.float32):
  """Best-of-`reps` GFLOP/s of one [m, k] @ [k, n] tf.matmul (2 m k n FLOPs)."""
  a = tf.random.stateless_normal([m, k], [1, 2], dtype=dtype)
  b = tf.random.stateless_normal([k, n], [3, 4], dtype=dtype)
  product = tf.function(lambda u, v: tf.matmul(u, v)[0, 0])  # the scalar read syncs
  product(a, b).numpy()
  best = math.inf
  for _ in range(reps):
    _, seconds = timed(lambda: product(a, b).numpy())
    best = min(best, seconds)
  return 2.0 * m * k * n / best / 1e9


def matmul_peak(size=2048, reps=5, dtype=tf.float32):
  """Best-of-`reps` GFLOP/s of one [size, size] @ [size, size] tf.matmul: the machine's peak."""
  return matmul_rate(size, size, size, reps, dtype)


# ---------------------------------------------------------------------------- tables
def format_table(headers, rows):
  """A Markdown table (pipes, header rule) with right-aligned columns."""
  cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
  widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

  def line(row):
    return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |"

  rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
  return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def fmt(value, digits=3):
  """`value` with about `digits` significant digits in fixed notation; n/a if not finite."""
  if value is None or not math.isfinite(value):
    return "n/a"
  if value == 0:
    return "0"
  decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
  return f"{value:.{decimals}f}"
