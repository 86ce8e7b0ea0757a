"""P-VAE and APo-VAE (Mathieu et al. (2019); Dai et al. (2021)): the Poincare latent family's
replica-consistent sampler and its distribution, the gyroplane decoder input, P-VAE's Monte-Carlo
KL against an independent float64 computation, APo-VAE's critic step and dual KL, and both
methods trained from the launcher and from Python."""

import json
import math

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from export import posterior as posterior_export
from tests.launch_runs import TINY
from tests.launch_runs import Launch
from tfvae import divergences
from tfvae import latents
from tfvae import nets
from tfvae import objectives
from tfvae import text_generation
from tfvae.errors import ConfigError
from tfvae.latents import poincare
from tfvae.latents import wrapped_normal
from tfvae.methods import p_vae
from tfvae.metrics import units
from tfvae.models import DualKLVAE
from tfvae.nets.gyroplane import Gyroplane
from tfvae.nets.gyroplane import gyroplane_features
from tfvae.training import config as config_lib
from tfvae.training import loop

SEED = tf.constant([4, 2], tf.int32)
DATA_OPTIONS = dict(num_train=13, num_valid=4, num_test=4, length=5)
RUN = dict(embed_dim=8, hidden_dim=16, latent_dim=3, dataset="synthetic_mog",
           data_options=DATA_OPTIONS, optimizer="sgd", learning_rate=0.5, epochs=1,
           steps_per_epoch=2, eval_samples=2, eval_chunk_size=2, epoch_eval_samples=2,
           epoch_eval_batches=1, latent_pictures=0, verbose=0, seed=3, critic_hidden=8)


def _config(**fields):
  return config_lib.Config(**dict(RUN, **fields)).resolved().validate()


def _built(**fields):
  """(dataset, model) of a tiny run configuration, built but not trained."""
  config = _config(**fields)
  dataset = loop.load_data(config)
  return dataset, loop.build_model(config, dataset, tf.distribute.get_strategy())


# The family.

