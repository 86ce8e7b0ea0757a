"""Tests of tfvae.metrics against closed forms and plain-numpy references."""

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import metrics
from tfvae import nets
from tfvae.models import VAE
from tfvae.models.linear_gaussian import LinearGaussianModel

tfd = tfp.distributions
fold_in = tf.random.experimental.stateless_fold_in


# ------------------------------------------------------------------ fixtures
def _orthogonal_model(data_dim=5, latent_dim=3, seed=0):
  """Columns of W orthogonal: the diagonal q can equal p(z|x) exactly."""
  rng = np.random.default_rng(seed)
  basis, _ = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))
  weight = basis * np.linspace(2.0, 0.5, latent_dim)
  model = LinearGaussianModel(weight, rng.normal(size=data_dim), 0.6)
  model.set_posterior_to_exact_marginals()
  return model


def _correlated_model(seed=0):
  """D=4, d=2, correlated true posterior; q keeps its mean, marginals x1.3."""
  rng = np.random.default_rng(seed)
  model = LinearGaussianModel(rng.normal(size=(4, 2)), rng.normal(size=4), 0.5)
  a, c, log_s = model.exact_posterior_parameters()
  model.set_posterior(a, c, log_s + math.log(1.3))
  return model


def _sample_data(model, num, seed):
  """x ~ p(x) of the linear-Gaussian model, float32 [num, D]."""
  rng = np.random.default_rng(seed)
  w, b, sigma = model._numpy_parameters()
  z = rng.normal(size=(num, w.shape[1]))
  return (z @ w.T + b + sigma * rng.normal(size=(num, w.shape[0]))).astype(np.float32)


def _q_params(model, x):
  q = model.posterior(x)
  return q.mean().numpy().astype(np.float64), q.stddev().numpy().astype(np.float64)


def _gauss_kl(loc_q, cov_q, loc_p, cov_p):
  """KL(N(loc_q, cov_q) || N(loc_p, cov_p)) in numpy (full covariances)."""
  d = loc_q.shape[-1]
  inv_p = np.linalg.inv(cov_p)
  diff = loc_p - loc_q
  return 0.5 * (
    np.trace(inv_p @ cov_q)
    - d
    + diff @ inv_p @ diff
    + np.linalg.slogdet(cov_p)[1]
    - np.linalg.slogdet(cov_q)[1]
  )


def _numpy_mi(loc, scale, noise, entropy="analytic"):
  """He et al. (2019) estimator written out in numpy (N x N x d directly).

  entropy="sampled": log q(z_i|x_i) at the sample instead of -H[q(z|x_i)].
  """
  z = loc + scale * noise
  log_q = scipy.stats.norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(-1)
  log_qz = scipy.special.logsumexp(log_q, axis=1) - np.log(loc.shape[0])
  if entropy == "sampled":
    own = np.diagonal(log_q)
  else:
    own = -(0.5 * np.log(2 * np.pi * np.e) + np.log(scale)).sum(-1)
  return own.mean() - log_qz.mean()


def _dataset(x, batch_sizes, with_labels=False):
  pieces, start = [], 0
  for size in batch_sizes:
    chunk = x[start : start + size]
    start += size
    if with_labels:
      elements = (chunk, np.zeros(size, np.int32))
    else:
      elements = chunk
    pieces.append(tf.data.Dataset.from_tensors(elements))
  dataset = pieces[0]
  for piece in pieces[1:]:
    dataset = dataset.concatenate(piece)
  return dataset


# ------------------------------------------------------------------------ E1
def test_exact_posterior_gives_zero_variance_weights():
  model = _orthogonal_model()
  x = _sample_data(model, 8, seed=1)
  exact = model.exact_log_marginal(x).numpy()
  log_w = metrics.log_importance_weights(model, x, 50, seed=3).numpy()
  assert log_w.shape == (50, 8)
  np.testing.assert_allclose(log_w, np.broadcast_to(exact, log_w.shape), atol=2e-4)
  for num_samples, chunk_size in ((1, 100), (7, 3), (250, 100)):
    estimate = metrics.iw_log_likelihood(model, x, num_samples, chunk_size, seed=5)
    np.testing.assert_allclose(estimate.numpy(), exact, atol=2e-4)


