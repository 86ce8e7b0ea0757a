"""Melis et al.'s (2022) KL, Renyi and power objectives (M22-M24).

Also score-function gradients, checked by enumeration.

The categorical oracle is a model small enough to enumerate: two latents of
three categories, four symbols. The expected objective over every K-tuple of
latent configurations, weighted by its probability under q, is exact, and so
is its gradient; REINFORCE's and VIMCO's mean gradients over many draws must
agree with it within Monte-Carlo error.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import metrics
from tfvae.models.linear_gaussian import LinearGaussianModel
from tfvae.objectives import mi_constrained
from tfvae.objectives import monte_carlo
from tfvae.objectives.elbo import beta_elbo

tfd = tfp.distributions

LATENTS, CATEGORIES, SYMBOLS = 2, 3, 4


class TinyCategoricalModel(keras.Model):
  """q(z|x) and p(x|z) as tables; z = two categorical latents, uniform prior."""

  def __init__(self, seed=0):
    super().__init__(dtype="float64")
    rng = np.random.default_rng(seed)
    self.encoder_logits = self._table("encoder_logits", rng.normal(size=[SYMBOLS, LATENTS,
                                                                          CATEGORIES]))
    self.decoder_logits = self._table("decoder_logits", rng.normal(size=[LATENTS, CATEGORIES,
                                                                          SYMBOLS]))

  def _table(self, name, value):
    variable = self.add_weight(name=name, shape=value.shape, initializer="zeros")
    variable.assign(value)
    return variable

  def posterior(self, x, training=False):
    logits = tf.gather(tf.convert_to_tensor(self.encoder_logits), x)
    return tfd.Independent(tfd.Categorical(logits=logits), 1)

  @property
  def prior(self):
    return tfd.Independent(tfd.Categorical(logits=tf.zeros([LATENTS, CATEGORIES], tf.float64)), 1)

  def likelihood(self, z, x=None, training=False):
    table = tf.convert_to_tensor(self.decoder_logits)
    logits = sum(tf.gather(table[i], z[..., i]) for i in range(LATENTS))
    return tfd.Categorical(logits=logits)


def _enumerated_terms(model, x, num_samples):
  """Terms of every K-tuple of configurations [K, T] and each tuple's probability [T]."""
  configurations = np.array(list(itertools.product(range(CATEGORIES), repeat=LATENTS)))
  tuples = np.array(list(itertools.product(range(len(configurations)), repeat=num_samples)))
  z = tf.constant(configurations[tuples.T])  # [K, T, L]
  xs = tf.fill([len(tuples)], x)
  posterior = model.posterior(xs)
  log_proposal = posterior.log_prob(z)
  terms = monte_carlo.SampleTerms(model.likelihood(z).log_prob(xs), model.prior.log_prob(z),
                                  log_proposal)
  return terms, tf.exp(tf.reduce_sum(log_proposal, 0))


def _exact_gradient(model, value_fn, num_samples, x=1):
  with tf.GradientTape() as tape:
    terms, probability = _enumerated_terms(model, x, num_samples)
    expected = tf.reduce_sum(probability * value_fn(terms))
  return _flat(tape.gradient(expected, model.trainable_variables))


def _flat(gradients):
  return np.concatenate([np.ravel(tf.convert_to_tensor(g)) for g in gradients])


def _mc_gradients(model, surrogate_fn, estimator, num_samples, draws=60000, groups=20, x=1):
  with tf.GradientTape(persistent=True) as tape:
    terms = monte_carlo.sample_terms(model, tf.fill([draws], x), estimator=estimator,
                                     num_samples=num_samples, seed=tf.constant([3, 1]))
    means = tf.unstack(tf.reduce_mean(tf.reshape(surrogate_fn(terms), [groups, -1]), 1))
  rows = [_flat(tape.gradient(m, model.trainable_variables)) for m in means]
  return np.array(rows)


OBJECTIVES = {
  "log_marginal": dict(objective="renyi", lam=0.0, alpha=2.0),  # lambda 0: S^K alone.
  "kl": dict(objective="kl", lam=0.6),
  "renyi": dict(objective="renyi", lam=0.6, alpha=0.5),
  "power": dict(objective="power", alpha=3.0),
}


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_score_function_gradients_match_enumeration(name):
  """(e) REINFORCE and VIMCO mean gradients equal the exact gradient; VIMCO's spread is smaller."""
  settings = OBJECTIVES[name]
  model = TinyCategoricalModel()
  exact = _exact_gradient(model, lambda t: mi_constrained.objective_surrogate(
      t, estimator="iwae", **settings), num_samples=3)
  spreads = {}
  for estimator in ("reinforce", "vimco"):
    rows = _mc_gradients(model, lambda t, e=estimator: mi_constrained.objective_surrogate(
        t, estimator=e, **settings), estimator, num_samples=3)
    mean, error = rows.mean(0), rows.std(0, ddof=1) / np.sqrt(len(rows))
    assert np.all(np.abs(mean - exact) < 4 * error + 1e-4), (estimator, mean - exact, error)
    spreads[estimator] = rows.std(0).mean()
  assert spreads["vimco"] < spreads["reinforce"], spreads


