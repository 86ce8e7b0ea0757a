"""Diversity of sentences generated from the prior (METHODS.md E10).

The ControlVAE table of Shao et al. (2020) ("ControlVAE: Controllable
Variational Autoencoder", ICML) judges a text VAE by sentences decoded from
z ~ p(z) with four numbers:

* Dis-1, Dis-2: how many distinct unigrams and bigrams the generated set holds
  (the distinct-n measure of Li et al. 2016, "A Diversity-Promoting Objective
  Function for Neural Conversation Models"). The table reports counts (6.27K
  distinct unigrams, 95.86K bigrams); Li et al. divide by the number of n-gram
  occurrences instead, so `distinct_ngrams` gives both.
* self-BLEU-2, self-BLEU-3 (Zhu et al. 2018, "Texygen: A Benchmarking Platform
  for Text Generation Models"): every generated sentence is scored with BLEU
  against all the other generated sentences as references; the mean over
  sentences is high when the set repeats itself. Lower is more diverse.

BLEU itself comes from nltk's `sentence_bleu` with Chen and Cherry's (2014)
smoothing method 1, the implementation Texygen calls.

Dis-n counts grow with the number of sentences and self-BLEU grows with the
number of references, so numbers are only comparable at equal sample sizes.
The survey slides that reproduce the table of Shao et al. (2020) do not say
how many sentences ControlVAE generated.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import random as tfvae_random

LATENT_STREAM = 0
DECODE_STREAM = 1
DEFAULT_NUM_SENTENCES = 1000
DEFAULT_MAX_HYPOTHESES = 500
# 99% of the PTB training sentences have at most 49 words; one more step for `</s>`.
DEFAULT_MAX_LENGTH = 50
DEFAULT_BATCH_SIZE = 250
DECODINGS = ("greedy", "sampled")


# Distinct n-grams -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DistinctNgrams:
  """Distinct n-grams of a set of sentences.

  Attributes:
    count: number of different n-grams (Dis-n as the ControlVAE table reports it).
    total: number of n-gram occurrences over all sentences.
  """

  count: int
  total: int

  @property
  def ratio(self) -> float:
    """count / total, distinct-n as Li et al. (2016) define it; 0 without n-grams."""
    return self.count / self.total if self.total else 0.0


def _tokens(sentence: str | Sequence[str]) -> tuple[str, ...]:
  """A sentence as a tuple of words; a string is split on white space."""
  return tuple(sentence.split() if isinstance(sentence, str) else sentence)


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
  return (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def distinct_ngrams(sentences: Iterable[str | Sequence[str]], n: int) -> DistinctNgrams:
  """Counts the distinct n-grams of `sentences` (Dis-n, Li et al. 2016).

  N-grams never span two sentences; a sentence shorter than n has none.

  Args:
    sentences: tokenised sentences (sequences of words); a string is split on
      white space.
    n: n-gram order, at least 1.

  Returns:
    DistinctNgrams: `count` is the number the ControlVAE table reports,
    `ratio` the count divided by the number of n-gram occurrences.
  """
  if n < 1:
    raise ValueError(f"n must be at least 1, got {n}.")
  seen = set()
  total = 0
  for sentence in sentences:
    grams = list(_ngrams(_tokens(sentence), n))
    total += len(grams)
    seen.update(grams)
  return DistinctNgrams(count=len(seen), total=total)


# Self-BLEU ------------------------------------------------------------------


def _uniform_weights(order: int) -> tuple[float, ...]:
  if order < 1:
    raise ValueError(f"BLEU order must be at least 1, got {order}.")
  return (1.0 / order,) * order


def _hypothesis_indices(num_sentences: int, max_hypotheses: int | None, seed: int) -> np.ndarray:
  """Which sentences serve as hypotheses: all, or a seeded subset without repeats."""
  if max_hypotheses is None or max_hypotheses >= num_sentences:
    return np.arange(num_sentences)
  if max_hypotheses < 1:
    raise ValueError(f"max_hypotheses must be at least 1, got {max_hypotheses}.")
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(num_sentences, size=max_hypotheses, replace=False))


def _other_sentences(counts: collections.Counter, hypothesis: tuple[str, ...]) -> list:
  """The references of one hypothesis: every other sentence, each text once.

  BLEU takes the maximum n-gram count over references and the length of the
  closest one, so listing a repeated sentence once changes nothing; it only
  saves nltk from scoring the same reference again (a collapsed model repeats
  itself a lot).
  """
  return [list(s) for s, c in counts.items() if c - (s == hypothesis) > 0]


def self_bleu_orders(
  sentences: Sequence[str | Sequence[str]],
  orders: Sequence[int],
  max_hypotheses: int | None = None,
  seed: int = 0,
) -> dict[int, float]:
  """Self-BLEU for several orders at once: {order: score}; see `self_bleu`."""
  # nltk (with scipy.stats) takes most of a second to import: only when scoring.
  from nltk.translate import bleu_score

  if not orders:
    raise ValueError("Give at least one BLEU order.")
  corpus = [_tokens(s) for s in sentences]
  if len(corpus) < 2:
    raise ValueError(f"Self-BLEU needs at least two sentences, got {len(corpus)}.")
  weights = [_uniform_weights(order) for order in orders]
  smoothing = bleu_score.SmoothingFunction().method1
  counts = collections.Counter(corpus)
  indices = _hypothesis_indices(len(corpus), max_hypotheses, seed)
  sums = np.zeros(len(weights))
  for i in indices:
    scores = bleu_score.sentence_bleu(_other_sentences(counts, corpus[i]), list(corpus[i]),
                                      weights, smoothing_function=smoothing)
    sums += np.asarray(scores if len(weights) > 1 else [scores], dtype=np.float64)
  return {order: float(total / len(indices)) for order, total in zip(orders, sums)}


def self_bleu(
  sentences: Sequence[str | Sequence[str]],
  max_order: int,
  max_hypotheses: int | None = None,
  seed: int = 0,
) -> float:
  """Self-BLEU-n of a set of sentences (Zhu et al. 2018, Texygen).

  Each sentence in turn is the hypothesis and all the other sentences are its
  references; the score is nltk's sentence BLEU with uniform weights over
  orders 1..max_order and smoothing method 1 (a zero n-gram match count
  becomes 0.1, Chen and Cherry 2014), averaged over hypotheses. An empty
  hypothesis scores 0, as in nltk.

  The cost is O(N^2) in the number of sentences, so `max_hypotheses` scores
  only a random subset of hypotheses (drawn without repeats from `seed`); the
  references stay all the other N - 1 sentences. Texygen's fast mode instead
  cuts the whole set to its first 500 sentences, which also removes references
  and so gives lower numbers for larger sets.

  Args:
    sentences: tokenised sentences; a string is split on white space. At least two.
    max_order: highest n-gram order (2 for self-BLEU-2).
    max_hypotheses: score at most this many hypotheses (None: all).
    seed: picks the subset of hypotheses.

  Returns:
    The mean BLEU in [0, 1]; 1 when every sentence occurs at least twice.
  """
  return self_bleu_orders(sentences, [max_order], max_hypotheses, seed)[max_order]


# Sentences from the prior ---------------------------------------------------


def _batch_decoder(model, latent_dim: int, max_length: int, greedy: bool):
  """The decoder's `generate` as one graph for any batch size."""
  signature = [tf.TensorSpec([None, latent_dim], tf.float32), tf.TensorSpec([2], tf.int32)]

  @tf.function(input_signature=signature)
  def decode(z, seed):
    return model.decoder.generate(z, max_length, greedy=greedy, seed=seed)

  return decode


