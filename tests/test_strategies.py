"""tf.distribute: two replicas train exactly like one device on the same global batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import distribute
from tfvae import nets
from tfvae import random as tfvae_random
from tfvae.models import VAE
from tfvae.models.base import TRAIN_STREAM
from tfvae.models.base import OptimizerGroup
from tfvae.training import checkpoints
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


class TwoOptimizerVAE(VAE):
  """A VAE whose encoder and decoder have optimisers of their own; a test fixture.

  It is the update pattern of aggressive training (METHODS.md M7) through the
  base's optimiser groups: the loss is computed once, the encoder's gradients
  are applied by `self.optimizer` (the one passed to compile, which also
  counts the steps) and the decoder's by `self.decoder_optimizer`, both
  clipped to one global norm. Both optimisers are attributes of the model, so
  a RunCheckpoint saves and restores them. It exercises the distribution
  machinery (two optimisers, two cross-replica updates in one step) and is
  not a library model.
  """

  def __init__(self, *args, decoder_optimizer, **kwargs):
    super().__init__(*args, **kwargs)
    self.decoder_optimizer = decoder_optimizer

  def optimizer_groups(self):
    return {"encoder": OptimizerGroup(self.optimizer, self.encoder.trainable_variables),
            "decoder": OptimizerGroup(self.decoder_optimizer, self.decoder.trainable_variables)}


def _two_optimizer_model(strategy, grad_clip_norm=None):
  """A built TwoOptimizerVAE made in `strategy`'s scope (Adam 0.05 / SGD 0.5).

  Its layers are named, so every instance has the same weight paths (the keys
  of a RunCheckpoint).
  """
  keras.utils.set_random_seed(11)
  with strategy.scope():
    model = TwoOptimizerVAE(nets.LSTMEncoder(12, 8, 16, 3, name="encoder"),
                            nets.LSTMDecoder(12, 8, 16, 3, name="decoder"), 3, seed=5,
                            grad_clip_norm=grad_clip_norm,
                            decoder_optimizer=keras.optimizers.SGD(0.5), name="two_optimizer_vae")
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model(BATCHES[0])
    model.build_optimizers()
  return model


def _values(variables):
  return {v.path: v.numpy() for v in variables}


@pytest.mark.parametrize("grad_clip_norm", [None, 0.5])
def test_two_optimizers_mirrored_match_default(grad_clip_norm, mirrored_strategy):
  initial = _values(_two_optimizer_model(tf.distribute.get_strategy()).weights)
  trained = {}
  for name, strategy in (("one", tf.distribute.get_strategy()), ("two", mirrored_strategy)):
    model = _two_optimizer_model(strategy, grad_clip_norm)
    model.fit(_text_batches(), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == len(BATCHES)
    assert int(model.decoder_optimizer.iterations.numpy()) == len(BATCHES)
    trained[name] = _values(model.weights)
  assert trained["one"].keys() == trained["two"].keys() == initial.keys()
  for path, value in trained["one"].items():
    np.testing.assert_allclose(trained["two"][path], value, rtol=1e-4, atol=1e-5, err_msg=path)
  for network in (model.encoder, model.decoder):
    assert any(not np.allclose(trained["one"][w.path], initial[w.path]) for w in network.weights), (
        f"{network.name}: each optimiser must move its weights for the comparison to mean "
        "anything")


def test_run_checkpoint_restores_both_optimizers(tmp_path, mirrored_strategy):
  model = _two_optimizer_model(mirrored_strategy)
  model.fit(_text_batches(), epochs=1, verbose=0)
  checkpoints.RunCheckpoint(str(tmp_path), model, model.optimizer).save(1, len(BATCHES))

  fresh = _two_optimizer_model(mirrored_strategy)
  run_checkpoint = checkpoints.RunCheckpoint(str(tmp_path), fresh, fresh.optimizer)
  assert run_checkpoint.restore_latest() == (1, len(BATCHES))
  for saved, restored in ((model.weights, fresh.weights),
                          (model.optimizer.variables, fresh.optimizer.variables),
                          (model.decoder_optimizer.variables, fresh.decoder_optimizer.variables)):
    assert len(saved) == len(restored) > 0
    for a, b in zip(saved, restored):
      np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)
  assert int(fresh.decoder_optimizer.iterations.numpy()) == len(BATCHES)


def test_global_batch_mean_sees_the_whole_global_batch(mirrored_strategy):
  values = tf.constant([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [6.0, 60.0]])
  dataset = tf.data.Dataset.from_tensors(values)
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(dataset)))
  means = mirrored_strategy.run(tf.function(distribute.global_batch_mean), args=(batch,))
  for replica_mean in mirrored_strategy.experimental_local_results(means):
    np.testing.assert_allclose(replica_mean.numpy(), [3.0, 30.0])
  np.testing.assert_allclose(distribute.global_batch_mean(values).numpy(), [3.0, 30.0])


def test_batch_statistics_hold_the_last_step():
  keras.utils.set_random_seed(11)
  model = VAE(nets.LSTMEncoder(12, 8, 16, 3), nets.LSTMDecoder(12, 8, 16, 3), 3, seed=5)
  model.compile(optimizer=keras.optimizers.SGD(0.0))
  model.fit(_text_batches().take(1), epochs=1, verbose=0)
  seed = tfvae_random.step_seed(5, 0, TRAIN_STREAM)
  loss, terms = model.compute_objective(next(iter(_text_batches())), seed=seed,
                                        training=True)
  np.testing.assert_allclose(model.batch_kl.numpy(), np.mean(terms["kl"]), rtol=1e-5)
  np.testing.assert_allclose(model.batch_loss.numpy(), np.mean(loss), rtol=1e-5)


def test_global_average_loss_of_an_uneven_split(mirrored_strategy):
  """Losses [1, 2, 3] split 2/1: the replicas' shares add up to the mean 2, not 2.25."""
  dataset = tf.data.Dataset.from_tensors(tf.constant([1.0, 2.0, 3.0]))
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(dataset)))
  local = [b.numpy().tolist() for b in mirrored_strategy.experimental_local_results(batch)]
  assert local == [[1.0, 2.0], [3.0]], "tf.distribute must split this batch 2/1"
  shares = mirrored_strategy.run(tf.function(distribute.global_average_loss), args=(batch,))
  total = sum(float(s) for s in mirrored_strategy.experimental_local_results(shares))
  np.testing.assert_allclose(total, 2.0, rtol=1e-6)
  offsets = mirrored_strategy.run(tf.function(lambda b: distribute.replica_rows(tf.shape(b)[0])),
                                  args=(batch,))
  assert [(int(o), int(n)) for o, n in zip(*map(mirrored_strategy.experimental_local_results,
                                                offsets))] == [(0, 3), (2, 3)]


def test_noise_of_an_uneven_split_is_the_one_device_noise(mirrored_strategy):
  seed = tf.constant([3, 4])
  dataset = tf.data.Dataset.from_tensors(tf.zeros([5, 2]))
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(dataset)))
  draw = tf.function(lambda b: tfvae_random.standard_normal([2, tf.shape(b)[0], 3], seed,
                                                            batch_axis=1))
  local = mirrored_strategy.experimental_local_results(mirrored_strategy.run(draw, args=(batch,)))
  assert [n.shape[1] for n in local] == [3, 2]
  np.testing.assert_array_equal(tf.concat(local, axis=1).numpy(),
                                tfvae_random.standard_normal([2, 5, 3], seed, batch_axis=1))
