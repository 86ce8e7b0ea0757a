"""Aggressive training (He et al. 2019, METHODS.md M7): rules, schedule, phase, resume, replicas."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import data as tfvae_data
from tfvae import nets
from tfvae.models import aggressive
from tfvae.models.aggressive import AggressivePhaseEnd
from tfvae.models.aggressive import AggressiveVAE
from tfvae.models.aggressive import InnerLoop
from tfvae.training import checkpoints
from tfvae.training.callbacks import EpochCheckpoint

BATCHES = [tf.constant(np.random.RandomState(i).randint(4, 12, size=(4, 7)), tf.int32)
           for i in range(6)]
TEXT = tf.stack([tf.concat([tf.fill([4, 1], 2), b, tf.fill([4, 1], 3)], axis=1) for b in BATCHES])


def _stream(skip=0):
  return tf.data.Dataset.from_tensor_slices(TEXT).repeat().skip(skip)


def _model(strategy=None, *, decoder_optimizer="sgd", **kwargs):
  """A built AggressiveVAE (Adam 0.05 for the encoder) with named layers, in `strategy`'s scope."""
  strategy = strategy or tf.distribute.get_strategy()
  keras.utils.set_random_seed(11)
  with strategy.scope():
    model = AggressiveVAE(
        nets.LSTMEncoder(12, 8, 16, 3, name="encoder"),
        nets.LSTMDecoder(12, 8, 16, 3, name="decoder"), 3, seed=5, name="aggressive_vae",
        decoder_optimizer=keras.optimizers.SGD(0.5) if decoder_optimizer == "sgd" else None,
        **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model(TEXT[0])
    model.build_optimizers()
  return model


# ------------------------------------------------------------ the pure rules
def _loop_length(losses, units=None, **kwargs):
  """Encoder steps of one inner loop fed per-step summed `losses` (and `units`, default 1)."""
  state = InnerLoop()
  units = units if units is not None else [1.0] * len(losses)
  for loss, count in zip(losses, units):
    state = aggressive.advance_inner_loop(state, loss, count, **kwargs)
    if state.done:
      return state.steps
  raise AssertionError(f"the loop did not end within {len(losses)} steps")


def test_window_rule_stops_only_on_a_rise():
  assert aggressive.window_improved(2.0, 1.5)
  assert aggressive.window_improved(2.0, 2.0)
  assert not aggressive.window_improved(2.0, 2.5)
  assert aggressive.window_improved(math.inf, 1e9)


def test_inner_loop_stops_at_the_first_window_that_rose():
  falling_then_rising = [100.0 - i for i in range(30)] + [200.0] * 200
  assert _loop_length(falling_then_rising) == 45
  # A spike inside a window does not matter; only the window's mean is compared.
  spiky = [100.0 - i for i in range(200)]
  spiky[20] = 150.0
  assert _loop_length(spiky) == 100
  # The first window always passes, however large its loss.
  assert _loop_length([1e6] * 15 + [2e6] * 200) == 30
  assert _loop_length([5.0] * 15 + [4.0] * 15 + [4.5] * 200) == 45


def test_inner_loop_compares_loss_per_unit():
  # Window 2 sums more loss but over twice the words: 7.5 per word beats 10.
  losses = [10.0] * 15 + [15.0] * 15 + [15.0] * 200
  units = [1.0] * 15 + [2.0] * 15 + [1.0] * 200
  assert _loop_length(losses, units) == 45
  assert _loop_length(losses, [1.0] * len(losses)) == 30
  with pytest.raises(ValueError, match="count_units"):
    _loop_length([1.0] * 20, [0.0] * 20)


def test_inner_loop_never_exceeds_the_cap():
  assert _loop_length([float(200 - i) for i in range(300)]) == 100
  assert _loop_length([7.0] * 300) == 100  # Ties go on, as in He et al.'s code.
  assert _loop_length([7.0] * 300, check_every=15, inner_cap=10) == 10
  rng = np.random.RandomState(0)
  for _ in range(200):
    length = _loop_length(list(rng.exponential(size=300)))
    assert 15 <= length <= 100 and (length % 15 == 0 or length == 100)


def test_phase_rule():
  assert aggressive.phase_continues(0.3, 0.4)
  assert aggressive.phase_continues(0.3, 0.3)
  assert not aggressive.phase_continues(0.3, 0.2)
  assert not aggressive.phase_continues(0.3, float("nan"))


# ------------------------------------------------------------- the schedule
class StepRecorder(keras.callbacks.Callback):
  """Per Keras step: whether each network moved and how many updates each optimiser made."""

  def __init__(self):
    super().__init__()
    self.steps = []

  def _snapshot(self):
    model = self.model
    return {"encoder": [w.numpy() for w in model.encoder.weights],
            "decoder": [w.numpy() for w in model.decoder.weights],
            "encoder_updates": int(model.optimizer.iterations.numpy()),
            "decoder_updates": int(model.decoder_optimizer.iterations.numpy())}

  def on_train_batch_begin(self, batch, logs=None):
    self._before = self._snapshot()

  def on_train_batch_end(self, batch, logs=None):
    after = self._snapshot()
    moved = {net: any(not np.array_equal(a, b) for a, b in zip(self._before[net], after[net]))
             for net in ("encoder", "decoder")}
    updates = {net: after[f"{net}_updates"] - self._before[f"{net}_updates"]
               for net in ("encoder", "decoder")}
    self.steps.append((moved, updates))


def test_one_step_of_the_phase_is_an_inner_loop_and_one_decoder_update():
  check_every, inner_cap = 3, 7
  model = _model(check_every=check_every, inner_cap=inner_cap)
  recorder = StepRecorder()
  model.fit(_stream(), steps_per_epoch=6, epochs=1, verbose=0, callbacks=[recorder])
  assert len(recorder.steps) == 6
  lengths = []
  for moved, updates in recorder.steps:
    assert moved == {"encoder": True, "decoder": True}
    assert updates["decoder"] == 1
    lengths.append(updates["encoder"])
  for length in lengths:
    assert check_every <= length <= inner_cap, lengths
    assert length % check_every == 0 or length == inner_cap, lengths
  assert 6 in lengths, f"no loop ended by the window rule: {lengths}"
  assert model.last_inner_loop.steps == lengths[-1]
  # Every encoder and decoder step read a batch of its own (and moved the noise seed on).
  assert model.batches_read == sum(lengths) + 6 == int(model.optimizer.iterations.numpy()) + 6

  model.end_aggressive_phase()
  recorder.steps.clear()
  model.fit(_stream(model.batches_read), steps_per_epoch=4, epochs=1, verbose=0,
            callbacks=[recorder])
  for moved, updates in recorder.steps:
    assert moved == {"encoder": True, "decoder": True}
    assert updates == {"encoder": 1, "decoder": 1}
  assert model.batches_read == sum(lengths) + 10


class LossPerStep(AggressiveVAE):
  """Records the loss of every step of any kind (the Keras logs see the decoder steps only)."""

  def train_step(self, data):
    logs = super().train_step(data)
    self.recorded_losses.append(tf.identity(self.batch_loss))
    return logs


def test_noise_seed_moves_on_every_step():
  # With both learning rates 0 the weights never move, so the loss of the same
  # batch changes from step to step only through the noise. Counting steps by
  # the encoder optimiser would repeat its seed at the decoder step after an
  # encoder step.
  keras.utils.set_random_seed(11)
  model = LossPerStep(nets.LSTMEncoder(12, 8, 16, 3), nets.LSTMDecoder(12, 8, 16, 3), 3, seed=5,
                      decoder_optimizer=keras.optimizers.SGD(0.0), check_every=1, inner_cap=1)
  model.compile(optimizer=keras.optimizers.SGD(0.0), run_eagerly=True)
  model.recorded_losses = []
  model.fit(tf.data.Dataset.from_tensors(TEXT[0]).repeat(), steps_per_epoch=2, epochs=1,
            verbose=0)
  assert int(model.optimizer.iterations.numpy()) == 2
  losses = [float(loss.numpy()) for loss in model.recorded_losses]
  assert len(losses) == 4 and len(set(losses)) == 4, losses


def test_rejects_several_steps_per_execution():
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(0.05), steps_per_execution=2)
  with pytest.raises(ValueError, match="steps_per_execution"):
    model.make_train_function()


