"""The uniform-symbol data set D2 (Melis et al. (2022), section 7.1)."""

import numpy as np
import pytest
import scipy.stats

from tfvae import data


def _ids(dataset, split):
  return np.concatenate([b.numpy() for b in dataset.batches(split, 1000)])


def test_defaults_match_the_paper_task():
  dataset = data.load("uniform10k")
  assert dataset.kind == "symbols" and dataset.num_symbols == 10000
  assert dataset.event_shape == () and dataset.vocab is None
  assert [dataset.num_examples(s) for s in data.SPLITS] == [100000, 10000, 10000]
  train = _ids(dataset, "train")
  assert train.dtype == np.int32 and train.min() >= 0 and train.max() < 10000
  counts = np.bincount(train, minlength=10000)
  assert scipy.stats.chisquare(counts).pvalue > 1e-3  # Uniform over the symbols.


def test_splits_are_fixed_draws_of_the_seed():
  a = data.load("uniform10k", num_symbols=50, num_train=300, seed=4)
  b = data.load("uniform10k", num_symbols=50, num_train=300, seed=4)
  c = data.load("uniform10k", num_symbols=50, num_train=300, seed=5)
  np.testing.assert_array_equal(_ids(a, "train"), _ids(b, "train"))
  assert not np.array_equal(_ids(a, "train"), _ids(c, "train"))
  assert not np.array_equal(_ids(a, "train")[:100], _ids(a, "valid")[:100])
  batch = next(iter(a.train_batches(64, seed=1)))
  assert batch.shape == (64,) and batch.dtype.name == "int32"


@pytest.mark.parametrize("options, message", [
    ({"alphabet": 3}, "does not take option"),
    ({"num_symbols": 1}, "expected an integer >= 2"),
    ({"num_train": 0.5}, "expected an integer"),
    ({"max_length": 5}, "max_length applies to text"),
])
def test_bad_options_are_explained(options, message):
  with pytest.raises(data.DataError, match=message):
    data.load("uniform10k", **options)
