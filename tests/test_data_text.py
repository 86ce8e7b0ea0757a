"""Tests for tfvae.data.text: reading, splitting, encoding and the real corpora."""

import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae.data import DataError
from tfvae.data import Vocabulary
from tfvae.data import text as text_lib

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = os.environ.get("TFVAE_DATA_DIR") or (str(_SHARED) if _SHARED.is_dir() else None)
needs_data = pytest.mark.skipif(DATA_DIR is None, reason="no TFVAE_DATA_DIR and no shared data")


def _write(path, content: bytes):
  path.write_bytes(content)
  return str(path)


# Reading -----------------------------------------------------------------------------


def test_read_lines_strips_and_skips_blank(tmp_path):
  path = _write(tmp_path / "a.txt", b" one two \n\n three\r\n   \nfour")
  assert text_lib.read_lines(path, dataset="x") == ["one two", "three", "four"]


def test_missing_file_says_which_where_and_how(tmp_path):
  path = str(tmp_path / "ptb" / "ptb.train.txt")
  with pytest.raises(DataError) as e:
    text_lib.read_lines(path, dataset="ptb", how_to_get=text_lib.PTB_HOW_TO_GET)
  msg = str(e.value)
  assert path in msg and "does not exist" in msg
  assert "TFVAE_DATA_DIR" in msg and "--data_dir" in msg
  assert "python -m tfvae.data.prepare_ptb" in msg


@pytest.mark.parametrize("content,what", [(b"", "empty"), (b"  \n\n \t\n", "blank")])
def test_empty_file(tmp_path, content, what):
  path = _write(tmp_path / "e.txt", content)
  with pytest.raises(DataError, match=what):
    text_lib.read_lines(path, dataset="x")


def test_non_utf8_reports_line_and_byte(tmp_path):
  path = _write(tmp_path / "latin.txt", b"fine line\nsecond ok\ncaf\xe9 au lait\n")
  with pytest.raises(DataError) as e:
    text_lib.read_lines(path, dataset="x")
  msg = str(e.value)
  assert "line 3" in msg and "byte 4" in msg and "0xe9" in msg and path in msg


# text_file loader ---------------------------------------------------------------------


def _user_corpus(tmp_path):
  (tmp_path / "train.txt").write_text("a b c\na b\nb d e f g h\n")
  (tmp_path / "test.txt").write_text("a z\n")
  return tmp_path


def test_text_file_loader(tmp_path):
  root = _user_corpus(tmp_path)
  ds = data.load("text_file", train=str(root / "train.txt"), test=str(root / "test.txt"))
  assert ds.splits == ("train", "test") and ds.kind == "text"
  assert ds.vocab.words[4:6] == ["b", "a"]
  assert ds.sentences("test") == ["a <unk>"]
  assert ds.oov_rate("test") == 0.5 and ds.oov_rate("train") == 0.0
  assert ds.summary()["oov_rate"] == {"train": 0.0, "test": 0.5}
  with pytest.raises(DataError, match="no split 'valid'"):
    ds.num_examples("valid")


def test_text_file_relative_to_data_dir_and_missing(tmp_path):
  root = _user_corpus(tmp_path)
  ds = data.load("text_file", str(root), train="train.txt")
  assert ds.num_examples("train") == 3
  with pytest.raises(DataError, match="nope.txt") as e:
    data.load("text_file", str(root), train="train.txt", valid="nope.txt")
  assert str(root / "nope.txt") in str(e.value)
  with pytest.raises(DataError, match="needs train"):
    data.load("text_file", str(root), test="test.txt")


def test_max_length_vocab_size_and_given_vocab(tmp_path):
  root = _user_corpus(tmp_path)
  ds = data.load("text_file", train=str(root / "train.txt"), max_length=2, vocab_size=6)
  assert ds.sentences("train") == ["a b", "a b", "b <unk>"]
  assert ds.vocab.size == 6
  assert ds.oov_rate("train") == 1 / 6  # "d" of a b / a b / b d
  lengths = [int(n) for x in ds.batches("train", 3) for n in ds.count_tokens(x)]
  assert lengths == [3, 3, 3]
  vocab_path = tmp_path / "vocab.json"
  ds.vocab.save(vocab_path)
  again = data.load("text_file", train=str(root / "train.txt"), vocab=str(vocab_path))
  assert again.vocab == ds.vocab
  with pytest.raises(DataError):
    data.load("text_file", train=str(root / "train.txt"), max_length=0)
  with pytest.raises(DataError):
    data.load("text_file", train=str(root / "train.txt"), vocab=ds.vocab, vocab_size=9)


