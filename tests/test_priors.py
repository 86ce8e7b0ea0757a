"""Priors as layers: the fixed N(0, I), and the learned mixture of Gaussians (METHODS.md M13)."""

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from tests import d4_runs
from tfvae import latents
from tfvae.training import checkpoints
from tfvae.training import config as config_lib


def _mixture(latent_dim=2, components=3, seed=0):
  keras.utils.set_random_seed(seed)
  prior = latents.MixtureOfGaussiansPrior(latent_dim, components)
  prior.logits.assign([0.3, -1.0, 0.5][:components])
  prior.log_scales.assign(np.log([[0.5, 1.2], [1.0, 0.3], [0.8, 0.8]])[:components])
  return prior


def test_mixture_density_integrates_to_one_and_matches_scipy():
  prior = _mixture()
  grid = np.linspace(-12.0, 12.0, 1201)
  zz = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
  density = np.exp(prior.distribution().log_prob(zz).numpy().astype(np.float64))
  step = grid[1] - grid[0]
  assert abs(density.sum() * step**2 - 1.0) < 1e-3
  weights = scipy.special.softmax(prior.logits.numpy())
  means, scales = prior.means.numpy(), np.exp(prior.log_scales.numpy())
  expected = sum(w * scipy.stats.norm(m, s).pdf(zz).prod(-1)
                 for w, m, s in zip(weights, means, scales))
  np.testing.assert_allclose(density, expected, rtol=1e-4, atol=1e-12)


def test_the_families_own_priors_and_bad_requests():
  gaussian = latents.GaussianLatents(3)
  assert isinstance(latents.make_prior(None, gaussian), latents.FixedPrior)
  assert not latents.make_prior("standard_normal", gaussian).weights
  categorical = latents.CategoricalLatents(2, 3)
  assert latents.default_prior_name(categorical) == "uniform"
  with pytest.raises(ValueError, match="does not fit"):
    latents.make_prior("mog", categorical)
  with pytest.raises(ValueError, match="Unknown prior"):
    latents.make_prior("gamma", gaussian)
  with pytest.raises(ValueError, match="pseudo_input_shape"):
    latents.make_prior("vamp", gaussian)
  with pytest.raises(config_lib.ConfigError, match="--prior=uniform"):
    config_lib.Config(prior="mog", latent_type="categorical", model="monte_carlo",
                      estimator="vimco").resolved().validate()
  # A method whose latents are discrete whatever --latent_type (the VQ-VAE's codes).
  with pytest.raises(config_lib.ConfigError, match="--prior=uniform"):
    config_lib.Config(prior="standard_normal", model="vqvae").resolved().validate()
  config_lib.Config(prior="uniform", model="vqvae").resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="factorises"):
    config_lib.Config(prior="mog", objective="free_bits", fb_lambda=2.0).resolved().validate()


def test_a_learned_prior_trains_and_survives_a_checkpoint(tmp_path):
  model, _ = d4_runs.train(steps=5, prior="mog", prior_components=4, embed_dim=8,
                           hidden_dim=16)
  prior = model.latent_prior
  assert {w.path.split("/")[-1] for w in model.trainable_weights if "prior" in w.path} == {
      "logits", "means", "log_scales"}
  keras.utils.set_random_seed(0)
  fresh = latents.MixtureOfGaussiansPrior(2, 4)
  assert not np.allclose(fresh.means.numpy(), prior.means.numpy()), "training moves the prior"
  run = checkpoints.RunCheckpoint(str(tmp_path), model, model.optimizer)
  run.save(1, 5)
  saved = [w.numpy() for w in prior.weights]
  for weight in prior.weights:
    weight.assign(tf.zeros_like(weight))
  run.restore_latest()
  for weight, value in zip(prior.weights, saved):
    np.testing.assert_array_equal(weight.numpy(), value)


def _kl_from_aggregate_posterior(model, prior, x, seed=(1, 2)):
  """KL(q(z) || p(z)) for the aggregate posterior q(z) of x: Monte Carlo, one z per example."""
  posterior = model.posterior(x)
  z = posterior.sample(seed=tf.constant(seed))
  pairs = posterior.log_prob(z[:, None])
  log_q = tf.reduce_logsumexp(pairs, axis=1) - np.log(float(x.shape[0]))
  return float(tf.reduce_mean(log_q - prior.log_prob(z)))


def test_mixture_prior_learns_the_aggregate_posterior_better_than_n01():
  """Trained with the ELBO on D4 (300 steps), the mixture moves towards q(z), the aggregate
  posterior of 1000 held-out sentences: KL(q(z) || p) 0.003 nats against 0.082 for N(0, I)
  (measured); the ELBO's KL term pulls the prior towards q(z)."""
  x = d4_runs.held_out_batch(1000)
  model, _ = d4_runs.train(prior="mog", prior_components=5)
  learned = _kl_from_aggregate_posterior(model, model.prior, x)
  standard = _kl_from_aggregate_posterior(model, latents.standard_normal_prior(2), x)
  assert learned < 0.5 * standard, (learned, standard)
