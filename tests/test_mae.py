"""MAE (Ma et al. 2019): the regularised objective against numpy, its gradients, its global batch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae import distribute
from tfvae import methods
from tfvae import objectives
from tfvae.training import config as config_lib

ETA, GAMMA = 2.0, 0.2


def _kl_numpy(loc_p, scale_p, loc_q, scale_q):
  """KL(N(loc_p, scale_p^2) || N(loc_q, scale_q^2)) per dimension, the textbook closed form."""
  return (np.log(scale_q / scale_p) + (scale_p**2 + (loc_p - loc_q)**2) / (2 * scale_q**2) - 0.5)


def _numpy_regulariser(loc, scale, eta, gamma):
  """(regulariser, MPD, sigma_D): the module docstring's formula over the distinct pairs, by loops."""
  num = len(loc)
  per_pair = np.array([0.5 * (_kl_numpy(loc[i], scale[i], loc[j], scale[j])
                              + _kl_numpy(loc[j], scale[j], loc[i], scale[i]))
                       for i in range(num) for j in range(num) if i != j])  # [pairs, d]
  mpd = per_pair.mean(0)
  std = per_pair.sum(-1).std()
  diversity = -eta * np.sum(np.log(1.0 / (1.0 + np.exp(-mpd / eta)))) if eta else 0.0
  return diversity + gamma * std, mpd.sum(), std


def _parameters(rng, num=6, dim=3, spread=1.0):
  return (rng.normal(size=(num, dim)) * spread, rng.uniform(0.3, 1.5, size=(num, dim)))


@pytest.mark.parametrize("eta, gamma", [(ETA, GAMMA), (0.2, 2.0), (0.0, 0.5), (1.5, 0.0)])
def test_regulariser_matches_numpy(eta, gamma):
  loc, scale = _parameters(np.random.default_rng(0))
  regulariser, statistics = objectives.mutual_posterior_regulariser(loc, scale, eta=eta,
                                                                    gamma=gamma)
  expected, mpd, std = _numpy_regulariser(loc, scale, eta, gamma)
  np.testing.assert_allclose(regulariser, expected, rtol=1e-10)
  np.testing.assert_allclose(statistics["pair_divergence"], mpd, rtol=1e-10)
  np.testing.assert_allclose(statistics["pair_divergence_std"], std, rtol=1e-10)


def test_one_or_two_posteriors_have_finite_values_and_gradients():
  """B = 1: no pairs, MPD 0; B = 2: one divergence, std 0 (sqrt's infinite slope guarded)."""
  for rows in (1, 2):
    loc = tf.Variable(np.random.default_rng(rows).normal(size=(rows, 3)))
    with tf.GradientTape() as tape:
      regulariser, statistics = objectives.mutual_posterior_regulariser(
          loc, tf.ones_like(loc), eta=ETA, gamma=GAMMA)
    assert float(statistics["pair_divergence_std"]) == 0.0
    assert np.all(np.isfinite(tape.gradient(regulariser, loc).numpy()))
  assert float(statistics["pair_divergence"]) > 0  # Two posteriors do diverge.
  np.testing.assert_allclose(
      objectives.mutual_posterior_regulariser(loc[:1], tf.ones([1, 3], tf.float64), eta=ETA,
                                              gamma=GAMMA)[0], 3 * ETA * np.log(2.0))


def _spread(loc):
  """The mean squared distance between the posterior means."""
  return np.mean(np.square(loc[:, None] - loc[None]).sum(-1))


def _step(loc, scale, eta, gamma, learning_rate=0.1):
  """The means after one gradient step on the regulariser, and the regulariser's statistics."""
  variable = tf.Variable(loc)
  with tf.GradientTape() as tape:
    regulariser, statistics = objectives.mutual_posterior_regulariser(variable, scale, eta=eta,
                                                                      gamma=gamma)
  return loc - learning_rate * tape.gradient(regulariser, variable).numpy(), statistics


def test_the_diversity_term_pushes_the_posterior_means_apart():
  """From near collapse, a step on the diversity term spreads the means; without it, nothing moves.

  (The smoothness term is left out: near collapse its gradient, from the spread of the
  variances, can outweigh the diversity's.)
  """
  loc, scale = _parameters(np.random.default_rng(1), num=16, spread=0.05)
  moved, _ = _step(loc, scale, eta=ETA, gamma=0.0, learning_rate=1.0)
  assert _spread(moved) > 1.01 * _spread(loc), (_spread(moved), _spread(loc))
  unmoved, _ = _step(loc, scale, eta=0.0, gamma=0.0, learning_rate=1.0)
  np.testing.assert_array_equal(unmoved, loc)


