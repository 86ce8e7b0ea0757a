"""iVAE and iVAE_MI (Fang et al. 2019): the critic's dual KL against closed forms, the fitted
Gaussian of evaluation, the two-step training and its checkpoint."""

import json
import math

import keras
import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import tensorflow as tf

from tests.launch_runs import TINY
from tests.launch_runs import run as _run
from tfvae import latents
from tfvae import nets
from tfvae import objectives
from tfvae.latents import implicit
from tfvae.models import DualKLVAE

LATENT_DIM = 2
SCALE = 0.5


class _GaussianEncoder(keras.layers.Layer):
  """q(z|x) = N(x[:, :2], SCALE^2 I): a posterior whose KL is known in closed form."""

  def call(self, x, training=False):
    loc = x[:, :LATENT_DIM]
    return loc, tf.fill(tf.shape(loc), 2.0 * math.log(SCALE))


def _model(sees_x, seed=0, **kwargs):
  keras.utils.set_random_seed(seed)
  model = DualKLVAE(_GaussianEncoder(name="encoder"), nets.MLPDecoder([8], [LATENT_DIM]),
                    LATENT_DIM,
                    critic=nets.Critic(64, sees_x=sees_x, name="critic"), seed=seed, **kwargs)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model(tf.zeros([1, LATENT_DIM]))
  model.build_optimizers()
  return model


def _train_critic(model, draw_x, steps):
  step = tf.function(lambda x, i: model.critic_step(x, seed=tf.stack([7, i])))
  for i in range(steps):
    step(draw_x(i), tf.constant(i))


def _dual_kl(model, x, samples=4000):
  """The trained critic's dual estimate per example, [B], from `samples` draws each."""
  encoded = model.encoder(x)
  features = model.critic_features(encoded)
  z_posterior = model.make_posterior(encoded).sample(samples, seed=tf.constant([1, 1]))
  z_prior = model.prior.sample([samples, x.shape[0]], seed=tf.constant([2, 2]))
  return objectives.dual_kl_estimate(model.nu(features, z_posterior),
                                     model.nu(features, z_prior)).numpy()


def test_the_dual_kl_of_a_trained_critic_approaches_the_closed_form():
  """nu(x, z) learns log q(z|x)/p(z): the bound comes within 10% of KL(N(x, s^2) || N(0, I))."""
  model = _model(sees_x=True)
  data = np.random.default_rng(0).normal(size=[512, LATENT_DIM]).astype(np.float32)
  _train_critic(model, lambda i: data[(i % 4) * 128:(i % 4 + 1) * 128], steps=1500)
  x = data[:64]
  closed_form = 0.5 * np.sum(x ** 2 + SCALE ** 2 - 1.0 - math.log(SCALE ** 2), axis=-1)
  estimate = _dual_kl(model, x)
  assert abs(estimate.mean() - closed_form.mean()) < 0.1 * closed_form.mean()
  # Per example too, not only on average: the critic reads x.
  assert np.corrcoef(estimate, closed_form)[0, 1] > 0.9


def test_a_critic_of_z_alone_measures_the_aggregate_kl():
  """iVAE_MI: x ~ N(0, a^2 I) and q(z|x) = N(x, s^2 I), so q(z) = N(0, (a^2 + s^2) I)."""
  model = _model(sees_x=False)
  spread = 1.5
  rng = np.random.default_rng(1)
  _train_critic(model, lambda i: (spread * rng.normal(size=[256, LATENT_DIM])).astype(np.float32),
                steps=2500)
  variance = spread ** 2 + SCALE ** 2
  closed_form = LATENT_DIM * 0.5 * (variance - 1.0 - math.log(variance))
  x = (spread * rng.normal(size=[4000, LATENT_DIM])).astype(np.float32)
  estimate = _dual_kl(model, x, samples=1).mean()
  assert abs(estimate - closed_form) < 0.1 * closed_form


def test_without_critic_steps_the_kl_estimate_stays_at_zero():
  """The mechanism: the model's KL term is the critic's; untrained it reads 0 for any q."""
  model = _model(sees_x=True)
  x = np.random.default_rng(0).normal(size=[64, LATENT_DIM]).astype(np.float32)
  np.testing.assert_allclose(_dual_kl(model, x, samples=10), 0.0, atol=1e-6)
  _, terms = model.compute_objective(tf.constant(x), seed=tf.constant([1, 2]), training=False)
  np.testing.assert_allclose(terms["kl"].numpy(), 0.0, atol=1e-6)


