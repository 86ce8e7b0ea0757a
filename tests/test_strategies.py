"""tf.distribute: two replicas train exactly like one device on the same global batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import nets
from tfvae.models import VAE
from tfvae.training import config as config_lib
from tfvae.training import strategies

BATCHES = [tf.constant(np.random.RandomState(i).randint(4, 12, size=(4, 7)), tf.int32)
           for i in range(6)]


def _text_batches():
  fixed = [tf.concat([tf.fill([4, 1], 2), b, tf.fill([4, 1], 3)], axis=1) for b in BATCHES]
  return tf.data.Dataset.from_tensor_slices(tf.stack(fixed))


def _train(strategy, grad_clip_norm):
  keras.utils.set_random_seed(11)
  with strategy.scope():
    model = VAE(nets.LSTMEncoder(12, 8, 16, 3), nets.LSTMDecoder(12, 8, 16, 3), 3, seed=5,
                grad_clip_norm=grad_clip_norm)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model(BATCHES[0])
  model.fit(_text_batches(), epochs=1, verbose=0)
  return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("grad_clip_norm", [None, 0.5])
def test_mirrored_matches_default(grad_clip_norm, mirrored_strategy):
  one = _train(tf.distribute.get_strategy(), grad_clip_norm)
  two = _train(mirrored_strategy, grad_clip_norm)
  assert len(one) == len(two)
  for a, b in zip(one, two):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  initial = _initial_weights()
  moved = any(not np.allclose(a, b) for a, b in zip(one, initial))
  assert moved, "training must change the weights for the comparison to mean anything"


def _initial_weights():
  keras.utils.set_random_seed(11)
  model = VAE(nets.LSTMEncoder(12, 8, 16, 3), nets.LSTMDecoder(12, 8, 16, 3), 3, seed=5)
  model(BATCHES[0])
  return [w.numpy() for w in model.weights]


def test_factory_names_and_errors(monkeypatch):
  assert strategies.make_strategy("default") is tf.distribute.get_strategy()
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="TF_CONFIG"):
    strategies.make_strategy("multi_worker")
  with pytest.raises(ValueError, match="--tpu"):
    strategies.make_strategy("tpu")
  with pytest.raises(ValueError, match="Unknown strategy"):
    strategies.make_strategy("cluster")


def test_config_rejects_tpu_without_address():
  with pytest.raises(config_lib.ConfigError, match="--tpu"):
    config_lib.Config(strategy="tpu").validate()