def test_iw_nll_converges_to_exact_marginal():
  model = _correlated_model()
  x = _sample_data(model, 1000, seed=2)
  exact = model.exact_log_marginal(x).numpy()
  w, _, sigma = model._numpy_parameters()
  cov_p = np.linalg.inv(np.eye(2) + w.T @ w / sigma**2)
  cov_q = np.diag(model.posterior(x[:1]).stddev().numpy()[0].astype(np.float64) ** 2)
  # Same means, so KL(q||p(z|x)) is one number; E[(p/q)^2] is finite when
  # 2 cov_p^-1 - cov_q^-1 is positive definite, and then gives Var(w / p(x)).
  gap = _gauss_kl(np.zeros(2), cov_q, np.zeros(2), cov_p)
  second = np.linalg.inv(2 * np.linalg.inv(cov_p) - np.linalg.inv(cov_q))
  assert np.all(np.linalg.eigvalsh(second) > 0)
  weight_var = (
    np.sqrt(np.linalg.det(cov_q)) / np.linalg.det(cov_p) * np.sqrt(np.linalg.det(second)) - 1.0
  )

  mean_abs, mean_err = [], []
  for k in (1, 10, 100, 1000):
    estimate = metrics.iw_log_likelihood(model, x, k, 100, seed=k).numpy()
    err = estimate - exact
    mean_abs.append(np.mean(np.abs(err)))
    mean_err.append(np.mean(err))
    se_mean = np.std(err) / np.sqrt(len(err))
    if k == 1:  # K=1 is the ELBO: E[err] = -KL(q || p(z|x)).
      assert abs(np.mean(err) + gap) < 4 * se_mean
    if k <= 10:
      assert np.mean(err) + 3 * se_mean < 0  # a lower bound on average
    else:
      assert np.mean(err) < 3 * se_mean
    if k == 1000:
      se_one = np.sqrt(weight_var / k)  # delta method, per example
      assert abs(np.mean(err)) < 4 * se_one / np.sqrt(len(err)) + weight_var / k
      assert np.max(np.abs(err)) < 6 * se_one
  assert all(a > b for a, b in zip(mean_abs, mean_abs[1:])), mean_abs


def test_chunks_combine_exactly():
  model = _correlated_model()
  x = _sample_data(model, 5, seed=3)
  seed = metrics.stateless_seed(11)
  pieces = [
    metrics.log_importance_weights(model, x, n, fold_in(seed, i)).numpy()
    for i, n in enumerate((100, 100, 50))
  ]
  expected = scipy.special.logsumexp(np.concatenate(pieces).astype(np.float64), axis=0) - np.log(
    250
  )
  got = metrics.iw_log_likelihood(model, x, 250, 100, seed=11).numpy()
  np.testing.assert_allclose(got, expected, atol=1e-5)

  # A chunk at least as large as K is one chunk with fold_in(seed, 0).
  single = metrics.iw_log_likelihood(model, x, 100, 100, seed=11).numpy()
  large = metrics.iw_log_likelihood(model, x, 100, 1000, seed=11).numpy()
  np.testing.assert_array_equal(single, large)
  np.testing.assert_allclose(
    single,
    scipy.special.logsumexp(pieces[0].astype(np.float64), axis=0) - np.log(100),
    atol=1e-5,
  )

  compiled = tf.function(
    lambda v: metrics.iw_log_likelihood(model, v, 250, 100, seed=11),
    reduce_retracing=True,
  )
  np.testing.assert_allclose(compiled(x).numpy(), got, atol=1e-6)


class _RecordingTextVAE(VAE):
  """A small LSTM text VAE that records how many tokens each eager decoder call scores."""

  def __init__(self):
    super().__init__(nets.LSTMEncoder(10, 8, 16, 4), nets.LSTMDecoder(10, 8, 16, 4), 4, seed=3)
    self.decoded_tokens = []

  def likelihood(self, z, x, training=False):
    if tf.executing_eagerly():
      self.decoded_tokens.append(int(z.shape[0]) * int(tf.size(x)))
    return super().likelihood(z, x, training=training)


def test_decode_budget_bounds_each_decoder_call_and_keeps_the_numbers():
  model = _RecordingTextVAE()
  x = tf.constant([[2, 5, 6, 7, 3, 0], [2, 8, 9, 3, 0, 0], [2, 4, 4, 5, 6, 3]], tf.int32)
  model(x)
  model.decoded_tokens.clear()
  whole = metrics.iw_log_likelihood(model, x, 50, 20, seed=4, decode_budget=None).numpy()
  assert model.decoded_tokens == [20 * 18, 20 * 18, 10 * 18]
  model.decoded_tokens.clear()
  # 100 tokens: groups of 5 samples (90 tokens) inside each chunk of 20 and the last of 10.
  grouped = metrics.iw_log_likelihood(model, x, 50, 20, seed=4, decode_budget=100).numpy()
  assert model.decoded_tokens == [5 * 18] * 10
  np.testing.assert_allclose(grouped, whole, rtol=1e-6)
  # Below one sample's size, one sample per call; inside tf.function as well.
  compiled = tf.function(lambda v: metrics.iw_log_likelihood(model, v, 50, 20, seed=4,
                                                             decode_budget=1))
  np.testing.assert_allclose(compiled(x).numpy(), whole, rtol=1e-6)
  model.decoded_tokens.clear()
  both = metrics.log_marginal_and_true_kl(model, x, 30, seed=2, chunk_size=30, decode_budget=200)
  assert model.decoded_tokens == [11 * 18, 11 * 18, 8 * 18]
  unbounded = metrics.log_marginal_and_true_kl(model, x, 30, seed=2, chunk_size=30,
                                               decode_budget=None)
  # U - S is a difference of nearby numbers: compare it to an absolute tolerance too.
  np.testing.assert_allclose(np.array(both), np.array(unbounded), rtol=1e-6, atol=1e-5)
  with pytest.raises(ValueError, match="decode_budget"):
    metrics.iw_log_likelihood(model, x, 10, 10, decode_budget=0)