def test_the_model_step_moves_the_posterior_down_the_critic():
  """The model step's KL gradient is d nu / dz through the sampler: it shrinks the posterior
  toward the prior when nu = log q/p, and the critic's weights do not move in it."""
  model = _model(sees_x=True)
  x = tf.constant(np.random.default_rng(0).normal(size=[128, LATENT_DIM]), tf.float32)
  _train_critic(model, lambda i: x, steps=1500)
  critic_before = [w.numpy() for w in model.critic.weights]
  with tf.GradientTape() as tape:
    loc = tf.Variable(x)
    encoded = (loc, tf.fill(tf.shape(loc), 2.0 * math.log(SCALE)))
    z = model.make_posterior(encoded).sample(256, seed=tf.constant([3, 4]))
    nu = tf.reduce_sum(model.critic(model.critic_features(encoded), z))
  # d KL / d mu = mu for the Gaussian: the critic's pull on the means points the same way.
  grad = tape.gradient(nu, loc).numpy()
  cosine = np.sum(grad * x.numpy()) / (np.linalg.norm(grad) * np.linalg.norm(x.numpy()))
  assert cosine > 0.7
  for before, after in zip(critic_before, model.critic.weights):
    np.testing.assert_array_equal(before, after.numpy())


def test_the_fitted_gaussian_matches_samples_and_bounds_the_kl_from_below():
  """For a non-Gaussian sampler (a two-component mixture in 1-d), KL(fit || N(0, 1)) <= the
  KL computed by quadrature of the mixture's density."""
  rng = np.random.default_rng(0)
  centres = rng.choice([-1.5, 1.0], size=[200000, 1, 1]).astype(np.float32)
  samples = centres + 0.3 * rng.normal(size=centres.shape).astype(np.float32)
  fit = implicit.fitted_diagonal_gaussian(tf.constant(samples))
  np.testing.assert_allclose(fit.mean().numpy(), samples.mean(0), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(fit.stddev().numpy(), samples.std(0, ddof=1), rtol=1e-3)
  fitted_kl = float(tf.reduce_mean(
      fit.kl_divergence(latents.standard_normal_prior(1))))

  def density(z):
    return 0.5 * (scipy.stats.norm.pdf(z, -1.5, 0.3) + scipy.stats.norm.pdf(z, 1.0, 0.3))

  true_kl, _ = scipy.integrate.quad(
      lambda z: density(z) * (np.log(density(z)) - scipy.stats.norm.logpdf(z)), -6, 6,
      points=[-1.5, 1.0], limit=200)
  assert fitted_kl < true_kl
  assert fitted_kl > 0.0


def test_the_critic_steps_are_separate_and_both_optimisers_are_checkpointed(tmp_path):
  model = _model(sees_x=True, critic_steps=2, critic_learning_rate=1e-4)
  assert float(model.critic_optimizer.learning_rate) == pytest.approx(1e-4)
  assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
  x = tf.constant(np.random.default_rng(0).normal(size=[32, LATENT_DIM]), tf.float32)
  model.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1, steps_per_epoch=3, verbose=0)
  assert int(model.critic_optimizer.iterations) == 6 and int(model.optimizer.iterations) == 3
  # The model step's group leaves out the critic, which only its own optimiser moves.
  group_variables = {id(v) for v in model.optimizer_groups()["model"].variables}
  assert not group_variables & {id(v) for v in model.critic.trainable_variables}
  checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                   critic_optimizer=model.critic_optimizer)
  path = checkpoint.save(str(tmp_path / "ckpt"))
  fresh = _model(sees_x=True, seed=5, critic_steps=2, critic_learning_rate=1e-4)
  fresh.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1, steps_per_epoch=1, verbose=0)
  tf.train.Checkpoint(model=fresh, optimizer=fresh.optimizer,
                      critic_optimizer=fresh.critic_optimizer).restore(path)
  for mine, theirs in zip(model.critic_optimizer.variables, fresh.critic_optimizer.variables):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
  for mine, theirs in zip(model.critic.weights, fresh.critic.weights):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


@pytest.mark.parametrize("sees_x", [True, False])
def test_critic_shapes(sees_x):
  critic = nets.Critic(8, sees_x=sees_x)
  assert critic(tf.zeros([5, 3]), tf.zeros([4, 5, LATENT_DIM])).shape == (4, 5)
  with pytest.raises(ValueError, match="hidden_units"):
    nets.Critic(0)


def test_the_ivae_mi_preset_trains_from_the_launcher_and_reports_the_critics_kl(tmp_path):
  """iVAE_MI's critic of z gives an aggregate KL and no ELBO (`ivae` runs in the conformance
  suite and in tests/test_reproduce.py)."""
  _run("launch.train", "--preset=ivae_mi", "--latent_dim=4", "--noise_dim=3",
       "--sampler_hidden=8", "--critic_hidden=8", "--epochs=1", "--steps_per_epoch=2",
       f"--model_dir={tmp_path}", *TINY)
  test = json.loads((tmp_path / "results.json").read_text())["test"]
  assert np.isfinite(test["nll"]) and np.isfinite(test["dual_kl"]) and test["mpd"] is None
  assert test["dual_neg_elbo"] is None
