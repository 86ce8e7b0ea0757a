"""`synthetic_mog`: text generated from a 2-d mixture-of-Gaussians latent (METHODS.md D4).

Shen et al. (2021), section 4.3 (after Kim et al. 2018), sample a 2-d latent z
from a mixture of five Gaussians and generate "text-like" data from an LSTM
conditioned on z; their figure 1 shows the latent space in [-3, 3]^2 with one
component at the centre and four around it. The paper gives no further
numbers, so we choose and fix:

* mixture: five equally likely isotropic components with standard deviation
  `COMPONENT_STD` = 0.3 at `COMPONENT_MEANS` = (0, 0) (component 0, the centre),
  (2, 2), (-2, 2), (-2, -2), (2, -2) (components 1..4);
* generator: one LSTM layer (32 units, 32-d word embeddings, forget-gate bias 1)
  whose initial state is (tanh(z A), tanh(z C)) and whose input at every step is
  the embedding of the previous word concatenated with z; next-word logits h W.
  All weights are Gaussian, drawn once from `numpy.random.RandomState([seed, 0])`
  (the legacy generator, whose stream numpy keeps fixed across versions), so every
  machine builds the identical corpus. The z-weights (A, C and z's input rows) are
  scaled by 3 and the output weights give logits of standard deviation about
  8 * rms(h): the words clearly depend on z (a bag-of-words naive Bayes classifier
  recovers the component of 98% of held-out sentences) while each step keeps a
  few nats of entropy (unigram entropy 5.7 nats, under 1% duplicate sentences);
* sentences: `length` (10) words sampled left to right by inverse-CDF sampling,
  vocabulary of `vocab_size` (1000) words spelled `w0` ... `w999`, then `</s>`.
  Split k (train 0, valid 1, test 2) draws its z, components and words from
  `RandomState([seed, k + 1])`, so changing `num_train` leaves valid/test as they are.

The words go through the same path as a real corpus (vocabulary from the training
split by frequency), and `latents(split)` / `labels(split)` return the true z and
mixture component of every sentence for the latent-space pictures (METHODS.md E12).
"""

from __future__ import annotations

import functools

import numpy as np

from tfvae.data.dataset import DataSet
from tfvae.data.errors import DataError
from tfvae.data.text import build_text_dataset

