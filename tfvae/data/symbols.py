"""`uniform10k`: single symbols drawn uniformly from 10000 (Melis et al. (2022), section 7.1;
METHODS.md D2).

Every example is one symbol id in [0, num_symbols). The data distribution is
uniform, so the best model assigns 1/num_symbols to each symbol: its NLL is
the entropy ln 10000 = 9.210 nats, reachable by a decoder that ignores z.
With a mutual-information term in the objective, the optimum instead stores
all ln 10000 nats in z (Melis et al. (2022): whenever H(Z) >= H(X)), which is
what makes the task a probe of latent use.

Melis et al. (2022) sample their data afresh; here each split is a fixed
i.i.d. draw from `numpy.random.RandomState([seed, split index + 1])`, large
enough that every
symbol appears about ten times in the training split (100,000 draws for 10,000
symbols by default). Batches are int32 [B].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfvae.data.dataset import DataSet
from tfvae.data.errors import DataError

DEFAULTS = {
  "num_symbols": 10000,
  "num_train": 100000,
  "num_valid": 10000,
  "num_test": 10000,
  "seed": 0,
}


class SymbolSplit:
  """One split: a fixed vector of symbol ids."""

  element_spec = tf.TensorSpec([None], tf.int32)
  lengths = None
  labels = None
  latents = None

  def __init__(self, ids: np.ndarray):
    self.size = len(ids)
    self._ids = np.asarray(ids, np.int32)
    self._ids.setflags(write=False)
    self._tensor_cache = None

  def make_batch(self, indices: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
    del noise_seed  # Symbols carry no per-pass randomness.
    if self._tensor_cache is None:
      with tf.init_scope():
        self._tensor_cache = tf.constant(self._ids)
    return tf.gather(self._tensor_cache, indices)


def load_uniform_symbols(**options) -> DataSet:
  """The D2 data set; options as DEFAULTS (all integers)."""
  unknown = set(options) - set(DEFAULTS)
  if unknown:
    raise DataError(f"Data set 'uniform10k' has no options {sorted(unknown)}; its options are "
                    f"{sorted(DEFAULTS)}.")
  opts = {**DEFAULTS, **options}
  for key, value in opts.items():
    low = {"seed": 0, "num_symbols": 2}.get(key, 1)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
      raise DataError(f"uniform10k option {key}={value!r}: expected an integer >= {low}.")
  parts = {}
  for index, split in enumerate(("train", "valid", "test")):
    rng = np.random.RandomState([int(opts["seed"]), index + 1])
    parts[split] = SymbolSplit(rng.randint(0, int(opts["num_symbols"]),
                                           size=int(opts[f"num_{split}"])))
  return DataSet("uniform10k", "symbols", parts, event_shape=(),
                 num_symbols=int(opts["num_symbols"]),
                 info=f"uniform symbols (D2), options {opts}")
