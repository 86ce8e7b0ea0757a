"""LiBI (Yacoby et al. 2020, eqs. 44-46): the code penalties against numpy, the phases' variables
and step 3's re-initialisation."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import henze_zirkler
from tfvae import latents
from tfvae import nets
from tfvae.data import libi
from tfvae.models import LiBIVAE
from tfvae.objectives import libi as libi_objective

SEED = tf.constant([7, 1], tf.int32)


def _codes(scale=1.0, rows=300, seed=0):
  rng = np.random.default_rng(seed)
  return (scale * rng.normal(size=(rows, 2)) + [0.2, -0.1]).astype(np.float64)


def test_code_statistics_and_penalty_match_numpy():
  codes = _codes(scale=0.6)
  statistics = libi_objective.code_statistics(tf.constant(codes))
  covariance = np.cov(codes, rowvar=False, bias=True)
  cov_gap = np.sum((covariance - np.eye(2)) ** 2)
  mean_gap = np.sum(codes.mean(axis=0) ** 2)
  np.testing.assert_allclose(statistics["cov_gap"].numpy(), cov_gap, rtol=1e-10)
  np.testing.assert_allclose(statistics["mean_gap"].numpy(), mean_gap, rtol=1e-10)
  np.testing.assert_allclose(statistics["hz"].numpy(),
                             henze_zirkler.henze_zirkler_statistic(codes).numpy(), rtol=1e-12)
  penalty = libi_objective.code_penalty(statistics, eps_hz=0.5, eps_sigma=0.2, eps_mu=0.4)
  expected = (0.5 * np.exp(statistics["hz"].numpy()) + np.exp(cov_gap / 0.2)
              + np.exp(mean_gap / 0.4))
  np.testing.assert_allclose(penalty.numpy(), expected, rtol=1e-10)


def test_the_penalty_stays_finite_far_from_the_prior():
  """Codes 1000x too wide: every exponent is far above 88, the penalty and its gradient finite."""
  codes = tf.Variable(_codes(scale=1000.0).astype(np.float32))
  with tf.GradientTape() as tape:
    penalty = libi_objective.code_penalty(libi_objective.code_statistics(codes), eps_hz=1.0,
                                          eps_sigma=0.2, eps_mu=0.2)
  gradient = tape.gradient(penalty, codes)
  assert np.isfinite(penalty.numpy()) and penalty.numpy() > 1e26
  assert np.all(np.isfinite(gradient.numpy()))


def test_gradient_descent_on_the_penalty_pulls_shrunken_codes_back_to_the_prior():
  """Eqs. 34-36: codes z / c^2 fit the likelihood as well as z; the penalty undoes the shrinking."""
  codes = tf.Variable(_codes(scale=0.5).astype(np.float32))
  optimizer = tf.keras.optimizers.Adam(0.02)
  for _ in range(200):
    with tf.GradientTape() as tape:
      penalty = libi_objective.code_penalty(libi_objective.code_statistics(codes), eps_hz=1.0,
                                            eps_sigma=0.5, eps_mu=0.5)
    optimizer.apply_gradients([(tape.gradient(penalty, codes), codes)])
  statistics = libi_objective.code_statistics(codes)
  assert statistics["cov_gap"].numpy() < 0.01 and statistics["mean_gap"].numpy() < 0.01


def _model(phase, kind="linear_jtex", **eps):
  true = libi.true_model(kind)
  family = latents.family(2)
  return LiBIVAE(nets.LiBIEncoder(kind, family, name="encoder"),
                 nets.libi_decoder(kind, name="decoder"), family,
                 code_encoder=nets.LiBIEncoder(kind, family, name="code_encoder"), phase=phase,
                 **{"eps_hz": 1.0, "eps_sigma": 0.5, "eps_mu": 0.5, **eps}), true


@pytest.mark.parametrize("phase, moving", [("likelihood", {"decoder", "code_encoder"}),
                                           ("inference", {"encoder"})])
def test_each_phase_trains_only_its_networks(phase, moving):
  model, _ = _model(phase)
  x = libi.generate("linear_jtex")["train"][0][:50]
  model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
  model(x)
  model.build_optimizers()
  networks = {"encoder": model.encoder, "decoder": model.decoder,
              "code_encoder": model.code_encoder}
  before = {name: [w.numpy() for w in net.weights] for name, net in networks.items()}
  model.fit(tf.data.Dataset.from_tensor_slices(x).batch(50), epochs=2, verbose=0)
  for name, network in networks.items():
    changed = any(not np.array_equal(a, w.numpy()) for a, w in zip(before[name], network.weights))
    assert changed == (name in moving), name


def test_the_likelihood_phase_loss_is_eq_44():
  model, _ = _model("likelihood", eps_hz=0.3)
  x = tf.constant(libi.generate("linear_jtex")["train"][0][:100])
  model(x)
  loss, terms = model.compute_objective(x, seed=SEED, training=False)
  codes = model.codes(x)
  recon = -model.likelihood(codes, x).log_prob(x)
  penalty = libi_objective.code_penalty(libi_objective.code_statistics(codes), eps_hz=0.3,
                                        eps_sigma=0.5, eps_mu=0.5)
  np.testing.assert_allclose(loss.numpy(), (recon + penalty).numpy(), rtol=1e-5)
  np.testing.assert_allclose(terms["penalty"].numpy(), np.full(100, penalty.numpy()), rtol=1e-6)


def test_step_3_makes_the_codes_the_posterior_means():
  model, _ = _model("likelihood")
  x = tf.constant(libi.generate("linear_jtex")["valid"][0][:20])
  model(x)
  assert not np.allclose(model.codes(x).numpy(), model.posterior(x).mean().numpy())
  model.codes_from_posterior()
  np.testing.assert_array_equal(model.codes(x).numpy(), model.posterior(x).mean().numpy())


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="phase must be one of"):
    _model("both")
  with pytest.raises(ValueError, match="must be positive"):
    _model("likelihood", eps_mu=0.0)