def test_proposal_variance_inflation():
  model = _orthogonal_model(data_dim=3, latent_dim=1, seed=4)
  x = _sample_data(model, 50, seed=4)
  q = model.posterior(x)
  inflated = metrics.inflate_proposal(q, 2.0)
  np.testing.assert_allclose(
    inflated.stddev().numpy(), np.sqrt(2.0) * q.stddev().numpy(), rtol=1e-6
  )
  assert metrics.inflate_proposal(q, 1.0) is q
  exact = model.exact_log_marginal(x).numpy()
  log_w = metrics.log_importance_weights(
    model, x, 2000, seed=1, proposal_variance_factor=2.0
  ).numpy()
  assert np.all(np.std(log_w, axis=0) > 0.05)  # no longer zero variance
  estimate = metrics.iw_log_likelihood(
    model, x, 2000, 500, seed=1, proposal_variance_factor=2.0
  ).numpy()
  # Var(w/p) for p = N(m, v), q = N(m, 2v) is sqrt(2) * 2 / sqrt(3) - 1.
  se_one = np.sqrt((2 * np.sqrt(2.0) / np.sqrt(3.0) - 1.0) / 2000)
  assert np.max(np.abs(estimate - exact)) < 6 * se_one
  with pytest.raises(ValueError, match="diagonal-Gaussian"):
    metrics.inflate_proposal(tfd.MultivariateNormalTriL(tf.zeros(2), tf.eye(2)), 2.0)


# ------------------------------------------------------------------------ E3
def test_kl_to_prior_analytic_and_monte_carlo():
  model = _correlated_model()
  x = _sample_data(model, 6, seed=5)
  loc, scale = _q_params(model, x)
  expected = np.array(
    [_gauss_kl(m, np.diag(s**2), np.zeros(2), np.eye(2)) for m, s in zip(loc, scale)]
  )
  kl, analytic = metrics.kl_to_prior(model.posterior(x), model.prior)
  assert analytic
  np.testing.assert_allclose(kl.numpy(), expected, rtol=1e-5)

  # No KL registered for Independent(Normal) || MultivariateNormalTriL.
  prior = tfd.MultivariateNormalTriL(tf.zeros(2), tf.eye(2))
  z = (loc + scale * np.random.default_rng(0).normal(size=(300, 6, 2))).astype(np.float32)
  kl_mc, analytic = metrics.kl_to_prior(model.posterior(x), prior, samples=z)
  assert not analytic
  z64 = z.astype(np.float64)
  by_hand = (
    scipy.stats.norm.logpdf(z64, loc, scale).sum(-1) - scipy.stats.norm.logpdf(z64).sum(-1)
  ).mean(0)
  np.testing.assert_allclose(kl_mc.numpy(), by_hand, rtol=1e-4, atol=1e-4)
  assert np.all(np.abs(kl_mc.numpy() - expected) < 0.2)


