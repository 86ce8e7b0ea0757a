"""BN-VAE (Zhu et al. 2020): the normalised means and the KL bound they give, against numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae import methods
from tfvae.models import bn_vae
from tfvae.training import config as config_lib

GAMMA = 0.6
LATENT_DIM = 4


@pytest.fixture(scope="module")
def model_and_batch():
  dataset = data.load("synthetic_mog", num_train=64, num_valid=8, num_test=8)
  config = config_lib.Config(model="bn_vae", bn_gamma=GAMMA, latent_dim=LATENT_DIM, embed_dim=8,
                             hidden_dim=16).resolved().validate()
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  x = next(iter(dataset.batches("train", 64)))
  model(x)
  return model, x


def test_training_means_have_the_batch_statistics_of_eq_9(model_and_batch):
  model, x = model_and_batch
  loc, log_variance = (t.numpy() for t in model.encoder(x))
  model.mean_norm.shift.assign(np.arange(LATENT_DIM, dtype=np.float32) / 10)
  try:
    got = model.posterior(x, training=True).mean().numpy()
  finally:
    model.mean_norm.shift.assign(np.zeros(LATENT_DIM, np.float32))
  expected = (GAMMA * (loc - loc.mean(0)) / np.sqrt(loc.var(0) + bn_vae.EPSILON)
              + np.arange(LATENT_DIM) / 10)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(model.posterior(x, training=True).stddev().numpy(),
                             np.exp(0.5 * log_variance), rtol=1e-5)


def test_batch_kl_is_at_least_d_gamma_squared_over_two(model_and_batch):
  """Zhu et al. (2020): with the means normalised the KL cannot vanish.

  The randomly initialised encoder's own means vary by only about 1e-5 over
  the batch, so without the normalisation the same batch's KL is far under
  the bound; with it, the bound holds in full.
  """
  model, x = model_and_batch
  raw_loc, log_variance = (t.numpy() for t in model.encoder(x))
  bound = 0.5 * GAMMA**2 * LATENT_DIM
  kl = model.posterior(x, training=True).kl_divergence(model.prior).numpy().mean()
  raw_kl = 0.5 * np.sum(raw_loc**2 + np.exp(log_variance) - log_variance - 1, axis=1).mean()
  assert kl >= bound * 0.999, (kl, bound)
  assert raw_kl < 0.5 * bound, raw_kl


@pytest.mark.parametrize("raw_scale", [1.0, 1e-2, 1e-4])
def test_shrinking_the_raw_means_cannot_lower_the_kl(raw_scale):
  """The normalised means do not depend on the raw means' scale.

  An epsilon comparable to the raw variance (PyTorch's 1e-5) would let an
  encoder shrink its means until the bound no longer holds; the KL's
  gradient along the raw scale must vanish too, or Adam follows it.
  """
  layer = bn_vae.MeanBatchNorm(GAMMA)
  raw = np.random.default_rng(0).normal(size=[64, LATENT_DIM]).astype(np.float32) + 3.0
  scale = keras.Variable(raw_scale)
  with tf.GradientTape() as tape:
    normalised = layer(keras.ops.convert_to_tensor(raw) * scale, training=True)
    kl_of_means = 0.5 * keras.ops.mean(keras.ops.sum(normalised**2, axis=1))
  np.testing.assert_allclose(normalised.numpy().var(0), GAMMA**2, rtol=1e-3)
  assert kl_of_means.numpy() >= 0.999 * 0.5 * GAMMA**2 * LATENT_DIM
  # d KL / d log(scale): eps / var of the KL at most.
  assert abs(float(tape.gradient(kl_of_means, scale)) * raw_scale) < 1e-3 * kl_of_means.numpy()


def test_evaluation_uses_the_moving_statistics(model_and_batch):
  model, x = model_and_batch
  normalize = model.mean_norm.normalize
  mean = np.linspace(-0.2, 0.3, LATENT_DIM).astype(np.float32)
  variance = np.linspace(0.5, 2.0, LATENT_DIM).astype(np.float32)
  saved = normalize.moving_mean.numpy(), normalize.moving_variance.numpy()
  normalize.moving_mean.assign(mean)
  normalize.moving_variance.assign(variance)
  try:
    loc = model.encoder(x)[0].numpy()
    got = model.posterior(x, training=False).mean().numpy()
  finally:
    normalize.moving_mean.assign(saved[0])
    normalize.moving_variance.assign(saved[1])
  np.testing.assert_allclose(got, GAMMA * (loc - mean) / np.sqrt(variance + bn_vae.EPSILON),
                             rtol=1e-4, atol=1e-5)


def test_bad_settings_are_refused():
  with pytest.raises(config_lib.ConfigError, match="--bn_gamma must be positive"):
    config_lib.Config(model="bn_vae", bn_gamma=0.0).resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="cannot learn --latent_type=categorical"):
    config_lib.Config(model="bn_vae", latent_type="categorical", latent_dim=2).resolved().validate()
  with pytest.raises(ValueError, match="gamma must be positive"):
    bn_vae.MeanBatchNorm(0.0)
