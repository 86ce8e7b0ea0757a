"""Short training runs on the D4 data set, where the plain VAE collapses (test helpers).

One run per remedy on the synthetic mixture-of-Gaussians text (METHODS.md D4,
Shen et al. (2021), section 4.3) with the default small LSTM VAE, Adam 1e-3, batches of 64 in
the same order and the same initial weights, so that each behavioural test can
hold a remedy against the plain VAE.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from tfvae import methods
from tfvae import data
from tfvae import metrics
from tfvae.training import config as config_lib

STEPS = 300


class BatchKL(keras.callbacks.Callback):
  """Records the global-batch KL of every training step."""

  def __init__(self):
    super().__init__()
    self.values = []

  def on_train_batch_end(self, batch, logs=None):
    self.values.append(float(self.model.batch_kl.numpy()))


@functools.cache
def d4():
  return data.load("synthetic_mog", None)


def train(steps=STEPS, callbacks=(), **fields):
  """(model, KL of every step) after `steps` steps of the Config with `fields`."""
  dataset = d4()
  config = config_lib.Config(**fields).resolved()
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model(next(iter(dataset.batches("valid", 2))))
  model.build_optimizers()
  record = BatchKL()
  model.fit(dataset.train_batches(64, seed=0), steps_per_epoch=steps, epochs=1, verbose=0,
            callbacks=[*callbacks, record])
  return model, np.array(record.values)


def held_out_batch(size):
  """The first `size` sentences of the test split."""
  return next(iter(d4().batches("test", size)))


def mutual_information(model, x):
  """He et al.'s MI estimate of the model's posterior on x, with a fixed seed."""
  posterior = model.posterior(x)
  seed = tf.constant([5, 6], tf.int32)
  return float(metrics.mutual_information(posterior.mean(), posterior.stddev(), seed=seed))