# ------------------------------------------------------------------------ E4
def test_mutual_information_matches_numpy_reference():
  rng = np.random.default_rng(6)
  n, d = 300, 8
  loc = rng.normal(size=(n, d)) * np.linspace(0.0, 2.0, d)
  scale = np.exp(rng.normal(size=(n, d)) * 0.5 - 0.5)
  noise = rng.normal(size=(n, d))
  expected = _numpy_mi(loc, scale, noise)
  for chunk_size in (None, 64, 1000):
    got = metrics.mutual_information(loc, scale, noise=noise, chunk_size=chunk_size)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
  got32 = metrics.mutual_information(
    loc.astype(np.float32), scale.astype(np.float32), noise=noise.astype(np.float32)
  )
  np.testing.assert_allclose(got32.numpy(), expected, atol=1e-3)

  # The seeded path is the same estimator on stateless_normal noise.
  seeded_noise = tf.random.stateless_normal(
    [n, d], seed=metrics.stateless_seed(9), dtype=tf.float64
  ).numpy()
  np.testing.assert_allclose(
    metrics.mutual_information(loc, scale, seed=9).numpy(),
    _numpy_mi(loc, scale, seeded_noise),
    rtol=1e-10,
  )

  sizes = [7, 100, 193]
  bounds = np.cumsum([0] + sizes)
  by_batch = (
    sum(
      (hi - lo) * _numpy_mi(loc[lo:hi], scale[lo:hi], noise[lo:hi])
      for lo, hi in zip(bounds[:-1], bounds[1:])
    )
    / n
  )
  got = metrics.mutual_information_per_batch(loc, scale, sizes, noise=noise)
  np.testing.assert_allclose(got.numpy(), by_batch, rtol=1e-10)
  single = metrics.mutual_information_per_batch(loc, scale, [n], seed=9)
  np.testing.assert_allclose(
    single.numpy(), metrics.mutual_information(loc, scale, seed=9).numpy(), rtol=1e-12
  )
  with pytest.raises(ValueError):
    metrics.mutual_information_per_batch(loc, scale, [10, 10], noise=noise)


def _spread_posteriors(rng, n, d):
  """(loc, scale, noise) [n, d] each: posteriors spread around 0, scales near e^-1."""
  loc = rng.normal(size=(n, d))
  scale = np.exp(rng.normal(size=(n, d)) * 0.3 - 1.0)
  return loc, scale, rng.normal(size=(n, d))


def test_mutual_information_large_set_and_collapse():
  rng = np.random.default_rng(7)
  n, d = 4000, 32
  loc, scale, noise = _spread_posteriors(rng, n, d)
  got = metrics.mutual_information(loc, scale, noise=noise).numpy()
  # Reference through the expanded quadratic form in float64 (fine here).
  z = loc + scale * noise
  inv_var = scale**-2
  quad = (z**2) @ inv_var.T - 2 * z @ (loc * inv_var).T + (loc**2 * inv_var).sum(-1)
  log_q = -0.5 * quad - np.log(scale).sum(-1) - 0.5 * d * np.log(2 * np.pi)
  log_qz = scipy.special.logsumexp(log_q, axis=1) - np.log(n)
  neg_entropy = -(0.5 * np.log(2 * np.pi * np.e) + np.log(scale)).sum(-1)
  np.testing.assert_allclose(got, neg_entropy.mean() - log_qz.mean(), rtol=1e-9)
  assert got <= np.log(n) + 1e-9

  # Every posterior identical: I_q = 0; the estimate is a mean of N terms
  # with variance d / 2 (log q(z|x) + H of a d-dim Gaussian).
  same_loc = np.tile(rng.normal(size=(1, d)), (n, 1))
  same_scale = np.tile(np.exp(rng.normal(size=(1, d))), (n, 1))
  collapsed = metrics.mutual_information(same_loc, same_scale, seed=1).numpy()
  assert abs(collapsed) < 4 * np.sqrt(d / 2 / n)
  per_batch = metrics.mutual_information_per_batch(
    same_loc[:1000], same_scale[:1000], [250] * 4, seed=1
  ).numpy()
  assert abs(per_batch) < 4 * np.sqrt(d / 2 / 1000)


def test_sampled_entropy_mi_matches_numpy_and_vanishes_at_collapse():
  n, d = 200, 32
  loc, scale, noise = _spread_posteriors(np.random.default_rng(11), n, d)
  np.testing.assert_allclose(
    metrics.mutual_information(loc, scale, noise=noise, entropy="sampled").numpy(),
    _numpy_mi(loc, scale, noise, "sampled"), rtol=1e-9)
  np.testing.assert_allclose(
    metrics.mutual_information_per_batch(loc, scale, [50, 150], noise=noise,
                                         entropy="sampled").numpy(),
    (50 * _numpy_mi(loc[:50], scale[:50], noise[:50], "sampled")
     + 150 * _numpy_mi(loc[50:], scale[50:], noise[50:], "sampled")) / n, rtol=1e-9)
  # Every posterior alike: log q(z_i|x_i) equals the mixture density at z_i, so
  # the sampled form is exactly 0 while the analytic one keeps its noise.
  same_loc = np.tile(loc[:1], (n, 1))
  same_scale = np.tile(scale[:1], (n, 1))
  sampled = [metrics.mutual_information_per_batch(same_loc, same_scale, [32] * 6 + [8], seed=s,
                                                  entropy="sampled").numpy() for s in range(5)]
  analytic = [metrics.mutual_information_per_batch(same_loc, same_scale, [32] * 6 + [8], seed=s
                                                   ).numpy() for s in range(5)]
  np.testing.assert_allclose(sampled, 0.0, atol=1e-9)
  assert np.std(analytic) > 0.05
  with pytest.raises(ValueError, match="choose one of"):
    metrics.mutual_information(loc, scale, entropy="exact")