# ---------------------------------------------------------------- the phase
def _feed(callback, values, start_epoch=0):
  phases = []
  for epoch, value in enumerate(values, start=start_epoch):
    logs = {"val_mi": value}
    callback.on_epoch_end(epoch, logs)
    phases.append(logs["aggressive"])
  return phases


def test_phase_ends_when_validation_mi_stops_rising():
  model = _model()
  callback = AggressivePhaseEnd()
  callback.set_model(model)
  assert _feed(callback, [0.1, 0.3, 0.3, 0.5, 0.4, 0.6]) == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
  assert not model.in_aggressive_phase
  with pytest.raises(KeyError, match="EpochMetrics"):
    callback.on_epoch_end(6, {"loss": 1.0})


def test_phase_state_survives_copying_the_weights():
  model = _model()
  callback = AggressivePhaseEnd()
  callback.set_model(model)
  assert _feed(callback, [0.1, 0.3]) == [1.0, 1.0]
  fresh, untouched = _model(), _model()
  fresh.set_weights(model.get_weights())
  callback.set_model(fresh)
  assert _feed(callback, [0.2], start_epoch=2) == [0.0]  # 0.2 < 0.3 remembered.
  callback.set_model(untouched)
  assert _feed(callback, [0.2], start_epoch=2) == [1.0]  # A fresh model compares with 0.
  assert _feed(callback, [-0.01], start_epoch=0) == [0.0]


