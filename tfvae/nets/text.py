"""LSTM encoders and z-conditioned LSTM language-model decoder for text.

The default architecture follows He et al. (2019) as used by Li et al. (2019),
Fang et al. (2019) and Shen et al. (2021): a one-layer LSTM encoder whose last
state gives the posterior parameters, and a one-layer LSTM decoder whose
initial cell state is a linear projection of z (hidden state tanh of it) and
which sees z concatenated to every input embedding. Melis et al. (2022,
section 7.2.2) use a bidirectional encoder (`BiLSTMEncoder`) and a decoder
that adds z to every input embedding (`LSTMDecoder(z_input="add")`),
optionally with dropout masks shared by the K samples of a sentence
(`share_dropout_masks`, Melis et al. (2022), section 7.2.5).

Text batches are int32 [B, T]: `<s> w1 ... wn </s>` followed by `<pad>` (id 0).

Both networks take `lstm="fused"` (`tfvae.nets.fused_lstm.FusedLSTM`, faster on
CPU, see benchmarks/), `lstm="keras"` (`keras.layers.LSTM`, which runs cuDNN's
fused kernel on a GPU) or `lstm="auto"` (the default: "keras" when TensorFlow
sees a GPU, "fused" otherwise; `resolve_lstm`). The two hold the same weights
under the same paths (`<net>/lstm/lstm_cell/...`), so checkpoints of either
load into the other: a run trained on a GPU evaluates on a CPU and back.
"""

import keras
import tensorflow as tf

from tfvae import likelihoods
from tfvae.data.catalog import LSTM_IMPLEMENTATIONS
from tfvae.nets import shapes
from tfvae.nets.fused_lstm import FusedLSTM
from tfvae.nets.posterior_head import PosteriorParams

PAD_ID = 0
BOS_ID = 2
EOS_ID = 3
DEFAULT_LSTM = "auto"


Z_INPUTS = ("concat", "add")


def resolve_lstm(implementation):
  """"fused" or "keras" for `implementation`; "auto" is "keras" where TensorFlow sees a GPU.

  On a GPU `keras.layers.LSTM` runs cuDNN's fused kernel, which FusedLSTM's loop
  of small matmuls cannot match; on a CPU FusedLSTM is the faster.
  """
  if implementation not in LSTM_IMPLEMENTATIONS:
    raise ValueError(f"lstm={implementation!r}: choose among {LSTM_IMPLEMENTATIONS}.")
  if implementation != "auto":
    return implementation
  return "keras" if tf.config.list_logical_devices("GPU") else "fused"


def make_lstm(implementation, units, return_sequences=False, name="lstm"):
  """An LSTM layer: FusedLSTM ("fused") or keras.layers.LSTM ("keras"); "auto" as `resolve_lstm`."""
  if resolve_lstm(implementation) == "fused":
    return FusedLSTM(units, return_sequences=return_sequences, name=name)
  return keras.layers.LSTM(units, return_sequences=return_sequences, name=name)


class LSTMEncoder(keras.layers.Layer):
  """x [B, T] -> posterior parameters (`PosteriorParams`) from the LSTM's last valid state."""

  def __init__(self, vocab_size, embed_dim, hidden_dim, latent_dim, dropout=0.0,
               lstm=DEFAULT_LSTM, **kwargs):
    super().__init__(**kwargs)
    self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
    self.dropout = keras.layers.Dropout(dropout)
    self.lstm = make_lstm(lstm, hidden_dim)
    self.to_params = PosteriorParams(latent_dim)

  def call(self, x, training=False):
    return self._encode(self.embedding(x), tf.not_equal(x, PAD_ID), training)

  def encode_continuous(self, embedded, training=False):
    """Posterior parameters of sequences of embedding vectors [K, T, E], every step valid.

    The encoder's continuous input space, where a VampPrior's pseudo-inputs
    live (`tfvae.latents.VampPrior`).
    """
    return self._encode(embedded, None, training)

  def _encode(self, embedded, mask, training):
    embedded = self.dropout(embedded, training=training)
    return self.to_params(self.lstm(embedded, mask=mask, training=training))