def test_yahoo_and_yelp_split_rules(tmp_path):
  (tmp_path / "yahoo").mkdir()
  (tmp_path / "yahoo" / "yahoo.valid.txt").write_text(
    "".join(f"doc {i} _UNK\n" for i in range(9100))
  )
  (tmp_path / "yahoo" / "yahoo.test.txt").write_text("doc x\n")
  ds = data.load("yahoo", str(tmp_path))
  assert [ds.num_examples(s) for s in ds.splits] == [9000, 100, 1]
  assert ds.sentences("train")[3] == "doc 3 <unk>"
  assert ds.sentences("valid")[0] == "doc <unk> <unk>"  # 9000 is not a training word
  assert "_UNK" not in ds.vocab
  (tmp_path / "yelp_sentiment").mkdir()
  for label, n in ((0, 25), (1, 12)):
    for stage in ("dev", "test"):
      (tmp_path / "yelp_sentiment" / f"sentiment.{stage}.{label}").write_text(
        "".join(f"{stage} {label} {i}\n" for i in range(n))
      )
  ds = data.load("yelp", str(tmp_path))
  assert [ds.num_examples(s) for s in ds.splits] == [25 - 2 + 12 - 1, 3, 37]
  texts, _ = text_lib.yelp_sources(str(tmp_path))
  assert texts["valid"] == ["dev 0 9", "dev 0 19", "dev 1 9"]
  np.testing.assert_array_equal(ds.labels("valid"), [0, 0, 1])
  np.testing.assert_array_equal(ds.labels("test"), [0] * 25 + [1] * 12)


# Real corpora -----------------------------------------------------------------------


@needs_data
def test_ptb_counts_vocab_and_tokens():
  ds = data.load("ptb", DATA_DIR)
  assert [ds.num_examples(s) for s in ("train", "valid", "test")] == [42068, 3370, 3761]
  assert ds.vocab.size == 10002
  # README: 887,521 / 70,390 / 78,669 word tokens; perplexity also counts </s>.
  for split, words in (("train", 887521), ("valid", 70390), ("test", 78669)):
    total = sum(int(tf.reduce_sum(ds.count_tokens(x))) for x in ds.batches(split, 512))
    assert total == words + ds.num_examples(split)
  assert ds.num_batches("train", 32) == 1315
  # PTB's 10k vocabulary covers every training word: its OOV words are the corpus's own <unk>.
  for split in ("valid", "test"):
    words = (pathlib.Path(DATA_DIR) / "ptb" / f"ptb.{split}.txt").read_text().split()
    assert ds.oov_rate(split) == pytest.approx(words.count("<unk>") / len(words), abs=1e-12)
  assert ds.sentences("valid")[0].startswith("consumers may want to move")


@needs_data
def test_ptb_truncation_to_35():
  ds = data.load("ptb", DATA_DIR, max_length=35)
  longest = max(int(tf.reduce_max(ds.count_tokens(x))) for x in ds.batches("train", 4096))
  assert longest == 36  # 35 words + </s>
  assert ds.vocab.size == 10002  # the vocabulary ignores truncation


@needs_data
def test_yahoo_and_yelp_real_files():
  yahoo = data.load("yahoo", DATA_DIR)
  assert [yahoo.num_examples(s) for s in yahoo.splits] == [9000, 1000, 10000]
  assert Vocabulary.UNK_ID in next(iter(yahoo.batches("train", 64))).numpy()
  yelp = data.load("yelp", DATA_DIR)
  n0, n1 = 25278, 38205
  assert yelp.num_examples("valid") == n0 // 10 + n1 // 10
  assert yelp.num_examples("train") == n0 + n1 - yelp.num_examples("valid")
  assert yelp.num_examples("test") == 50278 + 76392
  labels = yelp.labels("test")
  assert labels.dtype == np.int32 and labels[:50278].sum() == 0 and labels[50278:].all()
