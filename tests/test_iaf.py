"""The IAF posterior (Kingma et al. 2016): masks, exact density, samples, and the regularisers on z0."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import data
from tfvae import latents
from tfvae import methods
from tfvae import objectives
from tfvae.latents import made as made_lib
from tfvae.models import du_vae
from tfvae.training import config as config_lib

SEED = tf.constant([3, 7])


def _randomise(layer, scale, seed=0):
  """Gives every weight of `layer` N(0, scale^2) values (the output layers start at zero)."""
  rng = np.random.default_rng(seed)
  for weight in layer.weights:
    weight.assign(weight.numpy() + rng.normal(scale=scale, size=weight.shape).astype(np.float32))


def _flow(latent_dim, steps, context_dim=3, scale=0.7, seed=0):
  """A flow whose weights depend on `seed` alone, not on what ran before in the process."""
  keras.utils.set_random_seed(seed)
  flow = latents.InverseAutoregressiveFlow(latent_dim, context_dim, steps, hidden_dim=16)
  flow.build()
  _randomise(flow, scale, seed)
  return flow


def _base(batch, latent_dim, seed=0):
  rng = np.random.default_rng(seed)
  return latents.diagonal_gaussian(
      tf.constant(rng.normal(size=[batch, latent_dim]), tf.float32),
      tf.constant(rng.normal(scale=0.3, size=[batch, latent_dim]), tf.float32))


@pytest.mark.parametrize("latent_dim,hidden", [(1, 4), (2, 3), (5, 16), (8, 7)])
def test_made_masks_keep_every_output_autoregressive(latent_dim, hidden):
  """Germain et al. (2015), eqs. 12-13: output i depends on z_j for j < i only."""
  first, middle, last = made_lib.masks(latent_dim, hidden, 2)
  connectivity = (first @ middle @ last) > 0  # [d, 2d]: input j reaches output i
  for block in np.split(connectivity, 2, axis=1):
    np.testing.assert_array_equal(block, np.triu(block, k=1) & block)  # Zero on and below.
    if latent_dim > 1 and hidden >= latent_dim - 1:
      assert block[0, latent_dim - 1]  # The last output reads the first input.


def test_the_made_jacobian_is_strictly_triangular_by_autodiff():
  made = made_lib.MADE(5, context_dim=3, hidden_dim=16)
  made.build()
  _randomise(made, 0.5)
  z = tf.constant(np.random.default_rng(1).normal(size=[4, 5]), tf.float32)
  context = tf.ones([4, 3])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(z)
    shift, scale = made(z, context)
  for output in (shift, scale):
    jacobian = tape.batch_jacobian(output, z).numpy()  # [B, i, j] = d out_i / d z_j
    assert np.all(jacobian[:, np.triu_indices(5)[0], np.triu_indices(5)[1]] == 0.0)
    assert np.abs(np.tril(jacobian, k=-1)).max() > 1e-3  # It does depend on earlier inputs.


@pytest.mark.parametrize("steps", [1, 3])
def test_log_density_is_the_change_of_variables_by_autodiff(steps):
  """log q(z_T) = log q0(z0) - log |det dz_T/dz0|, the Jacobian taken by autodiff."""
  flow = _flow(4, steps, scale=0.3)
  base = _base(6, 4)
  context = tf.constant(np.random.default_rng(2).normal(size=[6, 3]), tf.float32)
  posterior = flow.posterior(base, context)
  z0 = base.sample(seed=SEED)
  with tf.GradientTape() as tape:
    tape.watch(z0)
    z = posterior.bijector.forward(z0)
  _, log_det = tf.linalg.slogdet(tape.batch_jacobian(z, z0))
  expected = base.log_prob(z0) - log_det
  # tf.identity: a tensor the bijector has not seen, so log_prob inverts the flow.
  np.testing.assert_allclose(posterior.log_prob(tf.identity(z)).numpy(), expected.numpy(),
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(posterior.bijector.inverse(tf.identity(z)).numpy(), z0.numpy(),
                             atol=1e-4)
  # Each step's Jacobian is triangular with sigma on its diagonal, in (0, 1).
  step = flow.step(0, context)
  with tf.GradientTape() as tape:
    tape.watch(z0)
    z1 = step.forward(z0)
  jacobian = tape.batch_jacobian(z1, z0).numpy()
  assert np.all(np.triu(jacobian, k=1) == 0.0)
  diagonal = np.diagonal(jacobian, axis1=1, axis2=2)
  assert np.all((diagonal > 0) & (diagonal <= 1))


def test_samples_of_a_2d_posterior_have_the_density_it_reports():
  """A histogram of 400,000 samples against the reported density integrated over each bin."""
  flow = _flow(2, 2, scale=0.3, seed=7)
  base = latents.diagonal_gaussian(tf.constant([[0.3, -0.2]]), tf.constant([[0.4, -0.6]]))
  posterior = flow.posterior(base, tf.constant([[0.5, -1.0, 0.2]]))
  samples = latents.reparameterized_sample(posterior, SEED, 400_000)[:, 0].numpy()
  assert np.corrcoef(samples.T)[0, 1] ** 2 > 0.01  # Not a diagonal Gaussian in disguise.
  # 20 x 20 bins over the central 99.8% of each coordinate.
  edges = [np.linspace(*np.percentile(axis, [0.1, 99.9]), 21) for axis in samples.T]
  counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=edges)
  frequency = counts / len(samples)
  # The density at 8 x 8 points inside every bin, averaged, times the bin's area.
  fine = [np.linspace(e[0], e[-1], 20 * 8 + 1) for e in edges]
  centres = [(f[:-1] + f[1:]) / 2 for f in fine]
  grid = np.stack(np.meshgrid(*centres, indexing="ij"), axis=-1).reshape(-1, 1, 2)
  density = np.exp(posterior.log_prob(tf.constant(grid, tf.float32)).numpy()).reshape(160, 160)
  area = np.diff(edges[0])[0] * np.diff(edges[1])[0]
  probability = density.reshape(20, 8, 20, 8).mean(axis=(1, 3)) * area
  assert frequency.sum() > 0.99 and abs(probability.sum() - frequency.sum()) < 0.01
  # Binomial error of each bin, plus a little for the midpoint rule.
  tolerance = 5 * np.sqrt(probability * (1 - probability) / len(samples)) + 3e-4
  assert np.all(np.abs(frequency - probability) <= tolerance), np.abs(frequency - probability).max()


def _fit_correlated_gaussian(steps):
  """KL(q || N(0, [[1, .9], [.9, 1]])) after fitting q: a diagonal Gaussian, or an IAF over one."""
  target = tfp.distributions.MultivariateNormalTriL(
      loc=[0.0, 0.0], scale_tril=tf.linalg.cholesky([[1.0, 0.9], [0.9, 1.0]]))
  loc = tf.Variable(tf.zeros([1, 2]))
  log_variance = tf.Variable(tf.zeros([1, 2]))
  flow = latents.InverseAutoregressiveFlow(2, 1, steps, hidden_dim=8) if steps else None
  optimizer = keras.optimizers.Adam(0.02)
  context = tf.zeros([1, 1])

  def posterior():
    base = latents.diagonal_gaussian(loc, log_variance)
    return flow.posterior(base, context) if flow else base

  posterior()
  variables = [loc, log_variance] + (flow.trainable_variables if flow else [])

  @tf.function
  def step(seed):
    with tf.GradientTape() as tape:
      q = posterior()
      z = latents.reparameterized_sample(q, seed, 256)
      kl = tf.reduce_mean(q.log_prob(z) - target.log_prob(z))
    optimizer.apply(tape.gradient(kl, variables), variables)

  for i in range(600):
    step(tf.constant([i, 0]))
  q = posterior()
  z = latents.reparameterized_sample(q, tf.constant([99, 1]), 20_000)
  return float(tf.reduce_mean(q.log_prob(z) - target.log_prob(z)))


def test_a_flow_fits_a_correlated_gaussian_that_a_diagonal_one_cannot():
  """The best diagonal Gaussian stays 0.5 log(1 / (1 - 0.81)) = 0.830 nats from the target;
  one IAF step (an affine autoregressive map) can reach it exactly."""
  bound = 0.5 * np.log(1 / (1 - 0.81))
  assert _fit_correlated_gaussian(0) > bound - 0.02
  assert _fit_correlated_gaussian(1) < 0.1


@pytest.fixture(scope="module")
def dataset():
  return data.load("synthetic_mog", num_train=64, num_valid=8, num_test=8)


def _model(dataset, **fields):
  config = config_lib.Config(iaf_steps=2, latent_dim=4, embed_dim=8, hidden_dim=16,
                             **fields).resolved().validate()
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  model(next(iter(dataset.batches("train", 4))))
  _randomise(model.posterior_flow, 0.3)
  return model


def test_free_bits_clamp_the_whole_kl_of_z_t(dataset):
  """IAF+FB: KL term = max(lambda, batch mean of log q(z_T|x) - log p(z_T)), one group."""
  model = _model(dataset, objective="free_bits", fb_lambda=1.0)
  x = next(iter(dataset.batches("train", 16)))
  elbo_loss, terms = objectives.beta_elbo(model, x, beta=1.0, seed=SEED, training=False)
  batch_kl = float(tf.reduce_mean(terms["kl"]))
  # A rate below the batch's KL clamps nothing: the loss is the negative ELBO.
  unclamped, _ = objectives.free_bits_elbo(model, x, target_rate=0.5 * batch_kl, seed=SEED,
                                           training=False)
  np.testing.assert_allclose(unclamped.numpy(), elbo_loss.numpy(), rtol=1e-6)
  # A rate above it: every example pays lambda, and the KL term has no gradient.
  rate = 2 * batch_kl + 1.0
  with tf.GradientTape() as tape:
    clamped, clamped_terms = objectives.free_bits_elbo(model, x, target_rate=rate, seed=SEED,
                                                       training=False)
    kl_part = clamped - clamped_terms["recon"]
  np.testing.assert_allclose(kl_part.numpy(), rate, rtol=1e-5)
  flow_weights = model.posterior_flow.trainable_weights
  assert all(g is None or not np.any(g.numpy()) for g in tape.gradient(kl_part, flow_weights))


def test_bn_and_dropout_act_on_the_base_gaussian(dataset):
  """IAF+BN normalises z0's means; DU-IAF drops z0's variances (eq. 6)."""
  x = next(iter(dataset.batches("train", 64)))
  bn = _model(dataset, model="bn_vae", bn_gamma=0.6)
  np.testing.assert_allclose(bn.posterior(x, training=True).distribution.mean().numpy(),
                             bn.mean_norm(bn.encoder(x)[0], training=True).numpy(), rtol=1e-6)
  du = _model(dataset, model="du_vae", du_gamma=0.5, du_keep_prob=0.8)
  excess = du.posterior(x).distribution.variance().numpy() - du_vae.ALPHA
  trained = du.step_posterior(x, seed=SEED, training=True).distribution.variance().numpy()
  kept = np.isclose(trained, du_vae.ALPHA + excess / 0.8, rtol=1e-4)
  dropped = np.isclose(trained, du_vae.ALPHA, rtol=1e-4)
  assert np.all(kept | dropped) and dropped.any() and kept.any()


def test_flow_settings_are_checked():
  with pytest.raises(config_lib.ConfigError, match="needs --latent_type=gaussian"):
    config_lib.Config(iaf_steps=2, latent_type="spherical").resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="cannot train an IAF posterior"):
    config_lib.Config(iaf_steps=2, model="delta_vae").resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="--iaf_steps must be >= 0"):
    config_lib.Config(iaf_steps=-1).resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="takes no flow"):
    config_lib.Config(iaf_steps=1, objective="autoencoder").resolved().validate()