def test_samples_are_replica_consistent_on_an_uneven_split(mirrored_strategy):
  parameters = tf.random.stateless_normal([5, 6], [1, 1])
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(parameters))))
  family = latents.PoincareLatents(3, 0.8)

  @tf.function
  def draw(rows):
    posterior = family.posterior(family.split(rows))
    return family.sample(posterior, SEED), family.sample(posterior, SEED, 3)

  local = mirrored_strategy.experimental_local_results(mirrored_strategy.run(draw, args=(batch,)))
  assert [part[0].shape[0] for part in local] == [3, 2]
  one, several = draw(parameters)
  # Rows of 3 and 2 round differently from rows of 5 by a few ulps; samples drawn for each
  # replica's rows alone would differ by ~0.5.
  np.testing.assert_allclose(tf.concat([part[0] for part in local], 0).numpy(), one.numpy(),
                             rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(tf.concat([part[1] for part in local], 1).numpy(), several.numpy(),
                             rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("c", [0.5, 1.5])
def test_samples_follow_the_wrapped_normal(c):
  """log_0 of samples at the origin and the tangent vectors of samples elsewhere are N(0, sigma^2);
  E_q[p(z) / q(z)] = 1 for another density p, through the exact log_prob of both."""
  family = latents.PoincareLatents(2, c)
  scales = np.array([[0.5, 0.8], [0.7, 0.4]])
  tangent_loc = tf.constant([[0.0, 0.0], [0.6, -0.4]], tf.float64)
  posterior = family.posterior((tangent_loc, tf.constant(2 * np.log(scales))))
  num = 20_000
  z = family.sample(posterior, SEED, num)
  assert z.shape == (num, 2, 2) and np.all(c * np.sum(z.numpy()**2, -1) < 1)
  tangents = [poincare.logmap0(z[:, 0], c=c).numpy(),
              wrapped_normal.origin_tangent(posterior.loc[1], z[:, 1], c).numpy()]
  for row, tangent in enumerate(tangents):
    for dim in range(2):
      normal = scipy.stats.norm(0.0, scales[row, dim])
      assert scipy.stats.kstest(tangent[:, dim], normal.cdf).pvalue > 1e-3, (row, dim)
  other = wrapped_normal.PoincareWrappedNormal(
      poincare.expmap0(tf.constant([0.7, -0.2], tf.float64), c=c),
      tf.constant([0.3, 0.25], tf.float64), c)
  ratio = np.exp((other.log_prob(z[:, 1]) - posterior.log_prob(z)[:, 1]).numpy())
  error = ratio.std() / math.sqrt(num)
  assert abs(ratio.mean() - 1.0) < max(4 * error, 0.01), (ratio.mean(), error)


def test_the_family_and_its_use():
  family = latents.PoincareLatents(4, 2.0)
  assert latents.family(family) is family
  assert family.num_params == 8 and family.event_shape == (4,) and family.reparameterised
  embedding = family.embedding()
  assert isinstance(embedding, Gyroplane) and embedding.units == 4
  assert embedding.curvature == 2.0 and embedding.name == "latent_embedding"
  prior = family.prior
  np.testing.assert_array_equal(prior.loc.numpy(), np.zeros(4))
  np.testing.assert_array_equal(prior.scale.numpy(), np.ones(4))
  tangent_loc, log_variance = family.split(tf.reshape(tf.range(16, dtype=tf.float32), [2, 8]))
  posterior = family.posterior((tangent_loc, log_variance))
  np.testing.assert_allclose(posterior.loc.numpy(),
                             poincare.expmap0(tangent_loc, c=2.0).numpy())
  np.testing.assert_allclose(posterior.scale.numpy(), np.exp(0.5 * log_variance.numpy()))
  assert not divergences.has_closed_form(posterior, prior)
  with pytest.raises(ValueError, match="positive curvature"):
    latents.PoincareLatents(3, 0.0)


def test_the_chart_a_critic_reads_makes_the_prior_a_standard_normal():
  """log_0 of samples of WN_c(0, I) is N(0, I) (Dai et al. (2021), eq. 7 at the origin), while
  the ball's own coordinates squeeze them inside radius 1 / sqrt(c)."""
  family = latents.PoincareLatents(6, 0.5)
  z = family.prior.sample(20000, seed=SEED)
  chart = family.chart(z).numpy().astype(np.float64)
  np.testing.assert_allclose(chart.mean(axis=0), np.zeros(6), atol=0.03)
  np.testing.assert_allclose(np.cov(chart, rowvar=False), np.eye(6), atol=0.05)
  assert scipy.stats.kstest(chart[:, 0], "norm").pvalue > 1e-3
  assert np.max(np.linalg.norm(z.numpy(), axis=-1)) < 1 / math.sqrt(0.5)
  gaussian_z = tf.random.stateless_normal([5, 3], SEED)
  assert latents.GaussianLatents(3).chart(gaussian_z) is gaussian_z


def test_the_default_curvature_keeps_the_prior_clear_of_float32s_edge():
  """c = min(1, 8 / d); the prior's samples at the default c of d = 32 stay well inside the
  ball, while at c = 1 (refused by the config) a large share reaches the float32 margin."""
  def family(**fields):
    return p_vae.poincare_latents(_config(model="p_vae", **fields))
  assert family(latent_dim=3).curvature == 1.0
  assert family(latent_dim=32).curvature == 0.25
  assert family(latent_dim=32, curvature=0.5).curvature == 0.5

  def share_at_the_margin(c):
    z = latents.PoincareLatents(32, c).prior.sample(4000, seed=SEED)
    gap = 1 - math.sqrt(c) * np.linalg.norm(z.numpy().astype(np.float64), axis=-1)
    return np.mean(gap < 2e-5)
  assert share_at_the_margin(0.25) == 0.0
  assert share_at_the_margin(1.0) > 0.1


def test_active_units_read_the_monte_carlo_mean_of_z():
  """A wrapped normal has no closed-form mean: AU takes E_q[z] from samples, less their noise."""
  family = latents.PoincareLatents(3, 1.0)
  rng = np.random.default_rng(0)
  tangent_loc = np.zeros([64, 3], np.float32)
  tangent_loc[:, 0] = rng.normal(size=64)
  posterior = family.posterior((tf.constant(tangent_loc),
                                tf.fill([64, 3], tf.constant(2 * math.log(0.3)))))
  mean, noise = units.posterior_means(posterior, SEED)
  assert noise is not None
  count, _ = units.active_units(mean, 0.01, mean_noise=noise)
  assert int(count) == 1


@pytest.mark.parametrize("fields, message", [
    (dict(model="p_vae", curvature=0.0), "--curvature must be positive"),
    (dict(model="apo_vae", curvature=-1.0), "--curvature must be positive"),
    (dict(model="p_vae", latent_dim=32, curvature=1.0), "c \\* d = 32 exceeds 16.*<= 0.5"),
    (dict(model="apo_vae", latent_dim=8, curvature=2.5), "c \\* d = 20 exceeds 16"),
    (dict(model="p_vae", prior="mog"), "drop --prior=mog"),
    (dict(model="apo_vae", prior="flow"), "drop --prior=flow"),
    (dict(model="p_vae", objective="free_bits", fb_lambda=1.0), "--objective=elbo"),
    (dict(model="p_vae", latent_type="spherical"), "cannot learn --latent_type=spherical"),
    (dict(model="apo_vae", iaf_steps=2), "cannot train an IAF posterior"),
])
def test_the_config_refuses_what_the_ball_cannot_take(fields, message):
  with pytest.raises(ConfigError, match=message):
    _config(**fields)


# P-VAE.

def test_the_decoder_reads_the_gyroplane_features_of_z():
  dataset, model = _built(model="p_vae", curvature=0.7)
  x = next(iter(dataset.batches("train", 5)))
  read = []
  likelihood = model.decoder.likelihood

  def spy(decoder_input, x, training=False):
    read.append(decoder_input)
    return likelihood(decoder_input, x, training=training)

  model.decoder.likelihood = spy
  model.compute_objective(x, seed=SEED, training=False)
  z = model.sample_posterior(model.posterior(x), SEED)
  layer = model.latent_embedding
  expected = gyroplane_features(z[..., None, :], layer.normals, layer.offsets, c=0.7)
  np.testing.assert_allclose(read[0].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
  assert not np.allclose(read[0].numpy(), z.numpy(), atol=0.1)
  assert layer in model.serving_layers("decoder")


def _log_normal(v, scale):
  return np.sum(scipy.stats.norm.logpdf(v, 0.0, scale), axis=-1)


def _log_det(radius, z, c, dim):
  """(d - 1) log(sinh(sqrt(c) r) / (sqrt(c) r)) + d log(1 - c ||z||^2) in float64."""
  scaled = math.sqrt(c) * radius
  return (dim - 1) * np.log(np.sinh(scaled) / scaled) + dim * np.log(1 - c * np.sum(z**2, -1))


def _mobius_add(x, y, c):
  xy, xx, yy = (np.sum(a * b, -1, keepdims=True) for a, b in ((x, y), (x, x), (y, y)))
  return ((1 + 2 * c * xy + c * yy) * x + (1 - c * xx) * y) / (1 + 2 * c * xy + c**2 * xx * yy)


def test_the_training_kl_is_the_monte_carlo_log_ratio_at_the_step_sample():
  """KL = log q(z|x) - log p(z) at the step's z, recomputed in float64 numpy from the encoder's
  outputs and the step's noise (the sampler of Dai et al. (2021), eq. 7)."""
  c = 0.7
  dataset, model = _built(model="p_vae", curvature=c)
  x = next(iter(dataset.batches("train", 5)))
  _, terms = model.compute_objective(x, seed=SEED, training=False)
  tangent_loc, log_variance = (t.numpy().astype(np.float64) for t in model.encoder(x))
  scale = np.exp(0.5 * log_variance)
  # On one device the step's noise is the stateless draw of its seed (tfvae.random).
  v = scale * tf.random.stateless_normal(tangent_loc.shape, SEED).numpy()
  norm = np.linalg.norm(tangent_loc, axis=-1, keepdims=True)
  loc = np.tanh(math.sqrt(c) * norm) * tangent_loc / (math.sqrt(c) * norm)
  # z = exp_mu(P_{0->mu}(v)): the step tanh(sqrt(c) lambda_mu ||u|| / 2) = tanh(sqrt(c) ||v||).
  v_norm = np.linalg.norm(v, axis=-1, keepdims=True)
  z = _mobius_add(loc, np.tanh(math.sqrt(c) * v_norm) * v / (math.sqrt(c) * v_norm), c)
  log_q = _log_normal(v, scale) - _log_det(2 * v_norm[:, 0], z, c, 3)
  z_norm = np.linalg.norm(z, axis=-1, keepdims=True)
  origin_tangent = np.arctanh(math.sqrt(c) * z_norm) * z / (math.sqrt(c) * z_norm)
  log_p = _log_normal(origin_tangent, 1.0) - _log_det(
      2 * np.linalg.norm(origin_tangent, axis=-1), z, c, 3)
  np.testing.assert_allclose(terms["kl"].numpy(), log_q - log_p, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(terms["elbo"].numpy(), -terms["recon"].numpy() - (log_q - log_p),
                             rtol=1e-4, atol=1e-4)


# APo-VAE.

LATENT_DIM = 2
SCALE = 0.5


class _TangentEncoder(keras.layers.Layer):
  """q(z|x) = WN(exp_0(x[:, :2]), SCALE^2 I): a fixed encoder, so that only the critic learns."""

  def call(self, x, training=False):
    tangent_loc = x[:, :LATENT_DIM]
    return tangent_loc, tf.fill(tf.shape(tangent_loc), 2.0 * math.log(SCALE))


def _apo_model(seed=0):
  keras.utils.set_random_seed(seed)
  model = DualKLVAE(_TangentEncoder(name="encoder"), nets.MLPDecoder([8], [LATENT_DIM]),
                    latents.PoincareLatents(LATENT_DIM, 1.0),
                    critic=nets.Critic(64, sees_x=True, name="critic"), seed=seed)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model(tf.zeros([1, LATENT_DIM]))
  model.build_optimizers()
  return model


def _dual_kl(model, x, samples=4000):
  """The critic's dual estimate per example, [B], from `samples` draws of q and of p each."""
  encoded = model.encoder(x)
  features = model.critic_features(encoded)
  z_posterior = model.sample_posterior(model.make_posterior(encoded), tf.constant([1, 1]),
                                       samples)
  z_prior = model.prior.sample([samples, x.shape[0]], seed=tf.constant([2, 2]))
  return objectives.dual_kl_estimate(model.nu(features, z_posterior),
                                     model.nu(features, z_prior)).numpy()


def test_the_critic_step_moves_only_the_critic_and_its_value_is_the_kl_term():
  model = _apo_model()
  x = tf.constant(np.random.default_rng(0).normal(size=[32, LATENT_DIM]), tf.float32)
  critic_ids = {id(w) for w in model.critic.weights}
  others = [(w, w.numpy()) for w in model.weights if id(w) not in critic_ids]
  critic = [w.numpy() for w in model.critic.weights]
  tf.function(lambda x: model.critic_step(x, seed=SEED))(x)
  for weight, before in others:
    np.testing.assert_array_equal(weight.numpy(), before, err_msg=weight.path)
  assert any(not np.array_equal(b, a.numpy()) for b, a in zip(critic, model.critic.weights))
  # The model step's KL term is nu(x, z) at the step's sample, not log q - log p.
  _, terms = model.compute_objective(x, seed=SEED, training=False)
  encoded = model.encoder(x)
  z = model.sample_posterior(model.make_posterior(encoded), SEED)
  nu = model.critic(model.critic_features(encoded), poincare.logmap0(z, c=1.0))
  np.testing.assert_allclose(terms["kl"].numpy(), nu.numpy(), rtol=1e-6, atol=1e-7)
  assert not critic_ids & {id(w) for w in model.optimizer_groups()["model"].variables}
  # Every training step takes a critic step first.
  critic = [w.numpy() for w in model.critic.weights]
  model.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1, steps_per_epoch=2, verbose=0)
  assert int(model.critic_optimizer.iterations) == 3 and int(model.optimizer.iterations) == 2
  assert any(not np.array_equal(b, a.numpy()) for b, a in zip(critic, model.critic.weights))


def test_trained_critics_dual_kl_approaches_the_monte_carlo_kl_of_the_wrapped_normals():
  """With the encoder fixed, critic steps make the dual bound nu -> log q/p: its estimate comes
  within 15% of KL(WN(exp_0(x), s^2) || WN(0, I)), which the untrained critic reads as 0.

  x ~ N(0, 0.5^2 I) gives KLs of 1.2 nats on average (8% below after 2000 steps); at
  x ~ N(0, I), 2.7 nats, the bound stays 15-20% below after 3000 steps, whether the critic
  reads z or log_0(z).
  """
  model = _apo_model()
  data = np.random.default_rng(0).normal(scale=0.5, size=[512, LATENT_DIM]).astype(np.float32)
  x = data[:64]
  np.testing.assert_allclose(_dual_kl(model, x, samples=10), 0.0, atol=1e-6)
  step = tf.function(lambda x, i: model.critic_step(x, seed=tf.stack([7, i])))
  for i in range(2000):
    step(data[(i % 4) * 128:(i % 4 + 1) * 128], tf.constant(i))
  posterior = model.make_posterior(model.encoder(x))
  monte_carlo = divergences.monte_carlo_kl(posterior, model.prior, seed=tf.constant([5, 5]),
                                           num_samples=4000).numpy()
  estimate = _dual_kl(model, x)
  assert abs(estimate.mean() - monte_carlo.mean()) < 0.15 * monte_carlo.mean()
  assert np.corrcoef(estimate, monte_carlo)[0, 1] > 0.9


# Both methods, trained.

def _launch_both(root):
  """P-VAE and APo-VAE trained three steps each by `python -m launch.train`, side by side."""
  data_flags = [f"--data_option={key}={value}" for key, value in DATA_OPTIONS.items()]
  runs = {}
  for name, flags in (("p_vae", ["--curvature=0.7"]), ("apo_vae", ["--critic_hidden=8"])):
    runs[name] = Launch("launch.train", f"--model={name}", *flags, f"--model_dir={root / name}",
                        "--epochs=1", "--steps_per_epoch=3", "--latent_dim=3",
                        "--epoch_eval_samples=2", "--epoch_eval_batches=1", *data_flags, *TINY,
                        stdout=root / f"{name}.out", stderr=root / f"{name}.err")
  for name, run in runs.items():
    assert run.wait() == 0, (root / f"{name}.err").read_text()[-5000:]
  return {name: root / name for name in runs}


def test_the_launcher_trains_both_to_finite_numbers(tmp_path):
  results = {name: json.loads((model_dir / "results.json").read_text())
             for name, model_dir in _launch_both(tmp_path).items()}
  for name, result in results.items():
    assert result["config"]["model"] == name and result["step"] == 3
    for metric in ("nll", "kl", "recon", "mi_batch", "au"):
      assert math.isfinite(result["test"][metric]), (name, metric)
    assert result["test"]["mpd"] is None
  assert results["p_vae"]["config"]["curvature"] == 0.7
  assert math.isfinite(results["apo_vae"]["test"]["dual_kl"])


@pytest.mark.parametrize("name", ["p_vae", "apo_vae"])
def test_both_methods_train_from_python(name):
  dataset, model = _built(model=name)
  before = [w.numpy() for w in model.encoder.trainable_weights]
  logs = model.fit(dataset.batches("train", 4).take(2), verbose=0).history
  assert all(math.isfinite(values[-1]) for values in logs.values())
  assert all(not np.allclose(b, a.numpy()) for b, a in zip(before, model.encoder.trainable_weights))
  _check_the_export_outputs(model, next(iter(dataset.batches("test", 3))))
  # Sentences encode to the point mu of q(z|x); the homotopy between two follows the geodesic.
  centres = text_generation.posterior_centres(model, dataset.vocab, ["a b", "c"])
  assert np.all(np.sum(centres.numpy()**2, -1) < 1)
  path = text_generation.interpolate(model, dataset.vocab, "a b", "c", steps=3)
  assert [t for t, _ in path] == [0.0, 0.5, 1.0]


def _check_the_export_outputs(model, x):
  """What an exported encoder returns for Poincare latents (`export.posterior`)."""
  c = model.latent_family.curvature
  answer = {k: v.numpy() for k, v in posterior_export.posterior_outputs(model, x).items()}
  assert set(answer) == set(posterior_export.posterior_specs(model))
  assert set(answer) == {"loc", "tangent_loc", "scale", "z", "kl"}
  tangent_loc, log_variance = model.encoder(x)
  posterior = model.posterior(x)
  np.testing.assert_allclose(answer["loc"], posterior.loc.numpy(), rtol=1e-6, atol=1e-7)
  # tangent_loc is log_0(mu), the encoder's output unless exp_0 of that reached the boundary.
  np.testing.assert_allclose(poincare.expmap0(tf.constant(answer["tangent_loc"]), c=c).numpy(),
                             answer["loc"], rtol=1e-5, atol=1e-6)
  inside = math.sqrt(c) * np.linalg.norm(tangent_loc.numpy(), axis=-1) < 4.0
  np.testing.assert_allclose(answer["tangent_loc"][inside], tangent_loc.numpy()[inside],
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(answer["scale"], np.exp(0.5 * log_variance.numpy()), rtol=1e-6)
  assert np.all(c * np.sum(answer["z"]**2, -1) < 1)
  # kl is the one-sample log q(z|x) - log p(z) at the returned z; every call draws another z.
  log_ratio = posterior.log_prob(answer["z"]) - model.prior.log_prob(answer["z"])
  np.testing.assert_allclose(answer["kl"], log_ratio.numpy(), rtol=1e-5, atol=1e-5)
  again = posterior_export.posterior_outputs(model, x)["z"].numpy()
  assert not np.allclose(again, answer["z"])
  np.testing.assert_array_equal(posterior_export.latent_example(model), np.zeros([2, 3]))
