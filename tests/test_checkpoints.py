"""restore_encoder and restore_weights: weights of another run, the rest untouched, mismatches
refused."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import methods
from tfvae import data
from tfvae.training import checkpoints
from tfvae.training import config as config_lib


def _model(config, dataset, seed):
  keras.utils.set_random_seed(seed)
  model = methods.build(config, dataset)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model(next(iter(dataset.batches("valid", 2))))
  return model


def _saved_run(tmp_path, config, dataset):
  model = _model(config, dataset, seed=1)
  run_dir = str(tmp_path / "source")
  checkpoints.check_run_config(run_dir, config)
  checkpoints.RunCheckpoint(run_dir, model, model.optimizer).save(1, 1)
  return run_dir, model


def test_encoder_comes_from_the_source_and_the_decoder_stays_fresh(tmp_path):
  dataset = data.load("synthetic_mog", None)
  config = config_lib.Config(objective="autoencoder").resolved()
  run_dir, source = _saved_run(tmp_path, config, dataset)
  target_config = dataclasses.replace(config, objective="free_bits", fb_lambda=2.0)
  target = _model(target_config, dataset, seed=2)
  fresh_decoder = [w.numpy() for w in target.decoder.weights]
  checkpoints.restore_encoder(run_dir, target, target_config)
  for a, b in zip(source.encoder.weights, target.encoder.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  for before, after, other in zip(fresh_decoder, target.decoder.weights, source.decoder.weights):
    np.testing.assert_array_equal(before, after.numpy())
    if "bias" not in after.path:  # biases start at zero in both
      assert not np.array_equal(after.numpy(), other.numpy()), after.path


def test_another_encoder_architecture_is_refused(tmp_path):
  dataset = data.load("synthetic_mog", None)
  config = config_lib.Config().resolved()
  run_dir, _ = _saved_run(tmp_path, config, dataset)
  wider = dataclasses.replace(config, hidden_dim=config.hidden_dim * 2)
  with pytest.raises(checkpoints.CheckpointMismatchError, match="hidden_dim"):
    checkpoints.restore_encoder(run_dir, _model(wider, dataset, seed=2), wider)


def test_source_without_checkpoint_is_a_clear_error(tmp_path):
  dataset = data.load("synthetic_mog", None)
  config = config_lib.Config().resolved()
  checkpoints.check_run_config(str(tmp_path), config)
  with pytest.raises(checkpoints.RunDirectoryError, match="no checkpoint"):
    checkpoints.restore_encoder(str(tmp_path), _model(config, dataset, 0), config)
  with pytest.raises(checkpoints.RunDirectoryError, match="config.json"):
    checkpoints.restore_encoder(str(tmp_path / "nothing"), _model(config, dataset, 0), config)
  assert tf.train.latest_checkpoint(str(tmp_path)) is None


def test_restore_weights_takes_every_weight_and_leaves_the_optimiser_fresh(tmp_path):
  dataset = data.load("synthetic_mog", None)
  config = config_lib.Config().resolved()
  run_dir, source = _saved_run(tmp_path, config, dataset)
  target_config = dataclasses.replace(config, beta=0.5, optimizer="sgd")
  target = _model(target_config, dataset, seed=2)
  assert any(not np.array_equal(a.numpy(), b.numpy())
             for a, b in zip(source.weights, target.weights))
  checkpoints.restore_weights(run_dir, target, target_config)
  for a, b in zip(source.weights, target.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
  assert int(target.optimizer.iterations.numpy()) == 0


def test_restore_weights_refuses_another_architecture_and_a_missing_checkpoint(tmp_path):
  dataset = data.load("synthetic_mog", None)
  config = config_lib.Config().resolved()
  run_dir, _ = _saved_run(tmp_path, config, dataset)
  wider = dataclasses.replace(config, hidden_dim=config.hidden_dim * 2)
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match="init_weights_from=.*another model.*hidden_dim"):
    checkpoints.restore_weights(run_dir, _model(wider, dataset, seed=2), wider)
  empty = str(tmp_path / "empty")
  checkpoints.check_run_config(empty, config)
  with pytest.raises(checkpoints.RunDirectoryError, match="init_weights_from=.*no checkpoint"):
    checkpoints.restore_weights(empty, _model(config, dataset, 0), config)


def test_the_config_refuses_both_initialisations_at_once():
  with pytest.raises(config_lib.ConfigError, match="drop --init_encoder_from"):
    config_lib.Config(init_encoder_from="a", init_weights_from="b").resolved().validate()


def test_a_checkpoint_from_before_mid_epoch_saves_still_restores(tmp_path):
  """Run directories written before `step_in_epoch` existed hold whole epochs only."""
  dataset = data.load("synthetic_mog", None)
  config = config_lib.Config().resolved()
  source = _model(config, dataset, seed=1)
  epoch = tf.Variable(3, dtype=tf.int64)
  batches_seen = tf.Variable(120, dtype=tf.int64)
  legacy = tf.train.Checkpoint(model=checkpoints.model_weights(source),
                               optimizer=source.optimizer, epoch=epoch,
                               batches_seen=batches_seen)
  tf.train.CheckpointManager(legacy, str(tmp_path), max_to_keep=1).save(checkpoint_number=3)
  target = _model(config, dataset, seed=2)
  run_checkpoint = checkpoints.RunCheckpoint(str(tmp_path), target, target.optimizer)
  assert run_checkpoint.restore_latest() == (3, 120)
  assert int(run_checkpoint.step_in_epoch.numpy()) == 0
  for a, b in zip(source.weights, target.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  # Another model's checkpoint is still refused.
  wider = dataclasses.replace(config, hidden_dim=config.hidden_dim * 2)
  other = _model(wider, dataset, seed=2)
  with pytest.raises(checkpoints.CheckpointMismatchError, match="does not fit this model"):
    checkpoints.RunCheckpoint(str(tmp_path), other, other.optimizer).restore_latest()
