"""Reading densities off posteriors for the metrics, with errors that name the metric."""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ["log_density", "is_diagonal_gaussian"]


def log_density(distribution, value, metric: str, what: str) -> tf.Tensor:
  """`distribution.log_prob(value)`, or a ValueError naming `metric` and `what` lacks a density.

  Implicit posteriors (e.g. iVAE's sampler) have no `log_prob`, or one that
  raises NotImplementedError; the metrics that need q(z|x) say so this way.
  """
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


def is_diagonal_gaussian(distribution) -> bool:
  """Whether `distribution` is a diagonal Gaussian over a vector event (the MI fast path)."""
  if isinstance(distribution, tfd.MultivariateNormalDiag):
    return True
  if not (
    isinstance(distribution, tfd.Independent) and isinstance(distribution.distribution, tfd.Normal)
  ):
    return False
  ndims = tf.get_static_value(distribution.reinterpreted_batch_ndims)
  return ndims is not None and int(ndims) == 1
