"""The Henze-Zirkler test of multivariate normality, differentiable in TensorFlow.

Henze and Zirkler (1990) measure how far the empirical characteristic function
of the standardised sample is from that of N(0, I), as a Gaussian-weighted L2
distance whose weight has width `beta`. In closed form the statistic is

    T = (1/n) sum_{i,j} exp(-beta^2/2 D_ij)
        - 2 (1 + beta^2)^(-d/2) sum_i exp(-beta^2 / (2 (1 + beta^2)) D_i)
        + n (1 + 2 beta^2)^(-d/2),

with D_ij = (x_i - x_j)' S^-1 (x_i - x_j) and D_i = (x_i - m)' S^-1 (x_i - m)
the *squared* Mahalanobis distances under the sample mean m and the biased
sample covariance S (divisor n). T >= 0, is 0 only when the empirical and the
Gaussian characteristic functions agree, is invariant under x -> x A + b for
any invertible A, and grows with n unless the sample is Gaussian. Its null
distribution is approximated by a log-normal with the mean and variance that
Henze and Zirkler (1990) derive; `henze_zirkler_test` returns that p-value.

LiBI (Yacoby et al. (2020), eq. 44) learns the decoder together with a
deterministic encoder h(x; varphi) and penalises eps_HZ exp(HZ({h(x_n)})),
the smooth form of the constraint HZ({z_n}) < eps_HZ (eq. 43), next to
penalties on the mean and covariance of the codes, so that the codes look like
draws from the prior N(0, I). The penalty is minimised by gradient descent
through h, so T must be a differentiable function of the points: it is
computed here with a Cholesky factor of S and triangular solves (no explicit
inverse, no square roots of distances), which keeps its gradient finite.
"""

import math

import numpy as np
import tensorflow as tf

__all__ = [
  "default_beta",
  "henze_zirkler_statistic",
  "henze_zirkler_test",
]


def _as_beta(beta, dtype) -> tf.Tensor:
  """beta as a scalar of dtype (a Python float is not rounded through float32)."""
  if isinstance(beta, (tf.Tensor, tf.Variable)):
    return tf.cast(beta, dtype)
  return tf.constant(float(beta), dtype)


def _check_points(x) -> tf.Tensor:
  """x as a floating [n, d] tensor; static shape errors raise here."""
  x = tf.convert_to_tensor(x)
  if not x.dtype.is_floating:
    raise TypeError(f"x must be a float tensor (float32 or float64), got {x.dtype.name}")
  if x.shape.rank is not None and x.shape.rank != 2:
    raise ValueError(f"x must be a rank-2 [n, d] tensor of n points in d dimensions, "
                     f"got rank {x.shape.rank} (shape {x.shape})")
  if x.shape.rank == 2:
    n, d = x.shape
    if d is not None and d < 1:
      raise ValueError(f"x must have at least one column (d >= 1), got shape {x.shape}")
    if n is not None and n < 2:
      raise ValueError(f"the Henze-Zirkler statistic needs at least 2 points, got n = {n}")
    if n is not None and d is not None and n <= d:
      raise ValueError(f"the sample covariance of n = {n} points in d = {d} dimensions is "
                       f"singular: the Henze-Zirkler statistic needs n > d")
  return x


def default_beta(n, d, dtype=tf.float32) -> tf.Tensor:
  """Henze and Zirkler's (1990) smoothing parameter for n points in d dimensions.

  beta = (1 / sqrt(2)) ((2d + 1) n / 4)^(1 / (d + 4)), the choice that makes
  the test behave like a density-estimate-based test (it is what pingouin and
  R's MVN use).

  Args:
    n: number of points (int or scalar tensor).
    d: dimension (int or scalar tensor).
    dtype: float dtype of the result.

  Returns:
    Scalar tensor of `dtype`.
  """
  n = tf.cast(n, dtype)
  d = tf.cast(d, dtype)
  return tf.math.sqrt(tf.constant(0.5, dtype)) * tf.pow((2.0 * d + 1.0) * n / 4.0, 1.0 / (d + 4.0))


def _whiten(x: tf.Tensor) -> tf.Tensor:
  """[n, d] points y_i = L^-1 (x_i - m), S = L L'; so |y_i|^2 = D_i.

  Raises tf.errors.InvalidArgumentError (when run) if S is not numerically
  positive definite.
  """
  n = tf.cast(tf.shape(x)[0], x.dtype)
  d = tf.shape(x)[1]
  centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
  cov = tf.matmul(centred, centred, transpose_a=True) / n  # biased, as Henze and Zirkler
  eigenvalues = tf.stop_gradient(tf.linalg.eigvalsh(cov))
  eps = np.finfo(x.dtype.as_numpy_dtype).eps
  tolerance = 10.0 * eps * tf.cast(d, x.dtype) * tf.reduce_max(tf.abs(eigenvalues))
  check = tf.debugging.Assert(
    tf.reduce_min(eigenvalues) > tolerance,
    ["Henze-Zirkler: the sample covariance of x is not positive definite (points on a "
     "hyperplane, duplicated or constant columns, or n <= d); its smallest and largest "
     "eigenvalues are", tf.reduce_min(eigenvalues), tf.reduce_max(eigenvalues)])
  with tf.control_dependencies([check]):
    chol = tf.linalg.cholesky(cov)
  return tf.transpose(tf.linalg.triangular_solve(chol, tf.transpose(centred), lower=True))


