"""Text corpora: reading, splitting, encoding and batching (METHODS.md D1, D6).

One sentence (or document) per line, tokens separated by white space; blank lines
are skipped. A batch is one int32 tensor `[B, T]` whose rows are
`<s> w1 ... wn </s>` followed by `<pad>` (id 0), T the longest row in the batch;
the vocabulary comes from the training split only (see `vocabulary.py`).
`max_length` truncates every sentence to that many words before `</s>` is added
(Melis et al. (2022), section 7.2, use 35 on PTB).

Corpora (file names relative to the data directory):

* `ptb`: Mikolov's Penn Treebank, `ptb/ptb.{train,valid,test}.txt` (Fang et
  al. (2019); Melis et al. (2022)).
* `yahoo`: `yahoo/yahoo.{valid,test}.txt` of Yang et al. 2017. The 100k-document
  training file is not distributed with our data, so: train = the first 9,000
  lines of `yahoo.valid.txt`, valid = its last 1,000 lines, test = `yahoo.test.txt`.
  Numbers are therefore not comparable with the 100k-training results of Li et
  al. (2019), Fang et al. (2019) and Shen et al. (2021).
* `yelp`: the sentiment sentences of Shen et al. 2017. Train/valid come from
  `yelp_sentiment/sentiment.dev.{0,1}`: in each file every tenth line (index
  i % 10 == 9) is held out as valid, the rest is train; test is
  `sentiment.test.{0,1}`. Examples of file `.0` come first, then `.1`; labels
  (0 negative, 1 positive) are available for every split (Shen et al. (2021),
  table 2, probes).
* `text_file`: the user's own files (options `train`, `valid`, `test`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae.data.dataset import DataSet
from tfvae.data.dataset import count_tokens
from tfvae.data.errors import DataError
from tfvae.data.errors import find_user_file
from tfvae.data.errors import require_file
from tfvae.data.vocabulary import Vocabulary

__all__ = [
  "TextSplit",
  "build_text_dataset",
  "count_tokens",
  "load_ptb",
  "load_text_file",
  "load_yahoo",
  "load_yelp",
  "ptb_sources",
  "read_lines",
  "yahoo_sources",
  "yelp_sources",
]

PTB_HOW_TO_GET = (
  "To fetch Mikolov's PTB run `python -m tfvae.data.prepare_ptb --data_dir DIR`; it "
  "writes DIR/ptb/ptb.{train,valid,test}.txt."
)
YAHOO_HOW_TO_GET = (
  "The Yahoo Answers corpus of Yang et al. 2017 (distributed with the code of He et al. "
  "2019, 'lagging inference networks') is expected as DIR/yahoo/yahoo.{valid,test}.txt."
)
YELP_HOW_TO_GET = (
  "The Yelp sentiment sentences of Shen et al. 2017 (language-style-transfer repository, "
  "data/yelp) are expected as DIR/yelp_sentiment/sentiment.{dev,test}.{0,1}."
)
YAHOO_TRAIN_LINES = 9000
HOLDOUT_EVERY = 10  # yelp: line i of a dev file goes to valid when i % 10 == 9


# Reading ---------------------------------------------------------------------------


def read_lines(path: str, *, dataset: str, how_to_get: str = "") -> list[str]:
  """Non-blank lines of a UTF-8 text file, stripped.

  Raises:
    DataError: the file is missing, empty (or blank), or not valid UTF-8 (the
      message gives the line and byte).
  """
  require_file(path, dataset=dataset, how_to_get=how_to_get)
  with open(path, "rb") as f:
    raw = f.read()
  try:
    text = raw.decode("utf-8-sig")  # a leading byte-order mark is dropped
  except UnicodeDecodeError as e:
    line = raw.count(b"\n", 0, e.start) + 1
    column = e.start - raw.rfind(b"\n", 0, e.start)  # 1-based (rfind gives -1 on line 1)
    bad = raw[e.start : e.end].hex(" ")
    raise DataError(
      f"Data set {dataset!r}: {path!r} is not valid UTF-8: line {line}, byte {column} "
      f"of that line (file offset {e.start}) holds 0x{bad} ({e.reason}). Re-encode "
      f"the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
    ) from None
  lines = [line.strip() for line in text.split("\n")]
  kept = [line for line in lines if line]
  if not kept:
    what = "empty" if not raw else "blank (white space only)"
    raise DataError(f"Data set {dataset!r}: {path!r} is {what}; expected one sentence per line.")
  blank = len(lines) - len(kept) - (1 if text.endswith("\n") else 0)
  if blank:
    logging.info("%s: skipped %d blank lines in %s", dataset, blank, path)
  return kept


def ptb_sources(data_dir: str) -> dict[str, list[str]]:
  """The lines of the three PTB files."""
  return {
    split: read_lines(
      os.path.join(data_dir, "ptb", f"ptb.{split}.txt"),
      dataset="ptb",
      how_to_get=PTB_HOW_TO_GET,
    )
    for split in ("train", "valid", "test")
  }


def yahoo_sources(data_dir: str) -> dict[str, list[str]]:
  """Yahoo splits: train/valid carved from `yahoo.valid.txt` (see module doc)."""

  def read(name):
    path = os.path.join(data_dir, "yahoo", f"yahoo.{name}.txt")
    return read_lines(path, dataset="yahoo", how_to_get=YAHOO_HOW_TO_GET)

  dev = read("valid")
  if len(dev) <= YAHOO_TRAIN_LINES:
    raise DataError(
      f"Data set 'yahoo': yahoo.valid.txt has {len(dev)} documents; need more than "
      f"{YAHOO_TRAIN_LINES} to carve train (first {YAHOO_TRAIN_LINES}) and valid (rest)."
    )
  return {"train": dev[:YAHOO_TRAIN_LINES], "valid": dev[YAHOO_TRAIN_LINES:], "test": read("test")}


def yelp_sources(data_dir: str) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
  """Yelp sentiment splits and their 0/1 labels (see module doc)."""
  texts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
  labels: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
  for label in (0, 1):
    for stage in ("dev", "test"):
      path = os.path.join(data_dir, "yelp_sentiment", f"sentiment.{stage}.{label}")
      lines = read_lines(path, dataset="yelp", how_to_get=YELP_HOW_TO_GET)
      if stage == "test":
        groups = {"test": lines}
      else:
        groups = {
          "train": [s for i, s in enumerate(lines) if i % HOLDOUT_EVERY != 9],
          "valid": [s for i, s in enumerate(lines) if i % HOLDOUT_EVERY == 9],
        }
      for split, group in groups.items():
        texts[split].extend(group)
        labels[split].extend([label] * len(group))
  return texts, {s: np.asarray(v, np.int32) for s, v in labels.items()}


# Encoding and batching --------------------------------------------------------------


class TextSplit:
  """One split as framed id sequences `<s> w1 ... wn </s>` (a ragged array)."""

  element_spec = tf.TensorSpec([None, None], tf.int32)

  def __init__(
    self,
    rows: Sequence[Sequence[int]],
    *,
    labels: np.ndarray | None = None,
    latents: np.ndarray | None = None,
  ):
    lengths = np.fromiter((len(r) for r in rows), np.int64, count=len(rows))
    flat = np.fromiter((i for r in rows for i in r), np.int32, count=int(lengths.sum()))
    for name, extra in (("labels", labels), ("latents", latents)):
      if extra is not None and len(extra) != len(rows):
        raise ValueError(f"{name} has {len(extra)} entries for {len(rows)} examples")
    self.size = len(rows)
    self.lengths = _frozen(lengths)
    self.labels = None if labels is None else _frozen(labels)
    self.latents = None if latents is None else _frozen(latents)
    self._flat = _frozen(flat)
    self._offsets = np.concatenate([[0], np.cumsum(lengths)])
    self._ragged = None

  def rows(self) -> list[np.ndarray]:
    return [self._flat[a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

  @property
  def oov_rate(self) -> float:
    """Share of the words (`<s>`/`</s>` excluded) encoded as `<unk>`.

    Words the vocabulary lacks and the corpus's own unknown-word tokens
    (PTB's `<unk>`) both count: either way the model sees `<unk>`.
    """
    num_words = len(self._flat) - 2 * self.size
    return float(np.count_nonzero(self._flat == Vocabulary.UNK_ID) / max(num_words, 1))

  def _tensor(self) -> tf.RaggedTensor:
    if self._ragged is None:
      with tf.init_scope():  # an eager constant, whatever graph asks first
        self._ragged = tf.RaggedTensor.from_row_lengths(
          tf.constant(self._flat), tf.constant(self.lengths)
        )
    return self._ragged

  def make_batch(self, indices: tf.Tensor, noise_seed: tf.Tensor) -> tf.Tensor:
    del noise_seed  # text batches are not random
    rows = tf.gather(self._tensor(), indices)
    return rows.to_tensor(default_value=Vocabulary.PAD_ID)


def _frozen(a) -> np.ndarray:
  a = np.array(a)
  a.setflags(write=False)
  return a


def check_max_length(max_length) -> int | None:
  if max_length is None:
    return None
  if isinstance(max_length, bool) or int(max_length) != max_length or max_length < 1:
    raise DataError(f"max_length must be a positive integer or None, got {max_length!r}.")
  return int(max_length)


def build_text_dataset(
  name: str,
  texts: Mapping[str, Sequence[str]],
  *,
  labels: Mapping[str, np.ndarray] | None = None,
  latents: Mapping[str, np.ndarray] | None = None,
  max_length: int | None = None,
  vocab_size: int | None = None,
  min_count: int = 1,
  vocab: Vocabulary | str | os.PathLike | None = None,
  info: str = "",
) -> DataSet:
  """Encodes split texts into a text `DataSet`.

  Args:
    name: registry name.
    texts: split name -> lines; must include "train" unless `vocab` is given.
    labels, latents: optional per-split arrays aligned with the lines.
    max_length: keep at most this many words per line (before `</s>`).
    vocab_size: cap on the vocabulary size (reserved symbols included).
    min_count: minimum training count for a word to get its own id.
    vocab: use this `Vocabulary` (or the path of a saved one) instead of
      building one from the training split; `vocab_size`/`min_count` then
      must be left unset.
  """
  max_length = check_max_length(max_length)
  if vocab is not None:
    if vocab_size is not None or min_count != 1:
      raise DataError("Give either vocab or vocab_size/min_count, not both.")
    if not isinstance(vocab, Vocabulary):
      vocab = Vocabulary.load(vocab)
  else:
    if "train" not in texts:
      raise DataError(f"Data set {name!r} needs a train split to build its vocabulary.")
    vocab = Vocabulary.build(texts["train"], max_size=vocab_size, min_count=min_count)
  parts = {}
  for split, lines in texts.items():
    rows = []
    for line in lines:
      words = line.split()
      if max_length is not None:
        words = words[:max_length]
      rows.append([Vocabulary.BOS_ID, *vocab.encode_tokens(words), Vocabulary.EOS_ID])
    parts[split] = TextSplit(
      rows,
      labels=None if labels is None else labels.get(split),
      latents=None if latents is None else latents.get(split),
    )
    logging.info(
      "%s/%s: %d sentences, %d predicted tokens, longest %d, out of vocabulary %.2f%%",
      name,
      split,
      parts[split].size,
      int(parts[split].lengths.sum()) - parts[split].size,
      int(parts[split].lengths.max()),
      100 * parts[split].oov_rate,
    )
  return DataSet(name, "text", parts, vocab=vocab, event_shape=(None,), info=info)


# Loaders ---------------------------------------------------------------------------


def load_ptb(data_dir: str, *, max_length=None, **options) -> DataSet:
  """Penn Treebank (Mikolov), METHODS.md D1; 10k vocabulary (size 10002 here)."""
  return build_text_dataset(
    "ptb",
    ptb_sources(data_dir),
    max_length=max_length,
    info=f"PTB from {data_dir}/ptb",
    **options,
  )


def load_yahoo(data_dir: str, *, max_length=None, **options) -> DataSet:
  """Yahoo Answers documents (METHODS.md D6); splits as in the module doc."""
  return build_text_dataset(
    "yahoo",
    yahoo_sources(data_dir),
    max_length=max_length,
    info=f"Yahoo from {data_dir}/yahoo: train/valid = first {YAHOO_TRAIN_LINES}/rest of "
    "yahoo.valid.txt, test = yahoo.test.txt",
    **options,
  )


def load_yelp(data_dir: str, *, max_length=None, **options) -> DataSet:
  """Yelp sentiment sentences with 0/1 labels (METHODS.md D6)."""
  texts, labels = yelp_sources(data_dir)
  return build_text_dataset(
    "yelp",
    texts,
    labels=labels,
    max_length=max_length,
    info=f"Yelp sentiment from {data_dir}/yelp_sentiment: train/valid from dev files "
    "(every 10th line held out), test from test files",
    **options,
  )


def load_text_file(
  data_dir: str | None,
  *,
  train: str | os.PathLike | None = None,
  valid: str | os.PathLike | None = None,
  test: str | os.PathLike | None = None,
  max_length=None,
  **options,
) -> DataSet:
  """The user's corpus: one sentence per line; `train` is required.

  A relative path is looked up from the working directory, then (if given or
  set in $TFVAE_DATA_DIR) from the data directory. Splits left out are absent
  from the data set.
  """
  if train is None:
    raise DataError("Data set 'text_file' needs train=PATH (and optionally valid, test).")
  texts, found = {}, {}
  for split, path in (("train", train), ("valid", valid), ("test", test)):
    if path is not None:
      found[split] = find_user_file(path, data_dir, dataset="text_file")
      texts[split] = read_lines(found[split], dataset="text_file")
  return build_text_dataset(
    "text_file", texts, max_length=max_length, info=f"user text files {found}", **options
  )
