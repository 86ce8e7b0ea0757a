"""FusedLSTM against keras.layers.LSTM: outputs, states and gradients in float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae.nets.fused_lstm import FusedLSTM

BATCH, STEPS, FEATURES, UNITS = 4, 7, 5, 6
LENGTHS = [7, 3, 1, 0]  # right padding; one row has no valid step at all
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def _pair(return_sequences):
  """A built keras LSTM and a FusedLSTM holding a copy of its weights (bias perturbed)."""
  keras.utils.set_random_seed(11)
  reference = keras.layers.LSTM(UNITS, return_sequences=return_sequences, return_state=True)
  reference.build((BATCH, STEPS, FEATURES))
  reference.cell.bias.assign(tf.random.stateless_normal([4 * UNITS], [1, 1]) * 0.5)
  fused = FusedLSTM(UNITS, return_sequences=return_sequences, return_state=True)
  fused.build((BATCH, STEPS, FEATURES))
  for source, target in zip(reference.weights, fused.weights):
    assert source.shape == target.shape
    target.assign(source)
  return reference, fused


def _inputs(seed):
  x = tf.random.stateless_normal([BATCH, STEPS, FEATURES], [seed, 0])
  h0 = tf.random.stateless_normal([BATCH, UNITS], [seed, 1])
  c0 = tf.random.stateless_normal([BATCH, UNITS], [seed, 2]) * 2.0
  mask = tf.sequence_mask(LENGTHS, STEPS)
  return x, h0, c0, mask


def _outputs_and_gradients(layer, x, h0, c0, mask, use_initial_state, compiled, training=True):
  """Outputs, final states and gradients of a random projection of all three."""

  def run(x, h0, c0):
    with tf.GradientTape() as tape:
      tape.watch([x, h0, c0])
      initial_state = [h0, c0] if use_initial_state else None
      outputs, h_last, c_last = layer(x, initial_state=initial_state, mask=mask,
                                      training=training)
      loss = sum(tf.reduce_sum(value * tf.random.stateless_normal(tf.shape(value), [7, k]))
                 for k, value in enumerate((outputs, h_last, c_last)))
    sources = [x, h0, c0] + [w.value for w in layer.trainable_weights]
    return (outputs, h_last, c_last), tape.gradient(loss, sources)

  if compiled:
    run = tf.function(run)
  return run(x, h0, c0)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("use_initial_state", [True, False])
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_fused_lstm_matches_keras_lstm_and_its_gradients(return_sequences, masked,
                                                         use_initial_state, compiled, training):
  """training=True: the hand-written backward pass; False: TF's autodiff of the plain loop."""
  reference, fused = _pair(return_sequences)
  x, h0, c0, mask = _inputs(3)
  mask = mask if masked else None
  want, want_grads = _outputs_and_gradients(reference, x, h0, c0, mask, use_initial_state,
                                            compiled)
  got, got_grads = _outputs_and_gradients(fused, x, h0, c0, mask, use_initial_state, compiled,
                                          training)
  for name, a, b in zip(("outputs", "h", "c"), want, got):
    assert a.shape == b.shape, name
    np.testing.assert_allclose(b.numpy(), a.numpy(), err_msg=name, **TOLERANCE)
  names = ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]
  for name, a, b in zip(names, want_grads, got_grads):
    if not use_initial_state and name in ("h0", "c0"):
      assert a is None and b is None
      continue
    assert np.abs(a.numpy()).max() > 0, name
    np.testing.assert_allclose(b.numpy(), a.numpy(), err_msg=f"d/d{name}", **TOLERANCE)


def test_fused_lstm_has_keras_weight_layout_and_paths():
  reference, fused = _pair(False)
  assert [w.path.split("/", 1)[1] for w in fused.weights] == [
      w.path.split("/", 1)[1] for w in reference.weights]
  assert [w.name for w in fused.weights] == ["kernel", "recurrent_kernel", "bias"]
  bias = FusedLSTM(3)
  bias.build((1, 2, 4))
  np.testing.assert_array_equal(bias.cell.bias.numpy(), [0] * 3 + [1] * 3 + [0] * 6)


def test_fused_cell_step_matches_the_layer():
  _, fused = _pair(True)
  x, h0, c0, _ = _inputs(5)
  outputs, h_last, c_last = fused(x, initial_state=[h0, c0])
  states = [h0, c0]
  for t in range(STEPS):
    output, states = fused.cell(x[:, t], states)
    np.testing.assert_allclose(output.numpy(), outputs[:, t].numpy(), **TOLERANCE)
  np.testing.assert_allclose(states[0].numpy(), h_last.numpy(), **TOLERANCE)
  np.testing.assert_allclose(states[1].numpy(), c_last.numpy(), **TOLERANCE)


def test_fused_lstm_matches_keras_on_a_longer_masked_batch():
  """H 48, T 30, B 16, random lengths (some 0), training and inference: 1e-5 in float32."""
  keras.utils.set_random_seed(2)
  batch, steps, features, units = 16, 30, 20, 48
  reference = keras.layers.LSTM(units, return_sequences=True, return_state=True)
  fused = FusedLSTM(units, return_sequences=True, return_state=True)
  for layer in (reference, fused):
    layer.build((batch, steps, features))
  for source, target in zip(reference.weights, fused.weights):
    target.assign(source)
  x = tf.random.stateless_normal([batch, steps, features], [4, 0])
  lengths = np.random.default_rng(0).integers(0, steps + 1, batch)
  mask = tf.sequence_mask(lengths, steps)
  state = [tf.random.stateless_normal([batch, units], [4, k]) for k in (1, 2)]
  want, want_grads = _outputs_and_gradients(reference, x, *state, mask, True, True)
  for training in (True, False):
    got, got_grads = _outputs_and_gradients(fused, x, *state, mask, True, True, training)
    for a, b in zip(list(want) + list(want_grads), list(got) + list(got_grads)):
      np.testing.assert_allclose(b.numpy(), a.numpy(), **TOLERANCE)


def test_fused_lstm_under_mixed_bfloat16_follows_the_float32_layer():
  reference, fused = _pair(True)
  x, h0, c0, mask = _inputs(6)
  want = reference(x, initial_state=[h0, c0], mask=mask)[0]
  keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
  try:
    half = FusedLSTM(UNITS, return_sequences=True)
    half.build((BATCH, STEPS, FEATURES))
    for source, target in zip(fused.weights, half.weights):
      target.assign(source)
    got = half(x, initial_state=[h0, c0], mask=mask, training=True)
  finally:
    keras.mixed_precision.set_dtype_policy("float32")
  assert got.dtype == tf.bfloat16 and half.cell.kernel.dtype == "float32"
  np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), want.numpy(), atol=0.05)
