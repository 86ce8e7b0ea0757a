"""LiBI (Yacoby et al. 2020, eqs. 44-46): the code penalties against numpy, the phases' variables,
step 3's re-initialisation and --preset=libi's repetitions."""

import os

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from tfvae import henze_zirkler
from tfvae import latents
from tfvae import methods
from tfvae import nets
from tfvae.data import libi
from tfvae.errors import ConfigError
from tfvae.models import LiBIVAE
from tfvae.objectives import libi as libi_objective
from tfvae.training import checkpoints
from tfvae.training import config as config_lib
from tfvae.training import loop
from tfvae.training import presets

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


def test_the_penalty_grows_linearly_past_its_soft_cap():
  """exp(v) up to v = 20, exp(20) (1 + v - 20) beyond: continuous, with the same slope there."""
  def penalty_of_exponent(v):
    return libi_objective.code_penalty({"hz": tf.constant(0.0, tf.float64),
                                        "cov_gap": tf.constant(v, tf.float64),
                                        "mean_gap": tf.constant(0.0, tf.float64)},
                                       eps_hz=1.0, eps_sigma=1.0, eps_mu=1.0).numpy() - 2.0
  for v in (3.0, 19.5, 20.0, 25.0, 1e4):
    expected = np.exp(v) if v <= 20 else np.exp(20.0) * (1 + v - 20.0)
    np.testing.assert_allclose(penalty_of_exponent(v), expected, rtol=1e-12)


def test_the_penalty_and_its_gradient_stay_finite_far_from_the_prior():
  """Codes 1000x too wide: the exponents are ~1e13, far above exp's float32 range (88)."""
  codes = tf.Variable(_codes(scale=1000.0).astype(np.float32))
  with tf.GradientTape() as tape:
    penalty = libi_objective.code_penalty(libi_objective.code_statistics(codes), eps_hz=1.0,
                                          eps_sigma=0.2, eps_mu=0.2)
  gradient = tape.gradient(penalty, codes).numpy()
  assert np.isfinite(penalty.numpy()) and penalty.numpy() > np.exp(20.0)
  assert np.all(np.isfinite(gradient)) and np.all(np.isfinite(gradient.astype(np.float64) ** 2))
  assert np.max(np.abs(gradient)) > 0


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
  history = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(50), epochs=2, verbose=0)
  phase_terms = ({"recon", "hz", "cov_gap", "mean_gap", "penalty"} if phase == "likelihood"
                 else {"recon", "kl", "elbo"})
  assert set(history.history) == {"loss", "beta", *phase_terms}
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


def _step_1_test_log_likelihood(seed, steps=800):
  """Mean test log p_theta(x) of Linear JTEx after `steps` full-batch steps of eq. 44.

  p_theta(x) = N(0, A A^T + sigma^2 I) exactly (eq. 19), so no estimate enters.
  """
  tf.keras.utils.set_random_seed(seed)
  model, true = _model("likelihood", eps_hz=1.0, eps_sigma=0.5, eps_mu=0.5)
  splits = libi.generate("linear_jtex")
  model.compile(optimizer=tf.keras.optimizers.Adam(0.03))
  model(splits["train"][0][:2])
  model.build_optimizers()
  model.fit(tf.data.Dataset.from_tensors(splits["train"][0]).repeat(), steps_per_epoch=steps,
            epochs=1, verbose=0)
  a = model.decoder.a.numpy().astype(np.float64)
  x = splits["test"][0].astype(np.float64)
  learned = scipy.stats.multivariate_normal(np.zeros(2), a @ a.T + true.sigma2 * np.eye(2))
  return learned.logpdf(x).mean(), libi.log_marginal(true, x).mean()


def test_with_its_penalties_step_1_learns_the_true_p_x_and_without_them_it_does_not(monkeypatch):
  """Yacoby et al. (2020), eqs. 42-43: the constraints identify the codes' scale.

  From one start step 1 comes within 0.1 nat of the true test log-likelihood (0.011 here); with
  the penalty removed the likelihood term alone leaves A where the start put it, 0.3 nat or more
  short (1.05 here). Not every start gets there with the penalties (from 1 of the first 6, h
  stays a reflection that the Cholesky decoder cannot undo, at -20 nats): hence the paper's
  restarts."""
  learned, true = _step_1_test_log_likelihood(seed=1)
  assert abs(learned - true) < 0.1
  monkeypatch.setattr(libi_objective, "code_penalty", lambda statistics, **eps: 0.0)
  unconstrained, _ = _step_1_test_log_likelihood(seed=1)
  assert unconstrained < true - 0.3


def _config(**fields):
  return config_lib.Config(**{"model": "libi", "dataset": "libi_linear_jtex", "latent_pictures": 0,
                              "data_options": {"num_per_split": 40}, "verbose": 0,
                              **fields}).resolved().validate()


@pytest.mark.parametrize("fields, message", [
    (dict(eps_sigma=0.0), "must be positive"),
    (dict(dataset="synthetic_mog", data_options={}), "runs on the LiBI data sets"),
    (dict(libi_phase="both"), "libi_phase"),
])
def test_the_config_refuses_what_libi_cannot_run(fields, message):
  with pytest.raises(ConfigError, match=message):
    _config(**fields)


@pytest.mark.parametrize("phase", ["likelihood", "inference"])
def test_each_phase_trains_from_the_launcher_config_to_finite_numbers(tmp_path, phase):
  results = loop.train(_config(libi_phase=phase, model_dir=str(tmp_path / phase), epochs=1,
                               steps_per_epoch=3, eval_samples=4, eval_chunk_size=4))
  assert results["config"]["libi_phase"] == phase
  for metric, value in results["test"].items():
    assert value is None or np.isfinite(value), (metric, value)


