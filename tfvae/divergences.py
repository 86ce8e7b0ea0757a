"""KL divergences between latent distributions: one function for training, metrics and export.

`kl(q, p, z)` is TFP's registered closed form when there is one (e.g. two
diagonal Gaussians: Kingma and Welling 2014, appendix B) and otherwise the
Monte-Carlo estimate mean_s [log q(z_s) - log p(z_s)] on the samples `z` of q
that the caller already drew (a training step's reparameterised samples, so the
estimate carries their gradients), or on `num_samples` fresh ones.
`kl_per_dimension` does the same for distributions that factorise over the
last axis (`tfd.Independent`), as free bits need (Kingma et al. 2016, eq. 15).

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
