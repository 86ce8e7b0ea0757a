"""--lstm: "auto" picks keras.layers.LSTM (cuDNN) where a GPU is visible and FusedLSTM elsewhere,
and a checkpoint written with one implementation restores into the other."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae.errors import ConfigError
from tfvae.nets import text
from tfvae.nets.fused_lstm import FusedLSTM
from tfvae.training import checkpoints
from tfvae.training import config as config_lib
from tfvae.training import loop

DATA_OPTIONS = dict(num_train=13, num_valid=4, num_test=4, length=5)
TINY = dict(embed_dim=8, hidden_dim=16, latent_dim=3, seed=3, latent_pictures=0,
            dataset="synthetic_mog", data_options=DATA_OPTIONS)


def _fake_devices(monkeypatch, gpus):
  """TensorFlow's logical device list, with `gpus` GPUs beside the real CPUs."""
  real = tf.config.list_logical_devices

  def listed(device_type=None):
    fake = [tf.config.LogicalDevice(f"/device:GPU:{i}", "GPU") for i in range(gpus)]
    if device_type == "GPU":
      return fake
    return real(device_type) + (fake if device_type is None else [])
  monkeypatch.setattr(tf.config, "list_logical_devices", listed)


@pytest.mark.parametrize("gpus, chosen", [(0, "fused"), (1, "keras"), (2, "keras")])
def test_auto_follows_the_visible_devices(monkeypatch, gpus, chosen):
  _fake_devices(monkeypatch, gpus)
  assert text.resolve_lstm("auto") == chosen
  layer = text.make_lstm("auto", 4)
  assert isinstance(layer, FusedLSTM) == (chosen == "fused")


@pytest.mark.parametrize("gpus", [0, 1])
def test_an_explicit_choice_wins_over_the_devices(monkeypatch, gpus):
  _fake_devices(monkeypatch, gpus)
  assert text.resolve_lstm("fused") == "fused" and text.resolve_lstm("keras") == "keras"
  assert isinstance(text.make_lstm("fused", 4), FusedLSTM)
  assert type(text.make_lstm("keras", 4)) is keras.layers.LSTM


def test_unknown_implementations_are_refused():
  with pytest.raises(ValueError, match="choose among"):
    text.resolve_lstm("cudnn")
  with pytest.raises(ConfigError, match="lstm"):
    config_lib.Config(**TINY, lstm="cudnn").resolved().validate()


def _model(lstm, dataset):
  config = config_lib.Config(**TINY, lstm=lstm).resolved().validate()
  loop.configure_numerics(config)
  return config, loop.build_model(config, dataset, tf.distribute.get_strategy())


@pytest.mark.parametrize("trained, restored", [("fused", "keras"), ("keras", "fused")])
def test_a_checkpoint_of_one_implementation_runs_on_the_other(tmp_path, trained, restored):
  """The run directory's config does not pin the implementation (a GPU run evaluates on a CPU)."""
  dataset = data.load("synthetic_mog", **DATA_OPTIONS)
  batch = next(iter(dataset.batches("valid", 4)))
  config, model = _model(trained, dataset)
  model.fit(dataset.train_batches(4, seed=0).take(3), epochs=1, verbose=0)
  checkpoints.check_run_config(str(tmp_path), config)
  checkpoints.RunCheckpoint(str(tmp_path), model, model.optimizer).save(1, 3)
  other_config, other = _model(restored, dataset)
  assert isinstance(other.decoder.lstm, FusedLSTM) == (restored == "fused")
  checkpoints.check_run_config(str(tmp_path), other_config)
  checkpoints.RunCheckpoint(str(tmp_path), other, other.optimizer).restore_latest()
  batches = tf.data.Dataset.from_tensors(batch)
  np.testing.assert_allclose(other.evaluate(batches, verbose=0, return_dict=True)["loss"],
                             model.evaluate(batches, verbose=0, return_dict=True)["loss"],
                             rtol=1e-5)