def test_sampled_and_analytic_mi_have_the_same_mean():
  # A property of the estimator, checked on its numpy transcription (which the
  # library matches to 1e-9 above): the forms differ only by a zero-mean term.
  rng = np.random.default_rng(12)
  n, d, draws = 64, 4, 400
  loc = rng.normal(size=(n, d)) * 0.7
  scale = np.exp(rng.normal(size=(n, d)) * 0.3 - 0.5)
  noises = rng.normal(size=(draws, n, d))
  estimates = {e: np.array([_numpy_mi(loc, scale, noise, e) for noise in noises])
               for e in ("analytic", "sampled")}
  gap = estimates["sampled"].mean() - estimates["analytic"].mean()
  standard_error = np.sqrt((estimates["sampled"].var() + estimates["analytic"].var()) / draws)
  assert abs(gap) < 4 * standard_error


# ------------------------------------------------------------------------ E5
def test_active_units_counts_varying_dimensions():
  rng = np.random.default_rng(8)
  means = np.tile(rng.normal(size=(1, 10)), (500, 1))
  active = [0, 3, 7]
  means[:, active] += 0.5 * rng.normal(size=(500, 3))
  means[:, 5] += 1e-3 * rng.normal(size=500)  # varies, below threshold
  count, variances = metrics.active_units(means)
  assert int(count) == 3
  np.testing.assert_allclose(
    variances.numpy(), np.var(means, axis=0, ddof=1), rtol=1e-10, atol=1e-20
  )
  # The threshold is strict and configurable.
  count, _ = metrics.active_units(means, threshold=float(np.max(variances)))
  assert int(count) == 0


# ------------------------------------------------------------- evaluate (all)
def test_evaluate_matches_closed_forms_and_is_batching_invariant():
  model = _orthogonal_model()  # q is the exact posterior
  x = _sample_data(model, 40, seed=9)

  def count_tokens(v):
    return (np.floor(np.abs(v.numpy()[:, 0]) * 3) + 1).astype(np.int64)

  batched = metrics.evaluate(
    model,
    _dataset(x, [7, 20, 13]),
    num_samples=20,
    chunk_size=8,
    seed=3,
    count_tokens=count_tokens,
    recon_samples=200,
  )
  whole = metrics.evaluate(
    model,
    _dataset(x, [40], with_labels=True),
    num_samples=20,
    chunk_size=8,
    seed=3,
    count_tokens=count_tokens,
  )
  exact = model.exact_log_marginal(x).numpy()
  tokens = count_tokens(tf.constant(x))
  loc, scale = _q_params(model, x)

  for result in (batched, whole):
    assert result["num_examples"] == 40
    assert result["num_tokens"] == int(tokens.sum())
    np.testing.assert_allclose(result["nll"], -exact.mean(), rtol=1e-5)
    np.testing.assert_allclose(result["ppl"], np.exp(-exact.sum() / tokens.sum()), rtol=1e-4)
    np.testing.assert_allclose(
      result["elbo_ppl"], np.exp(result["neg_elbo"] * 40 / tokens.sum()), rtol=1e-9
    )
    np.testing.assert_allclose(result["elbo"], -result["neg_elbo"], rtol=1e-12)
    np.testing.assert_allclose(result["neg_elbo"], result["recon"] + result["kl"], rtol=1e-9)
    kl = np.mean([_gauss_kl(m, np.diag(s**2), np.zeros(3), np.eye(3)) for m, s in zip(loc, scale)])
    np.testing.assert_allclose(result["kl"], kl, rtol=1e-5)
    assert result["au"] == int(metrics.active_units(loc)[0])

  # Batching-free parts agree exactly; MI uses the documented seed.
  for key in ("kl", "au", "mi_aggregate", "mpd", "conditional_entropy"):
    np.testing.assert_allclose(batched[key], whole[key], rtol=1e-6)
  mi_seed = fold_in(metrics.stateless_seed(3), 1)
  np.testing.assert_allclose(
    batched["mi_aggregate"], metrics.mutual_information(loc, scale, mi_seed), rtol=1e-6
  )
  np.testing.assert_allclose(
    batched["mi_batch"],
    metrics.mutual_information_per_batch(loc, scale, [7, 20, 13], mi_seed),
    rtol=1e-6,
  )
  np.testing.assert_allclose(whole["mi_batch"], whole["mi_aggregate"], rtol=1e-12)

  # Reconstruction: E_q[-log p(x|z)] in closed form, 200 samples per example.
  w, b, sigma = model._numpy_parameters()
  mean_x = loc @ w.T + b
  trace = np.sum((w**2) @ (scale**2).T, axis=0)  # tr(W diag(s^2) W^T) per example
  recon = -scipy.stats.norm.logpdf(x, mean_x, sigma).sum(-1) + trace / (2 * sigma**2)
  np.testing.assert_allclose(batched["recon"], recon.mean(), rtol=2e-2)

  again = metrics.evaluate(
    model,
    _dataset(x, [7, 20, 13]),
    num_samples=20,
    chunk_size=8,
    seed=3,
    count_tokens=count_tokens,
    recon_samples=200,
  )
  assert again == batched


