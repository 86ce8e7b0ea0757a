"""MonteCarloVAE (Melis et al. 2022): every estimator under every objective trains; lambda works."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import methods
from tfvae import data
from tfvae import latents
from tfvae import metrics
from tfvae import models
from tfvae import nets
from tfvae.training import config as config_lib

PIXELS = 6


def _binary_data(count=64, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.random([count, PIXELS]) < 0.3).astype("float32")


def _small_model(**settings):
  keras.utils.set_random_seed(0)
  return models.MonteCarloVAE(nets.MLPEncoder([8], 3), nets.MLPDecoder([8], (PIXELS,)), 3,
                              **settings)


@pytest.mark.parametrize("objective", ["kl", "renyi", "power"])
@pytest.mark.parametrize("estimator", ["elbo", "iwae", "stl", "dreg"])
def test_every_continuous_combination_trains(objective, estimator):
  alpha = {"kl": 1.0, "renyi": 0.5, "power": 2.0}[objective]
  model = _small_model(mi_objective=objective, estimator=estimator, num_samples=4, mi_lambda=0.5,
                       renyi_alpha=alpha, num_marginal=4, num_kl=2)
  history = _fit_lowers_nll(model, _binary_data(), batch_size=16, epochs=3, iw_samples=200)
  assert {"log_marginal", "true_kl", "kl", "recon"} <= set(history.history)


def _fit_lowers_nll(model, x, *, batch_size, epochs, iw_samples):
  """Trains `model` on x with Adam 1e-2; asserts finite losses and an IW-NLL 0.1 nats lower."""
  model.compile(optimizer=keras.optimizers.Adam(1e-2))

  def nll():
    return -float(tf.reduce_mean(metrics.iw_log_likelihood(model, x, num_samples=iw_samples,
                                                           seed=3)))

  model(x[:2])
  before = nll()
  history = model.fit(x, batch_size=batch_size, epochs=epochs, verbose=0)
  assert np.all(np.isfinite(history.history["loss"]))
  assert nll() < before - 0.1, (before, nll())
  return history


SYMBOLS = 16


def _categorical_model(**settings):
  keras.utils.set_random_seed(0)
  family = latents.CategoricalLatents(2, 4, 8)
  return models.MonteCarloVAE(nets.SymbolEncoder(SYMBOLS, family, 8, 16),
                              nets.SymbolDecoder(SYMBOLS, 16, 1), family, **settings)


def _symbol_data(count, skewed, seed=0):
  rng = np.random.default_rng(seed)
  weights = 0.7 ** np.arange(SYMBOLS) if skewed else np.ones(SYMBOLS)
  return rng.choice(SYMBOLS, size=count, p=weights / weights.sum()).astype("int32")


@pytest.mark.parametrize("objective", ["kl", "renyi", "power"])
@pytest.mark.parametrize("estimator", ["reinforce", "vimco"])
def test_every_categorical_combination_trains(objective, estimator):
  alpha = {"kl": 1.0, "renyi": 0.5, "power": 2.0}[objective]
  model = _categorical_model(mi_objective=objective, estimator=estimator, num_samples=4,
                             mi_lambda=0.5, renyi_alpha=alpha)
  _fit_lowers_nll(model, _symbol_data(256, skewed=True), batch_size=32, epochs=4, iw_samples=50)


def _categorical_true_kl(mi_lambda):
  model = _categorical_model(mi_objective="renyi", estimator="vimco", num_samples=16,
                             mi_lambda=mi_lambda, renyi_alpha=0.5)
  model.compile(optimizer=keras.optimizers.Adam(3e-3, beta_1=0.0))
  model.fit(_symbol_data(4096, skewed=False), batch_size=64, epochs=3, verbose=0)
  x = _symbol_data(512, skewed=False, seed=1)
  return float(tf.reduce_mean(metrics.true_kl(model, x, num_samples=100, seed=1)))


def test_without_the_mi_term_categorical_latents_go_unused():
  """Melis et al. (2022), section 7.1.3: without the MI term the model fits uniform
  symbols ignoring z.

  16 symbols, 2 latents of 4 categories (H(Z) = H(X) = ln 16), VIMCO-16, 192
  steps: true KL 0.001 nats at lambda 0, 1.18 at lambda 0.9.
  """
  plain = _categorical_true_kl(0.0)
  constrained = _categorical_true_kl(0.9)
  assert plain < 0.3 and constrained > plain + 0.5, (plain, constrained)


def test_rejects_vae_arguments_and_bad_settings():
  with pytest.raises(ValueError, match="not beta"):
    _small_model(beta=0.5)
  with pytest.raises(ValueError, match="Unknown mi_objective 'renyl'"):
    _small_model(mi_objective="renyl")
  with pytest.raises(ValueError, match="VIMCO.*at least 2"):
    _small_model(estimator="vimco", num_samples=1)


@functools.cache
def _d4():
  return data.load("synthetic_mog", None)


def _true_kl_after_training(mi_lambda, steps=100):
  dataset = _d4()
  config = config_lib.Config(model="monte_carlo", estimator="dreg", num_samples=4,
                             mi_lambda=mi_lambda).resolved()
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  model.compile(optimizer=keras.optimizers.Adam(2e-3))
  model.fit(dataset.train_batches(32, seed=0), steps_per_epoch=steps, epochs=1, verbose=0)
  x = next(iter(dataset.batches("test", 200)))
  return float(tf.reduce_mean(metrics.true_kl(model, x, num_samples=100, seed=1)))


def test_mi_term_keeps_the_true_posterior_informative():
  """Melis et al. (2022), section 4: lambda > 0 rewards the true-posterior KL, so the
  latents carry more.

  On D4 after 100 steps of DReG-4 on batches of 32: true KL 0.40 nats at
  lambda 0, 1.34 at 0.9 (with the seed offset by 1 and 2: 0.53 and 1.19,
  0.45 and 1.48; at lambda 0.8 the gap was 0.35-0.72 over the same seeds).
  """
  plain = _true_kl_after_training(0.0)
  constrained = _true_kl_after_training(0.9)
  assert constrained > plain + 0.5, (plain, constrained)


@pytest.mark.parametrize("fields, match", [
    (dict(beta=0.5), "leave --objective=elbo, --beta=1"),
    (dict(num_kl=32), "--num_kl must be in \\[1, --num_samples=16\\]"),
    (dict(estimator="vimco", num_samples=1), "--estimator=vimco needs --num_samples >= 2"),
    (dict(mi_objective="renyi"), "--renyi_alpha > 0 and != 1"),
    (dict(latent_type="categorical", estimator="dreg"), "--estimator=reinforce or vimco"),
    (dict(estimator="iwea"), "--estimator='iwea' is not one of"),
])
def test_config_errors(fields, match):
  with pytest.raises(config_lib.ConfigError, match=match):
    config_lib.Config(model="monte_carlo", **fields).resolved().validate()