class BiLSTMEncoder(keras.layers.Layer):
  """x [B, T] -> posterior parameters from a bidirectional LSTM (Melis et al. (2022), section
  7.2.2).

  The feature o is the average of the two directions' last states: the
  forward LSTM's state after the last token and the backward LSTM's state
  after reading the sentence from its last token back to `<s>` (each row is
  reversed within its length, padding stays at the end).
  """

  def __init__(self, vocab_size, embed_dim, hidden_dim, latent_dim, lstm=DEFAULT_LSTM,
               **kwargs):
    super().__init__(**kwargs)
    self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
    self.forward_lstm = make_lstm(lstm, hidden_dim, name="forward_lstm")
    self.backward_lstm = make_lstm(lstm, hidden_dim, name="backward_lstm")
    self.to_params = PosteriorParams(latent_dim)

  def call(self, x, training=False):
    mask = tf.not_equal(x, PAD_ID)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    embedded = self.embedding(x)
    reversed_rows = tf.reverse_sequence(embedded, lengths, seq_axis=1, batch_axis=0)
    return self._encode(embedded, reversed_rows, mask, training)

  def encode_continuous(self, embedded, training=False):
    """Posterior parameters of sequences of embedding vectors [K, T, E], every step valid."""
    return self._encode(embedded, tf.reverse(embedded, axis=[1]), None, training)

  def _encode(self, embedded, reversed_rows, mask, training):
    forward = self.forward_lstm(embedded, mask=mask, training=training)
    backward = self.backward_lstm(reversed_rows, mask=mask, training=training)
    return self.to_params(0.5 * (forward + backward))


