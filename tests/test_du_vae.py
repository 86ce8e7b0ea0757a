"""DU-VAE (Shen et al. 2021): the variance dropout of eq. 6 and the scale re-scaling of Algorithm 1."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae import methods
from tfvae.models import du_vae
from tfvae.training import config as config_lib

GAMMA = 0.5
KEEP = 0.8
LATENT_DIM = 8


@pytest.fixture(scope="module")
def dataset():
  return data.load("synthetic_mog", num_train=256, num_valid=8, num_test=8)


def _model(dataset):
  config = config_lib.Config(model="du_vae", du_gamma=GAMMA, du_keep_prob=KEEP,
                             latent_dim=LATENT_DIM, embed_dim=8,
                             hidden_dim=16).resolved().validate()
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  model(next(iter(dataset.batches("train", 4))))
  return model


def test_training_variances_follow_eq_6_and_evaluation_has_no_dropout(dataset):
  model = _model(dataset)
  x = next(iter(dataset.batches("train", 256)))
  excess = np.exp(model.encoder(x)[1].numpy())  # delta^2 - alpha
  evaluated = model.posterior(x, training=False).variance().numpy()
  np.testing.assert_allclose(evaluated, excess + du_vae.ALPHA, rtol=1e-5)
  assert evaluated.min() > du_vae.ALPHA

  seed = tf.constant([3, 4])
  trained = model.step_posterior(x, seed=seed, training=True).variance().numpy()
  kept = np.isclose(trained, du_vae.ALPHA + excess / KEEP, rtol=1e-5)
  dropped = np.isclose(trained, du_vae.ALPHA, rtol=1e-5)
  assert np.all(kept | dropped)
  # 2048 Bernoulli(0.8) draws: the kept fraction within 4 standard deviations.
  assert abs(kept.mean() - KEEP) < 4 * np.sqrt(KEEP * (1 - KEEP) / kept.size)
  # The same seed gives the same mask; the mean variance is kept (Proposition 1).
  again = model.step_posterior(x, seed=seed, training=True).variance().numpy()
  np.testing.assert_array_equal(trained, again)
  masks = [model.step_posterior(x, seed=tf.constant([5, s]), training=True).variance().numpy()
           for s in range(20)]
  np.testing.assert_allclose(np.mean(masks), evaluated.mean(), rtol=0.02)


def test_scales_are_rescaled_to_gamma_after_every_step(dataset):
  """Algorithm 1, line 9: the learned scales move, their root mean square stays gamma."""
  model = _model(dataset)
  model.compile(optimizer=keras.optimizers.Adam(0.05))
  model.build_optimizers()
  scale = model.mean_norm.scale
  start = scale.numpy().copy()
  np.testing.assert_allclose(start, GAMMA)
  model.fit(dataset.train_batches(32, seed=0), steps_per_epoch=5, epochs=1, verbose=0)
  learned = scale.numpy()
  assert np.ptp(learned) > 1e-3, learned
  np.testing.assert_allclose(np.sqrt(np.mean(learned**2)), GAMMA, rtol=1e-5)


def test_bad_settings_are_refused():
  with pytest.raises(config_lib.ConfigError, match="--du_keep_prob must be in"):
    config_lib.Config(model="du_vae", du_keep_prob=0.0).resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="--du_gamma must be positive"):
    config_lib.Config(model="du_vae", du_gamma=-1.0).resolved().validate()
