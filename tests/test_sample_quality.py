"""Dis-n, self-BLEU and sentences sampled from the prior (METHODS.md E10)."""

import math
import random

import numpy as np
import pytest
import tensorflow as tf
from nltk.translate.bleu_score import SmoothingFunction
from nltk.translate.bleu_score import sentence_bleu

from tfvae import nets
from tfvae import random as tfvae_random
from tfvae import sample_quality
from tfvae.data.vocabulary import Vocabulary
from tfvae.models import VAE

CORPUS = ["the cat sat on the mat", "a dog ran to the park", "the bird sang",
          "my cat ate a fish", "dogs and cats play"]
LATENT_DIM = 4


# Distinct n-grams -----------------------------------------------------------


def test_distinct_ngrams_counts_by_hand():
  sentences = [["a", "b", "a", "b"], ["b", "a"], ["c"]]
  # Unigrams a b a b b a c: distinct {a, b, c}, 7 occurrences.
  uni = sample_quality.distinct_ngrams(sentences, 1)
  assert (uni.count, uni.total) == (3, 7)
  assert uni.ratio == pytest.approx(3 / 7)
  # Bigrams ab ba ab | ba (none across sentences, none from "c"): distinct {ab, ba}, 4.
  bi = sample_quality.distinct_ngrams(sentences, 2)
  assert (bi.count, bi.total) == (2, 4)
  # Trigrams aba bab: both distinct.
  tri = sample_quality.distinct_ngrams(sentences, 3)
  assert (tri.count, tri.total) == (2, 2)


def test_distinct_ngrams_splits_strings_and_handles_empty_sets():
  assert sample_quality.distinct_ngrams(["x y x", "y"], 1).count == 2
  assert sample_quality.distinct_ngrams(["x y x", "y"], 2).count == 2
  empty = sample_quality.distinct_ngrams([[], ["only"]], 2)
  assert (empty.count, empty.total, empty.ratio) == (0, 0, 0.0)
  with pytest.raises(ValueError):
    sample_quality.distinct_ngrams(["a"], 0)


# Self-BLEU ------------------------------------------------------------------


def test_self_bleu_of_identical_sentences_is_one():
  sentences = ["the cat sat on the mat"] * 4
  assert sample_quality.self_bleu(sentences, 2) == pytest.approx(1.0)
  assert sample_quality.self_bleu(sentences, 3) == pytest.approx(1.0)


def test_self_bleu_two_sentences_by_hand():
  # s1 = a b c d (4 words), s2 = a b x d e (5 words), BLEU-3.
  # s1 against s2: unigrams a b d of 4 match -> 3/4; bigrams ab of {ab bc cd} -> 1/3;
  #   trigrams {abc bcd} none -> smoothed (0 + 0.1) / 2; shorter than 5 -> BP exp(1 - 5/4).
  first = math.exp(1 - 5 / 4) * (3 / 4 * 1 / 3 * 0.1 / 2) ** (1 / 3)
  # s2 against s1: unigrams a b d of 5 -> 3/5; bigrams ab of 4 -> 1/4; trigrams none
  #   of 3 -> 0.1 / 3; longer than the reference -> BP 1.
  second = (3 / 5 * 1 / 4 * 0.1 / 3) ** (1 / 3)
  got = sample_quality.self_bleu([["a", "b", "c", "d"], ["a", "b", "x", "d", "e"]], 3)
  assert got == pytest.approx((first + second) / 2, rel=1e-9)


def test_self_bleu_clips_counts_and_picks_closest_reference_length():
  sentences = ["the the the cat", "the cat", "the the dog"]
  # BLEU-1 of each sentence against the other two:
  # h0: "the" clipped to 2 (most in one reference) + "cat" -> 3/4; closest length 3 < 4 -> BP 1.
  # h1: both words match -> 1; closest length 3 > 2 -> BP exp(1 - 3/2).
  # h2: "the" twice matches, "dog" not -> 2/3; lengths 4 and 2 tie, the shorter wins -> BP 1.
  expected = (3 / 4 + math.exp(1 - 3 / 2) + 2 / 3) / 3
  assert sample_quality.self_bleu(sentences, 1) == pytest.approx(expected, rel=1e-9)


def test_self_bleu_without_shared_words_is_zero():
  sentences = ["a b c d", "e f g h", "i j k l"]
  assert sample_quality.self_bleu(sentences, 2) == 0.0


def _random_sentences(rng, vocab_size, count):
  words = [f"w{i}" for i in range(vocab_size)]
  return [rng.choices(words, k=rng.randint(4, 12)) for _ in range(count)]


def test_more_diverse_sets_score_lower():
  rng = random.Random(0)
  narrow = _random_sentences(rng, 5, 40)
  wide = _random_sentences(rng, 200, 40)
  for order in (2, 3):
    assert sample_quality.self_bleu(wide, order) < sample_quality.self_bleu(narrow, order) - 0.2


def test_self_bleu_matches_scoring_every_other_sentence_with_nltk():
  # Repeated sentences exercise the de-duplication of references.
  rng = random.Random(1)
  sentences = _random_sentences(rng, 8, 12)
  sentences += [sentences[0], sentences[0], sentences[3]]
  smoothing = SmoothingFunction().method1
  for order in (2, 3):
    weights = (1 / order,) * order
    scores = [sentence_bleu(sentences[:i] + sentences[i + 1:], h, weights,
                            smoothing_function=smoothing) for i, h in enumerate(sentences)]
    assert sample_quality.self_bleu(sentences, order) == pytest.approx(np.mean(scores), rel=1e-12)
  both = sample_quality.self_bleu_orders(sentences, [2, 3])
  assert both[2] == pytest.approx(sample_quality.self_bleu(sentences, 2), rel=1e-12)
  assert both[3] == pytest.approx(sample_quality.self_bleu(sentences, 3), rel=1e-12)


