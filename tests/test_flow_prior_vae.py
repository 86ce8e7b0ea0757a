"""FlowPrior's objective (Ding and Gimpel (2021), eq. 7) against closed forms, its "+FB" clamp,
and the method trained from the launcher with its prior's weights trained and checkpointed."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests import d4_runs
from tests.launch_runs import TINY
from tests.launch_runs import run as _run
from tfvae import objectives
from tfvae.errors import ConfigError
from tfvae.models.linear_gaussian import LinearGaussianModel
from tfvae.training import config as config_lib

SEED = tf.constant([3, 1], tf.int32)
# Orthogonal columns: the diagonal q can be the exact posterior (a zero-variance oracle).
DECODER_WEIGHT = [[1.5, 0.0], [0.0, -0.8], [0.0, 0.0]]


def _linear_gaussian(exact=True):
  model = LinearGaussianModel(DECODER_WEIGHT, [0.2, -0.1, 0.3], 0.6)
  if exact:
    model.set_posterior_to_exact_marginals()
  return model


def _x():
  return tf.constant(np.random.default_rng(0).normal(size=[6, 3]), tf.float32)


def test_at_the_exact_posterior_the_objective_is_twice_the_log_marginal():
  """With q = p(z|x) every importance weight is p(x): both parts of eq. 7 equal log p(x)."""
  model, x = _linear_gaussian(), _x()
  loss, terms = objectives.flow_prior_loss(model, x, num_samples=7, seed=SEED, training=False)
  log_px = model.exact_log_marginal(x).numpy()
  np.testing.assert_allclose(-loss.numpy(), 2.0 * log_px, rtol=1e-4)
  np.testing.assert_allclose(terms["iw_bound"].numpy(), log_px, rtol=1e-4)
  np.testing.assert_allclose(terms["elbo"].numpy(), log_px, rtol=1e-4)


def test_with_many_samples_the_weighted_part_approaches_the_log_marginal():
  """Away from the true posterior the ELBO part falls short; the IW part closes the gap as N grows."""
  model, x = _linear_gaussian(exact=False), _x()
  log_px = model.exact_log_marginal(x).numpy()
  _, many = objectives.flow_prior_loss(model, x, num_samples=4000, seed=SEED, training=False)
  assert np.all(many["elbo"].numpy() < log_px - 0.3)
  np.testing.assert_allclose(many["iw_bound"].numpy(), log_px, atol=0.05)


def test_free_bits_clamp_the_whole_kl_and_stop_its_gradient():
  model, x = _linear_gaussian(exact=False), _x()
  target_rate = 50.0  # far above this posterior's KL: the clamp holds
  with tf.GradientTape(persistent=True) as tape:
    loss, terms = objectives.flow_prior_loss(model, x, num_samples=3, seed=SEED,
                                             training=False, target_rate=target_rate)
    plain, _ = objectives.flow_prior_loss(model, x, num_samples=3, seed=SEED, training=False)
    without_kl = plain - terms["kl"]
    total, total_without_kl = tf.reduce_sum(loss), tf.reduce_sum(without_kl)
  assert float(tf.reduce_mean(terms["kl"])) < target_rate
  np.testing.assert_allclose(loss.numpy(), (without_kl + target_rate).numpy(), rtol=1e-5)
  # Clamped, the KL gives no gradient: the encoder feels the IW part and the reconstruction.
  variables = [model.encoder_weight, model.encoder_log_scale]
  for got, want in zip(tape.gradient(total, variables),
                       tape.gradient(total_without_kl, variables)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_the_flow_prior_trains_and_moves_its_prior():
  model, _ = d4_runs.train(steps=20, model="flow_prior", flow_couplings=2, flow_hidden=16,
                           flow_samples=3, latent_dim=4, embed_dim=16, hidden_dim=32)
  kernels = [w for w in model.latent_prior.trainable_weights if "shift_and_raw" in w.path]
  assert len(kernels) == 4  # two couplings, each a kernel and a bias
  # The last layers start at zero: training moved them, so the prior is no longer N(0, I).
  assert any(np.abs(w.numpy()).max() > 0 for w in kernels)


def test_the_launcher_trains_the_fb_preset_and_refuses_per_dimension_free_bits(tmp_path):
  """The launcher run of `flow_prior_fb` (`flow_prior` runs in the conformance suite)."""
  _run("launch.train", "--preset=flow_prior_fb", "--latent_dim=4", "--flow_couplings=2",
       "--flow_hidden=8", "--flow_samples=2", "--epochs=1", "--steps_per_epoch=2",
       f"--model_dir={tmp_path}", *TINY)
  results = json.loads((tmp_path / "results.json").read_text())
  assert np.isfinite(results["test"]["nll"]) and results["config"]["objective"] == "free_bits"
  with pytest.raises(ConfigError, match="clamps the KL per dimension"):
    config_lib.Config(prior="flow", objective="free_bits", fb_lambda=3.0).resolved().validate()
