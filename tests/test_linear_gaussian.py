"""Tests of the linear-Gaussian oracle model against scipy / textbook formulas."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from tfvae.models.linear_gaussian import LinearGaussianModel

DATA_DIM, LATENT_DIM, SIGMA = 5, 3, 0.7


def _parameters(seed=0):
  rng = np.random.default_rng(seed)
  return dict(
    decoder_weight=rng.normal(size=(DATA_DIM, LATENT_DIM)),
    decoder_bias=rng.normal(size=DATA_DIM),
    noise_scale=SIGMA,
    encoder_weight=0.3 * rng.normal(size=(LATENT_DIM, DATA_DIM)),
    encoder_bias=0.1 * rng.normal(size=LATENT_DIM),
    encoder_log_scale=0.2 * rng.normal(size=LATENT_DIM),
  )


def _data(num=6, seed=1):
  return np.random.default_rng(seed).normal(size=(num, DATA_DIM)).astype(np.float32)


def test_exact_log_marginal_matches_scipy():
  params = _parameters()
  model = LinearGaussianModel(**params)
  x = _data()
  w, b = params["decoder_weight"], params["decoder_bias"]
  covariance = w @ w.T + SIGMA**2 * np.eye(DATA_DIM)
  expected = scipy.stats.multivariate_normal(b, covariance).logpdf(x.astype(np.float64))
  np.testing.assert_allclose(model.exact_log_marginal(x).numpy(), expected, rtol=1e-6)


def test_exact_posterior_matches_gaussian_conditioning():
  """Textbook conditioning of the joint N([z; x]) (covariance form), in numpy."""
  params = _parameters()
  model = LinearGaussianModel(**params)
  x = _data().astype(np.float64)
  w, b = params["decoder_weight"], params["decoder_bias"]
  sigma_xx = w @ w.T + SIGMA**2 * np.eye(DATA_DIM)
  sigma_zx = w.T  # Cov(z, x) = W^T.
  gain = sigma_zx @ np.linalg.inv(sigma_xx)
  expected_cov = np.eye(LATENT_DIM) - gain @ sigma_zx.T
  expected_mean = (x - b) @ gain.T

  posterior = model.exact_posterior(x)
  assert posterior.batch_shape == [x.shape[0]]
  assert posterior.event_shape == [LATENT_DIM]
  np.testing.assert_allclose(posterior.mean().numpy(), expected_mean, atol=1e-6)
  for covariance in posterior.covariance().numpy():
    np.testing.assert_allclose(covariance, expected_cov, atol=1e-6)


def test_contract_shapes_and_densities_match_scipy():
  params = _parameters()
  model = LinearGaussianModel(**params)
  x = _data(num=4)
  posterior = model.posterior(x, training=False)
  assert posterior.batch_shape == [4] and posterior.event_shape == [LATENT_DIM]
  prior = model.prior
  assert prior.batch_shape == [] and prior.event_shape == [LATENT_DIM]

  z = posterior.sample(7, seed=[1, 2])  # [K, B, d]
  assert z.shape == (7, 4, LATENT_DIM)
  log_lik = model.likelihood(z, x, training=False).log_prob(x)
  assert log_lik.shape == (7, 4)

  z64 = z.numpy().astype(np.float64)
  x64 = x.astype(np.float64)
  mean_x = z64 @ params["decoder_weight"].T + params["decoder_bias"]
  expected_lik = scipy.stats.norm.logpdf(x64, mean_x, SIGMA).sum(-1)
  np.testing.assert_allclose(log_lik.numpy(), expected_lik, rtol=1e-5)

  mean_z = x64 @ params["encoder_weight"].T + params["encoder_bias"]
  scale_z = np.exp(params["encoder_log_scale"])
  expected_q = scipy.stats.norm.logpdf(z64, mean_z, scale_z).sum(-1)
  np.testing.assert_allclose(posterior.log_prob(z).numpy(), expected_q, rtol=1e-5)
  expected_p = scipy.stats.norm.logpdf(z64).sum(-1)
  np.testing.assert_allclose(prior.log_prob(z).numpy(), expected_p, rtol=1e-5)
  np.testing.assert_allclose(model(x).numpy(), mean_z, atol=1e-5)


def test_bayes_identity_holds_for_any_z():
  """log p(x|z) + log p(z) - log p(z|x) = log p(x) for every z."""
  model = LinearGaussianModel(**_parameters())
  x = _data()
  z = tf.random.stateless_normal([3, x.shape[0], LATENT_DIM], seed=[3, 4], dtype=tf.float64)
  log_joint = tf.cast(
    model.likelihood(tf.cast(z, tf.float32), x).log_prob(x)
    + model.prior.log_prob(tf.cast(z, tf.float32)),
    tf.float64,
  )
  log_post = model.exact_posterior(x).log_prob(z)
  expected = tf.broadcast_to(model.exact_log_marginal(x), log_post.shape)
  np.testing.assert_allclose((log_joint - log_post).numpy(), expected.numpy(), atol=1e-4)


def test_exact_posterior_parameters():
  params = _parameters()
  model = LinearGaussianModel(**params)
  x = _data()
  model.set_posterior_to_exact_marginals()
  exact = model.exact_posterior(x)
  q = model.posterior(x)
  np.testing.assert_allclose(q.mean().numpy(), exact.mean().numpy(), atol=1e-5)
  marginal_std = np.sqrt(np.diagonal(exact.covariance().numpy(), axis1=-2, axis2=-1))
  np.testing.assert_allclose(q.stddev().numpy(), marginal_std, rtol=1e-5)


def test_diagonal_q_is_exact_with_orthogonal_columns():
  rng = np.random.default_rng(5)
  basis, _ = np.linalg.qr(rng.normal(size=(DATA_DIM, LATENT_DIM)))
  weight = basis * np.array([2.0, 1.0, 0.5])
  model = LinearGaussianModel(weight, rng.normal(size=DATA_DIM), SIGMA)
  model.set_posterior_to_exact_marginals()
  x = _data()
  z = tf.random.stateless_normal([4, x.shape[0], LATENT_DIM], seed=[1, 1])
  np.testing.assert_allclose(
    model.posterior(x).log_prob(z).numpy(),
    model.exact_posterior(x).log_prob(tf.cast(z, tf.float64)).numpy(),
    atol=1e-4,
  )


def _closed_form_negative_elbo(params, x):
  """-mean_x ELBO in numpy float64 (Gaussian expectations; Kingma and Welling 2014, app. B)."""
  w, b = params["decoder_weight"], params["decoder_bias"]
  a, c, log_s = params["encoder_weight"], params["encoder_bias"], params["encoder_log_scale"]
  sigma2 = np.exp(2 * params["log_noise_scale"])
  mu, s2 = x @ a.T + c, np.exp(2 * log_s)
  expected_log_likelihood = (-0.5 * DATA_DIM * np.log(2 * np.pi * sigma2)
                             - (np.sum((x - mu @ w.T - b) ** 2, axis=1)
                                + np.sum(s2 * np.sum(w**2, axis=0))) / (2 * sigma2))
  kl = 0.5 * np.sum(s2 + mu**2 - 1 - 2 * log_s, axis=1)
  return float(np.mean(kl - expected_log_likelihood))


def test_reparameterised_elbo_gradient_matches_the_closed_form():
  """Every weight's autodiff gradient of the sampled ELBO equals central differences of
  the closed-form ELBO. With 20,000 samples of q the estimate's standard deviation is at
  most 0.35% of the largest gradient entry (8 seeds); the tolerance is 2% of it."""
  model = LinearGaussianModel(**_parameters())
  assert len(model.trainable_weights) == 6
  x = _data()
  with tf.GradientTape() as tape:
    q = model.posterior(x)
    z = q.sample(20000, seed=[0, 1])
    elbo = model.likelihood(z, x).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)
    loss = -tf.reduce_mean(elbo)
  grads = dict(zip([w.name for w in model.trainable_weights],
                   tape.gradient(loss, model.trainable_weights)))
  params = {w.name: np.array(w.numpy(), dtype=np.float64) for w in model.trainable_weights}
  x64, step = x.astype(np.float64), 1e-6
  for name, value in params.items():
    numeric = np.zeros_like(value)
    for index in np.ndindex(value.shape):
      shifted = [dict(params, **{name: value.copy()}) for _ in range(2)]
      shifted[0][name][index] += step
      shifted[1][name][index] -= step
      numeric[index] = (_closed_form_negative_elbo(shifted[0], x64)
                        - _closed_form_negative_elbo(shifted[1], x64)) / (2 * step)
    np.testing.assert_allclose(grads[name].numpy(), numeric, rtol=0.02,
                               atol=0.02 * np.abs(numeric).max(), err_msg=name)


def test_constructor_validates_shapes():
  with pytest.raises(ValueError):
    LinearGaussianModel(np.zeros((4, 2)), encoder_weight=np.zeros((4, 2)))
  with pytest.raises(ValueError):
    LinearGaussianModel(np.zeros((4, 2)), decoder_bias=np.zeros(3))
  with pytest.raises(ValueError):
    LinearGaussianModel(np.zeros((4, 2)), noise_scale=0.0)
