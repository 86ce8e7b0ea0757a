"""The linear probe (Shen et al. (2021), tables 2-3): the classifier, the splits, the features."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import data
from tfvae import methods
from tfvae.metrics import probe
from tfvae.training import config as config_lib


def test_binary_logistic_regression_matches_tfp_glm():
  """With two classes the softmax model is a logistic GLM: TFP's fit gives the same decision
  function (the softmax's logit difference) and the same penalised optimum."""
  rng = np.random.default_rng(0)
  features = rng.normal(size=[300, 4])
  labels = (features @ [1.5, -2.0, 0.5, 0.0] + rng.normal(size=300) > 0).astype(np.int64)
  l2 = 0.05
  weights, bias = probe.fit_logistic_regression(features, labels, 2, l2=l2)
  # The softmax's logit difference has weight w1 - w0; its penalty on (w0, w1) is minimised at
  # w0 = -w1, so the GLM's penalty on w = w1 - w0 is l2 / 4 |w|^2 on the mean loss. TFP's
  # Fisher scoring solves (X'WX + r I) beta = ..., the penalty r / 2 |beta|^2 on the summed
  # loss: r = l2 / 2 * n, the intercept unpenalised.
  design = np.concatenate([features, np.ones([300, 1])], axis=1)
  coefficients, *_ = tfp.glm.fit(
      tf.constant(design), tf.constant(labels, tf.float64), tfp.glm.Bernoulli(),
      l2_regularizer=tf.constant(l2 / 2 * 300, tf.float64),
      l2_regularization_penalty_factor=tf.constant([1.0, 1.0, 1.0, 1.0, 0.0], tf.float64),
      maximum_iterations=100)
  glm = coefficients.numpy()
  np.testing.assert_allclose(weights[:, 1] - weights[:, 0], glm[:4], rtol=2e-3, atol=2e-4)
  np.testing.assert_allclose(bias[1] - bias[0], glm[4], rtol=2e-3, atol=2e-4)


def test_a_separable_problem_is_learned_and_the_fit_is_deterministic():
  rng = np.random.default_rng(1)
  centres = rng.normal(scale=4.0, size=[3, 5])
  labels = rng.integers(0, 3, size=200)
  features = centres[labels] + rng.normal(size=[200, 5])
  weights, bias = probe.fit_logistic_regression(features, labels, 3)
  assert np.mean(np.argmax(features @ weights + bias, axis=1) == labels) > 0.97
  again = probe.fit_logistic_regression(features, labels, 3)
  np.testing.assert_array_equal(weights, again[0])


@pytest.fixture(scope="module")
def dataset():
  return data.load("synthetic_mog", num_train=600, num_valid=8, num_test=300)


class _Oracle(keras.layers.Layer):
  """An encoder whose means are the true latent codes of the sentence (a test stand-in)."""

  def __init__(self, dataset, noise):
    super().__init__()
    codes = {tuple(row): code for split in ("train", "test")
             for row, code in zip(_rows(dataset, split), dataset.latents(split))}
    self.codes, self.noise = codes, noise

  def call(self, x, training=False):
    rng = np.random.default_rng(len(x))
    means = np.stack([self.codes[tuple(row)] for row in x.numpy()])
    means = means + rng.normal(scale=self.noise, size=means.shape)
    return tf.constant(means, tf.float32), tf.zeros(means.shape, tf.float32)


def _rows(dataset, split):
  return np.concatenate([batch.numpy() for batch in dataset.batches(split, 100)])


def test_the_probe_reads_the_class_from_informative_means_and_not_from_noise(dataset):
  """Posterior means equal to the true codes of the five-component mixture give high
  accuracy, rising with labels; means of pure noise give chance."""
  from tfvae.models import VAE

  informative = VAE(_Oracle(dataset, noise=0.0), None, 2)
  accuracy = probe.linear_probe(informative, dataset, label_counts=(20, 500, 5000), seed=0)
  assert list(accuracy) == [20, 500]  # 5000 exceeds the 600 labelled training sentences.
  assert accuracy[500] > 0.8 and accuracy[500] >= accuracy[20] - 0.02, accuracy
  noise = VAE(_Oracle(dataset, noise=1e3), None, 2)
  assert probe.linear_probe(noise, dataset, label_counts=(500,), seed=0)[500] < 0.35
  assert probe.linear_probe(informative, dataset, label_counts=(20,), seed=0) == {
      20: accuracy[20]}


def test_iaf_features_are_z0_means_and_their_image_and_test_only_labels_are_split(dataset):
  config = config_lib.Config(iaf_steps=1, latent_dim=3, embed_dim=8, hidden_dim=16)
  keras.utils.set_random_seed(0)
  model = methods.build(config.resolved().validate(), dataset)
  x = next(iter(dataset.batches("test", 7)))
  features = probe.probe_features(model, [x])
  posterior = model.posterior(x)
  base_mean = posterior.distribution.mean()
  np.testing.assert_allclose(features, np.concatenate(
      [base_mean, posterior.bijector.forward(base_mean)], axis=1), rtol=1e-6)

  class _TestLabelsOnly:
    def labels(self, split):
      if split != "test":
        raise data.DataError("no labels")
      return np.arange(50) % 2

  (pool_split, pool), (held_split, held) = probe.probe_splits(_TestLabelsOnly(), seed=3)
  assert pool_split == held_split == "test" and len(held) == 10 and len(pool) == 40
  assert not set(pool) & set(held)


def test_the_launcher_probes_a_run_and_refuses_bad_counts(tmp_path):
  from tests import launch_runs

  model_dir = str(tmp_path / "run")
  launch_runs.run("launch.train", f"--model_dir={model_dir}", "--epochs=1",
                  "--steps_per_epoch=2", "--eval_samples=2", "--latent_pictures=0",
                  "--embed_dim=8", "--hidden_dim=16", "--data_option=num_train=300",
                  "--data_option=num_test=100", "--verbose=0")
  result = launch_runs.run("launch.probe", f"--model_dir={model_dir}", "--labels=50,100,1000")
  written = json.loads((tmp_path / "run" / "probe.json").read_text())
  assert set(written["accuracy"]) == {"50", "100"}
  assert all(0.0 <= value <= 1.0 for value in written["accuracy"].values())
  assert "Left out (more than the labelled examples): [1000]" in result.stdout
  refused = launch_runs.run("launch.probe", f"--model_dir={model_dir}", "--labels=0",
                            check=False)
  assert refused.returncode == 1
  assert refused.stderr.strip().splitlines()[-1] == (
      "error: --labels must be positive integers separated by commas, got '0'.")