def test_the_smoothness_term_pulls_an_outlier_in():
  loc, scale = _parameters(np.random.default_rng(2), num=8)
  loc[0] += 4.0
  moved, before = _step(loc, scale, eta=0.0, gamma=1.0, learning_rate=0.05)
  _, after = _step(moved, scale, eta=0.0, gamma=1.0)
  others = loc[1:].mean(0)
  assert np.linalg.norm(moved[0] - others) < np.linalg.norm(loc[0] - others)
  assert float(after["pair_divergence_std"]) < float(before["pair_divergence_std"])


# ------------------------------------------------------------------- the model
@pytest.fixture(scope="module")
def dataset():
  return data.load("synthetic_mog", num_train=32, num_valid=8, num_test=8)


def test_model_objective_is_the_negative_elbo_plus_the_regulariser(dataset):
  config = config_lib.Config(model="mae", latent_dim=3, embed_dim=8,
                             hidden_dim=16).resolved().validate()
  assert (config.mae_eta, config.mae_gamma) == (ETA, GAMMA)
  keras.utils.set_random_seed(0)
  model = methods.build(config, dataset)
  x = next(iter(dataset.batches("train", 7)))
  loss, terms = model.compute_objective(x, seed=tf.constant([1, 2]), training=False)
  posterior = model.posterior(x)
  loc, scale = (t.numpy().astype(np.float64) for t in (posterior.mean(), posterior.stddev()))
  expected, mpd, std = _numpy_regulariser(loc, scale, ETA, GAMMA)
  assert mpd > 0 and std > 0
  np.testing.assert_allclose(loss - terms["recon"] - terms["kl"], np.full(7, expected),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(terms["pair_divergence"], np.full(7, mpd), rtol=1e-4)
  np.testing.assert_allclose(terms["pair_divergence_std"], np.full(7, std), rtol=1e-4)
  np.testing.assert_allclose(terms["elbo"], -(terms["recon"] + terms["kl"]), rtol=1e-5)


# ------------------------------------------------------ the global batch under replicas
_X = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
_WEIGHTS = [np.random.default_rng(4).normal(size=(4, 3)).astype(np.float32) * 0.5
            for _ in range(2)]


def _loss_and_gradients(strategy):
  """The global-batch loss and its gradients on the 5 rows of _X (two replicas: 3 and 2 rows).

  A linear encoder gives the posteriors; each example's loss is its own |mu|^2 plus the
  regulariser of the global batch.
  """
  with strategy.scope():
    variables = [tf.Variable(weight) for weight in _WEIGHTS]
  batch = next(iter(strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(_X))))

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      loc, scale = x @ variables[0], tf.exp(x @ variables[1])
      regulariser, _ = objectives.mutual_posterior_regulariser(loc, scale, eta=ETA, gamma=GAMMA)
      per_example = tf.reduce_sum(tf.square(loc), -1) + regulariser * tf.ones([tf.shape(x)[0]])
      share = distribute.global_average_loss(per_example)
    return share, tape.gradient(share, variables), tf.shape(x)[0]

  share, gradients, rows = strategy.run(step, args=(batch,))

  def total(value):
    return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None).numpy()

  return total(share), [total(gradient) for gradient in gradients], total(rows)


def test_two_replicas_on_an_uneven_batch_give_the_loss_and_gradients_of_one_device(
    mirrored_strategy):
  one_loss, one_gradients, _ = _loss_and_gradients(tf.distribute.get_strategy())
  two_loss, two_gradients, rows = _loss_and_gradients(mirrored_strategy)
  assert rows == 5
  assert mirrored_strategy.experimental_local_results(
      next(iter(mirrored_strategy.experimental_distribute_dataset(
          tf.data.Dataset.from_tensors(_X)))))[0].shape[0] == 3  # The split is 3/2.
  np.testing.assert_allclose(two_loss, one_loss, rtol=1e-6)
  for two, one in zip(two_gradients, one_gradients):
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)
  assert np.abs(one_gradients[1]).max() > 1e-3  # The scales get a gradient from the pairs.


def test_bad_settings_are_refused():
  with pytest.raises(config_lib.ConfigError, match="--mae_eta must be >= 0"):
    config_lib.Config(model="mae", mae_eta=-0.1).resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="--mae_gamma must be >= 0"):
    config_lib.Config(model="mae", mae_gamma=-1.0).resolved().validate()
  with pytest.raises(config_lib.ConfigError, match="cannot learn --latent_type=categorical"):
    config_lib.Config(model="mae", latent_type="categorical", latent_dim=2).resolved().validate()