def test_evaluate_nll_on_suboptimal_posterior_matches_iw_function():
  model = _correlated_model()
  x = _sample_data(model, 12, seed=10)
  result = metrics.evaluate(model, _dataset(x, [5, 7]), num_samples=30, chunk_size=7, seed=4)
  batch_root = fold_in(metrics.stateless_seed(4), 0)
  by_hand = []
  for index, (lo, hi) in enumerate(((0, 5), (5, 12))):
    iw_seed = fold_in(fold_in(batch_root, index), 0)
    by_hand.append(metrics.iw_log_likelihood(model, x[lo:hi], 30, 7, seed=iw_seed))
  np.testing.assert_allclose(result["nll"], -np.concatenate(by_hand).mean(), rtol=1e-6)
  assert result["nll"] > -model.exact_log_marginal(x).numpy().mean() - 0.5
  assert "ppl" not in result


class _FullCovariancePosteriorModel(LinearGaussianModel):
  """q(z|x) as a MultivariateNormalTriL: MI through log_prob, Monte-Carlo KL."""

  def posterior(self, x, training=False):
    q = super().posterior(x, training)
    return tfd.MultivariateNormalTriL(q.mean(), tf.linalg.diag(q.stddev()))


class _MeanlessPosterior(tfd.Independent):
  """A diagonal Gaussian that hides its mean, as flow posteriors have none in closed form."""

  def _mean(self):
    raise NotImplementedError("no closed-form mean")


def test_batch_mutual_information_equals_the_gaussian_parameter_form():
  rng = np.random.default_rng(3)
  loc, scale, noise = _spread_posteriors(rng, 300, 4)
  posterior = tfd.Independent(tfd.Normal(loc, scale), 1)
  z = loc + scale * noise
  for entropy in ("sampled", "analytic"):
    np.testing.assert_allclose(
        metrics.batch_mutual_information(posterior, z, entropy=entropy),
        metrics.mutual_information(loc, scale, noise=noise, entropy=entropy), rtol=1e-6)


def test_evaluate_non_diagonal_posterior_estimates_mi_through_log_prob():
  base = _correlated_model()
  model = _FullCovariancePosteriorModel(
    base.decoder_weight.numpy(),
    base.decoder_bias.numpy(),
    0.5,
    base.encoder_weight.numpy(),
    base.encoder_bias.numpy(),
    base.encoder_log_scale.numpy(),
  )
  x = _sample_data(model, 400, seed=11)
  result = metrics.evaluate(model, _dataset(x, [200, 200]), num_samples=10, recon_samples=500)
  assert result["mi_aggregate"] is None
  loc, scale = _q_params(base, x)
  # The same posteriors' MI from their parameters, with other noise. Over seeds (measured)
  # the two estimates have means 1.16 and 1.19 and standard deviations 0.06 and 0.035.
  by_parameters = metrics.mutual_information_per_batch(loc, scale, [200, 200], seed=5,
                                                       entropy="sampled")
  assert abs(result["mi_batch"] - float(by_parameters)) < 0.25
  assert result["au"] == int(metrics.active_units(loc)[0])
  kl = np.mean([_gauss_kl(m, np.diag(s**2), np.zeros(2), np.eye(2)) for m, s in zip(loc, scale)])
  np.testing.assert_allclose(result["kl"], kl, atol=0.1)


def test_active_units_from_monte_carlo_means():
  """Without a closed-form mean AU uses 100-sample means, their sampling noise subtracted."""
  rng = np.random.default_rng(4)
  n = 2000
  # Dimension 0 varies over x (variance 0.5); 1 barely (0.004); 2 is collapsed, q = N(0, 1).
  loc = np.stack([rng.normal(0, 0.5**0.5, n), rng.normal(0, 0.004**0.5, n), np.zeros(n)], -1)
  scale = np.ones_like(loc)
  exact = metrics.active_units(loc)
  posterior = _MeanlessPosterior(tfd.Normal(loc, scale), 1)
  with pytest.raises(NotImplementedError):
    posterior.mean()
  mean, noise = metrics.monte_carlo_mean(posterior, seed=tf.constant([1, 2]))
  count, variances = metrics.active_units(mean, mean_noise=noise)
  assert int(count) == int(exact[0]) == 1
  # Uncorrected, the sampling noise (1/100 per coordinate) passes the 0.01 threshold.
  assert int(metrics.active_units(mean)[0]) > 1
  # Standard error of the corrected variances about 0.003 here.
  np.testing.assert_allclose(variances, exact[1], atol=0.012)


