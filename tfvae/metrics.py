"""Evaluation metrics shared by every tfvae model (METHODS.md section 2, E1-E5).

Every function here uses only the model contract of ARCHITECTURE.md section 2:

    model.posterior(x, training=False) -> q(z|x), batch [B], event [d]
    model.prior                        -> p(z), batch [], event [d]
    model.likelihood(z, x, training=False).log_prob(x) -> [K, B] for z [K, B, d]

Implemented:

* E1 `log_importance_weights`, `iw_log_likelihood`: the importance-weighted
  estimate of log p(x) of Burda et al. (2016), used with K = 500 by 003
  ("Evaluation Metrics", section 4) and with K = 5000 and a proposal whose
  variance is inflated x2 for the synthetic sets of 001 (appendix E);
* E2 perplexity exp(total NLL / total tokens) (in `evaluate`);
* E3 reconstruction, KL and -ELBO per example (`kl_to_prior`, `evaluate`);
* E4 mutual information I_q(x; z) with the estimator of He et al. (2019),
  "Lagging inference networks" (cited by 003 for MI):
  `mutual_information` (aggregate posterior over the whole evaluation set) and
  `mutual_information_per_batch` (the per-batch average that He et al.'s code
  reports);
* E5 active units of 003 section 4 ("Evaluation Metrics"): `active_units`;
* E6 the true-posterior KL of 004 eq. 12 (U - S with K = 100): `true_kl`;
* E11 the Pareto front of a sweep (NLL against MI): `pareto_front`.

Random numbers are stateless: every function takes `seed`, an int or a shape [2]
integer tensor, turned into a stateless seed by `stateless_seed`; sub-seeds are
derived with `tf.random.experimental.stateless_fold_in` so results are exactly
reproducible (the derivations are spelled out in each docstring).

Metrics that need the density q(z|x) (E1, E3 Monte-Carlo KL, E4) raise a
`ValueError` naming the metric when the posterior has no `log_prob` (implicit
posteriors such as iVAE's sampler, M9); such models provide their own
estimators.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from absl import logging

from tfvae import divergences
from tfvae.objectives import monte_carlo

tfd = tfp.distributions

__all__ = [
  "active_units",
  "batch_mutual_information",
  "decoder_log_prob",
  "evaluate",
  "inflate_proposal",
  "iw_log_likelihood",
  "kl_to_prior",
  "log_importance_weights",
  "monte_carlo_mean",
  "mutual_information",
  "mutual_information_per_batch",
  "pareto_front",
  "stateless_seed",
  "true_kl",
]

# Tags used with stateless_fold_in to derive independent seed streams.
_BATCH_STREAM = 0  # evaluate(): per-batch seeds fold_in(fold_in(s, 0), batch_index)
_MI_STREAM = 1  # evaluate(): MI noise seed fold_in(s, 1)
_IW_STREAM = 0  # inside a batch: importance-sampling seed
_RECON_STREAM = 1  # inside a batch: reconstruction / Monte-Carlo KL seed
_TRUE_KL_STREAM = 2  # inside a batch: the samples of the true-posterior KL (E6)
_MEAN_STREAM = 3  # inside a batch: Monte-Carlo posterior means (AU without a closed form)
_MI_SAMPLE_STREAM = 4  # inside a batch: the MI sample of a non-Gaussian posterior
# Default decoder budget (`decoder_log_prob`): 25,000 decoded tokens are 1.0 GB
# of float32 logits with a 10k-word vocabulary, about what 10 sentences of
# average PTB length x 100 samples (the default chunk) decode anyway.
DECODE_BUDGET = 25_000

_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------- helpers
def stateless_seed(seed) -> tf.Tensor:
  """Turns `seed` (python int or shape [2] integer tensor) into a [2] int32 seed.

  An int `s` becomes `[0, s]` (its low 32 bits); a tensor is cast to int32.
  """
  if isinstance(seed, (int, np.integer)):
    return tf.constant([0, int(seed) & 0x7FFFFFFF], dtype=tf.int32)
  seed = tf.convert_to_tensor(seed)
  if seed.dtype != tf.int32:
    seed = tf.cast(seed, tf.int32)
  return tf.ensure_shape(seed, [2])


def _fold_in(seed, data) -> tf.Tensor:
  return tf.random.experimental.stateless_fold_in(seed, data)


def _density(distribution, value, metric: str, what: str) -> tf.Tensor:
  """`distribution.log_prob(value)`, or a ValueError naming `metric`."""
  if not hasattr(distribution, "log_prob"):
    raise ValueError(
      f"metric '{metric}' needs the density of {what}, but "
      f"{type(distribution).__name__} has no log_prob; a model with an "
      "implicit distribution must provide its own estimator"
    )
  try:
    return distribution.log_prob(value)
  except NotImplementedError as error:
    raise ValueError(
      f"metric '{metric}' needs the density of {what}, but "
      f"{type(distribution).__name__}.log_prob is not implemented; a model "
      "with an implicit distribution must provide its own estimator"
    ) from error


def _is_diagonal_gaussian(distribution) -> bool:
  if isinstance(distribution, tfd.MultivariateNormalDiag):
    return True
  if not (
    isinstance(distribution, tfd.Independent) and isinstance(distribution.distribution, tfd.Normal)
  ):
    return False
  ndims = tf.get_static_value(distribution.reinterpreted_batch_ndims)
  return ndims is not None and int(ndims) == 1


def inflate_proposal(posterior, variance_factor: float):
  """Diagonal-Gaussian q(z|x) with its variance multiplied by `variance_factor`.

  001 (appendix E) evaluates its synthetic sets with K = 5000 importance
  samples drawn from the encoder's posterior with variance inflated x2; this
  builds that proposal.  Only diagonal Gaussians (`Independent(Normal)`,
  `MultivariateNormalDiag`) are supported; `variance_factor == 1` returns
  `posterior` unchanged.
  """
  if variance_factor == 1.0:
    return posterior
  if variance_factor <= 0:
    raise ValueError(f"variance_factor must be positive, got {variance_factor}")
  if not _is_diagonal_gaussian(posterior):
    raise ValueError(
      "proposal variance inflation needs a diagonal-Gaussian posterior, got "
      f"{type(posterior).__name__}"
    )
  loc = posterior.mean()
  scale = posterior.stddev() * tf.constant(math.sqrt(variance_factor), loc.dtype)
  return tfd.Independent(tfd.Normal(loc, scale), 1)


def decoder_log_prob(model, z, x, decode_budget=None) -> tf.Tensor:
  """[K, B] log p(x|z_k) for z [K, B, d], decoding at most `decode_budget` elements per call.

  The decoder's memory grows with the number of data elements it scores at
  once: K x B x T tokens for text, each with a vocabulary-sized row of
  logits (a [100, 10, 78, 10002] float32 chunk of PTB's longest test
  sentences is 3.1 GB). With a budget, the K samples go through the decoder
  in consecutive groups of max(1, decode_budget // size(x)) samples, one
  group alive at a time; every row is computed from the same z as in one
  call, so the result does not depend on the budget (up to float rounding).

  Args:
    model: a model keeping the tfvae contract.
    z: [K, B, d] latent samples.
    x: the batch [B, ...] they were drawn for.
    decode_budget: the most K x size(x) elements per decoder call (tokens for
      text, pixels for images); None decodes all K samples in one call.
  """
  if decode_budget is None:
    return model.likelihood(z, x, training=False).log_prob(x)
  if int(decode_budget) < 1:
    raise ValueError(f"decode_budget must be a positive number of elements, got {decode_budget}")
  num_samples = tf.shape(z)[0]
  group = tf.maximum(1, int(decode_budget) // tf.maximum(1, tf.size(x)))
  num_groups = (num_samples + group - 1) // group

  def log_prob(i):
    z_group = z[i * group : tf.minimum((i + 1) * group, num_samples)]
    return model.likelihood(z_group, x, training=False).log_prob(x)

  # The first group outside the loop gives the result's dtype (z may be integer).
  first = log_prob(0)
  groups = tf.TensorArray(first.dtype, size=num_groups, infer_shape=False,
                          element_shape=tf.TensorShape([None, None])).write(0, first)
  _, groups = tf.while_loop(lambda i, _: i < num_groups,
                            lambda i, groups: (i + 1, groups.write(i, log_prob(i))),
                            (tf.constant(1), groups), parallel_iterations=1)
  return groups.concat()


def _log_weights(model, posterior, x, num_samples: int, seed, metric: str, decode_budget=None):
  """[K, B] log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k ~ `posterior`."""
  z = posterior.sample(num_samples, seed=seed)
  log_q = _density(posterior, z, metric, "q(z|x)")
  log_prior = _density(model.prior, z, metric, "p(z)")
  log_lik = decoder_log_prob(model, z, x, decode_budget)
  return log_lik + log_prior - log_q


# ------------------------------------------------------------------------- E1
def log_importance_weights(
  model, x, num_samples: int, seed, *, proposal_variance_factor: float = 1.0
) -> tf.Tensor:
  """Log importance weights log p(x, z_k) - log q(z_k|x), z_k ~ q(z|x) (E1).

  The summands of Burda et al. (2016) eq. 8 / METHODS.md E1.

  Args:
    model: a model keeping the tfvae contract.
    x: a batch of data [B, ...].
    num_samples: K.
    seed: int or [2] stateless seed; the samples are exactly
      `q.sample(K, seed=stateless_seed(seed))` with q = model.posterior(x)
      (after `inflate_proposal` when `proposal_variance_factor != 1`, in which
      case the weights use the inflated proposal's density).
    proposal_variance_factor: variance inflation of the proposal (001 uses 2).

  Returns:
    [K, B] tensor of log weights.

  Raises:
    ValueError: if q(z|x) or p(z) has no density.
  """
  posterior = inflate_proposal(model.posterior(x, training=False), proposal_variance_factor)
  return _log_weights(model, posterior, x, int(num_samples), stateless_seed(seed), "iw_nll")


def _iw_log_likelihood(model, posterior, x, num_samples, chunk_size, seed, decode_budget):
  """Chunked log (1/K) sum_k w_k given an already built proposal."""
  num_samples = int(num_samples)
  chunk_size = int(chunk_size)
  if num_samples < 1 or chunk_size < 1:
    raise ValueError(f"num_samples and chunk_size must be >= 1, got {num_samples}, {chunk_size}")
  chunk_size = min(chunk_size, num_samples)
  num_full, remainder = divmod(num_samples, chunk_size)
  dtype = tf.as_dtype(posterior.dtype)

  def body(i, chunks):
    log_w = _log_weights(model, posterior, x, chunk_size, _fold_in(seed, i), "iw_nll",
                         decode_budget)
    return i + 1, chunks.write(i, tf.reduce_logsumexp(log_w, axis=0))

  chunks = tf.TensorArray(dtype, size=num_full, element_shape=tf.TensorShape([None]))
  # parallel_iterations=1: one chunk alive at a time, which is the point.
  _, chunks = tf.while_loop(
    lambda i, _: i < num_full,
    body,
    (tf.constant(0), chunks),
    parallel_iterations=1,
  )
  per_chunk = chunks.stack()  # [num_full, B]
  if remainder:
    log_w = _log_weights(model, posterior, x, remainder, _fold_in(seed, num_full), "iw_nll",
                         decode_budget)
    per_chunk = tf.concat([per_chunk, tf.reduce_logsumexp(log_w, axis=0)[tf.newaxis]], axis=0)
  return tf.reduce_logsumexp(per_chunk, axis=0) - tf.constant(math.log(num_samples), dtype)


def iw_log_likelihood(
  model,
  x,
  num_samples: int = 500,
  chunk_size: int = 100,
  seed=0,
  *,
  proposal_variance_factor: float = 1.0,
  decode_budget: int | None = DECODE_BUDGET,
) -> tf.Tensor:
  """Importance-weighted estimate of log p(x) per example (E1).

  log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x)
  (Burda et al. 2016 eq. 8 with the encoder as proposal; K = 500 in 003
  section 4).  It is a stochastic lower bound of log p(x) in expectation and
  converges to it as K grows; -mean(...) is the "NLL" of the tables.

  The K samples are drawn in chunks of `chunk_size` so that the decoder only
  sees [chunk_size, B, ...] at a time.  Each chunk keeps its logsumexp and the
  chunks are combined exactly: reduce_logsumexp over chunks - log K.  Chunk
  i (0-based) draws its samples with seed
  `tf.random.experimental.stateless_fold_in(stateless_seed(seed), i)`, so the
  result equals the logsumexp of
  `log_importance_weights(model, x, n_i, that_seed)` over all chunks (the
  last chunk holds K mod chunk_size samples when that is non-zero); the
  numbers therefore depend on `chunk_size` only through which samples are
  drawn.  Works eagerly and inside `tf.function` (a `tf.while_loop` over the
  full chunks, with parallel_iterations=1 to bound memory).  Within a chunk,
  `decode_budget` bounds the elements decoded per call (`decoder_log_prob`)
  without changing the samples.

  Args:
    model: a model keeping the tfvae contract.
    x: a batch [B, ...].
    num_samples: K.
    chunk_size: samples per chunk.
    seed: int or [2] stateless seed.
    proposal_variance_factor: inflate the diagonal-Gaussian proposal's
      variance (2 for 001's synthetic sets); see `inflate_proposal`.
    decode_budget: see `decoder_log_prob`; None decodes whole chunks.

  Returns:
    [B] tensor of log p(x) estimates (nats).

  Raises:
    ValueError: if q(z|x) or p(z) has no density.
  """
  posterior = inflate_proposal(model.posterior(x, training=False), proposal_variance_factor)
  return _iw_log_likelihood(model, posterior, x, num_samples, chunk_size, stateless_seed(seed),
                            decode_budget)


# ------------------------------------------------------------------------- E3
def kl_to_prior(posterior, prior, *, seed=0, num_samples: int = 1, samples=None):
  """Per-example KL(q(z|x) || p(z)) (E3) through `tfvae.divergences.kl`.

  The closed form where TFP has one (e.g. diagonal Gaussian to N(0, I): 002 /
  Kingma & Welling 2014 appendix B); otherwise the Monte-Carlo estimate
  mean_s [log q(z_s|x) - log p(z_s)], z_s ~ q(z|x), from `samples` ([S, B, d])
  when given, else from `num_samples` draws with `stateless_seed(seed)`.

  Returns:
    (kl [B], analytic: python bool).

  Raises:
    ValueError: if the Monte-Carlo estimate is needed and q(z|x) or p(z) has
      no density.
  """
  analytic = divergences.has_closed_form(posterior, prior)
  kl = divergences.kl(posterior, prior, samples, seed=stateless_seed(seed),
                      num_samples=int(num_samples))
  return kl, analytic


# ------------------------------------------------------------------------- E4
def _mi_noise(posterior_loc, seed, noise):
  if noise is not None:
    return tf.convert_to_tensor(noise, dtype=posterior_loc.dtype)
  return tf.random.stateless_normal(
    tf.shape(posterior_loc), seed=stateless_seed(seed), dtype=posterior_loc.dtype
  )


def _prepare_mi(posterior_loc, posterior_scale, seed, noise):
  loc = tf.convert_to_tensor(posterior_loc)
  scale = tf.convert_to_tensor(posterior_scale, dtype=loc.dtype)
  scale = tf.broadcast_to(scale, tf.shape(loc))
  if loc.shape.rank != 2:
    raise ValueError(f"posterior_loc must be [N, d], got shape {loc.shape}")
  eps = _mi_noise(loc, seed, noise)
  return loc, scale, loc + scale * eps


def _negative_entropy(scale) -> tf.Tensor:
  """Per-example E_q[log q(z|x)] = -H[q(z|x)] of a diagonal Gaussian, [N]."""
  d = tf.cast(tf.shape(scale)[-1], scale.dtype)
  return -(d * _HALF_LOG_2PI_E + tf.reduce_sum(tf.math.log(scale), axis=-1))


MI_ENTROPY = ("analytic", "sampled")


def _own_log_density(loc, scale, z, entropy):
  """Per-example term E_q[log q(z|x)] of the MI estimate, [N].

  "analytic": -H[q(z|x)] in closed form (He et al.). "sampled": log q(z_i|x_i)
  at the very sample z_i whose mixture density is subtracted: the same
  expectation, but the two noisy terms move together, so near collapse (every
  q(z|x) alike) their difference, and the estimate's variance, goes to 0,
  where the analytic form keeps a standard deviation of about sqrt(d/2) nats
  per example.
  """
  if entropy == "analytic":
    return _negative_entropy(scale)
  if entropy != "sampled":
    raise ValueError(f"entropy={entropy!r}: choose one of {MI_ENTROPY}.")
  d = tf.cast(tf.shape(scale)[-1], scale.dtype)
  standardised = (z - loc) / scale
  return -(d * tf.constant(_HALF_LOG_2PI, scale.dtype) + tf.reduce_sum(tf.math.log(scale), -1)
           + 0.5 * tf.reduce_sum(tf.square(standardised), axis=-1))


def _log_mixture_density(z, loc, scale, chunk_size):
  """[M] log (1/N) sum_j N(z_i; loc_j, diag(scale_j^2)), rows in chunks.

  The [rows, N, d] differences are formed directly (no expanded quadratic
  form, which cancels badly in float32 when scales are small).
  """
  num = tf.shape(loc)[0]
  dim = tf.shape(loc)[1]
  num_rows = tf.shape(z)[0]
  if chunk_size is None:
    # About 2^22 elements per [rows, N, d] block (16 MiB in float32).
    chunk = tf.maximum(1, (2**22) // tf.maximum(1, num * dim))
  else:
    chunk = tf.constant(int(chunk_size))
  log_norm = -tf.reduce_sum(tf.math.log(scale), axis=-1) - tf.cast(dim, loc.dtype) * tf.constant(
    _HALF_LOG_2PI, loc.dtype
  )  # [N]
  log_n = tf.math.log(tf.cast(num, loc.dtype))
  inv_scale = tf.math.reciprocal(scale)
  num_chunks = (num_rows + chunk - 1) // chunk

  def body(i, out):
    start = i * chunk
    rows = z[start : tf.minimum(start + chunk, num_rows)]  # [c, d]
    standardised = (rows[:, tf.newaxis, :] - loc[tf.newaxis]) * inv_scale[tf.newaxis]  # [c, N, d]
    log_q = log_norm[tf.newaxis] - 0.5 * tf.reduce_sum(tf.square(standardised), axis=-1)  # [c, N]
    return i + 1, out.write(i, tf.reduce_logsumexp(log_q, axis=1) - log_n)

  out = tf.TensorArray(
    loc.dtype,
    size=num_chunks,
    element_shape=tf.TensorShape([None]),
    infer_shape=False,
  )
  _, out = tf.while_loop(
    lambda i, _: i < num_chunks,
    body,
    (tf.constant(0), out),
    parallel_iterations=1,
  )
  return out.concat()


def mutual_information(
  posterior_loc, posterior_scale, seed=0, *, noise=None, chunk_size=None, entropy="analytic"
) -> tf.Tensor:
  """MI I_q(x; z) with the aggregate posterior of *all* N posteriors (E4).

  He et al. (2019, "Lagging inference networks", section 4 / their
  `calc_mi`) estimator, used by 000 and 003:

      I_q = E_x E_{q(z|x)}[log q(z|x)] - E_{q(z)}[log q(z)],
      E_{q(z|x_i)}[log q(z|x_i)] = -H[q(z|x_i)]          (analytic)
      log q(z_i) ~= logsumexp_j log q(z_i|x_j) - log N,  z_i ~ q(z|x_i),

  one sample z_i per posterior.  Here the mixture q(z) runs over every one of
  the N posteriors given ("whole-set aggregate"); called on one batch it is
  exactly He et al.'s per-batch estimate.  The N x N log-densities are
  computed in row chunks (`chunk_size` rows of z at a time; default: about
  4M [rows, N, d] elements per chunk), so N = 4000, d = 32 is cheap.  The
  estimate is at most log N.

  Args:
    posterior_loc: [N, d] means of diagonal-Gaussian posteriors.
    posterior_scale: [N, d] (or broadcastable) standard deviations.
    seed: int or [2] seed; the noise is
      `tf.random.stateless_normal([N, d], stateless_seed(seed), dtype)`
      and z = loc + scale * noise.
    noise: optional [N, d] standard-normal noise that replaces the seeded one.
    chunk_size: rows per chunk (None: automatic).
    entropy: "analytic" (He et al.) or "sampled": E_q[log q(z|x)] taken at
      z_i itself, a lower-variance estimate of the same MI (`_own_log_density`).

  Returns:
    Scalar MI estimate in nats (dtype of `posterior_loc`).
  """
  loc, scale, z = _prepare_mi(posterior_loc, posterior_scale, seed, noise)
  log_qz = _log_mixture_density(z, loc, scale, chunk_size)
  return tf.reduce_mean(_own_log_density(loc, scale, z, entropy)) - tf.reduce_mean(log_qz)


def mutual_information_per_batch(
  posterior_loc,
  posterior_scale,
  batch_sizes: Sequence[int],
  seed=0,
  *,
  noise=None,
  entropy="analytic",
) -> tf.Tensor:
  """MI as He et al.'s evaluation code reports it: per batch, then averaged (E4).

  The rows of `posterior_loc` / `posterior_scale` are split into consecutive
  batches of `batch_sizes`; each batch gets the estimate of
  `mutual_information` with q(z) the mixture of *that batch's* posteriors,
  and the estimates are averaged weighted by batch size (He et al. 2019,
  `calc_mi` over the test batches).  Because each mixture only has B
  components the estimate is capped by log B and depends on the batching;
  `mutual_information` over the whole set is the batching-free variant.

  The noise is drawn exactly as in `mutual_information` for the whole [N, d]
  array (same `seed` -> same z), then split, so with a single batch the two
  functions agree exactly; `entropy` is theirs too.

  Returns:
    Scalar MI estimate in nats.
  """
  loc, scale, z = _prepare_mi(posterior_loc, posterior_scale, seed, noise)
  sizes = [int(s) for s in batch_sizes]
  if sum(sizes) != int(loc.shape[0]) or min(sizes, default=0) < 1:
    raise ValueError(f"batch_sizes {sizes} must be positive and sum to N = {loc.shape[0]}")
  total = tf.constant(0.0, dtype=loc.dtype)
  for loc_b, scale_b, z_b in zip(tf.split(loc, sizes), tf.split(scale, sizes), tf.split(z, sizes)):
    log_qz = _log_mixture_density(z_b, loc_b, scale_b, None)
    mi_b = tf.reduce_mean(_own_log_density(loc_b, scale_b, z_b, entropy)) - tf.reduce_mean(log_qz)
    total += tf.cast(tf.shape(loc_b)[0], loc.dtype) * mi_b
  return total / tf.constant(float(sum(sizes)), loc.dtype)


def batch_mutual_information(posterior, z, entropy="sampled") -> tf.Tensor:
  """He et al.'s MI on one batch for any posterior with a density (E4).

  The estimator of `mutual_information` written with `log_prob` alone:
  log q(z_i) ~= logsumexp_j log q(z_i|x_j) - log B over the batch's B
  posteriors, from `posterior.log_prob` of every z_i under every posterior
  ([B, B]), and E_q[log q(z|x_i)] as log q(z_i|x_i) ("sampled") or
  -H[q(z|x_i)] from `posterior.entropy()` ("analytic"). For diagonal
  Gaussians `mutual_information` computes the same from the parameters.

  Args:
    posterior: q(z|x) with batch shape [B].
    z: [B, *event], one sample of each q(z|x_i).
    entropy: "sampled" or "analytic".

  Raises:
    ValueError: the posterior has no density (or no entropy for "analytic").
  """
  if entropy not in MI_ENTROPY:
    raise ValueError(f"entropy={entropy!r}: choose one of {MI_ENTROPY}.")
  event_rank = len(posterior.event_shape)
  pairs = _density(posterior, tf.expand_dims(z, axis=-event_rank - 1), "mi", "q(z|x)")  # [B, B]
  log_mixture = tf.reduce_logsumexp(pairs, axis=1) - tf.math.log(
      tf.cast(tf.shape(pairs)[1], pairs.dtype))
  if entropy == "sampled":
    own = tf.linalg.diag_part(pairs)
  else:
    try:
      own = -posterior.entropy()
    except NotImplementedError as error:
      raise ValueError(f"metric 'mi' with entropy='analytic' needs the entropy of q(z|x); "
                       f"{type(posterior).__name__} has none: use entropy='sampled'.") from error
  return tf.reduce_mean(own) - tf.reduce_mean(log_mixture)


def monte_carlo_mean(posterior, seed, num_samples=100):
  """(mean, noise), each [B, k]: q(z|x)'s mean from S samples, for AU without a closed form.

  The k coordinates are z's flattened event. `noise` is the variance of each
  sample mean, Var(z|x) / S (estimated), which `active_units` subtracts so that
  a collapsed dimension (every q alike) is not counted active for the
  sampling noise of its means.
  """
  samples = posterior.sample(int(num_samples), seed=seed)
  batch = tf.shape(samples)[1]
  flat = tf.reshape(samples, [int(num_samples), batch, -1])
  mean = tf.reduce_mean(flat, axis=0)
  variance = tf.math.reduce_variance(flat, axis=0) * num_samples / (num_samples - 1.0)
  return mean, variance / num_samples


# ------------------------------------------------------------------------- E6
def true_kl(model, x, num_samples: int = 100, seed=0, *, chunk_size: int = 100,
            decode_budget: int | None = DECODE_BUDGET) -> tf.Tensor:
  """Estimate of the true-posterior KL(p(z|x) || p(z)) per example (E6).

  U^K - ln p^K(x) of 004 eq. 12 with the IWAE estimate of ln p(x) and K = 100
  (004 section 7.1.2): the KL of the model's posterior, not of q, so it
  measures latent use of models trained with Monte-Carlo objectives, where
  q(z|x) is only a proposal. Its mean over data estimates I(X; Z) under p_D.
  See `log_marginal_and_true_kl` for the arguments.

  Returns:
    [B] tensor of KL estimates (nats).
  """
  return log_marginal_and_true_kl(model, x, num_samples, seed, chunk_size=chunk_size,
                                  decode_budget=decode_budget)[1]


def log_marginal_and_true_kl(model, x, num_samples: int = 100, seed=0, *,
                             chunk_size: int = 100, decode_budget: int | None = DECODE_BUDGET):
  """(IWAE estimate of ln p(x), true-KL estimate U - S), each [B], from the same K samples.

  004 section 7.1.2 plots exactly these two against each other (NLL and MI
  with K = 100). The K samples are drawn in chunks of `chunk_size` (chunk i
  with seed fold_in(stateless_seed(seed), i)); only the [K, B] log terms are
  kept.

  Args:
    model: a model keeping the tfvae contract whose q(z|x) and p(z) have densities.
    x: a batch [B, ...].
    num_samples: K.
    seed: int or [2] stateless seed.
    chunk_size: samples per chunk (one seed each).
    decode_budget: see `decoder_log_prob`.
  """
  seed = stateless_seed(seed)
  posterior = model.posterior(x, training=False)
  _density(posterior, posterior.sample(seed=seed), "true_kl", "q(z|x)")
  pieces = []
  for i, start in enumerate(range(0, int(num_samples), int(chunk_size))):
    count = min(int(chunk_size), int(num_samples) - start)
    z = posterior.sample(count, seed=_fold_in(seed, i))
    pieces.append((decoder_log_prob(model, z, x, decode_budget), model.prior.log_prob(z),
                   posterior.log_prob(z)))
  terms = monte_carlo.SampleTerms(*[tf.concat(column, 0) for column in zip(*pieces)])
  return monte_carlo.log_mean_exp(terms.log_weights()), monte_carlo.true_kl_estimate(terms)


# ------------------------------------------------------------------------ E11
def pareto_front(nll, mi):
  """Indices of the non-dominated runs of a sweep, in increasing MI (E11, 004 section 7).

  A run is dominated when another has NLL <= and MI >= with at least one of
  them strict: the front is the best NLL reached at each level of latent use.

  Args:
    nll: [n] negative log-likelihoods (lower is better).
    mi: [n] mutual informations (higher is better).

  Returns:
    int array of indices into the inputs, sorted by MI (then NLL).

  Raises:
    ValueError: on mismatched lengths or non-finite values.
  """
  nll = np.asarray(nll, np.float64)
  mi = np.asarray(mi, np.float64)
  if nll.shape != mi.shape or nll.ndim != 1:
    raise ValueError(f"nll and mi must be vectors of one length, got {nll.shape} and {mi.shape}")
  if not (np.all(np.isfinite(nll)) and np.all(np.isfinite(mi))):
    raise ValueError("pareto_front got a NaN or infinite NLL or MI; drop the diverged runs first")
  # Sweep from the highest MI down: a run is on the front when its NLL beats
  # every run with at least its MI (ties in MI: the lower NLL first).
  order = np.lexsort((nll, -mi))
  front, best = [], np.inf
  for i in order:
    if nll[i] < best:
      front.append(i)
      best = nll[i]
  return np.array(sorted(front, key=lambda i: (mi[i], nll[i])), dtype=np.int64)


# ------------------------------------------------------------------------- E5
def active_units(posterior_means, threshold: float = 0.01, mean_noise=None):
  """Active units (E5): dimensions whose posterior mean varies over the data.

  003 section 4 ("Evaluation Metrics", after He et al. 2019): A_{z,d} =
  Cov_x(E_{q(z_d|x)}[z_d]); dimension d is active when A_{z,d} > threshold
  (0.01).  The variance over the N examples is the unbiased one (divisor
  N - 1), as in He et al.'s `calc_au`; it is NaN for N = 1.

  Args:
    posterior_means: [N, d] posterior means E_q[z|x] of the evaluation set.
    threshold: activity threshold.
    mean_noise: optional [N, d] variances of Monte-Carlo means
      (`monte_carlo_mean`); their average is subtracted from each dimension's
      variance, which then estimates Cov_x of the exact means.

  Returns:
    (count: int32 scalar tensor, variances: [d] tensor).
  """
  means = tf.convert_to_tensor(posterior_means)
  if not means.dtype.is_floating:
    means = tf.cast(means, tf.float64)
  num = tf.cast(tf.shape(means)[0], means.dtype)
  centred = means - tf.reduce_mean(means, axis=0, keepdims=True)
  variances = tf.reduce_sum(tf.square(centred), axis=0) / (num - 1.0)
  if mean_noise is not None:
    variances -= tf.reduce_mean(tf.cast(mean_noise, means.dtype), axis=0)
  count = tf.reduce_sum(tf.cast(variances > tf.constant(threshold, means.dtype), tf.int32))
  return count, variances


# ----------------------------------------------------------------- evaluation
def _first_element(batch):
  if isinstance(batch, (tuple, list)):
    return batch[0]
  return batch


def _outputs_without_density(model, x, posterior, recon_samples, batch_seed):
  """One batch of `evaluate` for a posterior with no density (an implicit sampler).

  What its samples give (the reconstruction term; AU from Monte-Carlo means)
  and what the model estimates itself (`estimate_kl`,
  `estimate_mutual_information`); no IW-NLL and no true KL, which need
  log q(z|x).
  """
  z = posterior.sample(int(recon_samples), seed=_fold_in(batch_seed, _RECON_STREAM))
  out = {"recon": -tf.reduce_mean(model.likelihood(z, x, training=False).log_prob(x), axis=0)}
  out["loc"], out["loc_noise"] = monte_carlo_mean(posterior, _fold_in(batch_seed, _MEAN_STREAM))
  kl = model.estimate_kl(x, seed=_fold_in(batch_seed, _RECON_STREAM))
  if kl is not None:
    out["kl"] = kl
  mi = model.estimate_mutual_information(x, seed=_fold_in(batch_seed, _MI_SAMPLE_STREAM))
  if mi is not None:
    out["mi"] = mi
  return out


def evaluate(
  model,
  dataset,
  *,
  num_samples: int = 500,
  chunk_size: int = 100,
  seed=0,
  count_tokens: Callable | None = None,
  recon_samples: int = 1,
  proposal_variance_factor: float = 1.0,
  au_threshold: float = 0.01,
  true_kl_samples: int = 0,
  mi_entropy: str = "analytic",
  decode_budget: int | None = DECODE_BUDGET,
) -> dict:
  """E1-E5 on a finite dataset in one pass; per-example averages.

  For each batch x (an element of `dataset`; a tuple/list element is read as
  (x, ...) and only x is used) a `tf.function(reduce_retracing=True)` step
  computes the IW log-likelihood, the ELBO terms and the posterior
  parameters; MI and AU are computed at the end from the collected
  posteriors.

  Returned dict (python floats / ints; averages are over examples, for text
  per sentence):
    nll: -mean IW estimate of log p(x), K = `num_samples` (E1; 003 uses 500).
    recon: -E_q log p(x|z), Monte-Carlo with `recon_samples` samples of
      q(z|x) per example (default a single sample; there is no analytic form
      under the contract).
    kl: KL(q(z|x) || p(z)); analytic via `tfd.kl_divergence` when registered,
      else Monte-Carlo from the same samples as `recon` (logged once).
    neg_elbo: recon + kl (E3); elbo: -neg_elbo.
    mi_batch: He et al.'s MI, per batch and averaged weighted by batch size
      (what 000/003 report; depends on the batch size) (E4).
    mi_aggregate: the same estimator with q(z) the mixture of all N
      posteriors of the set (E4); None for non-Gaussian posteriors.
    au: number of active units, threshold `au_threshold` (E5).
    true_kl: with `true_kl_samples` = K > 0, the mean estimate U - S of
      KL(p(z|x) || p(z)) from K samples (E6, `true_kl`); its mean over the
      data estimates the model's I(X; Z) (004 section 7.1.2 uses K = 100).
    num_examples: N.
    With `count_tokens` (a function x -> [B] int number of predicted tokens
    per example, end-of-sentence included; it is called eagerly on each
    batch so may use TF or numpy):
    ppl: exp(sum NLL / sum tokens) (E2); elbo_ppl: exp(sum -ELBO / sum
    tokens); num_tokens: sum of tokens.

  MI: for diagonal-Gaussian posteriors (`Independent(Normal)` or
  `MultivariateNormalDiag`) from their parameters, both forms; for any other
  posterior He et al.'s per-batch estimate through `log_prob`
  (`batch_mutual_information`, sampled entropy) and mi_aggregate None (the
  whole-set mixture would need every posterior at once). AU uses
  `posterior.mean()`, or a 100-sample Monte-Carlo mean with its sampling
  noise subtracted (`monte_carlo_mean`) where there is no closed form (e.g.
  IAF, as in 003 table 1). A model whose posterior has no density
  (`posterior_has_density = False`, e.g. an implicit sampler) gets recon and
  AU from samples, kl and mi_batch from its `estimate_kl` and
  `estimate_mutual_information`, and None ("n/a") for what neither gives:
  nll, ppl, true_kl, and elbo without a KL.

  Seeds (deterministic given `seed`): s = stateless_seed(seed); batch b uses
  s_b = fold_in(fold_in(s, 0), b), its importance samples
  `iw_log_likelihood(..., seed=fold_in(s_b, 0))` and its reconstruction
  samples seed fold_in(s_b, 1); both MI variants use
  `seed=fold_in(s, 1)` on the [N, d] collected posteriors (identical z), so
  mi_aggregate and au do not depend on how the data is batched.

  Args:
    model: a model keeping the tfvae contract.
    dataset: finite iterable of batches (usually a tf.data.Dataset).
    num_samples: K for E1.
    chunk_size: importance samples per chunk (memory).
    seed: int or [2] seed.
    count_tokens: optional per-example token counter for PPL.
    recon_samples: samples of q(z|x) for the reconstruction term.
    proposal_variance_factor: IW proposal variance inflation (2 for 001).
    au_threshold: AU threshold (0.01 in 003).
    true_kl_samples: K of the true-posterior KL; 0 skips it.
    mi_entropy: the `entropy` of both MI estimates ("analytic", He et al.'s,
      what the papers report; "sampled", lower variance, same expectation).
    decode_budget: the most samples x data elements per decoder call
      (`decoder_log_prob`): bounds memory on long sentences, same numbers.

  Returns:
    dict as described above.
  """
  base = stateless_seed(seed)
  batch_root = _fold_in(base, _BATCH_STREAM)
  flags = {}

  has_density = getattr(model, "posterior_has_density", True)

  @tf.function(reduce_retracing=True, autograph=False)
  def step(x, batch_seed):
    posterior = model.posterior(x, training=False)
    if not has_density:
      return _outputs_without_density(model, x, posterior, recon_samples, batch_seed)
    proposal = inflate_proposal(posterior, proposal_variance_factor)
    log_px = _iw_log_likelihood(
      model,
      proposal,
      x,
      num_samples,
      chunk_size,
      _fold_in(batch_seed, _IW_STREAM),
      decode_budget,
    )
    z = posterior.sample(int(recon_samples), seed=_fold_in(batch_seed, _RECON_STREAM))
    recon = -tf.reduce_mean(model.likelihood(z, x, training=False).log_prob(x), axis=0)
    kl, analytic = kl_to_prior(posterior, model.prior, samples=z)
    flags["kl_analytic"] = analytic
    out = {"log_px": log_px, "recon": recon, "kl": kl}
    if true_kl_samples:
      out["true_kl"] = true_kl(model, x, int(true_kl_samples),
                               _fold_in(batch_seed, _TRUE_KL_STREAM), chunk_size=chunk_size,
                               decode_budget=decode_budget)
    flags["gaussian"] = _is_diagonal_gaussian(posterior)
    if flags["gaussian"]:
      out["loc"] = posterior.mean()
      out["scale"] = posterior.stddev()
      return out
    # Any other posterior: its mean (one column per coordinate) or a Monte-Carlo
    # mean for AU, and He et al.'s per-batch MI through log_prob.
    try:
      out["loc"] = tf.reshape(posterior.mean(), [tf.shape(log_px)[0], -1])
    except NotImplementedError:
      out["loc"], out["loc_noise"] = monte_carlo_mean(posterior,
                                                      _fold_in(batch_seed, _MEAN_STREAM))
    z_mi = posterior.sample(seed=_fold_in(batch_seed, _MI_SAMPLE_STREAM))
    out["mi"] = batch_mutual_information(posterior, z_mi, entropy="sampled")
    return out

  log_px, recon, kl, locs, scales, sizes, tokens, true_kls = [], [], [], [], [], [], [], []
  loc_noises, batch_mis = [], []
  for index, batch in enumerate(dataset):
    x = _first_element(batch)
    out = step(x, _fold_in(batch_root, index))
    recon.append(out["recon"].numpy().astype(np.float64))
    if "log_px" in out:
      log_px.append(out["log_px"].numpy().astype(np.float64))
    if "kl" in out:
      kl.append(out["kl"].numpy().astype(np.float64))
    if "true_kl" in out:
      true_kls.append(out["true_kl"].numpy().astype(np.float64))
    if "loc" in out:
      locs.append(out["loc"].numpy().astype(np.float64))
    if "scale" in out:
      scales.append(out["scale"].numpy().astype(np.float64))
    if "loc_noise" in out:
      loc_noises.append(out["loc_noise"].numpy().astype(np.float64))
    if "mi" in out:
      batch_mis.append(float(out["mi"]))
    sizes.append(int(recon[-1].shape[0]))
    if count_tokens is not None:
      counts = np.asarray(count_tokens(x)).astype(np.int64).reshape([-1])
      if counts.shape[0] != sizes[-1]:
        raise ValueError(
          f"count_tokens returned {counts.shape[0]} counts for a batch of {sizes[-1]}"
        )
      tokens.append(counts)
    logging.vlog(1, "evaluate: batch %d, %d examples", index, sizes[-1])

  if not sizes:
    raise ValueError("evaluate needs a non-empty dataset")
  num_examples = sum(sizes)
  # None ("n/a"): what a posterior without density and without the model's estimate lacks.
  nll_sum = -np.sum(np.concatenate(log_px)) if log_px else None
  recon_sum = np.sum(np.concatenate(recon))
  kl_sum = np.sum(np.concatenate(kl)) if kl else None
  neg_elbo_sum = recon_sum + kl_sum if kl_sum is not None else None
  if not flags.get("kl_analytic", True):
    logging.info(
      "evaluate: no analytic KL(q||p) registered; KL is a %d-sample Monte-Carlo estimate",
      recon_samples,
    )

  mi_seed = _fold_in(base, _MI_STREAM)
  if flags.get("gaussian"):
    loc = np.concatenate(locs)
    scale = np.concatenate(scales)
    mi_aggregate = float(mutual_information(loc, scale, mi_seed, entropy=mi_entropy))
    mi_batch = float(mutual_information_per_batch(loc, scale, sizes, mi_seed,
                                                  entropy=mi_entropy))
  else:
    # The whole-set mixture needs every posterior at once: per batch only.
    mi_batch = float(np.average(batch_mis, weights=sizes)) if batch_mis else None
    mi_aggregate = None
  noise = np.concatenate(loc_noises) if loc_noises else None
  au = int(active_units(np.concatenate(locs), au_threshold, mean_noise=noise)[0])

  def per_example(total, sign=1.0):
    return None if total is None else float(sign * total / num_examples)

  results = {
    "nll": per_example(nll_sum),
    "elbo": per_example(neg_elbo_sum, -1.0),
    "neg_elbo": per_example(neg_elbo_sum),
    "recon": per_example(recon_sum),
    "kl": per_example(kl_sum),
    "mi_batch": mi_batch,
    "mi_aggregate": mi_aggregate,
    "au": au,
    "num_examples": int(num_examples),
  }
  if true_kl_samples:
    results["true_kl"] = float(np.mean(np.concatenate(true_kls))) if true_kls else None
  if count_tokens is not None:
    num_tokens = int(np.sum(np.concatenate(tokens)))
    results["num_tokens"] = num_tokens
    results["ppl"] = None if nll_sum is None else float(np.exp(nll_sum / num_tokens))
    results["elbo_ppl"] = (None if neg_elbo_sum is None
                           else float(np.exp(neg_elbo_sum / num_tokens)))
  logging.info("evaluate: %s", results)
  return results
