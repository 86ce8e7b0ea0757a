"""The VAE: contract shapes, the beta-ELBO against a hand computation, training."""

import keras
import numpy as np
import tensorflow as tf

from tfvae import nets
from tfvae import objectives
from tfvae import random as tfvae_random
from tfvae.models import VAE
from tfvae.models.base import EVAL_STREAM
from tfvae.models.base import TRAIN_STREAM

TEXT = tf.constant([[2, 5, 6, 7, 3, 0], [2, 8, 9, 3, 0, 0], [2, 4, 4, 4, 4, 3]], tf.int32)
SEED = tf.constant([4, 2], tf.int32)


def _model(beta=1.0, latent_dim=4):
  return VAE(nets.LSTMEncoder(10, 8, 16, latent_dim), nets.LSTMDecoder(10, 8, 16, latent_dim),
             latent_dim, beta=beta, seed=7)


def test_contract_shapes():
  model = _model()
  posterior = model.posterior(TEXT)
  assert posterior.batch_shape == (3,) and posterior.event_shape == (4,)
  assert model.prior.event_shape == (4,) and model.prior.batch_shape == ()
  z = model.sample_posterior(posterior, SEED, num_samples=6)
  assert z.shape == (6, 3, 4)
  assert model.likelihood(z, TEXT).log_prob(TEXT).shape == (6, 3)
  # Calling the model decodes one sample of q with the fixed noise of evaluation stream step 0.
  z = model.sample_posterior(posterior, tfvae_random.step_seed(7, 0, EVAL_STREAM))
  np.testing.assert_allclose(model(TEXT).numpy(), model.likelihood(z, TEXT).log_prob(TEXT).numpy(),
                             rtol=1e-6)


def test_beta_elbo_matches_hand_computation():
  model = _model(beta=0.3)
  loss, terms = objectives.beta_elbo(model, TEXT, beta=0.3, seed=SEED, training=False)
  posterior = model.posterior(TEXT)
  mu = posterior.distribution.loc.numpy()
  sigma = posterior.distribution.scale.numpy()
  kl = 0.5 * np.sum(mu**2 + sigma**2 - 1.0 - 2.0 * np.log(sigma), axis=-1)
  noise = tf.random.stateless_normal(mu.shape, SEED).numpy()
  z = mu + sigma * noise
  log_likelihood = model.likelihood(tf.constant(z), TEXT).log_prob(TEXT).numpy()
  np.testing.assert_allclose(terms["kl"].numpy(), kl, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(terms["recon"].numpy(), -log_likelihood, rtol=1e-5)
  np.testing.assert_allclose(loss.numpy(), -log_likelihood + 0.3 * kl, rtol=1e-5)
  np.testing.assert_allclose(terms["elbo"].numpy(), log_likelihood - kl, rtol=1e-5)


def test_train_step_uses_beta_variable_and_reports_terms():
  model = _model(beta=0.0)
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  history = model.fit(tf.data.Dataset.from_tensors(TEXT).repeat(30), epochs=1, verbose=0)
  assert set(history.history) == {"loss", "recon", "kl", "elbo", "beta"}
  assert history.history["beta"] == [0.0]
  np.testing.assert_allclose(history.history["loss"], history.history["recon"], rtol=1e-6)
  model.beta.assign(2.0)
  logs = model.evaluate(tf.data.Dataset.from_tensors(TEXT), verbose=0, return_dict=True)
  np.testing.assert_allclose(logs["loss"], logs["recon"] + 2.0 * logs["kl"], rtol=1e-5)


def test_training_lowers_the_loss():
  model = _model()
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  data = tf.data.Dataset.from_tensors(TEXT).repeat(40)
  first = model.evaluate(tf.data.Dataset.from_tensors(TEXT), verbose=0, return_dict=True)
  model.fit(data, epochs=2, verbose=0)
  last = model.evaluate(tf.data.Dataset.from_tensors(TEXT), verbose=0, return_dict=True)
  assert last["loss"] < first["loss"] - 1.0


def test_noise_follows_the_step_so_reruns_repeat():
  """Step t draws its noise from step_seed(seed, t): a new draw every step, the same on a rerun."""
  model = _model()
  model.compile(optimizer=keras.optimizers.SGD(0.0))  # fixed weights: only the noise moves
  losses = []
  record = keras.callbacks.LambdaCallback(
      on_train_batch_end=lambda batch, logs: losses.append(float(model.batch_loss.numpy())))
  model.fit(tf.data.Dataset.from_tensors(TEXT).repeat(3), epochs=1, verbose=0,
            callbacks=[record])
  expected = [float(tf.reduce_mean(model.compute_objective(
      TEXT, seed=tfvae_random.step_seed(7, step, TRAIN_STREAM), training=True)[0]))
              for step in range(3)]
  np.testing.assert_allclose(losses, expected, rtol=1e-5)
  assert len(set(losses)) == 3, losses


def test_mixed_precision_keeps_distributions_and_losses_in_float32():
  keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
  try:
    model = _model()
    loss, terms = objectives.beta_elbo(model, TEXT, beta=1.0, seed=SEED, training=True)
    posterior = model.posterior(TEXT)
    assert model.encoder.lstm.compute_dtype == "bfloat16"
  finally:
    keras.mixed_precision.set_dtype_policy("float32")
  assert posterior.dtype == tf.float32
  assert loss.dtype == tf.float32 and terms["kl"].dtype == tf.float32
  assert np.all(np.isfinite(loss.numpy()))
