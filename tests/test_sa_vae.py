"""SA-VAE (Kim et al. 2018): refinement, exact gradients through it, training (two replicas: tests/test_conformance.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import latents
from tfvae import metrics
from tfvae import nets
from tfvae import random as tfvae_random
from tfvae.models.linear_gaussian import LinearGaussianModel
from tfvae.models.sa_vae import SAVAE
from tfvae.models.base import TRAIN_STREAM
from tfvae.models.vae import VAE

tfd = tfp.distributions


# ------------------------------------------------------------ small float64 nets
class LinearEncoder(keras.layers.Layer):
  """x [B, D] -> (x A + c, x E + f), float64."""

  def __init__(self, latent_dim, **kwargs):
    super().__init__(dtype="float64", **kwargs)
    self.to_loc = keras.layers.Dense(latent_dim, dtype="float64", name="to_loc")
    self.to_log_variance = keras.layers.Dense(latent_dim, dtype="float64",
                                              name="to_log_variance")

  def call(self, x, training=False):
    return self.to_loc(x), self.to_log_variance(x)


class GaussianDecoder(keras.layers.Layer):
  """p(x|z) = N(W h(z) + b, sigma^2 I), h = identity or tanh, float64."""

  def __init__(self, weight, bias, noise_scale, nonlinear=False, **kwargs):
    super().__init__(dtype="float64", **kwargs)
    self.nonlinear = nonlinear
    self.noise_scale = noise_scale
    self.weight = self._variable("weight", weight)
    self.bias = self._variable("bias", bias)
    self.built = True

  def _variable(self, name, value):
    value = np.asarray(value, np.float64)
    variable = self.add_weight(name=name, shape=value.shape, dtype="float64",
                               initializer="zeros")
    variable.assign(value)
    return variable

  def likelihood(self, z, x=None, training=False):
    del x, training
    h = tf.tanh(z) if self.nonlinear else z
    mean = tf.linalg.matvec(tf.convert_to_tensor(self.weight), h) + self.bias
    return tfd.Independent(tfd.Normal(mean, tf.constant(self.noise_scale, tf.float64)
                                      * tf.ones_like(mean)), 1)


class Float64SAVAE(SAVAE):
  """SAVAE with a float64 prior and dtype, for float64 nets."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, dtype="float64", **kwargs)

  @property
  def prior(self):
    return latents.standard_normal_prior(self.latent_dim, dtype=tf.float64)


# --------------------------------------------------------------- 1. K = 0 is a VAE
IMAGES = tf.constant(np.random.RandomState(0).rand(8, 3, 3) > 0.5, tf.float32)


def _image_model(cls, **kwargs):
  keras.utils.set_random_seed(4)
  model = cls(nets.MLPEncoder([6], 2, name="encoder"), nets.MLPDecoder([6], (3, 3), name="decoder"),
              2, seed=3, grad_clip_norm=1.0, **kwargs)
  model(IMAGES)
  return model


def test_zero_steps_equal_the_vae():
  plain = _image_model(VAE)
  semi = _image_model(SAVAE, refinement_steps=0, decoder_second_order=False)
  assert [v.shape for v in semi.weights] == [v.shape for v in plain.weights]
  for target, source in zip(semi.weights, plain.weights):
    target.assign(source)
  seed = tfvae_random.step_seed(3, 0, TRAIN_STREAM)
  results = []
  for model in (plain, semi):
    with tf.GradientTape() as tape:
      loss, terms = model.compute_objective(IMAGES, seed=seed, training=True)
      mean = tf.reduce_mean(loss)
    results.append((loss, terms, tape.gradient(mean, model.trainable_variables)))
  (loss_a, terms_a, grads_a), (loss_b, terms_b, grads_b) = results
  np.testing.assert_allclose(loss_b, loss_a, rtol=1e-6)
  for name in ("recon", "kl", "elbo"):
    np.testing.assert_allclose(terms_b[name], terms_a[name], rtol=1e-6)
  np.testing.assert_allclose(terms_b["kl_initial"], terms_a["kl"], rtol=1e-6)
  for a, b in zip(grads_a, grads_b):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
  # Two training steps (clipping, SGD) end at the same weights and logs.
  logs = []
  for model in (plain, semi):
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    history = model.fit(tf.data.Dataset.from_tensors(IMAGES).repeat(2), verbose=0)
    logs.append(history.history)
  for a, b in zip(plain.weights, semi.weights):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(logs[1]["loss"], logs[0]["loss"], rtol=1e-6)
  assert logs[1]["elbo_gain"] == [0.0]