COMPONENT_MEANS = np.array([[0.0, 0.0], [2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])
COMPONENT_STD = 0.3
EMBED_DIM = 32
HIDDEN_DIM = 32
LATENT_SCALE = 3.0
OUTPUT_SCALE = 8.0
DEFAULTS = {
  "num_train": 10000,
  "num_valid": 1000,
  "num_test": 1000,
  "vocab_size": 1000,
  "length": 10,
  "seed": 0,
}
_CHUNK = 2048  # sentences generated together (bounds the [chunk, vocab] buffers)
_BLOCK = 32  # words per block of the two-level inverse-CDF sampler


class _Generator:
  """The fixed random LSTM language model p(x | z) of the module doc."""

  def __init__(self, vocab_size: int, seed: int):
    rng = np.random.RandomState([seed, 0])
    e, h, d = EMBED_DIM, HIDDEN_DIM, COMPONENT_MEANS.shape[1]
    self.vocab_size = vocab_size
    self.embed = rng.normal(0.0, 1.0, (vocab_size + 1, e))  # last row: start symbol
    self.w_in = rng.normal(0.0, 1.0 / np.sqrt(e + d), (e + d, 4 * h))
    self.w_in[e:] *= LATENT_SCALE
    self.w_rec = rng.normal(0.0, 1.0 / np.sqrt(h), (h, 4 * h))
    self.bias = np.zeros(4 * h)
    self.bias[h : 2 * h] = 1.0  # forget gate
    self.w_h0 = rng.normal(0.0, LATENT_SCALE, (d, h))
    self.w_c0 = rng.normal(0.0, LATENT_SCALE, (d, h))
    self.w_out = rng.normal(0.0, OUTPUT_SCALE / np.sqrt(h), (h, vocab_size))

  def sample(self, z: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Word indices [n, length]; `uniforms` [n, length] drive the inverse CDF."""
    n, length = uniforms.shape
    words = np.empty((n, length), np.int64)
    logits = np.empty((min(n, _CHUNK), self.vocab_size))
    for a in range(0, n, _CHUNK):
      zc, m = z[a : a + _CHUNK], min(_CHUNK, n - a)
      buf = logits[:m]
      h, c = np.tanh(zc @ self.w_h0), np.tanh(zc @ self.w_c0)
      prev = np.full(m, self.vocab_size)
      for t in range(length):
        x = np.concatenate([self.embed[prev], zc], axis=1)
        i, f, o, g = np.split(x @ self.w_in + h @ self.w_rec + self.bias, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        np.matmul(h, self.w_out, out=buf)
        buf -= buf.max(axis=1, keepdims=True)
        np.exp(buf, out=buf)
        prev = _inverse_cdf(buf, uniforms[a : a + m, t])
        words[a : a + m, t] = prev
    return words


def _inverse_cdf(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
  """Row-wise categorical draw: the first index whose cumulative weight exceeds
  u * total. Two levels (blocks of `_BLOCK` words, then words inside the chosen
  block) avoid a full cumulative sum over [n, vocab], which numpy does slowly.
  """
  n, v = weights.shape
  nb = -(-v // _BLOCK)
  padded = np.zeros((n, nb * _BLOCK))
  padded[:, :v] = weights
  blocks = padded.reshape(n, nb, _BLOCK)
  block_cdf = np.cumsum(blocks.sum(axis=2), axis=1)
  target = u * block_cdf[:, -1]
  k = np.minimum((block_cdf < target[:, None]).sum(axis=1), nb - 1)
  rows = np.arange(n)
  before = np.where(k > 0, block_cdf[rows, np.maximum(k - 1, 0)], 0.0)
  inner_cdf = np.cumsum(blocks[rows, k], axis=1)
  j = np.minimum((inner_cdf < (target - before)[:, None]).sum(axis=1), _BLOCK - 1)
  return np.minimum(k * _BLOCK + j, v - 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
  return 0.5 * (1.0 + np.tanh(0.5 * x))


@functools.lru_cache(maxsize=8)
def generate(
  num_examples: int, *, split_index: int, vocab_size: int = 1000, length: int = 10, seed: int = 0
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
  """Samples one split: (sentences, z [n, 2] float32, component ids [n] int32).

  A split is a pure function of the arguments, generated once per process
  (about a second for the default training split) and returned read-only.
  """
  rng = np.random.RandomState([seed, split_index + 1])
  components = rng.randint(0, len(COMPONENT_MEANS), size=num_examples)
  z = COMPONENT_MEANS[components] + COMPONENT_STD * rng.standard_normal((num_examples, 2))
  uniforms = rng.random_sample((num_examples, length))
  words = _Generator(vocab_size, seed).sample(z, uniforms)
  names = np.array([f"w{i}" for i in range(vocab_size)], dtype=object)
  sentences = tuple(" ".join(row) for row in names[words].tolist())
  z, components = z.astype(np.float32), components.astype(np.int32)
  z.setflags(write=False)
  components.setflags(write=False)
  return sentences, z, components


def generate_splits(**options) -> dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
  """split name -> `generate`'s (sentences, z, components); options as DEFAULTS."""
  unknown = set(options) - set(DEFAULTS)
  if unknown:
    raise DataError(
      f"Data set 'synthetic_mog' has no options {sorted(unknown)}; its options are "
      f"{sorted(DEFAULTS)} and max_length."
    )
  opts = {**DEFAULTS, **options}
  for key, value in opts.items():
    low = 0 if key == "seed" else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
      raise DataError(f"synthetic_mog option {key}={value!r}: expected an integer >= {low}.")
  return {
    split: generate(
      int(opts[f"num_{split}"]),
      split_index=index,
      vocab_size=int(opts["vocab_size"]),
      length=int(opts["length"]),
      seed=int(opts["seed"]),
    )
    for index, split in enumerate(("train", "valid", "test"))
  }


def load_synthetic_mog(*, max_length=None, **options) -> DataSet:
  """Generates the data set (about a second for the defaults); options as DEFAULTS."""
  splits = generate_splits(**options)
  return build_text_dataset(
    "synthetic_mog",
    {split: texts for split, (texts, _, _) in splits.items()},
    labels={split: labels for split, (_, _, labels) in splits.items()},
    latents={split: z for split, (_, z, _) in splits.items()},
    max_length=max_length,
    info=f"2-d MoG latent + random LSTM text, options {dict(DEFAULTS, **options)}",
  )