# --- --preset=libi: R repetitions of the two phases ---------------------------------


def _preset(tmp_path, **fields):
  return presets.make_config("libi", **{"dataset": "libi_linear_jtex", "latent_pictures": 0,
                                        "data_options": {"num_per_split": 40}, "verbose": 0,
                                        "model_dir": str(tmp_path), "epochs": 1,
                                        "steps_per_epoch": 3, "eval_samples": 4,
                                        "eval_chunk_size": 4, "libi_repetitions": 2, **fields})


def test_the_preset_chains_r_repetitions_of_the_two_phases(tmp_path):
  stages = presets.stages(_preset(tmp_path, libi_repetitions=3))
  assert [(os.path.relpath(s.model_dir, tmp_path), s.libi_phase, s.libi_reinit_codes)
          for s in stages] == [
      ("rep0/likelihood", "likelihood", False), ("rep0/inference", "inference", False),
      ("rep1/likelihood", "likelihood", True), ("rep1/inference", "inference", False),
      ("rep2/likelihood", "likelihood", True), ("rep2/inference", "inference", False)]
  # Each stage starts from the weights of the one before it; the first from scratch.
  assert [s.init_weights_from for s in stages] == [None] + [s.model_dir for s in stages[:-1]]
  assert [s.evaluate_valid for s in stages] == [False, True] * 3
  for stage in stages:
    stage.resolved().validate()


@pytest.mark.parametrize("fields, message", [
    (dict(libi_repetitions=0), "libi_repetitions must be a positive"),
    (dict(libi_reinit_codes=True), "needs --libi_phase=likelihood and --init_weights_from"),
    (dict(libi_reinit_codes=True, init_weights_from="run", libi_phase="inference"),
     "needs --libi_phase=likelihood"),
])
def test_the_config_refuses_a_step_3_without_a_run_to_start_from(fields, message):
  with pytest.raises(ConfigError, match=message):
    _config(**fields)


def test_step_3_starts_a_likelihood_stage_from_the_previous_inference_network(tmp_path):
  """restore_weights + the method's initialise: h(x) = the mean of the source run's q(z|x)."""
  results = loop.train_stages(_preset(tmp_path, libi_repetitions=1))
  source_dir = results["config"]["model_dir"]
  stage = presets.stages(_preset(tmp_path))[2].resolved()
  assert stage.init_weights_from == source_dir and stage.libi_reinit_codes
  _, dataset, source = loop.restore_run(source_dir)
  x = next(iter(dataset.batches("test", 40)))
  assert not np.allclose(source.codes(x).numpy(), source.posterior(x).mean().numpy())
  model = loop.build_model(stage, dataset, tf.distribute.get_strategy())
  checkpoints.restore_weights(source_dir, model, stage)
  methods.initialise(stage, model)
  np.testing.assert_array_equal(model.posterior(x).mean().numpy(),
                                source.posterior(x).mean().numpy())
  np.testing.assert_array_equal(model.codes(x).numpy(), source.posterior(x).mean().numpy())


def test_the_best_repetition_is_kept_and_the_choice_survives_a_restart(tmp_path):
  config = _preset(tmp_path)
  results = loop.train_stages(config)
  valid_nll = [loop.read_or_train(stage)["valid"]["nll"]
               for stage in presets.stages(config)[1::2]]
  assert results["valid_nll_by_repetition"] == valid_nll
  assert results["repetition"] == int(np.argmin(valid_nll))
  assert results["config"]["model_dir"] == str(tmp_path / f"rep{results['repetition']}" /
                                               "inference")
  def checkpoint_files():
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("ckpt-*"))
  saved = checkpoint_files()
  assert len(saved) == 4 * 2  # one epoch per stage: an index and a data file each
  # Rerunning the command (as after a kill) trains nothing and keeps the same repetition.
  again = loop.train_stages(config)
  assert checkpoint_files() == saved
  assert again["repetition"] == results["repetition"]
  assert again["step"] == results["step"]


def test_the_step_3_study_compares_the_second_repetition_with_and_without_it(tmp_path):
  from tfvae.training import libi_step3
  fields = dict(epochs=1, steps_per_epoch=3, eval_samples=4, eval_chunk_size=4,
                latent_pictures=0, verbose=0, data_options={"num_per_split": 40})
  first, with_step_3, without_step_3 = libi_step3.seed_stages("linear_jtex", 2, str(tmp_path),
                                                              **fields)
  assert [s.libi_reinit_codes for s in with_step_3 + without_step_3] == [True, False, False, False]
  # Both second repetitions start from the end of the first; each chain stays separate.
  assert with_step_3[0].init_weights_from == without_step_3[0].init_weights_from == (
      first[1].model_dir)
  assert without_step_3[1].init_weights_from == without_step_3[0].model_dir
  assert len({s.model_dir for s in first + with_step_3 + without_step_3}) == 6
  rows = libi_step3.compare("linear_jtex", [2], str(tmp_path), **fields)
  assert set(rows[0]) == {"seed", "first", "with_step_3", "without_step_3"}
  assert all(np.isfinite(rows[0][name]) for name in ("first", "with_step_3", "without_step_3"))
  assert rows[0]["with_step_3"] != rows[0]["without_step_3"]
  markdown = libi_step3.format_rows("linear_jtex", rows, {"steps": 3})
  assert markdown.splitlines()[-1].startswith("| mean | ")
