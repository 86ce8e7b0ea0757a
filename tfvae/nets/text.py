"""LSTM encoder and z-conditioned LSTM language-model decoder for text.

The architecture follows He et al. (2019) as used by 000 and 003: a one-layer
LSTM encoder whose last state gives the posterior parameters, and a one-layer
LSTM decoder whose initial cell state is a linear projection of z (hidden state
tanh of it) and which sees z concatenated to every input embedding.

Text batches are int32 [B, T]: `<s> w1 ... wn </s>` followed by `<pad>` (id 0).

Both networks take `lstm="fused"` (the default; `tfvae.nets.fused_lstm.FusedLSTM`,
faster on CPU, see benchmarks/) or `lstm="keras"` (`keras.layers.LSTM`). The two
hold the same weights under the same paths (`<net>/lstm/lstm_cell/...`), so
checkpoints of either load into the other.
"""

import keras
import tensorflow as tf

from tfvae import likelihoods
from tfvae.nets import shapes
from tfvae.nets.fused_lstm import FusedLSTM
from tfvae.nets.posterior_head import PosteriorParams

PAD_ID = 0
BOS_ID = 2
EOS_ID = 3
LSTM_IMPLEMENTATIONS = ("fused", "keras")
DEFAULT_LSTM = "fused"


def make_lstm(implementation, units, return_sequences=False):
  """An LSTM layer named `lstm`: FusedLSTM ("fused") or keras.layers.LSTM ("keras")."""
  if implementation == "fused":
    return FusedLSTM(units, return_sequences=return_sequences, name="lstm")
  if implementation == "keras":
    return keras.layers.LSTM(units, return_sequences=return_sequences, name="lstm")
  raise ValueError(f"lstm={implementation!r}: choose among {LSTM_IMPLEMENTATIONS}.")


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
    mask = tf.not_equal(x, PAD_ID)
    embedded = self.dropout(self.embedding(x), training=training)
    last_state = self.lstm(embedded, mask=mask, training=training)
    return self.to_params(last_state)


class LSTMDecoder(keras.layers.Layer):
  """p(x|z): an LSTM language model conditioned on z (He et al. style).

  `likelihood(z, x)` is a distribution over the whole row x [B, T]: position 0
  (`<s>`) and padding are masked out, every other position t is Categorical
  given x[:t] and z, so `log_prob(x)` counts each word and the end-of-sentence
  token once (see `likelihoods.TokenSequence`).
  """

  def __init__(self, vocab_size, embed_dim, hidden_dim, latent_dim, dropout_in=0.0,
               dropout_out=0.0, lstm=DEFAULT_LSTM, **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
    self.dropout_in = keras.layers.Dropout(dropout_in)
    self.dropout_out = keras.layers.Dropout(dropout_out)
    self.z_to_cell = keras.layers.Dense(hidden_dim, name="z_to_cell")
    self.lstm = make_lstm(lstm, hidden_dim, return_sequences=True)
    # The H x V output layer holds about 45% of the model's matmul FLOPs, so it runs
    # in the compute dtype (bfloat16 under mixed_bfloat16); `logits` casts its result
    # to float32 before the soft-max, the losses and the distributions see it.
    self.to_logits = keras.layers.Dense(vocab_size, name="to_logits")

  def call(self, z, x, training=False):
    """Next-token logits [..., B, T-1, V]; row t predicts x[:, t+1]."""
    batch_size = tf.shape(x)[0]
    flat_z, leading, num_samples = shapes.flatten_samples(z, batch_size)
    inputs = tf.tile(x[:, :-1], [num_samples, 1])
    embedded = self.embedding(inputs)
    steps = tf.shape(inputs)[1]
    z_every_step = tf.repeat(tf.cast(flat_z, embedded.dtype)[:, None, :], steps, axis=1)
    features = self.dropout_in(tf.concat([embedded, z_every_step], axis=-1), training=training)
    cell = self.z_to_cell(flat_z)
    outputs = self.lstm(features, initial_state=[tf.tanh(cell), cell], training=training)
    logits = self.logits(self.dropout_out(outputs, training=training))
    return shapes.unflatten_samples(logits, leading, batch_size)

  def logits(self, outputs):
    """float32 next-token logits of LSTM outputs; the matmul runs in the compute dtype."""
    return tf.cast(self.to_logits(outputs), tf.float32)

  def likelihood(self, z, x, training=False):
    return likelihoods.TokenSequence(self(z, x, training=training), tf.not_equal(x, PAD_ID))

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
    cell_state = self.z_to_cell(z)
    states = [tf.tanh(cell_state), cell_state]
    token = tf.fill([tf.shape(z)[0]], BOS_ID)
    finished = tf.zeros([tf.shape(z)[0]], dtype=tf.bool)
    chosen = tf.TensorArray(tf.int32, size=max_length)
    # `<pad>` and `<s>` are never generated: they would read as end or restart.
    never_emitted = tf.scatter_nd([[PAD_ID], [BOS_ID]], [-1e9, -1e9], [self.vocab_size])
    for step in tf.range(max_length):
      embedded = self.embedding(token)
      inputs = tf.concat([embedded, tf.cast(z, embedded.dtype)], axis=-1)
      output, states = self.lstm.cell(inputs, states)
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
