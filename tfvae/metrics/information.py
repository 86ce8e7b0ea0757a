"""Latent use: KL to the prior (E3) and the mutual information I_q(x; z) (E4).

E4 is the estimator of He et al. (2019, "Lagging inference networks",
section 4), which Fang et al. (2019) and Shen et al. (2021) report: from the
parameters of diagonal Gaussians over the whole set (`mutual_information`) or
per batch as their code does (`mutual_information_per_batch`), and through
`log_prob` for any posterior with a density (`batch_mutual_information`).
"""

import math
from collections.abc import Sequence

import tensorflow as tf

from tfvae import divergences
from tfvae.metrics.chunks import concat_chunks
from tfvae.metrics.densities import log_density
from tfvae.metrics.seeds import stateless_seed

__all__ = [
  "MI_ENTROPY",
  "batch_mutual_information",
  "kl_to_prior",
  "mutual_information",
  "mutual_information_per_batch",
]

_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def kl_to_prior(posterior, prior, *, seed=0, num_samples: int = 1, samples=None):
  """Per-example KL(q(z|x) || p(z)) (E3) through `tfvae.divergences.kl`.

  The closed form where TFP has one (e.g. diagonal Gaussian to N(0, I): He's
  lecture notes (2026) / Kingma & Welling 2014 appendix B); otherwise the
  Monte-Carlo estimate mean_s [log q(z_s|x) - log p(z_s)], z_s ~ q(z|x), from
  `samples` ([S, B, d]) when given, else from `num_samples` draws with
  `stateless_seed(seed)`.

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

  def log_mixture(i):
    rows = z[i * chunk : tf.minimum((i + 1) * chunk, num_rows)]  # [c, d]
    standardised = (rows[:, tf.newaxis, :] - loc[tf.newaxis]) * inv_scale[tf.newaxis]  # [c, N, d]
    log_q = log_norm[tf.newaxis] - 0.5 * tf.reduce_sum(tf.square(standardised), axis=-1)  # [c, N]
    return (tf.reduce_logsumexp(log_q, axis=1) - log_n,)

  return concat_chunks(log_mixture, (num_rows + chunk - 1) // chunk)[0]


def mutual_information(
  posterior_loc, posterior_scale, seed=0, *, noise=None, chunk_size=None, entropy="analytic"
) -> tf.Tensor:
  """MI I_q(x; z) with the aggregate posterior of *all* N posteriors (E4).

  He et al. (2019, "Lagging inference networks", section 4 / their
  `calc_mi`) estimator, used by Fang et al. (2019) and Shen et al. (2021):

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
  # Every z_i against every posterior, [B, B, *event], spelled out rather than
  # broadcast: a flow whose inverse is a loop (IAF) keeps its input's shape.
  z_pairs = tf.expand_dims(z, axis=-event_rank - 1)
  z_pairs = tf.broadcast_to(z_pairs, tf.concat([tf.shape(z)[:1], tf.shape(z)], axis=0))
  pairs = log_density(posterior, z_pairs, "mi", "q(z|x)")  # [B, B]
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