def test_vimco_baseline_is_mnih_and_rezende_eq_9():
  """For S^K, the leave-one-out baseline is ln((sum_{j!=k} w_j + geometric mean) / K)."""
  model = TinyCategoricalModel()
  terms = monte_carlo.sample_terms(model, tf.constant([0, 2, 3]), estimator="vimco",
                                   num_samples=4, seed=tf.constant([1, 2]))
  got = monte_carlo._leave_one_out_baselines(
      lambda t: monte_carlo.log_marginal(t, "vimco"), terms)
  log_w = terms.log_weights().numpy()
  k = log_w.shape[0]
  want = np.empty_like(log_w)
  for i in range(k):
    others = np.delete(log_w, i, axis=0)
    want[i] = np.log((np.exp(others).sum(0) + np.exp(others.mean(0))) / k)
  np.testing.assert_allclose(got, want, rtol=1e-10)


# --------------------------------------------------------- continuous latents
def _linear_gaussian():
  return LinearGaussianModel(decoder_weight=[[1.2, 0.0], [0.5, -0.3], [0.0, 0.8]],
                             noise_scale=0.7, encoder_weight=[[0.3, 0.2, 0.0], [0.0, 0.1, 0.5]],
                             encoder_log_scale=-0.6, dtype="float64")


X = tf.constant(np.tile([[1.3, -0.4, 0.6]], [50, 1]))


def _terms(model, estimator="iwae", num_samples=1, x=X):
  return monte_carlo.sample_terms(model, x, estimator=estimator, num_samples=num_samples,
                                  seed=tf.constant([5, 5]))


@pytest.mark.parametrize("settings", [dict(objective="kl", lam=0.3),
                                      dict(objective="renyi", lam=0.3, alpha=1.7),
                                      dict(objective="power", alpha=1 / 0.7)])
def test_single_sample_objectives_are_the_beta_vae(settings):
  """(d) Props. 4-6: with K = 1, value and gradient equal ln p(x|z) - beta ln q(z|x)/p(z), beta 0.7."""
  model = _linear_gaussian()
  with tf.GradientTape(persistent=True) as tape:
    terms = _terms(model)
    ours = mi_constrained.objective_surrogate(terms, estimator="iwae", **settings)
    beta_vae = (terms.log_likelihood - 0.7 * (terms.log_proposal - terms.log_prior))[0]
  np.testing.assert_allclose(ours, beta_vae, rtol=1e-10)
  for a, b in zip(tape.gradient(ours, model.trainable_variables),
                  tape.gradient(beta_vae, model.trainable_variables)):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_single_sample_kl_objective_matches_beta_elbo_in_expectation():
  """In expectation the K = 1 objectives are the beta-VAE with the analytic KL (eq. 19)."""
  model = _linear_gaussian()
  x = tf.constant(np.tile([[1.3, -0.4, 0.6]], [40000, 1]))
  ours = mi_constrained.objective_surrogate(_terms(model, x=x), objective="kl", estimator="iwae",
                                            lam=0.3)
  loss, _ = beta_elbo(_Sampler(model), x, beta=0.7, seed=tf.constant([1, 1]), training=False)
  assert abs(float(tf.reduce_mean(ours) + tf.reduce_mean(loss))) < 0.02


class _Sampler:
  """The linear-Gaussian model with the `step_posterior` and `sample_posterior` beta_elbo calls."""

  def __init__(self, model):
    self.model = model
    self.prior = model.prior

  def step_posterior(self, x, *, seed, training):
    del seed, training
    return self.model.posterior(x)

  def likelihood(self, z, x, training=False):
    return self.model.likelihood(z)

  def sample_posterior(self, posterior, seed, num_samples=None):
    return posterior.sample(seed=seed)


def test_kl_objective_with_equal_counts_is_eq_11():
  """N = M: S + lambda (U - S) = (1 - lambda) S + lambda U."""
  model = _linear_gaussian()
  terms = _terms(model, num_samples=8)
  s = monte_carlo.log_marginal(terms, "iwae")
  u = monte_carlo.self_normalised_log_likelihood(terms)
  got = mi_constrained.objective_surrogate(terms, objective="kl", estimator="iwae", lam=0.4)
  np.testing.assert_allclose(got, 0.6 * s + 0.4 * u, rtol=1e-10)


