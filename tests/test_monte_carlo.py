"""Base estimators of ln p(x) and their gradients against closed-form oracles.

The estimators of Melis et al. (2022), M23.

Continuous latents: a linear-Gaussian model (one latent, two observed
dimensions) whose ln p(x) and p(z|x) are closed form, in float64; the exact
gradient of the expected IWAE bound comes from Gauss-Hermite quadrature over
the reparameterisation noise. Many independent draws are one batch of copies
of the same x, so a mean over the batch is a mean over draws.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.models.linear_gaussian import LinearGaussianModel
from tfvae.objectives import monte_carlo

tfd = tfp.distributions

X = np.array([[1.3, -0.4]])


def _linear_gaussian():
  """q is deliberately off the true posterior (mean, scale and slope)."""
  return LinearGaussianModel(decoder_weight=[[1.2], [0.5]], decoder_bias=[0.1, -0.2],
                             noise_scale=0.7, encoder_weight=[[0.3, 0.2]], encoder_bias=[0.4],
                             encoder_log_scale=-0.6, dtype="float64")


def _copies(count):
  return tf.constant(np.repeat(X, count, axis=0))


def _seed(i=0):
  return tf.constant([7, i], tf.int32)


def _estimate(model, estimator, num_samples, draws, alpha=1.0, seed=0):
  terms = monte_carlo.sample_terms(model, _copies(draws), estimator=estimator,
                                   num_samples=num_samples, seed=_seed(seed))
  return monte_carlo.log_marginal(terms, estimator, alpha)


def _gradients(model, surrogate_fn, groups=20):
  """Per-group mean gradients [groups, P] of surrogate_fn() (a [B] tensor)."""
  with tf.GradientTape(persistent=True) as tape:
    surrogate = tf.reshape(surrogate_fn(), [groups, -1])
    group_means = tf.unstack(tf.reduce_mean(surrogate, 1))
  rows = []
  for group_mean in group_means:
    grads = tape.gradient(group_mean, model.trainable_variables)
    rows.append(np.concatenate([np.ravel(v) for v in grads]))
  return np.array(rows)


def _exact_iwae_gradient(model, num_samples, nodes=48):
  """Gradient of E[ln (1/K) sum_k w_k] by Gauss-Hermite quadrature (one latent)."""
  points, weights = np.polynomial.hermite_e.hermegauss(nodes)
  weights = weights / weights.sum()
  grid = np.stack(np.meshgrid(*[points] * num_samples, indexing="ij"), 0).reshape(num_samples, -1)
  grid_weights = np.prod(np.stack(np.meshgrid(*[weights] * num_samples, indexing="ij"), 0)
                         .reshape(num_samples, -1), 0)
  x = _copies(grid.shape[1])
  with tf.GradientTape() as tape:
    posterior = model.posterior(x)
    z = posterior.mean()[tf.newaxis] + posterior.stddev()[tf.newaxis] * grid[..., np.newaxis]
    log_weights = (model.likelihood(z).log_prob(x) + model.prior.log_prob(z)
                   - posterior.log_prob(z))
    expected = tf.reduce_sum(grid_weights * monte_carlo.log_mean_exp(log_weights))
  grads = tape.gradient(expected, model.trainable_variables)
  return np.concatenate([np.ravel(v) for v in grads])


def _parameter_slices(model):
  """Index ranges of the decoder (theta) and encoder (phi) parameters in the flat gradient."""
  sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
  offsets = np.cumsum([0] + sizes)
  theta, phi = [], []
  for variable, start, end in zip(model.trainable_variables, offsets[:-1], offsets[1:]):
    (phi if "encoder" in variable.path else theta).extend(range(start, end))
  return np.array(theta), np.array(phi)


# ------------------------------------------------------------------- values
def test_values_rise_to_log_p_x_from_below():
  """(a) E[S^K] <= ln p(x), increasing in K, close to it at K = 256."""
  model = _linear_gaussian()
  exact = float(model.exact_log_marginal(X)[0])
  for estimator in ("iwae", "stl", "dreg"):
    means = [float(tf.reduce_mean(_estimate(model, estimator, k, 4000))) for k in (1, 4, 16, 256)]
    assert all(m < exact for m in means), (estimator, means, exact)
    assert all(a < b for a, b in zip(means, means[1:])), (estimator, means)
    assert exact - means[-1] < 0.01, (estimator, means, exact)


def test_elbo_value_is_the_closed_form_elbo():
  """ELBO base: mean_k ln p(x|z_k) - analytic KL; below ln p(x) whatever K."""
  model = _linear_gaussian()
  x = tf.constant(X)
  posterior = model.posterior(x)
  exact_elbo = float(model.exact_log_marginal(X)[0]
                     - tfd.kl_divergence(posterior, _posterior_oracle(model))[0])
  estimate = _estimate(model, "elbo", 8, 4000)
  assert abs(float(tf.reduce_mean(estimate)) - exact_elbo) < 0.01
  assert exact_elbo < float(model.exact_log_marginal(X)[0])


def _posterior_oracle(model):
  """p(z|x) as a diagonal Gaussian (exact here: one latent)."""
  exact = model.exact_posterior(X)
  return tfd.Independent(tfd.Normal(exact.mean(), exact.stddev()), 1)


def test_power_bound_reweights_the_same_samples():
  """S_alpha (Melis et al. (2022), eq. 17) uses alpha ln p(x|z) with the very samples of S."""
  model = _linear_gaussian()
  terms = monte_carlo.sample_terms(model, _copies(3), estimator="iwae", num_samples=5,
                                   seed=_seed())
  expected = monte_carlo.log_mean_exp(2.5 * terms.log_likelihood + terms.log_prior
                                      - terms.log_proposal)
  for estimator in ("iwae", "stl", "dreg"):
    terms = monte_carlo.sample_terms(model, _copies(3), estimator=estimator, num_samples=5,
                                     seed=_seed())
    np.testing.assert_allclose(monte_carlo.log_marginal(terms, estimator, 2.5), expected,
                               rtol=1e-12)


# ---------------------------------------------------------------- true KL (E6)
def test_u_minus_s_converges_to_the_true_kl():
  """(b) U^K - S^K -> KL(p(z|x) || p(z)) (Prop. 2); K = 1 gives KL(q || p) (Prop. 4).

  Here KL(q || p) is below the true KL, so the K = 1 estimate is biased
  downward: Prop. 2 (ii)'s upward bias does not hold for every K.
  """
  model = _linear_gaussian()
  true_kl = float(tfd.kl_divergence(_posterior_oracle(model), model.prior)[0])
  representational = float(tfd.kl_divergence(model.posterior(tf.constant(X)), model.prior)[0])
  errors = []
  for k in (1, 8, 64, 512):
    terms = monte_carlo.sample_terms(model, _copies(2000), estimator="iwae", num_samples=k,
                                     seed=_seed(k))
    estimate = float(tf.reduce_mean(monte_carlo.true_kl_estimate(terms)))
    if k == 1:
      assert abs(estimate - representational) < 0.05
    errors.append(estimate - true_kl)
  assert errors[0] < -0.03, errors
  assert max(abs(e) for e in errors[2:]) < 0.005, errors


def test_single_sample_kl_estimate_is_log_q_over_p():
  """Prop. 4: with K = 1, U - S = ln q(z|x) / p(z) pointwise."""
  model = _linear_gaussian()
  terms = monte_carlo.sample_terms(model, _copies(10), estimator="iwae", num_samples=1,
                                   seed=_seed())
  np.testing.assert_allclose(monte_carlo.true_kl_estimate(terms),
                             (terms.log_proposal - terms.log_prior)[0], rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("num_samples", [1, 3])
def test_mean_gradients_match_the_exact_iwae_gradient(num_samples):
  """(c) IWAE, DReG (and STL where unbiased) agree with quadrature within MC error."""
  model = _linear_gaussian()
  exact = _exact_iwae_gradient(model, num_samples, nodes=48 if num_samples == 1 else 24)
  theta, phi = _parameter_slices(model)
  means = {}
  for estimator in ("iwae", "stl", "dreg"):
    rows = _gradients(model, lambda e=estimator: _estimate(model, e, num_samples, 40000))
    mean, error = rows.mean(0), rows.std(0, ddof=1) / np.sqrt(len(rows))
    means[estimator] = mean
    unbiased = theta if (estimator == "stl" and num_samples > 1) else np.arange(len(exact))
    gap = np.abs(mean - exact)[unbiased]
    assert np.all(gap < 4 * error[unbiased] + 1e-3), (estimator, mean, exact, error)
  # DReG's model gradient is IWAE's; STL's encoder gradient is biased for K > 1.
  if num_samples > 1:
    stl_gap = np.abs(means["stl"] - exact)[phi].max()
    assert stl_gap > 10 * np.abs(means["dreg"] - exact)[phi].max()


def test_dreg_wiring_against_explicit_formula():
  """Tucker et al. eq. 7 computed by hand with a tape on z equals the surrogate's gradient."""
  model = _linear_gaussian()
  x = _copies(4)
  encoder = [v for v in model.trainable_variables if "encoder" in v.path]
  decoder = [v for v in model.trainable_variables if "encoder" not in v.path]
  with tf.GradientTape(persistent=True) as tape:
    terms = monte_carlo.sample_terms(model, x, estimator="dreg", num_samples=6, seed=_seed())
    surrogate = tf.reduce_sum(monte_carlo.log_marginal(terms, "dreg"))
  got_encoder = tape.gradient(surrogate, encoder)
  got_decoder = tape.gradient(surrogate, decoder)

  with tf.GradientTape(persistent=True) as tape:
    posterior = model.posterior(x)
    z = monte_carlo._draw(model, posterior, 6, _seed())
    held_q = tfd.Independent(tfd.Normal(tf.stop_gradient(posterior.distribution.loc),
                                        tf.stop_gradient(posterior.distribution.scale)), 1)
    z_held = tf.stop_gradient(z)
    tape.watch(z_held)
    log_w_at = (model.likelihood(z_held).log_prob(x) + model.prior.log_prob(z_held)
                - held_q.log_prob(z_held))
    normalised = tf.stop_gradient(tf.nn.softmax(log_w_at, 0))
    model_objective = tf.reduce_sum(normalised * log_w_at)
  dlogw_dz = tape.gradient(log_w_at, z_held)  # [K, B, 1]: samples are independent
  upstream = tf.square(normalised)[..., tf.newaxis] * dlogw_dz
  want_encoder = tape.gradient(z, encoder, output_gradients=upstream)
  want_decoder = tape.gradient(model_objective, decoder)
  for got, want in zip(got_encoder + got_decoder, want_encoder + want_decoder):
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_dreg_equals_stl_for_one_sample():
  model = _linear_gaussian()
  grads = {}
  for estimator in ("stl", "dreg"):
    with tf.GradientTape() as tape:
      value = tf.reduce_sum(_estimate(model, estimator, 1, 5))
    grads[estimator] = tape.gradient(value, model.trainable_variables)
  for a, b in zip(grads["stl"], grads["dreg"]):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------- errors
def test_estimator_errors():
  model = _linear_gaussian()
  with pytest.raises(ValueError, match="Unknown estimator 'iwea'"):
    monte_carlo.sample_terms(model, _copies(2), estimator="iwea", num_samples=2, seed=_seed())
  with pytest.raises(ValueError, match="VIMCO.*at least 2 samples.*reinforce"):
    monte_carlo.check_estimator("vimco", 1)
  with pytest.raises(ValueError, match=">= 1"):
    monte_carlo.check_estimator("iwae", 0)
