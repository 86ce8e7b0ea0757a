"""Tests for tfvae.data.vocabulary."""

import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfvae.data import DataError
from tfvae.data import Vocabulary

_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = os.environ.get("TFVAE_DATA_DIR") or (str(_SHARED) if _SHARED.is_dir() else None)
needs_data = pytest.mark.skipif(DATA_DIR is None, reason="no TFVAE_DATA_DIR and no shared data")


def test_reserved_ids():
  v = Vocabulary.build(["a b"])
  assert (v.PAD_ID, v.UNK_ID, v.BOS_ID, v.EOS_ID) == (0, 1, 2, 3)
  assert v.words[:4] == ["<pad>", "<unk>", "<s>", "</s>"]


def test_order_is_frequency_then_alphabetical():
  v = Vocabulary.build(["b a c b", "c d b", "a"])  # b:3, a:2, c:2, d:1
  assert v.words[4:] == ["b", "a", "c", "d"]
  assert v.size == 8 == len(v)


def test_unknown_spellings_map_to_unk_and_are_not_words():
  v = Vocabulary.build(["x <unk> _UNK y x"])
  assert v.words[4:] == ["x", "y"]
  assert v.encode("x <unk> _UNK zzz y") == [4, 1, 1, 1, 5]
  # literal reserved symbols in text cannot forge framing
  assert v.encode("</s> <s> <pad>") == [1, 1, 1]


def test_max_size_and_min_count():
  sents = ["a a a b b c"]
  assert Vocabulary.build(sents, max_size=6).words[4:] == ["a", "b"]
  assert Vocabulary.build(sents, min_count=2).words[4:] == ["a", "b"]
  with pytest.raises(DataError):
    Vocabulary.build(sents, max_size=3)
  with pytest.raises(DataError):
    Vocabulary.build(sents, min_count=0)


def test_encode_decode():
  v = Vocabulary.build(["the cat sat", "the dog"])
  ids = v.encode("the dog sat")
  assert v.decode(ids) == "the dog sat"
  framed = v.encode("the dog", add_markers=True)
  assert framed[0] == v.BOS_ID and framed[-1] == v.EOS_ID
  padded = framed + [v.PAD_ID, v.PAD_ID]
  assert v.decode(padded) == "the dog"
  # stops at </s>; works on numpy arrays and tensors
  after = np.array(framed + v.encode("cat"))
  assert v.decode(after) == "the dog"
  assert v.decode(tf.constant(after)) == "the dog"
  assert v.decode(v.encode("the unseen")) == "the <unk>"
  with pytest.raises(DataError):
    v.decode([99])


def test_save_load_roundtrip(tmp_path):
  v = Vocabulary.build(["élan vital über", "a b"])
  path = tmp_path / "vocab.json"
  v.save(path)
  w = Vocabulary.load(path)
  assert w == v and w.words == v.words
  assert json.loads(path.read_text(encoding="utf-8"))["words"][:4] == list(v.SPECIALS)


def test_load_errors(tmp_path):
  with pytest.raises(DataError, match="not found"):
    Vocabulary.load(tmp_path / "missing.json")
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(DataError, match="JSON"):
    Vocabulary.load(bad)
  other = tmp_path / "other.json"
  other.write_text(json.dumps({"words": ["a"]}))
  with pytest.raises(DataError, match="not a vocabulary"):
    Vocabulary.load(other)


def test_constructor_validates():
  with pytest.raises(DataError):
    Vocabulary(["a", "b"])
  with pytest.raises(DataError):
    Vocabulary([*Vocabulary.SPECIALS, "a", "a"])
  with pytest.raises(DataError):
    Vocabulary([*Vocabulary.SPECIALS, "two words"])
  assert issubclass(DataError, ValueError)


@needs_data
def test_ptb_gives_the_standard_10k_vocabulary():
  lines = (pathlib.Path(DATA_DIR) / "ptb" / "ptb.train.txt").read_text().splitlines()
  v = Vocabulary.build(lines)
  # 9,999 training types (incl. <unk>) + </s> = 10k, plus <pad> and <s>.
  assert v.size == 10002
  assert "<unk>" not in v.words[4:]
  assert v.words[4] == "the"
