"""EpochMetrics: the per-epoch validation numbers against a linear-Gaussian oracle.

With orthogonal decoder columns the diagonal q equals p(z|x) exactly, so every
importance weight is p(x): the validation NLL must equal -log p(x) in closed form,
and the data, drawn from the model, give the true mutual information
I(x; z) = 1/2 sum_j log(1 + w_j^2 / sigma^2) (a Gaussian channel per dimension).
"""

import importlib

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.models.linear_gaussian import LinearGaussianModel
from tfvae.training import callbacks as run_callbacks
from tfvae.training import report

SIGMA = 0.6
COLUMN_NORMS = np.array([2.0, 1.0, 0.05])  # the last dimension barely informs x


def _model_and_data(num, seed=0):
  rng = np.random.default_rng(seed)
  basis, _ = np.linalg.qr(rng.normal(size=(5, 3)))
  model = LinearGaussianModel(basis * COLUMN_NORMS, rng.normal(size=5), SIGMA)
  model.set_posterior_to_exact_marginals()
  w, b, sigma = model._numpy_parameters()
  z = rng.normal(size=(num, 3))
  x = (z @ w.T + b + sigma * rng.normal(size=(num, 5))).astype(np.float32)
  return model, x


def test_validation_numbers_match_the_closed_forms():
  model, x = _model_and_data(3000)
  model.compile(optimizer=keras.optimizers.SGD(0.125))
  # Three batches of 1000; the callback reads the first two only.
  batches = tf.data.Dataset.from_tensor_slices(x).batch(1000)
  tokens_per_example = 5
  callback = run_callbacks.EpochMetrics(
      batches, num_samples=20, num_batches=2, seed=0,
      count_tokens=lambda x: tf.fill([tf.shape(x)[0]], tokens_per_example))
  callback.set_model(model)
  logs = {}
  callback.on_epoch_end(0, logs)

  seen = x[:2000]
  exact_nll = -float(np.mean(model.exact_log_marginal(seen).numpy()))
  np.testing.assert_allclose(logs["val_nll"], exact_nll, rtol=1e-5)
  np.testing.assert_allclose(logs["val_ppl"], np.exp(exact_nll / tokens_per_example),
                             rtol=1e-4)
  # Posterior means vary by w_j^2 / (w_j^2 + sigma^2): 0.92, 0.74 and 0.007 < 0.01.
  assert logs["val_au"] == 2
  true_mi = 0.5 * np.sum(np.log1p(COLUMN_NORMS**2 / SIGMA**2))
  # He et al.'s per-batch estimate on batches of 1000: 1.923 against 1.915 (measured).
  assert abs(logs["val_mi"] - true_mi) < 0.1, (logs["val_mi"], true_mi)
  assert logs["learning_rate"] == 0.125


def test_every_epoch_reuses_one_traced_step_that_reads_the_current_weights():
  model, x = _model_and_data(2000)
  model.compile(optimizer=keras.optimizers.SGD(0.125))
  batches = tf.data.Dataset.from_tensor_slices(x).batch(1000)
  callback = run_callbacks.EpochMetrics(batches, num_samples=20, num_batches=2, seed=0)
  callback.set_model(model)
  nlls = []
  for epoch, bias in enumerate((0.0, 1.5)):
    # Between epochs the weights change: here the decoder's bias, q kept exact.
    model.decoder_bias.assign(model.decoder_bias + bias)
    model.set_posterior_to_exact_marginals()
    logs = {}
    callback.on_epoch_end(epoch, logs)
    exact_nll = -float(np.mean(model.exact_log_marginal(x).numpy()))
    np.testing.assert_allclose(logs["val_nll"], exact_nll, rtol=1e-5)
    nlls.append(logs["val_nll"])
  assert nlls[1] > nlls[0] + 1  # the shifted bias fits worse
  # The module, not the function that tfvae.metrics re-exports under its name.
  (step,) = importlib.import_module("tfvae.metrics.evaluate")._TRACED_STEPS[model].values()
  assert step.experimental_get_tracing_count() == 1


class _FullCovariancePosteriorModel(LinearGaussianModel):
  """q(z|x) as a MultivariateNormalTriL: no parameter-form MI, no whole-set MI."""

  def posterior(self, x, training=False):
    q = super().posterior(x, training)
    return tfp.distributions.MultivariateNormalTriL(q.mean(), tf.linalg.diag(q.stddev()))


def test_a_non_gaussian_posterior_gets_validation_numbers_and_a_table():
  model, x = _model_and_data(400)
  other = _FullCovariancePosteriorModel(model.decoder_weight.numpy(), model.decoder_bias.numpy(),
                                        SIGMA, model.encoder_weight.numpy(),
                                        model.encoder_bias.numpy(),
                                        model.encoder_log_scale.numpy())
  other.compile(optimizer=keras.optimizers.SGD(0.125))
  callback = run_callbacks.EpochMetrics(tf.data.Dataset.from_tensor_slices(x).batch(200),
                                        num_samples=5, num_batches=2, seed=0)
  callback.set_model(other)
  logs = {}
  callback.on_epoch_end(0, logs)
  true_mi = 0.5 * np.sum(np.log1p(COLUMN_NORMS**2 / SIGMA**2))
  assert abs(logs["val_mi"] - true_mi) < 0.25 and logs["val_au"] == 2
  table = report.metrics_table({"nll": 3.0, "mi_batch": 1.9, "mi_aggregate": None,
                                "au": float("nan"), "mpd": 4.25, "conditional_entropy": None},
                               "t")
  assert "| MI (whole set) | n/a |" in table and "| AU | n/a |" in table
  assert "| MI (per batch) | 1.900 |" in table
  assert "| MPD | 4.250 |" in table and "| CE H(z|x) | n/a |" in table
