"""Spherical latents (METHODS.md M15): the power-spherical sampler and KL against independent
oracles, the config's refusals, and a spherical VAE trained, evaluated and exported."""

import json
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from export import exporter
from tests.launch_runs import TINY
from tests.launch_runs import run as _run
from tfvae import divergences
from tfvae import latents
from tfvae import metrics
from tfvae import text_generation
from tfvae.errors import ConfigError
from tfvae.latents import spherical
from tfvae.objectives import monte_carlo
from tfvae.training import config as config_lib
from tfvae.training import loop

tfd = tfp.distributions
SEED = tf.constant([4, 2], tf.int32)
DATA_OPTIONS = dict(num_train=13, num_valid=4, num_test=4, length=5)
RUN = dict(model="vae", latent_type="spherical", latent_dim=4, embed_dim=8, hidden_dim=16,
           dataset="synthetic_mog", data_options=DATA_OPTIONS, optimizer="sgd",
           learning_rate=0.5, epochs=1, steps_per_epoch=2, eval_samples=2, eval_chunk_size=2,
           epoch_eval_samples=2, epoch_eval_batches=1, latent_pictures=0, verbose=0, seed=3)


def _posterior(kappas, dim, seed=0):
  directions = np.random.default_rng(seed).normal(size=[len(kappas), dim])
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  return spherical.power_spherical(tf.constant(directions, tf.float32),
                                   tf.constant(kappas, tf.float32))


def _log_area(dim):
  """log |S^{dim-1}| = log(2 pi^(dim/2) / Gamma(dim/2))."""
  return math.log(2.0) + dim / 2 * math.log(math.pi) - scipy.special.gammaln(dim / 2)


def _kl_by_quadrature(kappa, dim):
  """KL(PS(mu, kappa) || uniform) from the definition q(z) proportional to (1 + mu.z)^kappa alone.

  Under the uniform measure the cosine t = mu.z has density proportional to
  (1 - t^2)^((d-3)/2) on [-1, 1], so with w(t) = (1 + t)^kappa (1 - t^2)^((d-3)/2)
  the normaliser of q is |S^{d-2}| int w and KL = E_q[kappa log(1 + t)] - log of
  that normaliser + log |S^{d-1}|, every integral numerical.
  """
  def log_weight(t):
    return kappa * math.log1p(t) + (dim - 3) / 2 * math.log1p(-t * t)

  peak = max(log_weight(t) for t in np.linspace(-0.999, 0.999, 2001))
  mass, _ = scipy.integrate.quad(lambda t: math.exp(log_weight(t) - peak), -1, 1, limit=200)
  moment, _ = scipy.integrate.quad(lambda t: kappa * math.log1p(t) * math.exp(
      log_weight(t) - peak), -1, 1, limit=200)
  log_normaliser = _log_area(dim - 1) + peak + math.log(mass)
  return moment / mass - log_normaliser + _log_area(dim)


@pytest.mark.parametrize("dim", [3, 32])
def test_samples_lie_on_the_sphere_with_the_power_spherical_mean_and_beta_cosine(dim):
  kappas = [0.5, 10.0, 300.0]
  posterior = _posterior(kappas, dim)
  num = 20_000
  z = spherical.reparameterized_sample(posterior, SEED, num).numpy()
  assert z.shape == (num, 3, dim)
  np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-5)
  mu = posterior.mean_direction.numpy()
  cosine = np.sum(z * mu, axis=-1)
  for i, kappa in enumerate(kappas):
    # De Cao and Aziz (2020): (1 + mu.z) / 2 ~ Beta((d-1)/2 + kappa, (d-1)/2).
    beta = scipy.stats.beta((dim - 1) / 2 + kappa, (dim - 1) / 2)
    assert scipy.stats.kstest((1 + cosine[:, i]) / 2, beta.cdf).pvalue > 1e-3, kappa
    # Around mu the sample is symmetric, so E[z] = E[mu.z] mu = (2 E[x] - 1) mu.
    np.testing.assert_allclose(z[:, i].mean(0), (2 * beta.mean() - 1) * mu[i], atol=0.03)
  np.testing.assert_allclose((2 * scipy.stats.beta.mean(
      (dim - 1) / 2 + np.array(kappas), (dim - 1) / 2) - 1)[:, None] * mu,
                             posterior.mean().numpy(), rtol=1e-5, atol=1e-6)