def test_asymmetric_counts_use_the_first_n_and_m_samples():
  """N/M = 16/1 (Melis et al. (2022), Fig. 4): S over 16 samples, the KL term over the first one."""
  model = _linear_gaussian()
  terms = _terms(model, num_samples=16)
  got = mi_constrained.objective_surrogate(terms, objective="renyi", estimator="iwae", lam=0.5,
                                           alpha=2.0, num_marginal=16, num_kl=1)
  first = terms.first(1)
  divergence = (first.log_weights(2.0)[0] - 2.0 * first.log_weights()[0]) / (2.0 - 1)
  np.testing.assert_allclose(got, monte_carlo.log_marginal(terms, "iwae") + 0.5 * divergence,
                             rtol=1e-10)


def test_renyi_term_over_the_elbo_is_the_analytic_kl():
  """With the ELBO as base estimator, (S_alpha - alpha S) / (alpha - 1) = KL(q || p) exactly."""
  model = _linear_gaussian()
  terms = _terms(model, estimator="elbo", num_samples=4)
  got = mi_constrained.objective_surrogate(terms, objective="renyi", estimator="elbo", lam=1.0,
                                           alpha=3.0)
  np.testing.assert_allclose(got - monte_carlo.log_marginal(terms, "elbo"), terms.kl, rtol=1e-9)


def test_power_objective_at_alpha_one_is_the_bound():
  model = _linear_gaussian()
  terms = _terms(model, estimator="dreg", num_samples=5)
  got = mi_constrained.objective_surrogate(terms, objective="power", estimator="dreg", alpha=1.0)
  np.testing.assert_allclose(got, monte_carlo.log_mean_exp(terms.log_weights()), rtol=1e-12)


def test_loss_reports_the_bound_and_the_true_kl():
  model = _linear_gaussian()
  loss, report = mi_constrained.mi_constrained_loss(
      model, X, objective="kl", estimator="dreg", num_samples=16, lam=0.5,
      seed=tf.constant([5, 5]))
  terms = _terms(model, estimator="dreg", num_samples=16)
  np.testing.assert_allclose(report["log_marginal"], monte_carlo.log_mean_exp(terms.log_weights()))
  np.testing.assert_allclose(report["true_kl"], monte_carlo.true_kl_estimate(terms))
  np.testing.assert_allclose(report["kl"], tf.reduce_mean(terms.log_proposal - terms.log_prior, 0))
  np.testing.assert_allclose(report["elbo"], tf.reduce_mean(terms.log_weights(), 0))
  np.testing.assert_allclose(-loss, mi_constrained.objective_surrogate(
      terms, objective="kl", estimator="dreg", lam=0.5))


def test_objective_errors():
  model = _linear_gaussian()
  terms = _terms(model, num_samples=4)
  with pytest.raises(ValueError, match="Unknown objective 'renyl'"):
    mi_constrained.objective_surrogate(terms, objective="renyl", estimator="iwae")
  with pytest.raises(ValueError, match="alpha != 1"):
    mi_constrained.objective_surrogate(terms, objective="renyi", estimator="iwae", alpha=1.0)
  with pytest.raises(ValueError, match="N/M = 8/1 samples asked of 4 drawn"):
    mi_constrained.objective_surrogate(terms, objective="kl", estimator="iwae", num_marginal=8,
                                       num_kl=1)
  with pytest.raises(ValueError, match="needs a reparameterised posterior"):
    monte_carlo.sample_terms(TinyCategoricalModel(), tf.constant([1]), estimator="dreg",
                             num_samples=2, seed=tf.constant([1, 1]))


def test_true_kl_metric_matches_enumeration():
  """E6 on categorical latents: KL(p(z|x) || p(z)) by enumerating the nine configurations."""
  model = TinyCategoricalModel()
  configurations = tf.constant(list(itertools.product(range(CATEGORIES), repeat=LATENTS)))
  x = tf.constant([0, 3])
  log_joint = (model.likelihood(configurations[:, tf.newaxis]).log_prob(x)
               + model.prior.log_prob(configurations)[:, tf.newaxis])  # [9, B]
  log_posterior = log_joint - tf.reduce_logsumexp(log_joint, 0)
  exact = tf.reduce_sum(tf.exp(log_posterior) * (log_posterior - model.prior.log_prob(
      configurations)[:, tf.newaxis]), 0)
  estimate = metrics.true_kl(model, x, num_samples=4000, chunk_size=1000, seed=2)
  np.testing.assert_allclose(estimate, exact, atol=0.02)
