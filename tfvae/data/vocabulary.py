"""Word vocabulary shared by every text data set (METHODS.md D1, D4, D6).

Ids 0..3 are reserved: `<pad>`=0, `<unk>`=1, `<s>`=2, `</s>`=3. The remaining
ids go to the words of the training split by descending frequency, ties broken
alphabetically, so the same corpus always gives the same ids. The corpora mark
rare words themselves (`<unk>` in Mikolov's PTB, `_UNK` in the Yahoo corpus of
Yang et al. 2017); both spellings map to our `<unk>` and are never words of
their own. With this rule PTB's 9,999 training types (one of them `<unk>`) plus
`</s>` give the usual 10k vocabulary of the papers (Fang et al. (2019); Melis et
al. (2022), section 7.2), i.e. `size == 10002` once `<pad>` and `<s>` are
counted.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Iterable
from collections.abc import Sequence

import numpy as np

from tfvae.data.errors import DataError

_FORMAT = "tfvae.data.Vocabulary"
_VERSION = 1


class Vocabulary:
  """An immutable word <-> id mapping with four reserved symbols.

  Build one with `Vocabulary.build(training_sentences)`; `Vocabulary(words)`
  takes the complete id-ordered word list (as `words` returns and `save`
  writes), whose first four entries must be the reserved symbols.
  """

  PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
  PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
  SPECIALS = (PAD, UNK, BOS, EOS)
  # Spellings of the unknown word used by the corpora; all map to UNK_ID.
  UNK_ALIASES = frozenset({"<unk>", "<UNK>", "_UNK"})

  __slots__ = ("_ids", "_words")

  def __init__(self, words: Sequence[str]):
    words = tuple(str(w) for w in words)
    if words[: len(self.SPECIALS)] != self.SPECIALS:
      raise DataError(f"A vocabulary must start with {list(self.SPECIALS)}; got {list(words[:4])}.")
    ids = {w: i for i, w in enumerate(words)}
    if len(ids) != len(words):
      dup = [w for w, c in collections.Counter(words).items() if c > 1][:5]
      raise DataError(f"Vocabulary lists some words twice: {dup}.")
    bad = [w for w in words[4:] if w in self.UNK_ALIASES or w.split() != [w]]
    if bad:
      raise DataError(f"Vocabulary holds entries that cannot be words: {bad[:5]}.")
    self._words = words
    self._ids = ids

  # Construction -------------------------------------------------------------

  @classmethod
  def build(
    cls,
    sentences: Iterable[str | Sequence[str]],
    *,
    max_size: int | None = None,
    min_count: int = 1,
  ) -> Vocabulary:
    """Builds the vocabulary of a training split.

    Args:
      sentences: training sentences, each a string (split on white space) or a
        sequence of tokens.
      max_size: cap on `size`, the four reserved symbols included; the least
        frequent words are dropped (they become `<unk>`).
      min_count: words seen fewer times become `<unk>`.
    """
    if max_size is not None and int(max_size) < len(cls.SPECIALS):
      raise DataError(f"max_size (vocab_size) must be at least 4, got {max_size}.")
    if int(min_count) < 1:
      raise DataError(f"min_count must be at least 1, got {min_count}.")
    counts: collections.Counter[str] = collections.Counter()
    for sentence in sentences:
      tokens = sentence.split() if isinstance(sentence, str) else sentence
      counts.update(tokens)
    for reserved in cls.UNK_ALIASES | set(cls.SPECIALS):
      counts.pop(reserved, None)
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_size is not None:
      ranked = ranked[: int(max_size) - len(cls.SPECIALS)]
    return cls(cls.SPECIALS + tuple(ranked))

  # Queries --------------------------------------------------------------------

  @property
  def size(self) -> int:
    """Number of ids, the four reserved symbols included."""
    return len(self._words)

  def __len__(self) -> int:
    return len(self._words)

  @property
  def words(self) -> list[str]:
    """All entries in id order (a copy): `words[i]` is the string of id i."""
    return list(self._words)

  def __contains__(self, word: object) -> bool:
    return word in self._ids

  def __eq__(self, other: object) -> bool:
    return isinstance(other, Vocabulary) and self._words == other._words

  def __hash__(self) -> int:
    return hash(self._words)

  def __repr__(self) -> str:
    return f"Vocabulary(size={self.size})"

  def id_of(self, word: str) -> int:
    """Id of one token; unknown words, reserved symbols and `_UNK` give UNK_ID."""
    i = self._ids.get(word, self.UNK_ID)
    return self.UNK_ID if i < len(self.SPECIALS) else i

  def encode_tokens(self, tokens: Iterable[str]) -> list[int]:
    """Ids of already split tokens (no `<s>`/`</s>` added)."""
    ids, unk, first = self._ids, self.UNK_ID, len(self.SPECIALS)
    out = []
    for t in tokens:
      i = ids.get(t, unk)
      out.append(unk if i < first else i)
    return out

  def encode(self, sentence: str, *, add_markers: bool = False) -> list[int]:
    """Ids of the words of `sentence` (split on white space).

    Unknown words, the corpora's own unknown-word tokens (`<unk>`, `_UNK`) and
    literal reserved symbols in the text all map to `<unk>`.

    Args:
      sentence: a line of text.
      add_markers: if True, return `<s> w1 ... wn </s>`, the framing used by
        the batches of `DataSet`; by default only the word ids.
    """
    ids = self.encode_tokens(sentence.split())
    if add_markers:
      ids = [self.BOS_ID, *ids, self.EOS_ID]
    return ids

  def decode(self, ids) -> str:
    """The text of a sequence of ids: stops at `</s>`, drops `<pad>` and `<s>`.

    Accepts any 1-D integer sequence (list, numpy array, eager tensor).
    """
    if hasattr(ids, "numpy"):
      ids = ids.numpy()
    flat = np.asarray(ids).reshape(-1).tolist()
    out = []
    for i in flat:
      i = int(i)
      if i == self.EOS_ID:
        break
      if i in (self.PAD_ID, self.BOS_ID):
        continue
      if not 0 <= i < len(self._words):
        raise DataError(f"Id {i} is outside the vocabulary (size {self.size}).")
      out.append(self._words[i])
    return " ".join(out)

  # Persistence ----------------------------------------------------------------

  def save(self, path: str | os.PathLike) -> None:
    """Writes the vocabulary as JSON (UTF-8): format tag, version, word list."""
    payload = {"format": _FORMAT, "version": _VERSION, "words": list(self._words)}
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(payload, f, ensure_ascii=False)
    os.replace(tmp, path)

  @classmethod
  def load(cls, path: str | os.PathLike) -> Vocabulary:
    """Reads a vocabulary written by `save`."""
    path = os.fspath(path)
    try:
      with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    except FileNotFoundError as e:
      raise DataError(f"Vocabulary file not found: {path!r}.") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
      raise DataError(f"Vocabulary file {path!r} is not valid UTF-8 JSON: {e}.") from e
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
      raise DataError(f"{path!r} is not a vocabulary written by Vocabulary.save.")
    if payload.get("version") != _VERSION:
      raise DataError(
        f"{path!r} has vocabulary format version {payload.get('version')!r}; "
        f"this code reads version {_VERSION}."
      )
    return cls(payload["words"])
