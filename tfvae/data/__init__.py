"""Data sets for tfvae (METHODS.md section 3): text corpora, binary images, synthetic sets.

    from tfvae import data
    ds = data.load("ptb", data_dir, max_length=35)   # -> DataSet
    ds.train_batches(32, seed=0)                     # endless, resumable by epoch
    ds.batches("test", 100)                          # one pass, stored order

`data.available()` lists the names; every user-facing problem raises
`data.DataError` (a `ValueError`). The tfds builders live in
`tfvae.data.tfds_builders` (imported on demand: tensorflow_datasets is slow to
import); `python -m tfvae.data.prepare_ptb --data_dir DIR` fetches PTB.

The names below are imported when first used (PEP 562), so that the
catalogue and the errors, which need no TensorFlow, can be checked by a
launcher before TensorFlow is imported.
"""

from tfvae import lazy

_EXPORTS = {
  "SPLITS": "tfvae.data.dataset",
  "DataSet": "tfvae.data.dataset",
  "count_tokens": "tfvae.data.dataset",
  "DATA_DIR_ENV": "tfvae.data.errors",
  "DataError": "tfvae.data.errors",
  "DEFAULT": "tfvae.data.catalog",
  "available": "tfvae.data.catalog",
  "describe": "tfvae.data.catalog",
  "load": "tfvae.data.registry",
  "Vocabulary": "tfvae.data.vocabulary",
}

__getattr__, __dir__, __all__ = lazy.exports(__name__, _EXPORTS)
