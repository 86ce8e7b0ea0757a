"""Active units (E5): the latent dimensions whose posterior mean varies over the data."""

import tensorflow as tf

__all__ = ["active_units", "monte_carlo_mean", "posterior_means"]


def active_units(posterior_means, threshold: float = 0.01, mean_noise=None):
  """Active units (E5): dimensions whose posterior mean varies over the data.

  Shen et al. (2021), section 4 ("Evaluation Metrics", after He et al. 2019):
  A_{z,d} = Cov_x(E_{q(z_d|x)}[z_d]); dimension d is active when
  A_{z,d} > threshold (0.01).  The variance over the N examples is the unbiased
  one (divisor N - 1), as in He et al.'s `calc_au`; it is NaN for N = 1.

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


def posterior_means(posterior, seed):
  """(mean [B, k], noise [B, k] or None): E_q[z|x] in closed form, else `monte_carlo_mean`'s.

  The k coordinates are z's flattened event; `noise` is None for a closed form.
  """
  try:
    mean = posterior.mean()
  except NotImplementedError:
    return monte_carlo_mean(posterior, seed)
  return tf.reshape(mean, [tf.shape(mean)[0], -1]), None