class _ImplicitPosterior:
  """Samples but no density, like iVAE's implicit posterior."""

  def __init__(self, q):
    self._q = q
    self.dtype = q.dtype

  def sample(self, sample_shape=(), seed=None):
    return self._q.sample(sample_shape, seed=seed)

  def log_prob(self, value):
    raise NotImplementedError("implicit posterior")

  def mean(self):
    raise NotImplementedError("implicit posterior")


class _ImplicitModel(LinearGaussianModel):
  def posterior(self, x, training=False):
    return _ImplicitPosterior(super().posterior(x, training))


def test_posterior_without_density_raises_value_error():
  model = _ImplicitModel(np.ones((3, 2)))
  x = np.zeros((4, 3), np.float32)
  with pytest.raises(ValueError, match="iw_nll.*q\\(z\\|x\\)"):
    metrics.iw_log_likelihood(model, x, 10, 5)
  with pytest.raises(ValueError, match="iw_nll"):
    metrics.evaluate(model, _dataset(x, [4]), num_samples=4)
  with pytest.raises(ValueError, match="Monte-Carlo KL needs the density of q"):
    metrics.kl_to_prior(model.posterior(x), tfd.MultivariateNormalTriL(tf.zeros(2), tf.eye(2)))


class _ToyTextModel:
  """Integer batches [B, T] of 0/1 tokens whose length T changes per batch."""

  latent_dim = 2

  def posterior(self, x, training=False):
    mean_token = tf.reduce_mean(tf.cast(x, tf.float32), axis=-1, keepdims=True)
    loc = mean_token * tf.constant([1.0, -1.0])
    return tfd.Independent(tfd.Normal(loc, 0.5 * tf.ones_like(loc)), 1)

  @property
  def prior(self):
    return tfd.Independent(tfd.Normal(tf.zeros(2), 1.0), 1)

  def likelihood(self, z, x, training=False):
    logits = tf.reduce_sum(z, -1, keepdims=True) * tf.ones_like(tf.cast(x, tf.float32))
    return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.int32), 1)


def test_evaluate_on_integer_batches_of_varying_length():
  rng = np.random.default_rng(12)
  batches = [rng.integers(0, 2, size=(b, t)).astype(np.int32) for b, t in ((4, 3), (6, 5), (3, 9))]
  dataset = tf.data.Dataset.from_generator(
    lambda: iter(batches), output_signature=tf.TensorSpec([None, None], tf.int32)
  )
  result = metrics.evaluate(
    _ToyTextModel(),
    dataset,
    num_samples=8,
    chunk_size=3,
    count_tokens=lambda v: tf.shape(v)[1] * tf.ones(tf.shape(v)[0], tf.int32),
  )
  assert result["num_examples"] == 13
  assert result["num_tokens"] == 4 * 3 + 6 * 5 + 3 * 9
  assert all(np.isfinite(result[key]) for key in ("nll", "ppl", "elbo_ppl", "mi_batch"))
  np.testing.assert_allclose(
    result["ppl"], np.exp(result["nll"] * 13 / result["num_tokens"]), rtol=1e-9
  )


# ------------------------------------------------------------------------- E6
def test_true_kl_matches_the_closed_form_posterior_kl():
  """004 eq. 12 with K = 20000 against KL(p(z|x) || p(z)) of the linear-Gaussian model."""
  model = LinearGaussianModel(decoder_weight=[[1.2, 0.0], [0.5, -0.3], [0.0, 0.8]],
                              noise_scale=0.7, encoder_weight=[[0.3, 0.2, 0.0], [0.0, 0.1, 0.5]],
                              encoder_log_scale=-0.6, dtype="float64")
  x = tf.constant([[1.3, -0.4, 0.6], [-0.5, 0.9, 2.0]], tf.float64)
  exact_posterior = model.exact_posterior(x)
  standard = tfd.MultivariateNormalDiag(tf.zeros([2], tf.float64), tf.ones([2], tf.float64))
  exact = tfd.kl_divergence(exact_posterior, standard).numpy()
  representational = tfd.kl_divergence(model.posterior(x), model.prior).numpy()
  estimate = metrics.true_kl(model, x, num_samples=20000, chunk_size=5000, seed=4).numpy()
  np.testing.assert_allclose(estimate, exact, atol=0.02)
  assert np.max(np.abs(representational - exact)) > 0.3  # q's own KL is no substitute.
  # evaluate() reports its mean over the data set when asked for samples.
  batches = tf.data.Dataset.from_tensor_slices(x).batch(1)
  result = metrics.evaluate(model, batches, num_samples=10, chunk_size=5000,
                            true_kl_samples=20000, seed=4)
  np.testing.assert_allclose(result["true_kl"], exact.mean(), atol=0.02)
  assert "true_kl" not in metrics.evaluate(model, batches, num_samples=10)