def prior_latents(model, num_sentences: int, seed: int) -> tf.Tensor:
  """The z [num_sentences, d] that `sample_sentences` decodes for `seed`.

  z = model.prior.sample(num_sentences, seed=step_seed(seed, 0, LATENT_STREAM)),
  one stateless draw for the whole set, so it does not depend on batching.
  """
  latent_seed = tfvae_random.step_seed(seed, 0, LATENT_STREAM)
  return tf.cast(model.prior.sample(num_sentences, seed=latent_seed), tf.float32)


def sample_sentences(
  model,
  vocab,
  num_sentences: int,
  *,
  greedy: bool,
  seed: int,
  max_length: int = DEFAULT_MAX_LENGTH,
  batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[str]:
  """Decodes sentences from z ~ p(z) (the generation of the ControlVAE table of Shao et
  al. (2020)).

  z comes from `prior_latents(model, num_sentences, seed)`, so greedy and
  sampled decoding with the same seed start from the same z. Greedy decoding
  is a function of z alone; sampled decoding of batch i uses the stateless
  seed `step_seed(seed, i, DECODE_STREAM)`, so its sentences depend on
  `batch_size` as well as on `seed`.

  Args:
    model: a text model with `prior` (event [d]) and `decoder.generate`.
    vocab: the `tfvae.data.Vocabulary` of the model.
    num_sentences: how many sentences.
    greedy: most likely token at each step if True, else sampled tokens.
    seed: Python int.
    max_length: decoding steps; a sentence without `</s>` by then is cut.
    batch_size: sentences decoded together.

  Returns:
    The sentences as text (words joined by single spaces; no `<s>`, `</s>`
    or `<pad>`). A sentence may be empty.
  """
  if num_sentences < 0 or batch_size < 1 or max_length < 1:
    raise ValueError(f"Bad sizes: num_sentences={num_sentences}, batch_size={batch_size}, "
                     f"max_length={max_length}.")
  z = prior_latents(model, num_sentences, seed)
  decode = _batch_decoder(model, z.shape[-1], max_length, greedy)
  sentences = []
  for batch, start in enumerate(range(0, num_sentences, batch_size)):
    ids = decode(z[start:start + batch_size], tfvae_random.step_seed(seed, batch, DECODE_STREAM))
    sentences.extend(vocab.decode(row) for row in ids.numpy())
  return sentences


def _set_quality(sentences: Sequence[str], max_hypotheses: int | None, seed: int) -> dict:
  """Dis-1/2 (counts and ratios), self-BLEU-2/3 and mean length of one set."""
  tokens = [s.split() for s in sentences]
  dis1, dis2 = distinct_ngrams(tokens, 1), distinct_ngrams(tokens, 2)
  bleu = self_bleu_orders(tokens, [2, 3], max_hypotheses, seed)
  return {
    "dis1": float(dis1.count),
    "dis2": float(dis2.count),
    "dis1_ratio": dis1.ratio,
    "dis2_ratio": dis2.ratio,
    "self_bleu2": bleu[2],
    "self_bleu3": bleu[3],
    "mean_length": float(np.mean([len(t) for t in tokens])),
  }


def text_sample_quality(
  model,
  vocab,
  *,
  num_sentences: int = DEFAULT_NUM_SENTENCES,
  max_hypotheses: int | None = DEFAULT_MAX_HYPOTHESES,
  seed: int = 0,
  max_length: int = DEFAULT_MAX_LENGTH,
  batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
  """Diversity of prior samples under greedy and sampled decoding (METHODS.md E10).

  Both decodings start from the same `num_sentences` prior draws. Greedy
  decoding from a collapsed VAE (decoder ignoring z) repeats one sentence, so
  its Dis-n is tiny and its self-BLEU is 1; sampled decoding mixes the
  decoder's own randomness into the diversity.

  The defaults (1000 sentences, self-BLEU over 500 hypotheses each against
  the other 999 sentences) keep the cost to tens of seconds on a CPU. The
  ControlVAE table of Shao et al. (2020) reports Dis-1, Dis-2 as counts with
  self-BLEU-2/3; the survey slides that reproduce it do not give the sample
  size, and its counts (95.86K distinct bigrams) need far more sentences than
  1000, so compare with it only in relative terms. Texygen scores self-BLEU on
  500 sentences.

  Args:
    model: a text model with `prior` and `decoder.generate`.
    vocab: its `tfvae.data.Vocabulary`.
    num_sentences: sentences per decoding.
    max_hypotheses: self-BLEU hypotheses per decoding (None: all).
    seed: seeds z, sampled decoding and the choice of hypotheses.
    max_length: decoding steps.
    batch_size: sentences decoded together.

  Returns:
    Flat dict of floats, for prefix in ("greedy", "sampled"): `{prefix}_dis1`,
    `{prefix}_dis2` (counts), `{prefix}_dis1_ratio`, `{prefix}_dis2_ratio`,
    `{prefix}_self_bleu2`, `{prefix}_self_bleu3`, `{prefix}_mean_length` (words).
  """
  if num_sentences < 2:
    raise ValueError(f"Self-BLEU needs at least two sentences, got num_sentences={num_sentences}.")
  results = {}
  for decoding in DECODINGS:
    sentences = sample_sentences(model, vocab, num_sentences, greedy=decoding == "greedy",
                                 seed=seed, max_length=max_length, batch_size=batch_size)
    quality = _set_quality(sentences, max_hypotheses, seed)
    results.update({f"{decoding}_{name}": value for name, value in quality.items()})
  logging.info("Sample quality of %d prior samples: %s", num_sentences,
               ", ".join(f"{k}={v:.4g}" for k, v in results.items()))
  return results
