"""The LiBI sets as "vectors" data sets, their networks, evaluation, training and export.

Yacoby et al. (2020), appendix E. The oracles are independent of the code under
test: scipy's Gaussian densities, the paper's printed A and B, and the closed
forms of `tfvae.data.libi` (tested on their own in tests/test_libi_data.py).
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from export import exporter
from export import replay
from tests import launch_runs
from tests.export_answers import error as _error
from tests.export_answers import outputs as _outputs
from tfvae import data
from tfvae import metrics
from tfvae import nets
from tfvae.data import DataError
from tfvae.data import libi
from tfvae.errors import ConfigError
from tfvae.training import loop
from tfvae.training.config import Config

# Yacoby et al. (2020), appendix E, as printed.
PAPER_A = np.array([[0.75, 0.25], [1.5, -1.0]])
PAPER_B = np.diag([0.006, 0.006])
PAPER_SIGMA2 = 0.01
DIMS = {"linear_jtex": 2, "cubic_jtex": 2, "gaussian": 4, "mobius": 2}
# The evaluation protocol of appendix E, eq. 48.
IW_SAMPLES = 5000
PROPOSAL_VARIANCE_FACTOR = 2.0
RUN_FLAGS = ["--model=vae", "--epochs=1", "--steps_per_epoch=5", "--eval_samples=8",
             "--eval_chunk_size=4", "--epoch_eval_samples=4", "--epoch_eval_batches=1",
             "--verbose=0"]


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
  """A fresh cache for the Mobius network (trained once here, a few seconds)."""
  folder = tmp_path_factory.mktemp("libi_cache")
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv(libi.CACHE_DIR_ENV, str(folder))
    yield folder


def _true_model(kind):
  return libi.true_model(kind)  # the Mobius network from the module's cache


def _build(kind, **fields):
  config = Config(dataset=f"libi_{kind}", **fields).resolved().validate()
  dataset = loop.load_data(config)
  return dataset, loop.build_model(config, dataset, tf.distribute.get_strategy())


# --- Data -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", libi.TYPES)
def test_the_registry_loads_each_set_as_float32_vectors(kind):
  dataset = data.load(f"libi_{kind}", replicate=3, num_per_split=40)
  expected = libi.generate(kind, 3, 40)
  assert dataset.kind == "vectors" and dataset.event_shape == (DIMS[kind],)
  assert dataset.splits == ("train", "valid", "test")
  batches = list(dataset.batches("test", 16))
  assert [b.shape for b in batches] == [(16, DIMS[kind]), (16, DIMS[kind]), (8, DIMS[kind])]
  assert all(b.dtype == tf.float32 for b in batches)
  np.testing.assert_array_equal(np.concatenate(batches), expected["test"][0])
  np.testing.assert_array_equal(dataset.latents("valid"), expected["valid"][1])
  shuffled = np.concatenate(list(dataset.batches("train", 16, shuffle=True, seed=1)))
  np.testing.assert_array_equal(np.sort(shuffled, axis=0), np.sort(expected["train"][0], axis=0))
  assert not np.array_equal(data.load(f"libi_{kind}", num_per_split=40).latents("test"),
                            expected["test"][1])


def test_the_defaults_are_the_papers_500_points_and_replicate_0():
  dataset = data.load("libi_gaussian")
  np.testing.assert_array_equal(dataset.latents("test"), libi.generate("gaussian")["test"][1])
  assert {split: dataset.num_examples(split) for split in dataset.splits} == dict.fromkeys(
      libi.SPLITS, 500)


@pytest.mark.parametrize("name, options, fragment", [
    ("libi_linear_jtex", {"generator": "exact"}, "does not take option(s) ['generator']"),
    ("libi_mobius", {"seed": 1}, "its options are: 'generator', 'num_per_split', 'replicate'"),
    ("libi_mobius", {"generator": "spline"}, "Unknown generator 'spline'"),
    ("libi_cubic_jtex", {"replicate": -1}, "replicate=-1: expected an integer >= 0"),
    ("libi_cubic_jtex", {"replicate": 1.5}, "replicate=1.5: expected an integer >= 0"),
    ("libi_gaussian", {"num_per_split": 0}, "num_per_split=0: expected an integer >= 1"),
])
def test_bad_options_are_clear_data_errors(name, options, fragment):
  with pytest.raises(DataError) as caught:
    data.load(name, **options)
  assert fragment in str(caught.value)


def test_the_exact_mobius_generator_is_an_option():
  exact = data.load("libi_mobius", generator="exact", num_per_split=20)
  np.testing.assert_array_equal(next(iter(exact.batches("train", 20))),
                                libi.generate("mobius", 0, 20, generator="exact")["train"][0])


def test_the_config_takes_the_papers_defaults_and_refuses_other_latents():
  config = Config(dataset="libi_mobius").resolved()
  assert (config.network, config.latent_dim, config.learning_rate, config.optimizer) == (
      "libi", 2, 0.01, "adam")
  with pytest.raises(ConfigError, match="--network=libi decodes z in R\\^2"):
    Config(dataset="libi_gaussian", latent_dim=3).validate()
  with pytest.raises(ConfigError, match="cannot model vectors data set"):
    Config(dataset="libi_gaussian", network="mlp").validate()


# --- Networks -------------------------------------------------------------------------


def test_the_linear_jtex_decoder_at_the_papers_a_is_the_true_density():
  decoder = nets.libi_decoder("linear_jtex")
  decoder.set_true_parameters(_true_model("linear_jtex"))
  np.testing.assert_allclose(decoder.a.numpy(), PAPER_A)
  rng = np.random.default_rng(0)
  z = rng.standard_normal([3, 5, 2]).astype(np.float32)
  x = rng.standard_normal([5, 2]).astype(np.float32)
  log_prob = decoder.likelihood(tf.constant(z), x).log_prob(x).numpy()
  loading = np.linalg.cholesky(PAPER_A @ PAPER_A.T + PAPER_B)
  noise = PAPER_SIGMA2 * np.eye(2) - PAPER_B
  expected = [[stats.multivariate_normal(loading @ z[k, b], noise).logpdf(x[b])
               for b in range(5)] for k in range(3)]
  assert log_prob.shape == (3, 5)
  np.testing.assert_allclose(log_prob, expected, rtol=1e-5)


@pytest.mark.parametrize("kind", ["cubic_jtex", "gaussian", "mobius"])
def test_each_decoder_at_the_truth_is_the_true_density(kind):
  truth = _true_model(kind)
  decoder = nets.libi_decoder(kind)
  decoder.set_true_parameters(truth)
  x, z_true = libi.sample(truth, 6, np.random.RandomState(0))
  # z near the one that drew x, so that log p(x|z) is far from its tails.
  z = z_true + 0.003 * np.random.default_rng(1).standard_normal([2, 6, 2])
  x32 = x.astype(np.float32)
  log_prob = decoder.likelihood(tf.constant(z, tf.float32), x32).log_prob(x32).numpy()
  expected = [[stats.multivariate_normal(truth.mean(z[k])[b], np.diag(truth.noise_variance))
               .logpdf(x[b]) for b in range(6)] for k in range(2)]
  assert log_prob.shape == (2, 6)
  np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-3)


def test_the_decoders_hold_the_true_noise_and_b_fixed():
  for kind, variance in (("linear_jtex", [0.004, 0.004]), ("gaussian", [1e-6] * 4),
                         ("mobius", [1e-5, 1e-5])):
    decoder = nets.libi_decoder(kind)
    decoder(tf.zeros([1, 2]))
    np.testing.assert_allclose(decoder.noise_variance, variance, rtol=1e-6)
    assert len(decoder.trainable_weights) == (1 if kind != "mobius" else 6)
  with pytest.raises(ValueError, match="exact transform"):
    nets.libi_decoder("mobius").set_true_parameters(libi.true_model("mobius",
                                                                    generator="exact"))


@pytest.mark.parametrize("kind, hidden", [
    ("linear_jtex", []), ("gaussian", []), ("mobius", [(50, "relu")]),
    ("cubic_jtex", [(4, "sigmoid | cube root"), (20, "relu")])])
def test_the_encoders_have_the_papers_hidden_layers(kind, hidden):
  encoder = nets.LiBIEncoder(kind, 2)
  loc, log_variance = encoder(tf.zeros([3, DIMS[kind]]))
  assert loc.shape == log_variance.shape == (3, 2)
  layers = [(layer.units, layer.activation.__name__) if hasattr(layer, "units")
            else (layer.dense.units, "sigmoid | cube root") for layer in encoder.hidden]
  assert layers == hidden


def test_the_cube_root_units_are_exact_away_from_0_and_have_finite_gradients():
  x = tf.constant([-8.0, -1e-3, 0.0, 1e-30, 27.0])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = nets.libi.cube_root(x)
  gradient = tape.gradient(y, x).numpy()
  np.testing.assert_allclose(y.numpy()[[0, 1, 4]], [-2.0, -0.1, 3.0], rtol=1e-5)
  assert np.all(np.isfinite(gradient)) and np.all(np.abs(y.numpy()[2:4]) < 1.01e-4)
  np.testing.assert_allclose(gradient[[0, 4]], [1 / 12, 1 / 27], rtol=1e-5)


# --- The key oracle: the true model scores its exact log-likelihood ---------------


def _proposal_relative_variance(cov):
  """Var of w / p(x) for the proposal N(mu, 2 diag(cov)) of the posterior N(mu, cov).

  w = p(x, z) / r(z) = p(x) N(z; mu, cov) / N(z; mu, T), so E_r[(w / p(x))^2] =
  integral N(z; 0, cov)^2 / N(z; 0, T) dz = |T|^(1/2) / (|cov| |2 cov^-1 - T^-1|^(1/2)),
  the same for every x (the posterior's covariance does not depend on x).
  """
  t = PROPOSAL_VARIANCE_FACTOR * np.diag(np.diag(cov))
  second = np.sqrt(np.linalg.det(t)) / (
      np.linalg.det(cov) * np.sqrt(np.linalg.det(2 * np.linalg.inv(cov) - np.linalg.inv(t))))
  return second - 1.0


@pytest.mark.parametrize("kind", ["linear_jtex", "gaussian"])
def test_the_true_model_scores_its_exact_log_likelihood(kind):
  dataset, model = _build(kind)
  truth = _true_model(kind)
  model.decoder.set_true_parameters(truth)
  x = np.concatenate(list(dataset.batches("test", 100)))
  means, cov = libi.exact_posterior(truth, x)
  # q(z|x): the exact posterior mean M x (M = Sigma W^T Psi^-1) and its marginal stds.
  gain = cov @ truth.weight.T / truth.noise_variance
  np.testing.assert_allclose(x.astype(np.float64) @ gain.T, means, rtol=1e-9)
  model.encoder.to_params.kernel.assign(np.concatenate([gain.T, np.zeros([DIMS[kind], 2])], 1))
  model.encoder.to_params.bias.assign(np.concatenate([np.zeros(2), np.log(np.diag(cov))]))
  posterior = model.posterior(x)
  np.testing.assert_allclose(posterior.mean(), means, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(posterior.stddev()[0], np.sqrt(np.diag(cov)), rtol=1e-5)

  result = metrics.evaluate(model, dataset.batches("test", 100), num_samples=IW_SAMPLES,
                            chunk_size=1000, proposal_variance_factor=PROPOSAL_VARIANCE_FACTOR)
  exact = -np.mean(libi.log_marginal(truth, x))
  # Each example's log of the mean of K weights has variance v / K and bias -v / (2K)
  # (delta method; v the weights' relative variance), independently across examples.
  # linear_jtex: v = 1.36, standard error 7.4e-4 nats, tolerance 3.1e-3 nats;
  # gaussian: v = 0.37, 3.9e-4, 1.6e-3. The measured differences: 1.8e-3 and 2.9e-4.
  relative_variance = _proposal_relative_variance(cov)
  standard_error = np.sqrt(relative_variance / IW_SAMPLES / len(x))
  tolerance = 4 * standard_error + relative_variance / (2 * IW_SAMPLES)
  assert result["num_examples"] == 500 and "ppl" not in result
  assert abs(result["nll"] - exact) < tolerance, (result["nll"], exact, tolerance)


def test_the_importance_sampled_posterior_mean_corrects_an_offset_q():
  """metrics.importance_posterior_mean against the exact p(z|x) of the true Linear JTEx model.

  q(z|x) is the exact posterior's mean shifted by one posterior standard deviation in each
  coordinate: its own mean is that far off, and self-normalised importance sampling with
  the true decoder brings the estimate back to the exact mean within Monte-Carlo error."""
  dataset, model = _build("linear_jtex")
  truth = _true_model("linear_jtex")
  model.decoder.set_true_parameters(truth)
  x = np.concatenate(list(dataset.batches("test", 100)))[:200]
  means, cov = libi.exact_posterior(truth, x)
  stds = np.sqrt(np.diag(cov))
  gain = cov @ truth.weight.T / truth.noise_variance
  model.encoder.to_params.kernel.assign(np.concatenate([gain.T, np.zeros([2, 2])], 1))
  model.encoder.to_params.bias.assign(np.concatenate([stds, np.log(np.diag(cov))]))
  q_error = np.abs(model.posterior(x).mean().numpy() - means) / stds
  np.testing.assert_allclose(q_error, 1.0, rtol=1e-3)
  estimate = metrics.importance_posterior_mean(model, tf.constant(x), 20000, seed=3,
                                               proposal_variance_factor=2.0).numpy()
  error = np.abs(estimate - means) / stds
  # The weights' relative variance under this proposal is a few units, so with K = 20000 the
  # estimate's error is about 0.02 posterior standard deviations per coordinate.
  assert error.mean() < 0.03 and error.max() < 0.15, (error.mean(), error.max())


# --- Training, evaluation and export --------------------------------------------------


@pytest.fixture(scope="module")
def launched_run(tmp_path_factory):
  """A launcher run on replicate 3 of Linear JTEx, with latent pictures."""
  model_dir = tmp_path_factory.mktemp("libi_run")
  launch_runs.run("launch.train", "--dataset=libi_linear_jtex", "--data_option=replicate=3",
                  f"--model_dir={model_dir}", "--latent_pictures=16", *RUN_FLAGS)
  return model_dir


def test_the_launcher_trains_and_evaluates_linear_jtex(launched_run):
  results = json.loads((launched_run / "results.json").read_text())
  assert results["config"]["data_options"] == {"replicate": 3}
  assert results["config"]["network"] == "libi" and results["step"] == 5
  test = results["test"]
  assert np.isfinite([test["nll"], test["elbo"], test["kl"]]).all() and "ppl" not in test
  assert (launched_run / "latents.png").exists()
  # The same importance samples as the run's own evaluation: the checkpoint holds the networks.
  launch_runs.run("launch.evaluate", f"--model_dir={launched_run}", "--eval_samples=8",
                  "--eval_chunk_size=4", "--projector=10", "--verbose=0")
  evaluated = json.loads((launched_run / "eval_test.json").read_text())
  np.testing.assert_allclose([evaluated["nll"], evaluated["kl"]], [test["nll"], test["kl"]],
                             rtol=1e-5)
  assert "ppl" not in evaluated
  assert len((launched_run / "projector" / "metadata.tsv").read_text().splitlines()) == 10
  refused = launch_runs.run("launch.generate", f"--model_dir={launched_run}", check=False)
  assert refused.returncode != 0 and "needs a text run" in refused.stdout + refused.stderr


def test_the_launcher_trains_mobius_with_the_cached_network(tmp_path, cache_dir):
  launch_runs.run("launch.train", "--dataset=libi_mobius", f"--model_dir={tmp_path}",
                  "--latent_pictures=0", *RUN_FLAGS)
  test = json.loads((tmp_path / "results.json").read_text())["test"]
  assert np.isfinite([test["nll"], test["elbo"]]).all()
  assert libi.cache_path(cache_dir).exists()


def test_a_bad_data_option_stops_the_launcher_with_the_catalogs_error(tmp_path):
  refused = launch_runs.run("launch.train", "--dataset=libi_linear_jtex",
                            "--data_option=generator=exact", f"--model_dir={tmp_path}",
                            *RUN_FLAGS, check=False)
  assert refused.returncode != 0
  assert "does not take option(s) ['generator']" in refused.stdout + refused.stderr


@pytest.mark.parametrize("kind", ["cubic_jtex", "mobius"])
def test_python_training_reaches_finite_numbers(kind, tmp_path):
  config = Config(dataset=f"libi_{kind}", epochs=1, steps_per_epoch=5, eval_samples=8,
                  eval_chunk_size=4, epoch_eval_samples=4, epoch_eval_batches=1,
                  latent_pictures=0, verbose=0, model_dir=str(tmp_path))
  results = loop.train(config)
  assert results["step"] == 5
  assert np.isfinite([results["test"][key] for key in ("nll", "elbo", "kl", "recon")]).all()


def test_the_export_takes_float32_vectors_and_refuses_other_shapes(launched_run, tmp_path):
  exported = exporter.export_run(str(launched_run), str(tmp_path), "libi")
  _, dataset, model = loop.restore_run(str(launched_run))
  x = next(iter(dataset.batches("test", 4))).numpy()
  z = np.random.default_rng(0).standard_normal([4, 2]).astype(np.float32)
  seed = np.array([1, 2], np.int32)
  encoder = {"encode": ("serving_default", {"vectors": x}),
             "bad_shape": ("serving_default", {"vectors": np.zeros([2, 3], np.float32)}),
             "bad_dtype": ("serving_default", {"vectors": x.astype(np.float64)}),
             "not_finite": ("serving_default", {"vectors": np.full([1, 2], np.nan, np.float32)})}
  decoder = {"generate": ("generate", {"z": z, "seed": seed}),
             "log_likelihood": ("log_likelihood", {"vectors": x, "z": z})}
  encoded, decoded = replay.in_fresh_process([(exported.encoder, encoder),
                                              (exported.decoder, decoder)])
  answers = encoded["answers"]
  posterior = model.posterior(x)
  np.testing.assert_allclose(_outputs(answers["encode"])["loc"], posterior.mean(), rtol=1e-5,
                             atol=1e-6)
  assert _error(answers["bad_shape"])["type"] in ("InvalidArgumentError", "ValueError")
  assert "expected to be a float tensor but is a double tensor" in _error(
      answers["bad_dtype"])["message"]
  assert "vectors must be finite float32 values" in _error(answers["not_finite"])["message"]
  assert encoded["signatures"] == ["serving_default"]
  generated = _outputs(decoded["answers"]["generate"])
  np.testing.assert_allclose(generated["mean"], model.likelihood(z, None).mean(), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(_outputs(decoded["answers"]["log_likelihood"])["log_likelihood"],
                             model.likelihood(z, x).log_prob(x), rtol=1e-5)
  assert sorted(decoded["signatures"]) == ["generate", "log_likelihood", "sample_prior",
                                           "serving_default"]
