"""TensorFlow-Datasets builders for the local text corpora (METHODS.md D1, D6).

Importing this module registers `ptb_text`, `yahoo_text` and `yelp_text`. They
download nothing: they read the same files as `tfvae.data.load`, from tfds'
manual directory or, when none is given, from `$TFVAE_DATA_DIR`. The manual
directory is the data root (the folder holding `ptb/`, `yahoo/`,
`yelp_sentiment/`), e.g.

    import tensorflow_datasets as tfds
    import tfvae.data.tfds_builders  # registers the builders
    ds = tfds.load("ptb_text", split="train", data_dir=TMP,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir=DATA_ROOT)})

Splits are "train", "valid", "test", carved exactly as the `tfvae.data` loaders
do (see `tfvae/data/text.py`: Yahoo train/valid from `yahoo.valid.txt`, Yelp
every tenth dev line held out), and examples keep the file order (shuffling at
generation is disabled). Each example is `{"text": str}` plus `"label"`
(0 negative, 1 positive) for Yelp; blank lines are skipped as in `read_lines`.
"""

from __future__ import annotations

import os
from typing import ClassVar

import tensorflow_datasets as tfds

from tfvae.data import text
from tfvae.data.errors import DATA_DIR_ENV
from tfvae.data.errors import DataError

__all__ = ["PtbText", "YahooText", "YelpText"]

_INSTRUCTIONS = (
  "Pass the data root (the folder holding ptb/, yahoo/, yelp_sentiment/) as "
  "tfds.download.DownloadConfig(manual_dir=DIR), or set TFVAE_DATA_DIR=DIR. For PTB, "
  "`python -m tfvae.data.prepare_ptb --data_dir DIR` fetches the files."
)


def source_root(dl_manager, probe: str) -> str:
  """The data root holding `probe` (a relative file path): manual dir, else $TFVAE_DATA_DIR."""
  candidates = []
  try:
    candidates.append(os.fspath(dl_manager.manual_dir))
  except (AssertionError, ValueError):  # tfds: manual dir unset, missing or empty
    pass
  if os.environ.get(DATA_DIR_ENV):
    candidates.append(os.environ[DATA_DIR_ENV])
  for root in candidates:
    if os.path.isfile(os.path.join(root, probe)):
      return root
  looked = ", ".join(repr(os.path.join(c, probe)) for c in candidates) or "nowhere"
  raise DataError(f"tfds builder: cannot find {probe!r} (looked at {looked}). {_INSTRUCTIONS}")


class _LocalTextBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Common part: one `text` feature per line, splits train/valid/test."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES: ClassVar[dict[str, str]] = {
    "1.0.0": "First release, reads the local files of tfvae.data."
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  _PROBE = ""
  _DESCRIPTION = ""

  def _features(self) -> dict:
    return {"text": tfds.features.Text()}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      description=self._DESCRIPTION,
      features=tfds.features.FeaturesDict(self._features()),
      disable_shuffling=True,
    )

  def _sources(self, root: str) -> tuple[dict, dict | None]:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    texts, labels = self._sources(source_root(dl_manager, self._PROBE))
    return {
      split: self._generate_examples(lines, None if labels is None else labels[split])
      for split, lines in texts.items()
    }

  def _generate_examples(self, lines, labels):
    for i, line in enumerate(lines):
      example = {"text": line}
      if labels is not None:
        example["label"] = int(labels[i])
      yield i, example


class PtbText(_LocalTextBuilder):
  """Penn Treebank, Mikolov's preprocessing (42,068 / 3,370 / 3,761 sentences)."""

  _PROBE = os.path.join("ptb", "ptb.train.txt")
  _DESCRIPTION = "Penn Treebank (Mikolov et al. 2010 preprocessing), one sentence per line."

  def _sources(self, root):
    return text.ptb_sources(root), None


class YahooText(_LocalTextBuilder):
  """Yahoo Answers documents of Yang et al. 2017 (train/valid carved from valid)."""

  _PROBE = os.path.join("yahoo", "yahoo.valid.txt")
  _DESCRIPTION = (
    "Yahoo Answers (Yang et al. 2017): train = first 9,000 lines of yahoo.valid.txt, "
    "valid = its last 1,000, test = yahoo.test.txt."
  )

  def _sources(self, root):
    return text.yahoo_sources(root), None


class YelpText(_LocalTextBuilder):
  """Yelp sentiment sentences of Shen et al. 2017 with 0/1 labels."""

  _PROBE = os.path.join("yelp_sentiment", "sentiment.dev.0")
  _DESCRIPTION = (
    "Yelp sentiment (Shen et al. 2017): train/valid from sentiment.dev.{0,1} (every "
    "tenth line held out), test from sentiment.test.{0,1}."
  )

  def _features(self):
    return {"text": tfds.features.Text(), "label": tfds.features.ClassLabel(num_classes=2)}

  def _sources(self, root):
    return text.yelp_sources(root)
