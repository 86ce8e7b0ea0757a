"""Importance sampling with the encoder as proposal: IW-NLL (E1) and the true-posterior KL (E6).

One sampler, `importance_terms`, draws the K samples of a proposal in chunks
and keeps their [K, B] log terms; the importance-weighted estimate of log p(x)
(Burda et al. 2016, eq. 8; K = 500 in Shen et al. (2021), section 4, K = 5000
with a x2 variance-inflated proposal in Yacoby et al. (2020), appendix E) and
the true-posterior KL U^K - ln p^K(x) (Melis et al. (2022), eq. 12, K = 100)
are both read off its terms.

Chunk i (0-based) draws min(chunk_size, K - i chunk_size) samples with seed
fold_in(stateless_seed(seed), i), so a result depends on `chunk_size` only
through which samples are drawn. Within a chunk, `decode_budget` bounds the
data elements decoded per call without changing the samples
(`decoder_log_prob`).
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.metrics.chunks import concat_chunks
from tfvae.metrics.densities import is_diagonal_gaussian
from tfvae.metrics.densities import log_density
from tfvae.metrics.seeds import fold_in
from tfvae.metrics.seeds import stateless_seed
from tfvae.objectives import monte_carlo

tfd = tfp.distributions

__all__ = [
  "DECODE_BUDGET",
  "decoder_log_prob",
  "importance_terms",
  "inflate_proposal",
  "iw_log_likelihood",
  "log_importance_weights",
  "log_marginal_and_true_kl",
  "true_kl",
]

# Default decoder budget (`decoder_log_prob`): 10,000 decoded tokens are 0.4 GB
# of float32 logits with a 10k-word vocabulary, and a decoder call holds about
# 4.5 tensors of that size at its peak (logits, the log-sum-exp's intermediates,
# the LSTM's projected inputs): PTB's longest test batch then peaks near 3 GB of
# resident memory (5.4 GB at 25,000), at the same speed on a 2-core CPU.
DECODE_BUDGET = 10_000


def inflate_proposal(posterior, variance_factor: float):
  """Diagonal-Gaussian q(z|x) with its variance multiplied by `variance_factor`.

  Yacoby et al. (2020), appendix E, evaluate their synthetic sets with K = 5000
  importance samples drawn from the encoder's posterior with variance inflated
  x2; this builds that proposal. Only diagonal Gaussians (`Independent(Normal)`,
  `MultivariateNormalDiag`) are supported; `variance_factor == 1` returns
  `posterior` unchanged.
  """
  if variance_factor == 1.0:
    return posterior
  if variance_factor <= 0:
    raise ValueError(f"variance_factor must be positive, got {variance_factor}")
  if not is_diagonal_gaussian(posterior):
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

  def log_prob(i):
    z_group = z[i * group : tf.minimum((i + 1) * group, num_samples)]
    return (model.likelihood(z_group, x, training=False).log_prob(x),)

  return concat_chunks(log_prob, (num_samples + group - 1) // group)[0]


def _log_terms(model, proposal, x, num_samples, seed, metric, decode_budget):
  """(log p(x|z), log p(z), log q(z|x)), each [K, B], of K samples z ~ `proposal`."""
  z = proposal.sample(num_samples, seed=seed)
  return (decoder_log_prob(model, z, x, decode_budget),
          log_density(model.prior, z, metric, "p(z)"),
          log_density(proposal, z, metric, "q(z|x)"))


def importance_terms(model, proposal, x, num_samples: int, chunk_size: int, seed, *,
                     metric: str, decode_budget=DECODE_BUDGET) -> monte_carlo.SampleTerms:
  """The [K, B] log terms of K samples of `proposal`, drawn and decoded in chunks.

  Args:
    model: a model keeping the tfvae contract (its prior and likelihood are read).
    proposal: the distribution the samples come from, batch [B] (q(z|x) or
      an inflated q).
    x: the batch [B, ...].
    num_samples: K.
    chunk_size: samples per chunk (the decoder sees [chunk_size, B, ...]).
    seed: int or [2] stateless seed; chunk i uses fold_in(stateless_seed(seed), i).
    metric: the metric's name, for the error when a density is missing.
    decode_budget: see `decoder_log_prob`.

  Returns:
    `monte_carlo.SampleTerms` with log_likelihood, log_prior and log_proposal.

  Raises:
    ValueError: on a non-positive K or chunk size, or when q(z|x) or p(z)
      has no density.
  """
  num_samples, chunk_size = int(num_samples), int(chunk_size)
  if num_samples < 1 or chunk_size < 1:
    raise ValueError(f"num_samples and chunk_size must be >= 1, got {num_samples}, {chunk_size}")
  chunk_size = min(chunk_size, num_samples)
  seed = stateless_seed(seed)

  def chunk_terms(i):
    count = tf.minimum(chunk_size, num_samples - i * chunk_size)
    return _log_terms(model, proposal, x, count, fold_in(seed, i), metric, decode_budget)

  num_chunks = -(-num_samples // chunk_size)
  return monte_carlo.SampleTerms(*concat_chunks(chunk_terms, num_chunks))


def log_importance_weights(
  model, x, num_samples: int, seed, *, proposal_variance_factor: float = 1.0
) -> tf.Tensor:
  """[K, B] log importance weights log p(x, z_k) - log q(z_k|x), z_k ~ q(z|x) (E1).

  The summands of Burda et al. (2016) eq. 8, from one draw
  `q.sample(K, seed=stateless_seed(seed))` with q = model.posterior(x)
  (inflated by `proposal_variance_factor`, whose density then weighs them).

  Raises:
    ValueError: if q(z|x) or p(z) has no density.
  """
  proposal = inflate_proposal(model.posterior(x, training=False), proposal_variance_factor)
  terms = _log_terms(model, proposal, x, int(num_samples), stateless_seed(seed), "iw_nll", None)
  return monte_carlo.SampleTerms(*terms).log_weights()


def importance_posterior_mean(model, x, num_samples: int, seed, *,
                              proposal_variance_factor: float = 1.0) -> tf.Tensor:
  """E[z | x] under the model's own posterior p_theta(z|x), [B, d], by self-normalised IS.

  sum_k w_k z_k / sum_k w_k with w_k = p(x|z_k) p(z_k) / q'(z_k|x), z_k ~ q',
  q' = q(z|x) with its variance inflated by `proposal_variance_factor`:
  the posterior of the decoder, not the encoder's approximation of it
  (Yacoby et al. (2020), figures 2-3, compare the two). One draw of K
  samples, `q'.sample(K, seed=stateless_seed(seed))`, decoded at once.
  """
  proposal = inflate_proposal(model.posterior(x, training=False), proposal_variance_factor)
  z = proposal.sample(int(num_samples), seed=stateless_seed(seed))
  log_weights = (model.likelihood(z, x, training=False).log_prob(x)
                 + log_density(model.prior, z, "posterior mean", "p(z)")
                 - proposal.log_prob(z))
  weights = tf.nn.softmax(log_weights, axis=0)
  return tf.reduce_sum(weights[..., None] * tf.cast(z, weights.dtype), axis=0)


def iw_log_likelihood(model, x, num_samples: int = 500, chunk_size: int = 100, seed=0, *,
                      proposal_variance_factor: float = 1.0,
                      decode_budget: int | None = DECODE_BUDGET, posterior=None) -> tf.Tensor:
  """Importance-weighted estimate of log p(x) per example, [B] nats (E1).

  log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x)
  (Burda et al. 2016 eq. 8 with the encoder as proposal). A stochastic lower
  bound of log p(x) in expectation that converges to it as K grows;
  -mean(...) is the "NLL" of the tables. The samples come from
  `importance_terms` (chunk i with seed fold_in(stateless_seed(seed), i)).

  Args:
    model: a model keeping the tfvae contract.
    x: a batch [B, ...].
    num_samples: K.
    chunk_size: samples per chunk (memory).
    seed: int or [2] stateless seed.
    proposal_variance_factor: inflate the diagonal-Gaussian proposal's
      variance (2 for the synthetic sets of Yacoby et al. (2020)); see
      `inflate_proposal`.
    decode_budget: see `decoder_log_prob`; None decodes whole chunks.
    posterior: q(z|x) when the caller already has it (else model.posterior(x)).

  Raises:
    ValueError: if q(z|x) or p(z) has no density.
  """
  if posterior is None:
    posterior = model.posterior(x, training=False)
  proposal = inflate_proposal(posterior, proposal_variance_factor)
  terms = importance_terms(model, proposal, x, num_samples, chunk_size, seed, metric="iw_nll",
                           decode_budget=decode_budget)
  return monte_carlo.log_mean_exp(terms.log_weights())


def log_marginal_and_true_kl(model, x, num_samples: int = 100, seed=0, *, chunk_size: int = 100,
                             decode_budget: int | None = DECODE_BUDGET, posterior=None):
  """(IWAE estimate of ln p(x), true-KL estimate U - S), each [B], from the same K samples.

  Melis et al. (2022), section 7.1.2, plot exactly these two against each other
  (NLL and MI with K = 100). Arguments as for `iw_log_likelihood`.
  """
  if posterior is None:
    posterior = model.posterior(x, training=False)
  terms = importance_terms(model, posterior, x, num_samples, chunk_size, seed, metric="true_kl",
                           decode_budget=decode_budget)
  return monte_carlo.log_mean_exp(terms.log_weights()), monte_carlo.true_kl_estimate(terms)


def true_kl(model, x, num_samples: int = 100, seed=0, *, chunk_size: int = 100,
            decode_budget: int | None = DECODE_BUDGET, posterior=None) -> tf.Tensor:
  """Estimate of the true-posterior KL(p(z|x) || p(z)) per example, [B] nats (E6).

  U^K - ln p^K(x) of Melis et al. (2022), eq. 12, with the IWAE estimate of
  ln p(x) and K = 100 (Melis et al. (2022), section 7.1.2): the KL of the
  model's posterior, not of q, so it measures latent use of models trained with
  Monte-Carlo objectives, where q(z|x) is only a proposal. Its mean over data
  estimates I(X; Z) under p_D.
  Arguments as for `log_marginal_and_true_kl`.
  """
  return log_marginal_and_true_kl(model, x, num_samples, seed, chunk_size=chunk_size,
                                  decode_budget=decode_budget, posterior=posterior)[1]
