"""Observation models against TFP's own distributions."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import likelihoods

tfd = tfp.distributions


def _reference(next_logits, x):
  """Independent(Masked(Categorical)) over positions 1..T-1 (TFP's implementation)."""
  predicted = tf.not_equal(x[..., 1:], 0)
  tokens = tfd.Masked(tfd.Categorical(logits=next_logits), validity_mask=predicted)
  return tfd.Independent(tokens, reinterpreted_batch_ndims=1).log_prob(x[..., 1:])


def test_token_sequence_equals_masked_categorical():
  x = tf.constant([[2, 5, 6, 7, 3, 0], [2, 8, 9, 3, 0, 0], [2, 4, 4, 4, 4, 3]], tf.int32)
  logits = tf.random.stateless_normal([4, 3, 5, 10], seed=[1, 2]) * 3.0
  got = likelihoods.TokenSequence(logits, tf.not_equal(x, 0)).log_prob(x)
  assert got.shape == (4, 3)
  np.testing.assert_allclose(got.numpy(), _reference(logits, x).numpy(), rtol=1e-5)


def test_token_sequence_shapes_and_gradient():
  x = tf.constant([[2, 5, 3, 0]], tf.int32)
  logits = tf.Variable(tf.zeros([1, 3, 6]))
  with tf.GradientTape() as tape:
    distribution = likelihoods.TokenSequence(logits, tf.not_equal(x, 0))
    log_prob = distribution.log_prob(x)
  assert distribution.batch_shape == (1,) and distribution.event_shape == (4,)
  np.testing.assert_allclose(log_prob.numpy(), [2 * np.log(1 / 6)], rtol=1e-6)
  grad = tape.gradient(log_prob, logits).numpy()
  assert np.all(grad[0, 2] == 0), "the padded position must not get a gradient"
  np.testing.assert_allclose(grad[0, 0].sum(), 0.0, atol=1e-6)


def test_target_log_softmax_gradient_is_one_hot_minus_softmax():
  logits = tf.random.stateless_normal([3, 4, 7], seed=[7, 8]) * 2.0
  targets = tf.constant([[0, 6, 2, 2], [5, 1, 1, 3], [4, 4, 0, 6]], tf.int32)
  upstream = tf.random.stateless_normal([3, 4], seed=[9, 10])
  with tf.GradientTape() as tape:
    tape.watch(logits)
    value = likelihoods.target_log_softmax(logits, targets)
    weighted = tf.reduce_sum(value * upstream)
  grad = tape.gradient(weighted, logits).numpy()
  # numpy oracle: log softmax at the targets, and d/dlogits = upstream (one_hot - softmax).
  array = logits.numpy().astype(np.float64)
  log_softmax = array - np.log(np.exp(array).sum(-1, keepdims=True))
  np.testing.assert_allclose(
      value.numpy(), np.take_along_axis(log_softmax, targets.numpy()[..., None], -1)[..., 0],
      rtol=1e-5)
  one_hot = np.eye(7)[targets.numpy()]
  expected = upstream.numpy()[..., None] * (one_hot - np.exp(log_softmax))
  np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_token_sequence_scoring_predicted_positions_only_matches_all_positions():
  x = tf.constant([[2, 5, 6, 7, 3, 0], [2, 8, 9, 3, 0, 0], [2, 4, 4, 4, 4, 3]], tf.int32)
  features = tf.random.stateless_normal([4, 3, 5, 6], seed=[11, 12])
  weight = tf.Variable(tf.random.stateless_normal([6, 10], seed=[13, 14]))
  formed = []

  def to_logits(rows):
    formed.append(rows.shape[0])
    return tf.matmul(rows, weight)

  with tf.GradientTape(persistent=True) as tape:
    tape.watch(features)
    packed = likelihoods.TokenSequence(features, tf.not_equal(x, 0), to_logits=to_logits)
    packed_log_prob = packed.log_prob(x)
    full = likelihoods.TokenSequence(tf.einsum("sbtf,fv->sbtv", features, weight),
                                     tf.not_equal(x, 0))
    full_log_prob = full.log_prob(x)
  assert formed == [4 * (4 + 3 + 5)], "logits formed for the 12 scored positions x 4 samples"
  assert packed.batch_shape == (4, 3) and packed.event_shape == (6,)
  np.testing.assert_allclose(packed_log_prob.numpy(), full_log_prob.numpy(), rtol=1e-5)
  np.testing.assert_allclose(packed_log_prob.numpy(), _reference(full.logits, x).numpy(),
                             rtol=1e-5)
  np.testing.assert_allclose(packed.logits.numpy(), full.logits.numpy(), rtol=1e-5, atol=1e-5)
  for variable in (features, weight):
    np.testing.assert_allclose(tape.gradient(packed_log_prob, variable).numpy(),
                               tape.gradient(full_log_prob, variable).numpy(), atol=1e-5)


def test_token_sequence_samples_have_the_row_shape():
  logits = tf.random.stateless_normal([2, 4, 7], seed=[3, 4])
  samples = likelihoods.TokenSequence(logits, tf.ones([2, 5], bool)).sample(3, seed=[5, 6])
  assert samples.shape == (3, 2, 5)
  assert np.all((samples.numpy() >= 0) & (samples.numpy() < 7))


def test_bernoulli_pixels_event_shape():
  distribution = likelihoods.bernoulli_pixels(tf.zeros([2, 28, 28, 1]), 3)
  assert distribution.event_shape == (28, 28, 1)
  np.testing.assert_allclose(distribution.log_prob(tf.ones([2, 28, 28, 1])).numpy(),
                             [784 * np.log(0.5)] * 2, rtol=1e-6)
