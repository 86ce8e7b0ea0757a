"""BetaSchedule and KLController drive beta of real fits step by step (M2-M4, M11)."""

import math

import keras
import numpy as np
import tensorflow as tf

from tfvae import models
from tfvae import nets
from tfvae import schedules
from tfvae.models import VAE
from tfvae.models.control_vae import ControlVAE
from tfvae.training import callbacks

BATCHES = [tf.constant(np.concatenate([np.full((4, 1), 2),
                                       np.random.RandomState(i).randint(4, 12, size=(4, 7)),
                                       np.full((4, 1), 3)], axis=1), tf.int32)
           for i in range(4)]
# Gains far above the paper's text defaults so that beta moves visibly in a few steps.
CONTROL = dict(desired_kl=0.3, kp=0.5, ki=0.05, beta_min=0.02, beta_max=0.4)


def _dataset():
  return tf.data.Dataset.from_tensor_slices(tf.stack(BATCHES))


def _networks():
  return nets.LSTMEncoder(12, 8, 16, 3), nets.LSTMDecoder(12, 8, 16, 3)


class Recorder(keras.callbacks.Callback):
  """Per step: the global step, beta at the step's start and in its logs, the step's KL."""

  def __init__(self):
    super().__init__()
    self.steps, self.betas_at_begin, self.logged_betas, self.kls = [], [], [], []

  def on_train_batch_begin(self, batch, logs=None):
    self.steps.append(int(self.model.optimizer.iterations.numpy()))
    self.betas_at_begin.append(float(self.model.beta.numpy()))

  def on_train_batch_end(self, batch, logs=None):
    self.logged_betas.append(float(logs["beta"]))
    self.kls.append(float(self.model.batch_kl.numpy()))


def _control_model(state_from=None, **kwargs):
  """A compiled, built ControlVAE; with state_from, a copy of that model's weights and step."""
  keras.utils.set_random_seed(3)
  model = ControlVAE(*_networks(), 3, seed=5, **CONTROL, **kwargs)
  model.compile(optimizer=keras.optimizers.SGD(0.5))  # Stateless apart from the step count.
  model(BATCHES[0])
  if state_from is not None:
    model.optimizer.build(model.trainable_variables)
    model.set_weights(state_from.get_weights())
    model.optimizer.iterations.assign(state_from.optimizer.iterations)
  return model


def _fit_control(model, epochs=1):
  recorder = Recorder()
  model.fit(_dataset(), epochs=epochs, verbose=0,
            callbacks=[recorder, models.KLController()])
  return recorder


def _algorithm_1(kls):
  """Shao et al. (2020) Algorithm 1 with the directional anti-windup, in plain Python."""
  v_kl, kp, ki = CONTROL["desired_kl"], CONTROL["kp"], CONTROL["ki"]
  lo, hi = CONTROL["beta_min"], CONTROL["beta_max"]
  integral, unclamped = 0.0, lo  # beta(0) = beta_min, unsaturated.
  betas = []
  for kl in kls:
    e = v_kl - kl
    update = -ki * e
    if not ((unclamped < lo and update < 0) or (unclamped > hi and update > 0)):
      integral += update
    unclamped = kp / (1 + math.exp(e)) + integral + lo
    betas.append(min(max(unclamped, lo), hi))
  return betas, (integral, (unclamped > hi) - (unclamped < lo))


def test_beta_schedule_follows_the_global_step_across_fits():
  keras.utils.set_random_seed(3)
  model = VAE(*_networks(), 3, seed=5)
  model.compile(optimizer=keras.optimizers.Adam(0.01))
  schedule = schedules.cyclical(total_steps=8, num_cycles=2, ramp_fraction=0.5)
  recorder = Recorder()
  fit_callbacks = [callbacks.BetaSchedule(schedule), recorder]
  model.fit(_dataset(), epochs=1, verbose=0, callbacks=fit_callbacks)
  model.fit(_dataset(), epochs=2, verbose=0, callbacks=fit_callbacks)
  assert recorder.steps == list(range(12))
  expected = [schedule(t) for t in range(12)]
  assert expected[:5] == [0.0, 0.5, 1.0, 1.0, 0.0]
  np.testing.assert_allclose(recorder.betas_at_begin, expected, rtol=1e-6)
  # The logs carry the beta the step used (and so reach TensorBoard).
  np.testing.assert_allclose(recorder.logged_betas, expected, rtol=1e-6)