# ------------------------------------------- 2. refinement on a linear-Gaussian model
def test_refinement_approaches_the_exact_posterior():
  rng = np.random.default_rng(1)
  basis, _ = np.linalg.qr(rng.normal(size=(4, 2)))
  weight, bias, sigma = basis * np.array([2.0, 1.0]), rng.normal(size=4), 0.5
  # Orthogonal columns: p(z|x) is a diagonal Gaussian, the best q of the family.
  oracle = LinearGaussianModel(weight, bias, sigma)
  z = rng.normal(size=(64, 2))
  x = z @ weight.T + bias + sigma * rng.normal(size=(64, 4))
  exact = oracle.exact_posterior(x)
  exact_mean = exact.mean().numpy()
  exact_std = np.sqrt(np.diagonal(exact.covariance().numpy(), axis1=-2, axis2=-1))
  log_px = oracle.exact_log_marginal(x).numpy()

  encoder = LinearEncoder(2)
  model = Float64SAVAE(encoder, GaussianDecoder(weight, bias, sigma), 2,
                       refinement_steps=100, refinement_step_size=0.05,
                       refinement_clip_norm=None)
  x = tf.constant(x)
  model(x[:1])
  for variable in encoder.trainable_variables:  # lambda_0 = (0, 0): q_0 is the prior.
    variable.assign(tf.zeros_like(variable))

  def elbo(q):
    mean, std = q.mean().numpy(), q.stddev().numpy()
    residual = x.numpy() - mean @ weight.T - bias
    expected_log_lik = (-0.5 * np.sum(residual**2, -1) / sigma**2
                        - 0.5 * np.sum(std**2 * np.sum(weight**2, 0), -1) / sigma**2
                        - 4 * np.log(sigma * np.sqrt(2 * np.pi)))
    kl = 0.5 * np.sum(mean**2 + std**2 - 1.0 - 2.0 * np.log(std), -1)
    return expected_log_lik - kl

  initial, refined = model.initial_posterior(x), model.posterior(x)
  np.testing.assert_array_equal(model.posterior(x).mean(), refined.mean())  # fixed noise
  for q in (initial, refined):
    assert np.all(elbo(q) <= log_px + 1e-4)  # the oracle holds float32 weights
  errors = {name: (np.mean(np.abs(q.mean().numpy() - exact_mean)),
                   np.mean(np.abs(q.stddev().numpy() - exact_std)),
                   np.mean(log_px - elbo(q)))
            for name, q in (("initial", initial), ("refined", refined))}
  # Mean and std errors (noisy: one sample per step) and the ELBO's gap to log p(x).
  for before, after, ratio in zip(errors["initial"], errors["refined"], (0.35, 0.35, 0.05)):
    assert after < ratio * before, errors


# ------------------------------------------ 3. exact gradients through the refinement
def _fd_setup(**kwargs):
  keras.utils.set_random_seed(2)
  rng = np.random.default_rng(2)
  decoder = GaussianDecoder(rng.normal(size=(3, 2)), rng.normal(size=3), 0.7, nonlinear=True)
  model = Float64SAVAE(LinearEncoder(2), decoder, 2, seed=5, refinement_steps=3,
                       refinement_step_size=0.3, **kwargs)
  x = tf.constant(rng.normal(size=(3, 3)))
  model(x)
  return model, x


def _central_differences(function, variables, step=1e-6):
  """d function() / d variables by central differences, entry by entry."""
  result = []
  for variable in variables:
    base = variable.numpy()
    derivative = np.zeros_like(base)
    for index in np.ndindex(base.shape):
      values = []
      for sign in (1.0, -1.0):
        moved = base.copy()
        moved[index] += sign * step
        variable.assign(moved)
        values.append(float(function()))
      variable.assign(base)
      derivative[index] = (values[0] - values[1]) / (2 * step)
    result.append(derivative)
  return result


@pytest.mark.parametrize("momentum, clip, second_order",
                         [(0.0, None, True), (0.5, 0.7, False)])