def test_self_bleu_hypothesis_subset_is_seeded():
  sentences = _random_sentences(random.Random(2), 10, 30)
  full = sample_quality.self_bleu(sentences, 2)
  assert sample_quality.self_bleu(sentences, 2, max_hypotheses=30) == full
  subset = sample_quality.self_bleu(sentences, 2, max_hypotheses=5, seed=3)
  assert subset == sample_quality.self_bleu(sentences, 2, max_hypotheses=5, seed=3)
  others = {sample_quality.self_bleu(sentences, 2, max_hypotheses=5, seed=s) for s in range(4, 9)}
  assert len(others | {subset}) > 1
  # A mean of 5 of the 30 per-sentence scores.
  smoothing = SmoothingFunction().method1
  singles = [sentence_bleu(sentences[:i] + sentences[i + 1:], h, (0.5, 0.5),
                           smoothing_function=smoothing) for i, h in enumerate(sentences)]
  assert min(singles) <= subset <= max(singles)


def test_self_bleu_needs_two_sentences():
  with pytest.raises(ValueError):
    sample_quality.self_bleu(["a b c"], 2)


# Sentences from the prior ---------------------------------------------------


@pytest.fixture(scope="module")
def text_model():
  vocab = Vocabulary.build(CORPUS)
  size = vocab.size
  model = VAE(nets.LSTMEncoder(size, 8, 16, LATENT_DIM), nets.LSTMDecoder(size, 8, 16, LATENT_DIM),
              LATENT_DIM, seed=1)
  model(tf.constant([[2, 4, 5, 6, 3]], tf.int32))
  return model, vocab


def _decode_all(model, vocab, z, **kwargs):
  ids = model.decoder.generate(z, 12, **kwargs)
  return [vocab.decode(row) for row in ids.numpy()]


def test_sample_sentences_count_and_determinism(text_model):
  model, vocab = text_model
  for greedy in (True, False):
    first = sample_quality.sample_sentences(model, vocab, 7, greedy=greedy, seed=5, max_length=12,
                                            batch_size=3)
    again = sample_quality.sample_sentences(model, vocab, 7, greedy=greedy, seed=5, max_length=12,
                                            batch_size=3)
    assert len(first) == 7 and all(isinstance(s, str) for s in first)
    assert first == again


def test_sample_sentences_differ_between_seeds(text_model):
  model, vocab = text_model
  a = sample_quality.sample_sentences(model, vocab, 8, greedy=False, seed=1, max_length=12)
  b = sample_quality.sample_sentences(model, vocab, 8, greedy=False, seed=2, max_length=12)
  assert a != b


def test_sample_sentences_decode_documented_prior_draws(text_model):
  model, vocab = text_model
  seed, count = 9, 7
  z = model.prior.sample(count, seed=tfvae_random.step_seed(seed, 0, 0))
  greedy = sample_quality.sample_sentences(model, vocab, count, greedy=True, seed=seed,
                                           max_length=12, batch_size=3)
  assert greedy == _decode_all(model, vocab, z, greedy=True)
  # Sampled decoding of batch i uses step_seed(seed, i, 1).
  sampled = sample_quality.sample_sentences(model, vocab, count, greedy=False, seed=seed,
                                            max_length=12, batch_size=3)
  expected = []
  for i, start in enumerate(range(0, count, 3)):
    expected += _decode_all(model, vocab, z[start:start + 3], greedy=False,
                            seed=tfvae_random.step_seed(seed, i, 1))
  assert sampled == expected


def test_sampled_words_come_from_the_vocabulary(text_model):
  model, vocab = text_model
  sentences = sample_quality.sample_sentences(model, vocab, 30, greedy=False, seed=4, max_length=12)
  words = [w for s in sentences for w in s.split()]
  assert words, "the sampled sentences are all empty"
  assert all(w in vocab for w in words)
  assert not {"<pad>", "<s>", "</s>"} & set(words)
  assert all(len(s.split()) <= 12 for s in sentences)


def test_text_sample_quality_reports_every_number(text_model):
  model, vocab = text_model
  got = sample_quality.text_sample_quality(model, vocab, num_sentences=20, max_hypotheses=10,
                                           seed=3, max_length=12, batch_size=8)
  names = ["dis1", "dis2", "dis1_ratio", "dis2_ratio", "self_bleu2", "self_bleu3", "mean_length"]
  assert set(got) == {f"{d}_{n}" for d in ("greedy", "sampled") for n in names}
  assert all(isinstance(v, float) and math.isfinite(v) for v in got.values())
  words = vocab.size - 3  # Everything but <pad>, <s> and </s> can appear.
  for d in ("greedy", "sampled"):
    assert 1 <= got[f"{d}_dis1"] <= words
    assert got[f"{d}_dis1"] <= 20 * got[f"{d}_mean_length"]
    assert got[f"{d}_dis2"] <= words ** 2
    for n in ("dis1_ratio", "dis2_ratio", "self_bleu2", "self_bleu3"):
      assert 0.0 <= got[f"{d}_{n}"] <= 1.0
  # Sampling from a small vocabulary makes far more distinct pairs than words.
  assert got["sampled_dis2"] > got["sampled_dis1"]
  sampled = sample_quality.sample_sentences(model, vocab, 20, greedy=False, seed=3, max_length=12,
                                            batch_size=8)
  assert got["sampled_dis1"] == sample_quality.distinct_ngrams(sampled, 1).count
  assert got["sampled_dis2"] == sample_quality.distinct_ngrams(sampled, 2).count