def henze_zirkler_statistic(x, beta=None) -> tf.Tensor:
  """The Henze-Zirkler statistic T of the points `x` (Henze and Zirkler (1990)).

  T is 0 for a sample whose standardised empirical characteristic function is
  that of N(0, I) and grows with the distance from it (see the module
  docstring for the formula; pingouin's `multivariate_normality` calls it
  `hz`). It is differentiable in `x`, as LiBI's penalty eps_HZ exp(T) on the
  encoded points needs (Yacoby et al. (2020), eq. 44).

  Args:
    x: [n, d] float32 or float64 points, n > d.
    beta: smoothing parameter; default `default_beta(n, d)`.

  Returns:
    Scalar tensor of x's dtype.

  Raises:
    TypeError: if x is not floating point.
    ValueError: if x's static shape is not [n, d] with n >= 2, n > d.
    tf.errors.InvalidArgumentError: when run, if the sample covariance is not
      positive definite.
  """
  x = _check_points(x)
  dtype = x.dtype
  n = tf.shape(x)[0]
  d = tf.cast(tf.shape(x)[1], dtype)
  n_float = tf.cast(n, dtype)
  beta = default_beta(n, tf.shape(x)[1], dtype) if beta is None else _as_beta(beta, dtype)
  beta2 = tf.square(beta)

  y = _whiten(x)
  to_mean = tf.reduce_sum(tf.square(y), axis=1)  # D_i
  # D_ij = D_i + D_j - 2 y_i.y_j: y is centred and whitened, so the expansion
  # loses little; the clamp removes rounding below 0 on the diagonal.
  between = tf.maximum(
    to_mean[:, None] + to_mean[None, :] - 2.0 * tf.matmul(y, y, transpose_b=True), 0.0)

  pairs = tf.reduce_sum(tf.exp(-0.5 * beta2 * between)) / n_float
  singles = tf.reduce_sum(tf.exp(-0.5 * beta2 / (1.0 + beta2) * to_mean))
  return (pairs - 2.0 * tf.exp(-0.5 * d * tf.math.log1p(beta2)) * singles
          + n_float * tf.exp(-0.5 * d * tf.math.log1p(2.0 * beta2)))


def _null_log_normal(d, beta):
  """(loc, scale) of log T under normality: Henze and Zirkler's (1990) moments.

  The mean and variance of T are matched by a log-normal, as pingouin and R's
  MVN do.
  """
  b2 = tf.square(beta)
  b4 = tf.square(b2)
  b8 = tf.square(b4)
  a = 1.0 + 2.0 * b2
  w = (1.0 + b2) * (1.0 + 3.0 * b2)
  mean = 1.0 - tf.pow(a, -d / 2.0) * (1.0 + d * b2 / a + d * (d + 2.0) * b4 / (2.0 * a**2))
  variance = (2.0 * tf.pow(1.0 + 4.0 * b2, -d / 2.0)
              + 2.0 * tf.pow(a, -d) * (1.0 + 2.0 * d * b4 / a**2
                                        + 3.0 * d * (d + 2.0) * b8 / (4.0 * a**4))
              - 4.0 * tf.pow(w, -d / 2.0) * (1.0 + 3.0 * d * b4 / (2.0 * w)
                                             + d * (d + 2.0) * b8 / (2.0 * w**2)))
  log_var_ratio = tf.math.log1p(variance / tf.square(mean))  # scale^2
  loc = tf.math.log(mean) - 0.5 * log_var_ratio
  return loc, tf.sqrt(log_var_ratio)


def henze_zirkler_test(x, beta=None):
  """Henze and Zirkler's (1990) test of multivariate normality: (T, p-value).

  The p-value is P(T' >= T) for T' log-normal with the null mean and variance
  of the statistic (Henze and Zirkler (1990); the approximation pingouin's
  `multivariate_normality` uses). Small p-values reject normality.

  Args:
    x: [n, d] float32 or float64 points, n > d.
    beta: smoothing parameter; default `default_beta(n, d)`.

  Returns:
    (statistic, p_value), scalar tensors of x's dtype.

  Raises:
    As `henze_zirkler_statistic`.
  """
  x = _check_points(x)
  dtype = x.dtype
  beta = (default_beta(tf.shape(x)[0], tf.shape(x)[1], dtype) if beta is None
          else _as_beta(beta, dtype))
  statistic = henze_zirkler_statistic(x, beta)
  loc, scale = _null_log_normal(tf.cast(tf.shape(x)[1], dtype), beta)
  # Survival function of the log-normal; erfc keeps tiny p-values accurate.
  z = (tf.math.log(statistic) - loc) / (scale * math.sqrt(2.0))
  return statistic, 0.5 * tf.math.erfc(z)