def test_training_gradient_is_the_exact_derivative_of_the_refined_loss(momentum, clip,
                                                                       second_order):
  model, x = _fd_setup(refinement_momentum=momentum, refinement_clip_norm=clip,
                       decoder_second_order=second_order)
  seed = tfvae_random.step_seed(5, 0, TRAIN_STREAM)
  encoder_vars = model.encoder.trainable_variables
  decoder_vars = model.decoder.trainable_variables

  def refined_loss():
    return tf.reduce_mean(model.compute_objective(x, seed=seed, training=True)[0])

  if clip is not None:  # the clipping must be active for the case to test it
    loc, log_variance = model.encoder(x)
    with tf.GradientTape() as tape:
      tape.watch(loc)
      loss = model.objective_at(x, loc, log_variance,
                                seed=tf.random.experimental.stateless_fold_in(
                                    tf.random.experimental.stateless_fold_in(seed, 1), 0),
                                training=True)[0]
      total = tf.reduce_sum(loss)
    assert np.max(np.linalg.norm(tape.gradient(total, loc), axis=-1)) > clip

  encoder_fd = _central_differences(refined_loss, encoder_vars)
  decoder_total_fd = _central_differences(refined_loss, decoder_vars)
  # theta's partial derivative with lambda_K held at its value.
  _, _, loc_k, log_variance_k, _ = model._refined_parameters(x, seed=seed, steps=3,
                                                             training=True)
  decoder_partial_fd = _central_differences(
      lambda: tf.reduce_mean(model.objective_at(x, loc_k, log_variance_k, seed=seed,
                                                training=True)[0]), decoder_vars)
  # First-order (straight-through) encoder gradient: lambda_K moves with lambda_0.
  with tf.GradientTape() as tape:
    loc0, log_variance0 = model.encoder(x, training=True)
    loc = loc0 + tf.stop_gradient(loc_k - loc0)
    log_variance = log_variance0 + tf.stop_gradient(log_variance_k - log_variance0)
    loss = tf.reduce_mean(model.objective_at(x, loc, log_variance, seed=seed, training=True)[0])
  first_order = tape.gradient(loss, encoder_vars)

  before = [v.numpy() for v in encoder_vars + decoder_vars]
  model.compile(optimizer=keras.optimizers.SGD(1.0))
  model.fit(tf.data.Dataset.from_tensors(x), verbose=0)
  applied = [b - v.numpy() for b, v in zip(before, encoder_vars + decoder_vars)]

  encoder_applied, decoder_applied = applied[:len(encoder_vars)], applied[len(encoder_vars):]
  for got, want in zip(encoder_applied, encoder_fd):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
  decoder_want = decoder_total_fd if second_order else decoder_partial_fd
  for got, want in zip(decoder_applied, decoder_want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)

  def distance(a, b):
    return np.sqrt(sum(np.sum((np.asarray(p) - q)**2) for p, q in zip(a, b)))

  scale = distance(encoder_fd, [np.zeros_like(g) for g in encoder_fd])
  assert scale > 1e-3  # a stop_gradient on lambda_K would give zero
  assert distance(first_order, encoder_fd) > 0.05 * scale
  assert distance(decoder_total_fd, decoder_partial_fd) > 0.01 * distance(
      decoder_total_fd, [np.zeros_like(g) for g in decoder_total_fd])


# -------------------------------------------------------------- 4. a text model
BATCHES = [tf.constant(np.random.RandomState(i).randint(4, 12, size=(4, 7)), tf.int32)
           for i in range(4)]


def _text_batches():
  fixed = [tf.concat([tf.fill([4, 1], 2), b, tf.fill([4, 1], 3)], axis=1) for b in BATCHES]
  return tf.data.Dataset.from_tensor_slices(tf.stack(fixed))


def _text_model(strategy=None, lstm="fused"):
  keras.utils.set_random_seed(11)
  with (strategy or tf.distribute.get_strategy()).scope():
    model = SAVAE(nets.LSTMEncoder(12, 8, 16, 3, lstm=lstm),
                  nets.LSTMDecoder(12, 8, 16, 3, lstm=lstm), 3, seed=5, refinement_steps=2,
                  refinement_step_size=0.2, refinement_momentum=0.5, grad_clip_norm=5.0)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model(next(iter(_text_batches())))
  return model


def test_text_model_trains_and_evaluates():
  model = _text_model()
  history = model.fit(_text_batches(), epochs=2, verbose=0).history
  assert {"loss", "recon", "kl", "elbo", "kl_initial", "elbo_gain"} <= set(history)
  assert np.all(np.isfinite(history["loss"]))
  results = metrics.evaluate(model, _text_batches(), num_samples=5, chunk_size=5, seed=0)
  assert np.isfinite(results["nll"]) and np.isfinite(results["kl"])
  # evaluate sees the refined posterior, not the amortised one.
  refined_kl = np.mean(np.concatenate(
      [tfd.kl_divergence(model.posterior(x), model.prior) for x in _text_batches()]))
  initial_kl = np.mean(np.concatenate(
      [tfd.kl_divergence(model.initial_posterior(x), model.prior) for x in _text_batches()]))
  np.testing.assert_allclose(results["kl"], refined_kl, rtol=1e-4)
  assert abs(refined_kl - initial_kl) > 1e-3


def test_fused_lstm_second_order_matches_keras_lstm():
  """The fused LSTM's hand-written backward is differentiated twice correctly."""
  x = next(iter(_text_batches()))
  seed = tfvae_random.step_seed(5, 0, TRAIN_STREAM)
  grads = {}
  fused = _text_model(lstm="fused")
  for lstm in ("fused", "keras"):
    model = fused if lstm == "fused" else _text_model(lstm=lstm)
    for target, source in zip(model.weights, fused.weights):  # the same weights
      target.assign(source)

    @tf.function
    def gradient(x, model=model):
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.compute_objective(x, seed=seed, training=True)[0])
      return tape.gradient(loss, model.trainable_variables)

    grads[lstm] = [tf.convert_to_tensor(g).numpy() for g in gradient(x)]
  for a, b in zip(grads["fused"], grads["keras"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
