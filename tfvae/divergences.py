"""KL divergences between latent distributions: one function for training, metrics and export.

`kl(q, p, z)` is TFP's registered closed form when there is one (e.g. two
diagonal Gaussians: Kingma and Welling 2014, appendix B) and otherwise the
Monte-Carlo estimate mean_s [log q(z_s) - log p(z_s)] on the samples `z` of q
that the caller already drew (a training step's reparameterised samples, so the
estimate carries their gradients), or on `num_samples` fresh ones.
`kl_per_dimension` does the same for distributions that factorise over the
last axis (`tfd.Independent`), as free bits need (Kingma et al. 2016, eq. 15).
`pairwise_symmetric_kl` is the symmetric KL between every two diagonal
Gaussians of a batch, which MAE's regulariser needs (Ma et al. 2019; Shen et
al. (2021), eq. 2).

A bottom-layer module: it imports nothing of tfvae.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def has_closed_form(q, p):
  """Whether TFP has a registered closed form of KL(q || p)."""
  try:
    tfd.kl_divergence(q, p)
  except NotImplementedError:
    return False
  return True


def kl(q, p, z=None, *, seed=None, num_samples=1):
  """KL(q || p) for every batch member of q: closed form, else Monte Carlo.

  Args:
    q, p: distributions over the same event space; q's batch shape is kept.
    z: samples of q, [S, *batch, *event], used only without a closed form.
    seed: stateless seed for drawing `num_samples` samples when `z` is None
      and there is no closed form.
    num_samples: S for those fresh samples.

  Raises:
    ValueError: no closed form, and neither samples nor a seed to draw them.
  """
  try:
    return tfd.kl_divergence(q, p)
  except NotImplementedError:
    pass
  return monte_carlo_kl(q, p, z, seed=seed, num_samples=num_samples)


def monte_carlo_kl(q, p, z=None, *, seed=None, num_samples=1):
  """mean_s [log q(z_s) - log p(z_s)] over the leading sample axis of `z` (or fresh samples)."""
  if z is None:
    if seed is None:
      raise ValueError(
          f"KL({type(q).__name__} || {type(p).__name__}) has no closed form in TFP: pass "
          "samples z of q or a seed to draw them from.")
    z = q.sample(num_samples, seed=seed)
  return tf.reduce_mean(_log_density(q, z, "q") - _log_density(p, z, "p"), axis=0)


def _log_density(distribution, z, name):
  try:
    return distribution.log_prob(z)
  except NotImplementedError as error:
    raise ValueError(
        f"A Monte-Carlo KL needs the density of {name}, but {type(distribution).__name__}"
        ".log_prob is not implemented; a model with an implicit distribution must supply "
        "its own KL estimate.") from error


def kl_per_dimension(q, p, z=None, *, seed=None, num_samples=1):
  """KL(q(z_j) || p(z_j)) for every dimension j, [*batch, d], for q, p factorising over j.

  Raises:
    ValueError: q or p is not a `tfd.Independent` over one event axis.
  """
  return kl(_factors(q, "q"), _factors(p, "p"), z, seed=seed, num_samples=num_samples)


def _factors(distribution, name):
  """The distribution of each dimension of an `Independent` over one event axis."""
  if not (isinstance(distribution, tfd.Independent)
          and tf.get_static_value(distribution.reinterpreted_batch_ndims) == 1):
    raise ValueError(f"A per-dimension KL needs {name} to factorise over the last axis "
                     f"(tfd.Independent over one axis); got {type(distribution).__name__}.")
  return distribution.distribution


def pairwise_symmetric_kl(loc, scale, *, per_dimension=False):
  """D_SKL[q_i || q_j] between every two diagonal Gaussians q_i = N(loc_i, diag scale_i^2).

  D_SKL is the *mean* of the two directions, (KL(q_i||q_j) + KL(q_j||q_i)) / 2,
  as Shen et al. (2021) define it after eq. 2 (their eq. 3 then carries the
  factor 2 on its left side: the sum of the two directions is 2 D_SKL). The
  log-determinants cancel, so that per dimension, with v = scale^2,

    D_SKL = ((v_i + (m_i - m_j)^2) / v_j + (v_j + (m_i - m_j)^2) / v_i - 2) / 4,

  symmetric in i, j and exactly 0 on the diagonal. Vectorised by
  broadcasting: memory O(B^2 d).

  Args:
    loc, scale: [B, d] means and standard deviations (scale > 0).
    per_dimension: return the terms of each dimension, [B, B, d], whose sum
      over the last axis is the [B, B] default.

  Returns:
    [B, B] (or [B, B, d]) tensor; entry (i, j) is D_SKL[q_i || q_j].
  """
  loc = tf.convert_to_tensor(loc)
  variance = tf.square(tf.convert_to_tensor(scale, loc.dtype))
  squared_distance = tf.square(loc[:, None, :] - loc[None, :, :])
  # (v_i + (m_i - m_j)^2) / v_j: entry (i, j) is 2 KL(q_i || q_j) + 1 + log(v_i / v_j).
  spread = (variance[:, None, :] + squared_distance) / variance[None, :, :]
  terms = 0.25 * (spread + tf.transpose(spread, [1, 0, 2]) - 2.0)
  return terms if per_dimension else tf.reduce_sum(terms, axis=-1)