class SampleSharedDropout(keras.layers.Layer):
  """Dropout whose mask is drawn once per example and reused by all its samples.

  Melis et al. (2022), section 7.2.5: with K samples of z per sentence,
  independent dropout masks add noise that differs between the samples of one
  importance-weighted estimate; sharing the mask keeps the samples comparable. Inputs are
  sample-major [S * B, ...] (see `shapes.flatten_samples`).
  """

  def __init__(self, rate, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.rate = float(rate)
    if self.rate > 0.0:  # As keras.layers.Dropout: no generator state without dropout.
      self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, inputs, num_samples, training=False):
    if not training or self.rate == 0.0:
      return inputs
    shape = tf.shape(inputs)
    per_example = tf.concat([[shape[0] // num_samples], shape[1:]], axis=0)
    mask = keras.random.dropout(tf.ones(per_example, inputs.dtype), self.rate,
                                seed=self.seed_generator)
    return inputs * tf.tile(mask, tf.concat([[num_samples], tf.ones_like(shape[1:])], axis=0))


class LSTMDecoder(keras.layers.Layer):
  """p(x|z): an LSTM language model conditioned on z (He et al. style).

  `likelihood(z, x)` is a distribution over the whole row x [B, T]: position 0
  (`<s>`) and padding are masked out, every other position t is Categorical
  given x[:t] and z, so `log_prob(x)` counts each word and the end-of-sentence
  token once (see `likelihoods.TokenSequence`).

  Args:
    vocab_size, embed_dim, hidden_dim: sizes.
    latent_dim: unused (z's width is read from z); kept for symmetry with
      the encoders.
    dropout_in, dropout_out: dropout rates of the LSTM's inputs and outputs.
    lstm: "auto", "fused" or "keras" (module docstring).
    z_input: "concat" (He et al.: z concatenated to every input embedding,
      the initial state a projection of z) or "add" (Melis et al. (2022),
      section 7.2.2: a linear projection of z added to every input embedding,
      zero initial state).
    share_dropout_masks: one dropout mask per sentence for all its samples
      of z (Melis et al. (2022), section 7.2.5) instead of one per row.
    project_words_once: with z [S, B, d], the fused LSTM, and no input
      dropout, project each sentence's words once for its S samples
      (`_projected_inputs`; the same numbers); False projects them for every
      row, as a reference implementation does (benchmarks compare the two).
  """

  def __init__(self, vocab_size, embed_dim, hidden_dim, latent_dim, dropout_in=0.0,
               dropout_out=0.0, lstm=DEFAULT_LSTM, z_input="concat", share_dropout_masks=False,
               project_words_once=True, **kwargs):
    super().__init__(**kwargs)
    del latent_dim
    self.project_words_once = project_words_once
    if z_input not in Z_INPUTS:
      raise ValueError(f"z_input={z_input!r}: choose among {Z_INPUTS}.")
    self.vocab_size = vocab_size
    self.z_input = z_input
    self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
    dropout = SampleSharedDropout if share_dropout_masks else RowDropout
    self.dropout_in = dropout(dropout_in, name="dropout_in")
    self.dropout_out = dropout(dropout_out, name="dropout_out")
    if z_input == "concat":
      self.z_to_cell = keras.layers.Dense(hidden_dim, name="z_to_cell")
    else:
      self.z_to_input = keras.layers.Dense(embed_dim, use_bias=False, name="z_to_input")
    self.lstm = make_lstm(lstm, hidden_dim, return_sequences=True)
    # The H x V output layer holds about 45% of the model's matmul FLOPs, so it runs
    # in the compute dtype (bfloat16 under mixed_bfloat16); `logits` casts its result
    # to float32 before the soft-max, the losses and the distributions see it.
    self.to_logits = keras.layers.Dense(vocab_size, name="to_logits")

  def call(self, z, x, training=False, return_features=False):
    """Next-token logits [..., B, T-1, V]; row t predicts x[:, t+1].

    With `return_features`, the output layer's inputs [..., B, T-1, H] instead
    (the LSTM's outputs after dropout), from which `logits` forms them.
    """
    batch_size = tf.shape(x)[0]
    flat_z, leading, num_samples = shapes.flatten_samples(z, batch_size)
    initial_state = self._initial_state(flat_z)
    if self._projects_words_once(z, training):
      outputs = self.lstm.recur(self._projected_inputs(x, flat_z, num_samples), initial_state,
                                training=training)
    else:
      inputs = tf.tile(x[:, :-1], [num_samples, 1])
      embedded = self.embedding(inputs)
      features = self.dropout_in(self._with_z(embedded, flat_z), num_samples=num_samples,
                                  training=training)
      outputs = self.lstm(features, initial_state=initial_state, training=training)
    outputs = self.dropout_out(outputs, num_samples=num_samples, training=training)
    features = shapes.unflatten_samples(outputs, leading, batch_size)
    return features if return_features else self.logits(features)

  def _projects_words_once(self, z, training):
    """Whether `_projected_inputs` applies: fused LSTM, z [S, B, d], no input dropout."""
    has_sample_axis = z.shape.rank is not None and z.shape.rank > 2
    input_dropout = training and self.dropout_in.rate > 0.0
    return (self.project_words_once and isinstance(self.lstm, FusedLSTM) and has_sample_axis
            and not input_dropout)

  def _projected_inputs(self, x, flat_z, num_samples):
    """The LSTM's input projections [T-1, S*B, 4H] (time-major), words projected per sentence.

    Row s*B + b at step t has the input e_bt (+) z_sb, whose projection is
    linear in both parts: [e; z] K = e K_e + z K_z ("concat"), (e + z A) K =
    e K + (z A) K ("add"). The word part is the same for the S samples of a
    sentence, so it is computed once per sentence and broadcast over them; only
    z's part is per row. With S samples this removes (S - 1) / S of the
    embedding's share of the input matmul (with He et al.'s sizes, 512 x 4096
    of the decoder's 16.7 M multiply-adds per token and sample, 1/8 of
    importance-weighted evaluation). Same numbers as `lstm(features)` up to
    float rounding (tested).
    """
    embed_dim = self.embedding.output_dim
    if not self.lstm.built:
      self.lstm.build((None, None, embed_dim + (flat_z.shape[-1] if self.z_input == "concat"
                                                else 0)))
    kernel, bias = self.lstm.input_weights()
    words = tf.transpose(self.embedding(x[:, :-1]), [1, 0, 2])  # [T-1, B, E]
    steps, batch_size = tf.shape(words)[0], tf.shape(words)[1]
    per_word = tf.matmul(tf.reshape(tf.cast(words, kernel.dtype), [-1, embed_dim]),
                         kernel[:embed_dim]) + bias
    per_word = tf.reshape(per_word, [steps, 1, batch_size, -1])
    if self.z_input == "add":
      per_row = tf.matmul(tf.cast(self.z_to_input(flat_z), kernel.dtype), kernel)
    else:
      per_row = tf.matmul(tf.cast(flat_z, kernel.dtype), kernel[embed_dim:])
    per_row = tf.reshape(per_row, [1, num_samples, batch_size, -1])
    return tf.reshape(per_word + per_row, [steps, num_samples * batch_size, -1])

  def _with_z(self, embedded, z):
    """The LSTM's inputs: embeddings [N, (T,) E] combined with z [N, d] as `z_input` says."""
    if self.z_input == "add":
      z = tf.cast(self.z_to_input(z), embedded.dtype)
      return embedded + (z[:, None, :] if embedded.shape.rank == 3 else z)
    z = tf.cast(z, embedded.dtype)
    if embedded.shape.rank == 3:
      z = tf.repeat(z[:, None, :], tf.shape(embedded)[1], axis=1)
    return tf.concat([embedded, z], axis=-1)

  def _initial_state(self, z):
    """[h0, c0] from z ("concat"), or None for zero states ("add")."""
    if self.z_input == "add":
      return None
    cell = self.z_to_cell(z)
    return [tf.tanh(cell), cell]

  def logits(self, outputs):
    """float32 next-token logits of LSTM outputs [..., H]; the matmul runs in the compute dtype.

    The outputs are flattened to [rows, H] first: on a 2-D input the layer's
    matmul and bias add fuse into one kernel (oneDNN), where a 3-D input goes
    through a tensordot followed by a separate pass over the [rows, V] logits.
    """
    flat = tf.reshape(outputs, [-1, outputs.shape[-1]])
    logits = self.to_logits(flat)
    shape = tf.concat([tf.shape(outputs)[:-1], [self.vocab_size]], axis=0)
    return tf.cast(tf.reshape(logits, shape), tf.float32)

  def likelihood(self, z, x, training=False):
    """p(x|z) whose log_prob runs the output layer on the scored positions only.

    Padding is up to 40% of the positions of a batch of random sentences and
    the output layer most of the decoder's FLOPs, so the logits of padded
    positions are never formed (`likelihoods.TokenSequence`'s `to_logits`).
    """
    features = self(z, x, training=training, return_features=True)
    if not self.to_logits.built:  # a distribution never scored still restores and exports
      self.to_logits.build((None, features.shape[-1]))
    return likelihoods.TokenSequence(features, tf.not_equal(x, PAD_ID), to_logits=self.logits)

  def generate(self, z, max_length, *, greedy=True, seed=None):
    """Decodes sentences from z [B, d], one token at a time.

    Feeds each chosen token back into the LSTM cell (the same cell the layer
    runs), starting from `<s>`; greedy decoding takes the most likely token,
    otherwise tokens are sampled with the stateless `seed` (int32 [2]).
    `<pad>` and `<s>` are excluded; a row ends at its first `</s>`.

    Returns:
      int32 [B, max_length]: word ids, then `</s>` where the sentence ended,
      then `<pad>`.
    """
    if not greedy and seed is None:
      raise ValueError("Sampled decoding needs a seed (int32 [2]).")
    z = tf.convert_to_tensor(z)
    states = self._initial_state(z)
    if states is None:
      zeros = tf.zeros([tf.shape(z)[0], self.lstm.cell.units], self.compute_dtype)
      states = [zeros, zeros]
    token = tf.fill([tf.shape(z)[0]], BOS_ID)
    finished = tf.zeros([tf.shape(z)[0]], dtype=tf.bool)
    chosen = tf.TensorArray(tf.int32, size=max_length)
    # `<pad>` and `<s>` are never generated: they would read as end or restart.
    never_emitted = tf.scatter_nd([[PAD_ID], [BOS_ID]], [-1e9, -1e9], [self.vocab_size])
    for step in tf.range(max_length):
      output, states = self.lstm.cell(self._with_z(self.embedding(token), z), states)
      logits = self.logits(output) + never_emitted
      if greedy:
        next_token = tf.argmax(logits, axis=-1, output_type=tf.int32)
      else:
        step_seed = tf.random.experimental.stateless_fold_in(seed, step)
        next_token = tf.random.stateless_categorical(logits, 1, step_seed,
                                                     dtype=tf.int32)[:, 0]
      next_token = tf.where(finished, PAD_ID, next_token)
      chosen = chosen.write(step, next_token)
      finished = tf.logical_or(finished, tf.equal(next_token, EOS_ID))
      token = next_token
    return tf.transpose(chosen.stack())


class RowDropout(keras.layers.Dropout):
  """keras.layers.Dropout with the call signature of SampleSharedDropout (a mask per row)."""

  def call(self, inputs, num_samples=None, training=False):
    del num_samples
    return super().call(inputs, training=training)
