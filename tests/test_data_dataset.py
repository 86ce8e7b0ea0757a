"""Tests for tfvae.data.dataset: pass order, determinism, batch counts, resumption."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae.data import DataError
from tfvae.data import DataSet
from tfvae.data import Vocabulary
from tfvae.data import count_tokens
from tfvae.data.images import build_image_dataset
from tfvae.data.text import build_text_dataset


def _corpus(n=203, seed=0):
  rng = np.random.RandomState(seed)
  words = [f"t{i}" for i in range(30)]
  return [" ".join(rng.choice(words, size=rng.randint(1, 25))) for _ in range(n)]


def _text_ds(n_train=203):
  texts = {"train": _corpus(n_train), "valid": _corpus(37, 1), "test": _corpus(50, 2)}
  labels = {s: np.arange(len(v)) % 3 for s, v in texts.items()}
  return build_text_dataset("toy", texts, labels=labels)


def _rows(batches):
  """All rows of a pass as tuples of ids without padding."""
  out = []
  for x in batches:
    for row in x.numpy():
      out.append(tuple(int(i) for i in row if i != Vocabulary.PAD_ID))
  return out


def test_text_batch_format():
  ds = _text_ds()
  x = next(iter(ds.batches("train", 16)))
  assert x.dtype == tf.int32 and x.shape[0] == 16
  arr = x.numpy()
  assert (arr[:, 0] == Vocabulary.BOS_ID).all()
  lengths = (arr != Vocabulary.PAD_ID).sum(1)
  assert arr.shape[1] == lengths.max()  # T = longest in the batch
  for row, n in zip(arr, lengths):
    assert row[n - 1] == Vocabulary.EOS_ID
    assert (row[n:] == Vocabulary.PAD_ID).all()
    assert Vocabulary.EOS_ID not in row[1 : n - 1]


def test_unshuffled_pass_keeps_stored_order():
  ds = _text_ds()
  rows = _rows(ds.batches("valid", 8))
  assert [ds.vocab.decode(r) for r in rows] == ds.sentences("valid")
  assert len(ds.labels("valid")) == len(rows)


def test_shuffled_pass_is_a_permutation():
  ds = _text_ds()
  stored = sorted(_rows(ds.batches("train", 10)))
  shuffled = _rows(ds.batches("train", 10, shuffle=True, seed=4, epoch=2))
  assert sorted(shuffled) == stored
  assert shuffled != _rows(ds.batches("train", 10))


@pytest.mark.parametrize("batch_size", [1, 7, 10, 32, 203, 500])
def test_num_batches_is_the_real_count(batch_size):
  ds = _text_ds()
  for shuffle in (False, True):
    sizes = [int(x.shape[0]) for x in ds.batches("train", batch_size, shuffle=shuffle)]
    assert len(sizes) == ds.num_batches("train", batch_size)
    assert sum(sizes) == ds.num_examples("train")
    assert sorted(sizes)[1:] == [batch_size] * (len(sizes) - 1)  # one partial batch at most


def test_order_depends_only_on_seed_and_epoch():
  a, b = _text_ds(), _text_ds()  # two independent loads
  first = _rows(a.batches("train", 16, shuffle=True, seed=7, epoch=3))
  # same (seed, epoch), another object, after other passes were drawn
  _rows(b.batches("train", 16, shuffle=True, seed=7, epoch=0))
  assert _rows(b.batches("train", 16, shuffle=True, seed=7, epoch=3)) == first
  assert _rows(a.batches("train", 16, shuffle=True, seed=7, epoch=3)) == first
  assert _rows(a.batches("train", 16, shuffle=True, seed=7, epoch=4)) != first
  assert _rows(a.batches("train", 16, shuffle=True, seed=8, epoch=3)) != first


def test_train_batches_resume_matches_uninterrupted_run():
  ds = _text_ds()
  nb = ds.num_batches("train", 16)
  stream = [x.numpy() for x in ds.train_batches(16, seed=5).take(3 * nb)]
  resumed = [x.numpy() for x in ds.train_batches(16, seed=5, start_epoch=2).take(nb)]
  for e in range(3):
    epoch = [x.numpy() for x in ds.batches("train", 16, shuffle=True, seed=5, epoch=e)]
    got = stream[e * nb : (e + 1) * nb]
    assert all(np.array_equal(p, q) for p, q in zip(got, epoch, strict=True))
  assert all(np.array_equal(p, q) for p, q in zip(resumed, stream[2 * nb :], strict=True))


def test_shuffled_text_is_length_bucketed():
  ds = _text_ds(n_train=2000)

  def mean_pad(batches):
    arr = [x.numpy() for x in batches]
    return np.mean([(a == Vocabulary.PAD_ID).mean() for a in arr])

  bucketed = mean_pad(ds.batches("train", 16, shuffle=True))
  plain = mean_pad(ds.batches("train", 16))
  assert bucketed < 0.25 * plain


def test_by_length_pass_sorts_the_split_stably_and_keeps_every_row():
  ds = _text_ds()
  rows = _rows(ds.batches("test", 8, by_length=True))
  stored = _rows(ds.batches("test", 8))
  assert rows == sorted(stored, key=len)  # sorted() is stable: ties keep stored order

  def mean_pad(batches):
    return np.mean([(x.numpy() == Vocabulary.PAD_ID).mean() for x in batches])

  assert mean_pad(ds.batches("test", 8, by_length=True)) < 0.5 * mean_pad(ds.batches("test", 8))
  with pytest.raises(DataError, match="cannot also shuffle"):
    ds.batches("test", 8, by_length=True, shuffle=True)
  images = build_image_dataset("toy", {"train": np.zeros((4, 28, 28), np.uint8)})
  with pytest.raises(DataError, match="applies to text data sets"):
    images.batches("train", 2, by_length=True)


def test_count_tokens_counts_words_and_eos():
  x = tf.constant([[2, 5, 6, 3, 0], [2, 3, 0, 0, 0], [2, 7, 8, 9, 3]])
  np.testing.assert_array_equal(count_tokens(x).numpy(), [3, 1, 4])
  ds = _text_ds()
  total = sum(int(tf.reduce_sum(ds.count_tokens(x))) for x in ds.batches("test", 9))
  assert total == sum(len(s.split()) + 1 for s in ds.sentences("test"))
  assert count_tokens(x).dtype == tf.int32


def test_errors_and_immutability():
  ds = _text_ds()
  with pytest.raises(DataError, match="'train', 'valid', 'test'"):
    ds.num_examples("validation")
  with pytest.raises(DataError):
    ds.batches("dev", 4)
  for bad in (0, -1, 2.5, True):
    with pytest.raises(DataError):
      ds.batches("train", bad)
  with pytest.raises(DataError, match="no true latents"):
    ds.latents("train")
  with pytest.raises(AttributeError):
    ds.name = "other"
  with pytest.raises(ValueError):
    ds.labels("train")[0] = 1
  assert ds.splits == ("train", "valid", "test") and ds.kind == "text"
  assert ds.event_shape == (None,)


def test_image_passes():
  rng = np.random.RandomState(0)
  grey = rng.randint(0, 256, size=(45, 28, 28)).astype(np.uint8)
  ds = build_image_dataset("toy", {"train": grey, "test": grey[:10]})
  assert isinstance(ds, DataSet) and ds.vocab is None and ds.event_shape == (28, 28, 1)
  x = next(iter(ds.batches("train", 8)))
  assert x.dtype == tf.float32 and x.shape == (8, 28, 28, 1)
  assert set(np.unique(x.numpy())) <= {0.0, 1.0}
  assert ds.num_batches("train", 8) == 6 == len(list(ds.batches("train", 8, shuffle=True)))
  with pytest.raises(DataError):
    ds.count_tokens(x)
  with pytest.raises(DataError, match="'train', 'test'"):
    ds.num_examples("valid")


def test_distributed_training_stream(mirrored_strategy):
  """A global batch is split across replicas; every example still appears once."""
  ds = _text_ds()
  dist = mirrored_strategy.experimental_distribute_dataset(ds.batches("train", 16))
  seen = 0
  for per_replica in dist:
    parts = mirrored_strategy.experimental_local_results(per_replica)
    assert len(parts) == 2
    seen += sum(int(p.shape[0]) for p in parts)
  assert seen == ds.num_examples("train")
  stream = mirrored_strategy.experimental_distribute_dataset(ds.train_batches(16, seed=1))
  first = mirrored_strategy.experimental_local_results(next(iter(stream)))
  assert [int(p.shape[0]) for p in first] == [8, 8]
