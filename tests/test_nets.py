"""Encoders and decoders: shapes, leading sample dimensions, masked text likelihood."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import nets

TEXT = tf.constant([[2, 5, 6, 7, 3, 0], [2, 8, 9, 3, 0, 0], [2, 4, 4, 4, 4, 3]], tf.int32)


def _log_softmax(logits):
  shifted = logits - logits.max(-1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_lstm_encoder_gives_posterior_parameters():
  encoder = nets.LSTMEncoder(10, 8, 16, 4)
  loc, log_variance = encoder(TEXT)
  assert loc.shape == (3, 4) and log_variance.shape == (3, 4)


def test_lstm_encoder_ignores_padding():
  encoder = nets.LSTMEncoder(10, 8, 16, 4)
  padded = tf.constant([[2, 8, 9, 3, 0, 0, 0, 0]])
  loc_short, _ = encoder(padded[:, :4])
  loc_long, _ = encoder(padded)
  np.testing.assert_allclose(loc_short.numpy(), loc_long.numpy(), atol=1e-6)


def test_text_log_prob_counts_every_word_and_end_token_once():
  decoder = nets.LSTMDecoder(10, 8, 16, 4)
  z = tf.random.normal([3, 4], seed=1)
  logits = decoder(z, TEXT).numpy()
  log_probs = _log_softmax(logits)
  expected = np.zeros(3)
  x = TEXT.numpy()
  for b in range(3):
    for t in range(1, x.shape[1]):
      if x[b, t] != 0:
        expected[b] += log_probs[b, t - 1, x[b, t]]
  got = decoder.likelihood(z, TEXT).log_prob(TEXT).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_text_decoder_accepts_leading_sample_dimensions():
  decoder = nets.LSTMDecoder(10, 8, 16, 4)
  z = tf.random.normal([5, 3, 4], seed=2)
  joint = decoder.likelihood(z, TEXT).log_prob(TEXT)
  assert joint.shape == (5, 3)
  for k in range(5):
    single = decoder.likelihood(z[k], TEXT).log_prob(TEXT)
    np.testing.assert_allclose(joint[k].numpy(), single.numpy(), rtol=1e-5)


def test_text_decoder_depends_on_z():
  decoder = nets.LSTMDecoder(10, 8, 16, 4)
  a = decoder.likelihood(tf.zeros([3, 4]), TEXT).log_prob(TEXT)
  b = decoder.likelihood(tf.ones([3, 4]) * 3.0, TEXT).log_prob(TEXT)
  assert np.all(np.abs(a.numpy() - b.numpy()) > 1e-4)


def _images(batch):
  return tf.cast(tf.random.uniform([batch, 28, 28, 1], seed=3) > 0.5, tf.float32)


def test_image_networks_shapes_and_bernoulli_log_prob():
  x = _images(4)
  for encoder, decoder in ((nets.MLPEncoder([32], 6), nets.MLPDecoder([32], (28, 28, 1))),
                           (nets.ConvEncoder(6), nets.ConvDecoder())):
    loc, log_variance = encoder(x)
    assert loc.shape == (4, 6) and log_variance.shape == (4, 6)
    z = tf.random.normal([7, 4, 6], seed=4)
    logits = decoder(z).numpy()
    assert logits.shape == (7, 4, 28, 28, 1)
    got = decoder.likelihood(z).log_prob(x).numpy()
    xs = x.numpy()
    expected = (xs * -np.logaddexp(0, -logits) + (1 - xs) * -np.logaddexp(0, logits))
    np.testing.assert_allclose(got, expected.sum(axis=(2, 3, 4)), rtol=1e-4)


def _trained_looking_decoder(z_input="concat"):
  keras.utils.set_random_seed(5)
  decoder = nets.LSTMDecoder(12, 8, 16, 3, z_input=z_input)
  decoder(tf.zeros([1, 3]), TEXT[:1])
  decoder.to_logits.kernel.assign(decoder.to_logits.kernel * 20.0)
  return decoder


@pytest.mark.parametrize("z_input", ["concat", "add"])
def test_greedy_generation_agrees_with_teacher_forcing(z_input):
  decoder = _trained_looking_decoder(z_input)
  z = tf.random.stateless_normal([4, 3], seed=[7, 7]) * 2.0
  generated = decoder.generate(z, 9).numpy()
  assert generated.shape == (4, 9)
  rows = np.concatenate([np.full([4, 1], 2), generated], axis=1)
  logits = decoder(z, tf.constant(rows, tf.int32)).numpy()
  logits[..., [0, 2]] = -np.inf  # <pad> and <s> are never generated
  for b in range(4):
    finished = False
    for t in range(9):
      if finished:
        assert generated[b, t] == 0, "after </s> only padding"
        continue
      assert generated[b, t] == logits[b, t].argmax()
      finished = generated[b, t] == 3


def test_sampled_generation_is_seeded():
  decoder = _trained_looking_decoder()
  z = tf.zeros([64, 3])
  a = decoder.generate(z, 6, greedy=False, seed=tf.constant([1, 2])).numpy()
  b = decoder.generate(z, 6, greedy=False, seed=tf.constant([1, 2])).numpy()
  c = decoder.generate(z, 6, greedy=False, seed=tf.constant([3, 4])).numpy()
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert len({tuple(row) for row in a}) > 1, "samples of the same z should differ"


def test_mixed_bfloat16_logits_matmul_in_bfloat16_but_logits_and_posterior_float32():
  keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
  try:
    encoder = nets.LSTMEncoder(10, 8, 16, 4)
    decoder = nets.LSTMDecoder(10, 8, 16, 4)
    loc, log_variance = encoder(TEXT)
    logits = decoder(tf.zeros([3, 4]), TEXT)
    log_prob = decoder.likelihood(tf.zeros([3, 4]), TEXT).log_prob(TEXT)
  finally:
    keras.mixed_precision.set_dtype_policy("float32")
  assert decoder.to_logits.compute_dtype == "bfloat16"
  assert decoder.to_logits.kernel.dtype == "float32"
  assert encoder.to_params.compute_dtype == "float32"
  assert loc.dtype == tf.float32 and log_variance.dtype == tf.float32
  assert logits.dtype == tf.float32 and log_prob.dtype == tf.float32
  assert np.all(np.isfinite(log_prob.numpy()))


def test_bidirectional_encoder_averages_both_directions_last_states():
  keras.utils.set_random_seed(2)
  encoder = nets.BiLSTMEncoder(12, 8, 16, 3, lstm="keras")
  loc, _ = encoder(TEXT)
  embed = encoder.embedding
  # Oracle: each direction run on the unpadded row alone, the backward one on the reversed row.
  for b, row in enumerate(TEXT.numpy()):
    words = row[row != 0]
    forward = encoder.forward_lstm(embed(words[None]))
    backward = encoder.backward_lstm(embed(words[::-1][None]))
    features = 0.5 * (forward + backward)
    expected = encoder.to_params.family.split(
        tf.matmul(features, encoder.to_params.kernel) + encoder.to_params.bias)[0]
    np.testing.assert_allclose(loc[b], expected[0], rtol=1e-5, atol=1e-6)


def test_added_z_reaches_every_step_without_a_state_projection():
  keras.utils.set_random_seed(3)
  decoder = nets.LSTMDecoder(12, 8, 16, 3, z_input="add")
  z = tf.random.stateless_normal([2, 3, 3], seed=[1, 2])
  logits = decoder(z, TEXT).numpy()
  assert logits.shape == (2, 3, 5, 12)
  assert not hasattr(decoder, "z_to_cell") and decoder.z_to_input.kernel.shape == (3, 8)
  # Only the input projection carries z: zeroing it makes the decoder ignore z.
  decoder.z_to_input.kernel.assign(tf.zeros([3, 8]))
  plain = decoder(z, TEXT).numpy()
  np.testing.assert_allclose(plain[0], plain[1], rtol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_dropout_masks_shared_across_samples_of_a_sentence(shared):
  keras.utils.set_random_seed(4)
  decoder = nets.LSTMDecoder(12, 8, 16, 3, dropout_in=0.5, dropout_out=0.5,
                             share_dropout_masks=shared)
  z = tf.tile(tf.random.stateless_normal([1, 3, 3], seed=[3, 4]), [4, 1, 1])  # K equal samples.
  logits = decoder(z, TEXT, training=True).numpy()
  same = [np.allclose(logits[0], logits[k]) for k in range(1, 4)]
  assert all(same) if shared else not any(same)
  # Different sentences of one batch still get different masks, and evaluation has none.
  evaluation = decoder(z, TEXT, training=False).numpy()
  assert not np.allclose(logits[0], evaluation[0])


@pytest.mark.parametrize("z_input", ["concat", "add"])
@pytest.mark.parametrize("training", [False, True])
def test_decoder_projects_words_once_per_sentence_with_the_same_numbers(z_input, training):
  """z [S, B, d] (words projected per sentence) against the rows laid out as [S*B] examples."""
  keras.utils.set_random_seed(3)
  decoder = nets.LSTMDecoder(12, 8, 16, 3, z_input=z_input)
  z = tf.random.stateless_normal([5, 3, 3], seed=[1, 2])
  rows = tf.tile(TEXT, [5, 1])  # row s*B + b is sentence b

  def log_likelihood(z_values, x):
    return tf.reduce_sum(decoder.likelihood(z_values, x, training=training).log_prob(x))

  with tf.GradientTape(persistent=True) as tape:
    tape.watch(z)
    shared = log_likelihood(z, TEXT)  # the first call builds the decoder on this path
    per_row = log_likelihood(tf.reshape(z, [15, 3]), rows)
  assert decoder._projects_words_once(z, training)
  assert not decoder._projects_words_once(tf.reshape(z, [15, 3]), training)
  np.testing.assert_allclose(shared.numpy(), per_row.numpy(), rtol=1e-5)
  np.testing.assert_allclose(decoder(z, TEXT).numpy(),
                             tf.reshape(decoder(tf.reshape(z, [15, 3]), rows), [5, 3, 5, 12]),
                             atol=1e-5)
  sources = [z, *decoder.trainable_variables]
  for got, expected in zip(tape.gradient(shared, sources), tape.gradient(per_row, sources)):
    np.testing.assert_allclose(tf.convert_to_tensor(got).numpy(),
                               tf.convert_to_tensor(expected).numpy(), atol=1e-5, rtol=1e-5)


def test_decoder_projects_words_per_row_with_input_dropout_keras_lstm_or_when_told():
  decoder = nets.LSTMDecoder(12, 8, 16, 3, dropout_in=0.5)
  z = tf.zeros([2, 3, 3])
  assert not decoder._projects_words_once(z, training=True)
  assert decoder._projects_words_once(z, training=False)
  keras_decoder = nets.LSTMDecoder(12, 8, 16, 3, lstm="keras")
  assert not keras_decoder._projects_words_once(z, training=False)
  decoder.project_words_once = False
  assert not decoder._projects_words_once(z, training=False)
