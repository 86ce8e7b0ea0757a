"""Tests for tfvae.data.synthetic (synthetic_mog, METHODS.md D4)."""

import hashlib
import re

import numpy as np
import pytest

from tfvae import data
from tfvae.data import DataError
from tfvae.data import synthetic

# Fingerprints of the default corpus: a change means every stored result on
# synthetic_mog is no longer comparable (or this machine's numpy differs).
TRAIN_MD5 = "91843901c68483db34e5604b7bd161a1"
TEST_MD5 = "cfe791f1649e6114c2dce07b62ae49c9"


@pytest.fixture(scope="module")
def default_set():
  return data.load("synthetic_mog")


def test_default_sizes_and_shapes(default_set):
  ds = default_set
  assert data.DEFAULT == "synthetic_mog" and data.load.__defaults__[0] == "synthetic_mog"
  assert [ds.num_examples(s) for s in ds.splits] == [10000, 1000, 1000]
  assert ds.kind == "text" and ds.vocab.size <= 1004
  assert all(re.fullmatch(r"w\d+", w) for w in ds.vocab.words[4:])
  x = next(iter(ds.batches("train", 32)))
  assert x.shape == (32, 12)  # <s> + 10 words + </s>
  assert (ds.count_tokens(x).numpy() == 11).all()


def test_latents_and_components(default_set):
  ds = default_set
  for split in ds.splits:
    z, comp = ds.latents(split), ds.labels(split)
    assert z.shape == (ds.num_examples(split), 2) and z.dtype == np.float32
    assert set(np.unique(comp)) == set(range(5))
    dist = np.linalg.norm(z - synthetic.COMPONENT_MEANS[comp], axis=1)
    assert dist.max() < 6 * synthetic.COMPONENT_STD
  comp = ds.labels("train")
  assert np.allclose(np.bincount(comp) / len(comp), 0.2, atol=0.02)


def test_corpus_is_fixed(default_set):
  train = default_set.sentences("train")  # every training word is in the vocabulary
  assert hashlib.md5("\n".join(train).encode()).hexdigest() == TRAIN_MD5
  test, z, comp = synthetic.generate(1000, split_index=2)
  assert hashlib.md5("\n".join(test).encode()).hexdigest() == TEST_MD5
  again, z2, comp2 = synthetic.generate(1000, split_index=2)
  assert again == test and np.array_equal(z, z2) and np.array_equal(comp, comp2)
  np.testing.assert_array_equal(z, default_set.latents("test"))


def test_text_depends_on_the_latent(default_set):
  """A bag-of-words naive Bayes classifier recovers the mixture component."""
  ds = default_set
  v = ds.vocab.size

  def bags(split):
    out = np.zeros((ds.num_examples(split), v))
    rows = np.concatenate([x.numpy() for x in ds.batches(split, 1000)])
    for i, row in enumerate(rows):
      np.add.at(out[i], row[1:-1], 1)
    return out

  train, test = bags("train"), bags("test")
  ytr = ds.labels("train")
  logp = np.stack(
    [
      np.log(train[ytr == k].sum(0) + 0.1) - np.log(train[ytr == k].sum() + 0.1 * v)
      for k in range(5)
    ],
    axis=1,
  )
  accuracy = np.mean((test @ logp).argmax(1) == ds.labels("test"))
  assert accuracy > 0.9


def test_options():
  small = data.load("synthetic_mog", num_train=50, num_valid=5, num_test=7, length=4, seed=3)
  assert [small.num_examples(s) for s in small.splits] == [50, 5, 7]
  assert all(len(s.split()) == 4 for s in small.sentences("train"))
  # valid/test do not depend on num_train; the seed changes everything
  other = data.load("synthetic_mog", num_train=80, num_valid=5, num_test=7, length=4, seed=3)
  np.testing.assert_array_equal(small.latents("test"), other.latents("test"))
  reseeded = data.load("synthetic_mog", num_train=50, num_valid=5, num_test=7, seed=4)
  assert not np.array_equal(small.latents("test"), reseeded.latents("test"))
  tiny_vocab = data.load("synthetic_mog", num_train=300, vocab_size=20)
  assert tiny_vocab.vocab.size <= 24
  truncated = data.load("synthetic_mog", num_train=20, max_length=3)
  assert all(len(s.split()) == 3 for s in truncated.sentences("train"))


@pytest.mark.parametrize(
  "options", [{"num_train": 0}, {"length": -1}, {"seed": 1.5}, {"vocab_size": True}]
)
def test_bad_option_values(options):
  with pytest.raises(DataError, match="expected an integer"):
    data.load("synthetic_mog", **options)


def test_unknown_option():
  with pytest.raises(DataError, match="num_train"):
    data.load("synthetic_mog", num_examples=5)