def test_kl_controller_follows_algorithm_1():
  model = _control_model()
  assert model.beta.numpy() == np.float32(CONTROL["beta_min"])
  recorder = _fit_control(model, epochs=3)
  expected, state = _algorithm_1(recorder.kls)
  # Step 1 uses beta(0) = beta_min; beta(t) from step t's KL weights step t+1.
  np.testing.assert_allclose(recorder.logged_betas, [CONTROL["beta_min"]] + expected[:-1],
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(recorder.betas_at_begin, recorder.logged_betas, rtol=1e-6)
  np.testing.assert_allclose(model.beta.numpy(), expected[-1], rtol=1e-5)
  assert model.controller_state.saturation == state[1]
  np.testing.assert_allclose(model.controller_state.integral, state[0], rtol=1e-5, atol=1e-7)
  assert len(set(np.round(expected, 5))) > 5, "beta must move for the check to mean anything"
  assert min(expected) >= CONTROL["beta_min"] and max(expected) <= CONTROL["beta_max"]


def test_controller_state_is_checkpointed_and_resumes():
  model = _control_model()
  weights = model.weights
  for variable in (model.controller_integral, model.controller_saturation, model.beta):
    assert any(variable is w for w in weights)
    assert not variable.trainable
  assert len({id(w) for w in weights}) == len(weights)

  whole = _fit_control(_control_model(), epochs=2)
  first_half = _control_model()
  _fit_control(first_half, epochs=1)
  resumed = _fit_control(_control_model(state_from=first_half), epochs=1)
  np.testing.assert_allclose(resumed.logged_betas, whole.logged_betas[4:], rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(resumed.kls, whole.kls[4:], rtol=1e-4, atol=1e-6)

  # Negative control: resetting only the controller state changes the trajectory.
  reset = _control_model(state_from=first_half)
  reset.set_controller_state(schedules.initial_state(reset.controller_params))
  restarted = _fit_control(reset, epochs=1)
  assert not np.allclose(restarted.logged_betas[1:], whole.logged_betas[5:], rtol=1e-3)


def test_control_vae_rejects_beta_and_bad_params():
  for kwargs, error in (({"beta": 0.5}, "beta"), ({"beta_min": 0.5, "beta_max": 0.1}, "beta_min")):
    try:
      ControlVAE(*_networks(), 3, desired_kl=15.0, **kwargs)
    except ValueError as e:
      assert error in str(e)
    else:
      raise AssertionError(f"{kwargs} must raise ValueError")


def test_kl_controller_under_mirrored_strategy(mirrored_strategy):
  # The callback assigns beta and the controller state in cross-replica context.
  one = _fit_control(_control_model(), epochs=1)
  with mirrored_strategy.scope():
    model = _control_model()
  two = _fit_control(model, epochs=1)
  np.testing.assert_allclose(two.logged_betas, one.logged_betas, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(two.kls, one.kls, rtol=1e-4, atol=1e-6)


def test_linear_annealing_from_the_run_config_rises_to_its_beta():
  """--beta_schedule=linear --beta=0.5: 0 -> 0.5 over --anneal_epochs, then flat (beta-VAE with
  annealing, Yacoby et al. (2020))."""
  from tfvae.training import config as config_lib
  from tfvae.training import loop
  config = config_lib.Config(beta=0.5, beta_schedule="linear", anneal_start=0.0,
                             anneal_epochs=1.0).resolved().validate()
  schedule_callbacks = loop.method_callbacks(config, steps_per_epoch=2)
  keras.utils.set_random_seed(3)
  model = VAE(*_networks(), 3, seed=5)
  model.compile(optimizer=keras.optimizers.Adam(0.01))
  recorder = Recorder()
  model.fit(_dataset(), epochs=1, verbose=0, callbacks=[*schedule_callbacks, recorder])
  np.testing.assert_allclose(recorder.betas_at_begin, [0.0, 0.25, 0.5, 0.5], rtol=1e-6)