def test_samples_are_replica_consistent_on_an_uneven_split(mirrored_strategy):
  parameters = tf.random.stateless_normal([5, 7], [1, 1])
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(parameters))))
  family = latents.SphericalLatents(6)

  @tf.function
  def draw(rows):
    posterior = family.posterior(family.split(rows))
    return family.sample(posterior, SEED), family.sample(posterior, SEED, 3)

  local = mirrored_strategy.experimental_local_results(mirrored_strategy.run(draw, args=(batch,)))
  assert [part[0].shape[0] for part in local] == [3, 2]
  one, several = draw(parameters)
  # Unit vectors: batches of 3 and 2 round differently from one of 5 by a few float32
  # ulps (5e-8 seen); samples that were not replica-consistent would differ by ~0.1.
  np.testing.assert_allclose(tf.concat([part[0] for part in local], 0).numpy(), one.numpy(),
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(tf.concat([part[1] for part in local], 1).numpy(), several.numpy(),
                             rtol=1e-6, atol=1e-6)


def test_gradients_reach_the_direction_and_the_concentration():
  """d/dkappa and d/dv of the Monte-Carlo mean of z (fixed noise) against the closed-form mean.

  E[z] = m mu with m = kappa / (d - 1 + kappa) and mu = v / |v|, so
  dm/dkappa = (d - 1) / (d - 1 + kappa)^2 and d(c.E[z])/dv = m (I - mu mu^T) c / |v|.
  """
  dim, kappa_value, num = 8, 4.0, 40_000
  v = tf.Variable(np.linspace(-1.0, 2.0, dim)[None].astype(np.float32))
  kappa = tf.Variable([kappa_value])
  c = tf.constant(np.cos(np.arange(dim)).astype(np.float32))
  with tf.GradientTape(persistent=True) as tape:
    posterior = spherical.power_spherical(tf.math.l2_normalize(v, axis=-1), kappa)
    z = spherical.reparameterized_sample(posterior, SEED, num)
    cosine = tf.reduce_mean(tf.reduce_sum(z * posterior.mean_direction, -1))
    projection = tf.reduce_mean(tf.reduce_sum(z * c, -1))
  np.testing.assert_allclose(tape.gradient(cosine, kappa).numpy(),
                             [(dim - 1) / (dim - 1 + kappa_value) ** 2], rtol=0.05)
  mu = (v / tf.norm(v)).numpy()[0]
  m = kappa_value / (dim - 1 + kappa_value)
  expected = m * (c.numpy() - mu * mu.dot(c.numpy())) / np.linalg.norm(v.numpy())
  np.testing.assert_allclose(tape.gradient(projection, v).numpy()[0], expected, atol=0.01)


@pytest.mark.parametrize("dim", [3, 32])
def test_kl_to_the_uniform_prior_is_the_closed_form_and_matches_quadrature(dim):
  kappas = [0.5, 5.0, 50.0]
  posterior = _posterior(kappas, dim)
  prior = latents.SphericalLatents(dim).prior
  assert divergences.has_closed_form(posterior, prior)
  kl = divergences.kl(posterior, prior).numpy()
  np.testing.assert_allclose(kl, [_kl_by_quadrature(k, dim) for k in kappas], rtol=1e-4,
                             atol=1e-5)
  # The Monte-Carlo estimate on the sampler's draws agrees within its error.
  z = spherical.reparameterized_sample(posterior, SEED, 4000)
  estimate = divergences.monte_carlo_kl(posterior, prior, z).numpy()
  np.testing.assert_allclose(estimate, kl, atol=0.1)


@pytest.mark.parametrize("fields, message", [
    (dict(objective="free_bits", fb_lambda=2.0), "does not factorise over dimensions"),
    (dict(objective="autoencoder"), "off the sphere"),
    (dict(prior="mog"), "use --prior=uniform"),
    (dict(prior="standard_normal"), "use --prior=uniform"),
    (dict(latent_dim=1), "--latent_dim >= 2"),
    (dict(kappa=0.0), "--kappa must be positive"),
    (dict(latent_type="gaussian", kappa=5.0), "needs --latent_type=spherical"),
    (dict(model="savae"), "cannot learn --latent_type=spherical"),
])
def test_config_refuses_what_spherical_latents_cannot_do(fields, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.Config(**dict(RUN, **fields)).resolved().validate()


def test_the_family_checks_its_arguments():
  with pytest.raises(ValueError, match="latent_dim >= 2"):
    latents.make("spherical", 1)
  with pytest.raises(ValueError, match="must be positive"):
    latents.SphericalLatents(3, kappa=-1.0)
  with pytest.raises(ValueError, match="does not fit SphericalLatents"):
    latents.make_prior("mog", latents.SphericalLatents(3))
  assert latents.SphericalLatents(5).num_params == 6
  assert latents.SphericalLatents(5, kappa=20.0).num_params == 5


def test_a_spherical_vae_trains_from_python_and_evaluates_to_finite_numbers():
  config = config_lib.Config(**RUN).resolved().validate()
  dataset = loop.load_data(config)
  model = loop.build_model(config, dataset, tf.distribute.get_strategy())
  before = [w.numpy() for w in model.encoder.trainable_weights]
  logs = model.fit(dataset.batches("train", 4).take(2), verbose=0).history
  assert all(math.isfinite(values[-1]) for values in logs.values())
  assert all(not np.allclose(b, a.numpy()) for b, a in zip(before, model.encoder.trainable_weights))
  results = metrics.evaluate(model, dataset.batches("test", 2), num_samples=4, chunk_size=2)
  for metric in ("nll", "kl", "mi_batch", "au", "elbo"):
    assert results[metric] is not None and math.isfinite(results[metric]), metric
  posterior = model.posterior(next(iter(dataset.batches("test", 3))))
  assert np.all(posterior.concentration.numpy() >= spherical.KAPPA_FLOOR)
  centres = text_generation.posterior_centres(model, dataset.vocab, ["a b", "c"])
  np.testing.assert_allclose(np.linalg.norm(centres.numpy(), axis=-1), 1.0, rtol=1e-5)


class _StandIn:
  """The model contract with a power-spherical q of free parameters and a linear-Gaussian p(x|z)."""

  def __init__(self):
    self.parameters = tf.Variable(tf.random.stateless_normal([2, 4], [3, 3]))
    self.family = latents.SphericalLatents(3)

  def posterior(self, x, training=False):
    del x, training
    return self.family.posterior(self.family.split(self.parameters))

  @property
  def prior(self):
    return self.family.prior

  def likelihood(self, z, x, training=False):
    del training
    return tfd.Independent(tfd.Normal(tf.reduce_sum(z, -1, keepdims=True) * tf.ones_like(x), 1.0),
                           1)

  def sample_posterior(self, posterior, seed, num_samples=None):
    return self.family.sample(posterior, seed, num_samples)


@pytest.mark.parametrize("estimator", ["stl", "dreg"])
def test_monte_carlo_estimators_that_hold_q_fixed_take_spherical_posteriors(estimator):
  model, x = _StandIn(), tf.constant([[0.5, -1.0], [2.0, 0.0]])
  with tf.GradientTape() as tape:
    terms = monte_carlo.sample_terms(model, x, estimator=estimator, num_samples=3, seed=SEED)
    surrogate = tf.reduce_sum(monte_carlo.log_marginal(terms, estimator))
  np.testing.assert_allclose(  # The value is the IWAE estimate.
      surrogate.numpy(), tf.reduce_sum(monte_carlo.log_mean_exp(terms.log_weights())).numpy(),
      rtol=1e-5)
  gradient = tape.gradient(surrogate, model.parameters).numpy()
  assert np.all(np.isfinite(gradient)) and np.any(gradient != 0)


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
  """A spherical VAE with kappa fixed at 20, trained two steps by the launcher: its directory."""
  model_dir = tmp_path_factory.mktemp("spherical_run")
  _run("launch.train", "--latent_type=spherical", "--latent_dim=4", "--kappa=20",
       f"--model_dir={model_dir}", "--epochs=1", "--steps_per_epoch=2",
       *(f"--data_option={k}={v}" for k, v in DATA_OPTIONS.items()), *TINY)
  return model_dir


def test_fixed_kappa_from_the_launcher_gives_the_constant_kl_of_xu_and_durrett(launched):
  results = json.loads((launched / "results.json").read_text())
  assert results["config"]["latent_type"] == "spherical" and results["config"]["kappa"] == 20.0
  for metric in ("nll", "kl", "mi_batch", "au"):
    assert math.isfinite(results["test"][metric]), metric
  assert results["test"]["kl"] == pytest.approx(_kl_by_quadrature(20.0, 4), rel=1e-4)
  refused = _run("launch.train", "--latent_type=spherical", "--objective=free_bits",
                 "--fb_lambda=1", f"--model_dir={launched / 'bad'}", check=False)
  assert refused.returncode == 1 and "--objective=elbo" in refused.stderr
  assert "Traceback" not in refused.stderr


def test_an_exported_spherical_encoder_answers_with_direction_and_concentration(launched,
                                                                                 tmp_path):
  exported = exporter.export_run(str(launched), str(tmp_path), "spherical")
  _, dataset, model = loop.restore_run(str(launched))
  ids = next(iter(dataset.batches("test", 3)))
  sentences = np.array([dataset.vocab.decode(row) for row in ids.numpy()], object)
  encode = tf.saved_model.load(exported.encoder).signatures["serving_default"]
  answer = {k: v.numpy() for k, v in encode(sentences=tf.constant(sentences)).items()}
  assert set(answer) == {"mean_direction", "concentration", "z", "kl"}
  posterior = model.posterior(ids)
  np.testing.assert_allclose(answer["mean_direction"], posterior.mean_direction.numpy(),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(answer["concentration"], [20.0] * 3)
  np.testing.assert_allclose(answer["kl"], divergences.kl(posterior, model.prior).numpy(),
                             rtol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(answer["z"], axis=-1), 1.0, atol=1e-5)
  decoder = tf.saved_model.load(exported.decoder).signatures
  z = decoder["sample_prior"](num_samples=tf.constant(2), seed=tf.constant([1, 2]))["z"]
  np.testing.assert_allclose(np.linalg.norm(z.numpy(), axis=-1), 1.0, atol=1e-5)
