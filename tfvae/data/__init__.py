"""Data sets for tfvae (METHODS.md section 3): text corpora, binary images, synthetic sets.

    from tfvae import data
    ds = data.load("ptb", data_dir, max_length=35)   # -> DataSet
    ds.train_batches(32, seed=0)                     # endless, resumable by epoch
    ds.batches("test", 100)                          # one pass, stored order

`data.available()` lists the names; every user-facing problem raises
`data.DataError` (a `ValueError`). The tfds builders live in
`tfvae.data.tfds_builders` (imported on demand: tensorflow_datasets is slow to
import); `python -m tfvae.data.prepare_ptb --data_dir DIR` fetches PTB.
"""

from tfvae.data.dataset import SPLITS
from tfvae.data.dataset import DataSet
from tfvae.data.dataset import count_tokens
from tfvae.data.errors import DATA_DIR_ENV
from tfvae.data.errors import DataError
from tfvae.data.registry import DEFAULT
from tfvae.data.registry import available
from tfvae.data.registry import describe
from tfvae.data.registry import load
from tfvae.data.vocabulary import Vocabulary

__all__ = [
  "DATA_DIR_ENV",
  "DEFAULT",
  "SPLITS",
  "DataError",
  "DataSet",
  "Vocabulary",
  "available",
  "count_tokens",
  "describe",
  "load",
]
