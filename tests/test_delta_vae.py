"""delta-VAE (Razavi et al. 2019): the variance range that commits delta nats per dimension."""

import keras
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from tfvae import divergences
from tfvae import latents
from tfvae.models import DeltaVAE
from tfvae.models import VAE
from tfvae.models import delta_vae
from tfvae.training import config as config_lib

LATENT_DIM = 6


@pytest.mark.parametrize("delta", [0.01, 0.1, 0.5, 2.0])
def test_the_variance_range_ends_at_the_roots_found_by_bisection(delta):
  low, high = delta_vae.variance_range(delta)

  def committed(v):
    return np.log(v) - v + 1 + 2 * delta

  np.testing.assert_allclose(low, scipy.optimize.brentq(committed, 1e-12, 1.0), rtol=1e-9)
  np.testing.assert_allclose(high, scipy.optimize.brentq(committed, 1.0, 1e3), rtol=1e-9)
  assert low < 1.0 < high


def test_a_rate_that_is_not_positive_is_refused():
  with pytest.raises(ValueError, match="delta must be positive"):
    delta_vae.variance_range(0.0)
  with pytest.raises(config_lib.ConfigError, match="--delta must be a positive rate"):
    config_lib.Config(model="delta_vae", delta=-0.1).resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="use --prior=standard_normal"):
    config_lib.Config(model="delta_vae", prior="mog").resolved().validate()


class _RandomParameters(keras.layers.Layer):
  """An encoder whose outputs are the rows of fixed (loc, log-variance or logit) arrays."""

  def __init__(self, loc, unconstrained):
    super().__init__()
    self.outputs = (tf.constant(loc), tf.constant(unconstrained))

  def call(self, x, training=False):
    del x, training
    return self.outputs


@pytest.mark.parametrize("delta", [0.05, 0.3])
def test_every_posterior_commits_delta_nats_per_dimension(delta):
  """KL_d >= delta for encoder outputs over a wide range, means near 0 included; the same
  outputs read as a plain VAE's log-variances give dimensions below delta."""
  rng = np.random.default_rng(0)
  loc = rng.normal(scale=rng.choice([1e-3, 0.1, 3.0], size=[4096, 1]),
                   size=[4096, LATENT_DIM]).astype(np.float32)
  unconstrained = rng.uniform(-12.0, 12.0, size=[4096, LATENT_DIM]).astype(np.float32)
  encoder = _RandomParameters(loc, unconstrained)
  prior = latents.standard_normal_prior(LATENT_DIM)

  model = DeltaVAE(encoder, None, LATENT_DIM, delta=delta)
  posterior = model.posterior(None)
  kl = divergences.kl_per_dimension(posterior, prior).numpy()
  assert kl.min() >= delta * (1 - 1e-5), kl.min()
  # The largest variance is v_low, where a zero mean pays exactly delta.
  np.testing.assert_allclose(posterior.variance().numpy().max(),
                             delta_vae.variance_range(delta)[0], rtol=1e-3)

  plain = VAE(encoder, None, LATENT_DIM).posterior(None)
  assert (divergences.kl_per_dimension(plain, prior).numpy() < delta).mean() > 0.01


def test_the_bound_holds_through_training_and_evaluation():
  """A small launcher-built model trained with a large step still commits delta nats."""
  from tfvae import data
  from tfvae import methods

  delta = 0.2
  dataset = data.load("synthetic_mog", num_train=128, num_valid=8, num_test=8)
  config = config_lib.Config(model="delta_vae", delta=delta, latent_dim=LATENT_DIM,
                             embed_dim=8, hidden_dim=16).resolved().validate()
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  model.compile(optimizer=keras.optimizers.Adam(0.05))
  model(next(iter(dataset.batches("train", 4))))
  model.build_optimizers()
  history = model.fit(dataset.train_batches(32, seed=0), steps_per_epoch=8, epochs=1, verbose=0)
  assert history.history["kl"][-1] >= LATENT_DIM * delta
  x = next(iter(dataset.batches("test", 8)))
  kl = divergences.kl_per_dimension(model.posterior(x), model.prior).numpy()
  assert kl.min() >= delta * (1 - 1e-5)