# ----------------------------------------------------------- the checkpoint
def test_epoch_checkpoint_restores_both_optimizers_and_the_data_position(tmp_path):
  model = _model(decoder_optimizer=None, check_every=3, inner_cap=7)
  assert isinstance(model.decoder_optimizer, keras.optimizers.Adam)
  assert model.decoder_optimizer is not model.optimizer
  saver = EpochCheckpoint(checkpoints.RunCheckpoint(str(tmp_path), model, model.optimizer),
                          steps_per_epoch=2)
  model.fit(_stream(), steps_per_epoch=2, epochs=1, verbose=0, callbacks=[saver])
  read = model.batches_read
  assert read >= 2 * (3 + 1), "the epoch read its inner loops' batches too"

  fresh = _model(decoder_optimizer=None, check_every=3, inner_cap=7)
  epoch, batches_seen = checkpoints.RunCheckpoint(str(tmp_path), fresh,
                                                  fresh.optimizer).restore_latest()
  assert (epoch, batches_seen) == (1, read)
  for saved, restored in ((model.weights, fresh.weights),
                          (model.optimizer.variables, fresh.optimizer.variables),
                          (model.decoder_optimizer.variables, fresh.decoder_optimizer.variables)):
    assert len(saved) == len(restored) > 0
    for a, b in zip(saved, restored):
      np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)

  # The restored model goes on exactly like the one that never stopped.
  for m in (model, fresh):
    m.fit(_stream(batches_seen), steps_per_epoch=2, epochs=1, verbose=0)
  for a, b in zip(model.weights, fresh.weights):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)


# ------------------------------------------------------------- the replicas
def _train_mirrorable(strategy):
  model = _model(strategy, check_every=2, inner_cap=3, count_units=tfvae_data.count_tokens,
                 grad_clip_norm=0.5)
  recorder = StepRecorder()
  model.fit(_stream(), steps_per_epoch=3, epochs=1, verbose=0, callbacks=[recorder])
  units = float(model.batch_units.numpy())
  model.end_aggressive_phase()
  model.fit(_stream(model.batches_read), steps_per_epoch=3, epochs=1, verbose=0,
            callbacks=[recorder])
  updates = [(u["encoder"], u["decoder"]) for _, u in recorder.steps]
  return model, updates, units


def test_mirrored_matches_one_device(mirrored_strategy):
  one, one_updates, one_units = _train_mirrorable(tf.distribute.get_strategy())
  two, two_updates, two_units = _train_mirrorable(mirrored_strategy)
  assert one_updates == two_updates
  assert one_updates[-1] == (1, 1) and one_updates[0][0] >= 2  # Phase, then plain steps.
  assert one_units == two_units == 4 * 8  # Four sentences of 7 words and </s>.
  for a, b in zip(one.weights, two.weights):
    assert a.path == b.path
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
  for a, b in zip(one.decoder_optimizer.variables, two.decoder_optimizer.variables):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)


# ------------------------------------------------- R segments (Yacoby et al. 2020)
def test_each_of_r_segments_starts_with_one_inner_loop_then_trains_jointly():
  model = _model(check_every=3, inner_cap=7)
  recorder = StepRecorder()
  # Two epochs of 6: the segments (of 4 outer steps) straddle the epoch boundary.
  model.fit(_stream(), steps_per_epoch=6, epochs=2, verbose=0,
            callbacks=[aggressive.SegmentStarts(total_steps=12, segments=3), recorder])
  encoder_updates = [updates["encoder"] for _, updates in recorder.steps]
  assert [updates["decoder"] for _, updates in recorder.steps] == [1] * 12
  assert [i for i, count in enumerate(encoder_updates) if count > 1] == [0, 4, 8]
  assert all(3 <= encoder_updates[i] <= 7 for i in (0, 4, 8)), encoder_updates
  assert not model.in_aggressive_phase


def test_segments_come_from_the_method_and_bad_counts_are_refused():
  from tfvae import methods
  from tfvae.training import config as config_lib
  config = config_lib.Config(model="aggressive", lag_segments=5, epochs=2).resolved()
  callbacks = methods.callbacks(config.validate(), steps_per_epoch=10)
  assert [type(c).__name__ for c in callbacks] == ["SegmentStarts"]
  assert callbacks[0].segment_length == 4
  plain = config_lib.Config(model="aggressive").resolved().validate()
  assert [type(c).__name__ for c in methods.callbacks(plain, 10)] == ["AggressivePhaseEnd"]
  with pytest.raises(config_lib.ConfigError, match="lag_segments must be a positive"):
    config_lib.Config(model="aggressive", lag_segments=0).resolved().validate()
  with pytest.raises(ValueError, match="segments must be in"):
    aggressive.SegmentStarts(total_steps=3, segments=4)
