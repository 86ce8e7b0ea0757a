"""Text <-> word ids inside the serving graph, the way `tfvae.data` does it in Python.

A request sentence goes through the same steps as a corpus line in
`tfvae.data.text.build_text_dataset`:

1. split on white space (`tf.strings.split`: runs of ASCII white space,
   i.e. space, tab, \\n, \\v, \\f, \\r, separate words; leading and trailing
   space is dropped; other Unicode spaces stay inside a word, where Python's
   `str.split` would split). No lower-casing and no punctuation splitting:
   the corpora are pre-tokenised, so a client sends text tokenised the same
   way (PTB: lower case, `<unk>` for rare words, `N` for numbers);
2. keep the first `max_words` words (the run's `max_length`, or the
   export's `--max_words` for runs without one);
3. look every word up in the vocabulary: words not in it, the corpora's own
   unknown-word spellings and literal reserved symbols (`<s>`, `</s>`,
   `<pad>`) become `<unk>`, exactly as `Vocabulary.encode` does;
4. frame as `<s> w1 ... wn </s>` and pad with `<pad>` to the longest row.

The empty string therefore encodes as the empty sentence `<s> </s>`.
"""

import tensorflow as tf

from tfvae.data.vocabulary import Vocabulary


class VocabularyTable(tf.Module):
  """The vocabulary as graph resources: word -> id hash table, id -> word constant.

  A `tf.Module`, so an `ExportArchive` that tracks it saves the table and
  its initializer into the SavedModel (restored by the `init_op` that the TF1
  session loader of TF Serving runs).
  """

  def __init__(self, vocab, name="vocabulary"):
    super().__init__(name=name)
    words = vocab.words
    self.size = len(words)
    first_word = len(Vocabulary.SPECIALS)
    # Only real words are keys, so reserved symbols and unknown words both
    # fall through to the default, `<unk>`.
    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(words[first_word:], tf.string),
        tf.range(first_word, len(words), dtype=tf.int32))
    self.table = tf.lookup.StaticHashTable(initializer, default_value=Vocabulary.UNK_ID)
    self.words = tf.constant(words, tf.string)

  def word_ids(self, sentences):
    """string [B] -> ragged int32 [B, (words)]: steps 1 and 3 above."""
    tokens = tf.strings.split(sentences)
    return tf.ragged.map_flat_values(self.table.lookup, tokens)

  def text(self, ids):
    """int32 [B, T] decoder output -> string [B], as `Vocabulary.decode` would.

    Words are joined by single spaces; decoding stops at the first `</s>`,
    and `<pad>` and `<s>` are dropped.
    """
    ended = tf.cumsum(tf.cast(tf.equal(ids, Vocabulary.EOS_ID), tf.int32), axis=1) > 0
    keep = tf.logical_not(ended)
    keep &= tf.not_equal(ids, Vocabulary.PAD_ID) & tf.not_equal(ids, Vocabulary.BOS_ID)
    words = tf.ragged.boolean_mask(tf.gather(self.words, ids), keep)
    return tf.strings.reduce_join(words, axis=1, separator=" ")


def ragged_from_padded(token_ids, lengths, vocab_size):
  """(int32 [B, T] word ids, int32 [B] lengths) -> ragged [B, (lengths)], checked.

  Raises (at run time, InvalidArgumentError): batch sizes differ, a length
  is negative or longer than T, or an id within a row's length is not a
  word id (1 = `<unk>`, or 4 .. vocab_size - 1).
  """
  batch = tf.shape(token_ids)[0]
  steps = tf.shape(token_ids)[1]
  checks = [
      tf.debugging.assert_equal(tf.shape(lengths)[0], batch, message=(
          "encode_ids: token_ids and lengths must have the same batch size")),
      tf.debugging.assert_non_negative(lengths, message="encode_ids: lengths must be >= 0"),
      tf.debugging.assert_less_equal(lengths, steps, message=(
          "encode_ids: lengths must be <= the number of columns of token_ids")),
  ]
  with tf.control_dependencies(checks):
    ragged = tf.RaggedTensor.from_tensor(token_ids, lengths=lengths)
  ids = ragged.flat_values
  is_word = tf.equal(ids, Vocabulary.UNK_ID) | (
      (ids >= len(Vocabulary.SPECIALS)) & (ids < vocab_size))
  check = tf.debugging.Assert(tf.reduce_all(is_word), [
      f"encode_ids: token_ids must be word ids, 1 (<unk>) or 4..{vocab_size - 1}, "
      "without <s>, </s> or <pad> within lengths; got", tf.boolean_mask(ids, ~is_word)],
      summarize=10)
  with tf.control_dependencies([check]):
    return tf.identity(ragged)


def frame(ragged_ids, max_words):
  """Ragged word ids [B, (n)] -> int32 [B, T] rows `<s> w1..wm </s> <pad>...`, m <= max_words."""
  ragged_ids = ragged_ids[:, :max_words]
  rows = ragged_ids.nrows()
  bos = tf.fill([rows, 1], Vocabulary.BOS_ID)
  eos = tf.fill([rows, 1], Vocabulary.EOS_ID)
  framed = tf.concat([bos, tf.cast(ragged_ids, tf.int32), eos], axis=1)
  return framed.to_tensor(default_value=Vocabulary.PAD_ID)