def test_iw_nll_and_true_kl_come_from_one_chunked_sampler():
  """Both read the same K samples (chunk i drawn with fold_in(seed, i)), decoded chunk by chunk."""
  model = _correlated_model()
  x = _sample_data(model, 5, seed=3)
  seed = metrics.stateless_seed(11)
  log_px, kl = metrics.log_marginal_and_true_kl(model, x, 250, seed, chunk_size=100)
  np.testing.assert_array_equal(log_px, metrics.iw_log_likelihood(model, x, 250, 100, seed=seed))
  # U - S by hand from the same draws.
  q = model.posterior(x)
  z = np.concatenate([q.sample(n, seed=fold_in(seed, i)) for i, n in enumerate((100, 100, 50))])
  log_likelihood = model.likelihood(z, x).log_prob(x).numpy().astype(np.float64)
  log_w = log_likelihood + model.prior.log_prob(z).numpy() - q.log_prob(z).numpy()
  normalised = scipy.special.softmax(log_w, axis=0)
  want = (normalised * log_likelihood).sum(0) - (scipy.special.logsumexp(log_w, 0) - np.log(250))
  np.testing.assert_allclose(kl, want, atol=1e-4)
  np.testing.assert_allclose(metrics.true_kl(model, x, 250, seed, chunk_size=100), kl)


class _SquaredMeanNorm:
  """A model's own metric: mean over the data of ||E q(z|x)||^2 (its name is settable)."""

  def __init__(self, name="mean_norm", key="squared_mean_norm"):
    self.name, self.key, self.total, self.count = name, key, 0.0, 0

  def batch_values(self, batch):
    return {"norms": tf.reduce_sum(tf.square(batch.posterior.mean()), axis=-1)}

  def update(self, values):
    self.total += values["norms"].sum()
    self.count += len(values["norms"])

  def result(self):
    return {self.key: self.total / self.count}


class _ModelWithItsOwnMetric(LinearGaussianModel):
  extra_metric = {}

  def extra_metrics(self):
    return (_SquaredMeanNorm(**self.extra_metric),)


def test_a_model_adds_its_own_metric_and_may_not_shadow_the_standard_ones():
  model = _ModelWithItsOwnMetric(np.random.default_rng(0).normal(size=(4, 2)), np.zeros(4), 0.5)
  x = _sample_data(model, 7, seed=1)
  loc, _ = _q_params(model, x)
  for sizes in ((7,), (3, 3, 1)):
    results = metrics.evaluate(model, _dataset(x, sizes), num_samples=2, chunk_size=2)
    np.testing.assert_allclose(results["squared_mean_norm"], (loc**2).sum(-1).mean(), rtol=1e-6)
    assert results["num_examples"] == 7 and results["nll"] is not None
  model.extra_metric = {"name": "au"}
  with pytest.raises(ValueError, match=r"same name: \['au'\]"):
    metrics.evaluate(model, _dataset(x, (7,)), num_samples=2, chunk_size=2)
  model.extra_metric = {"key": "nll"}
  with pytest.raises(ValueError, match="'mean_norm' returns 'nll'"):
    metrics.evaluate(model, _dataset(x, (7,)), num_samples=2, chunk_size=2)


# ------------------------------------------------------------------------ E11
def test_pareto_front_against_brute_force():
  rng = np.random.default_rng(0)
  nll = np.round(rng.uniform(9, 12, 60), 1)  # rounding makes ties
  mi = np.round(rng.uniform(0, 9, 60), 1)
  dominated = [any(nll[j] <= nll[i] and mi[j] >= mi[i] and (nll[j], mi[j]) != (nll[i], mi[i])
                   for j in range(60)) for i in range(60)]
  front = metrics.pareto_front(nll, mi)
  want = {(nll[i], mi[i]) for i in range(60) if not dominated[i]}
  assert {(nll[i], mi[i]) for i in front} == want
  assert len(front) == len(want)  # one run per duplicated point
  assert np.all(np.diff(mi[front]) > 0) and np.all(np.diff(nll[front]) > 0)


def test_pareto_front_errors():
  with pytest.raises(ValueError, match="one length"):
    metrics.pareto_front([1.0, 2.0], [0.5])
  with pytest.raises(ValueError, match="diverged runs"):
    metrics.pareto_front([1.0, float("nan")], [0.5, 1.0])
