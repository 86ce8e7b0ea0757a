"""Linear-Gaussian latent-variable model with closed-form marginal and posterior.

The model is the classical factor-analysis / probabilistic-PCA setting used in
He's lecture notes (2026) to illustrate the ELBO:

    p(z)   = N(z; 0, I_d)
    p(x|z) = N(x; W z + b, sigma^2 I_D)
    q(z|x) = N(z; A x + c, diag(s^2))          (amortised, diagonal, trainable)

Because everything is Gaussian, log p(x) and the true posterior p(z|x) are
available in closed form, which makes this model an *oracle* for the metrics of
METHODS.md section 2 (importance-weighted NLL, ELBO, KL, MI) and for the
objectives: any estimator can be checked against `exact_log_marginal` and
`exact_posterior`.

Closed forms (standard Gaussian conditioning, e.g. Bishop 2006 section 2.3.3):

    p(x)   = N(x; b, W W^T + sigma^2 I_D)
    p(z|x) = N(z; m(x), S),  S = (I_d + W^T W / sigma^2)^{-1},
                             m(x) = S W^T (x - b) / sigma^2.

The diagonal q can equal p(z|x) exactly only when S is diagonal, i.e. when the
columns of W are orthogonal; `exact_posterior_parameters` gives the amortised
parameters (A, c, log s) that reproduce the true posterior mean and its
*marginal* standard deviations, so in that orthogonal case q is exact and every
importance weight equals p(x) (a zero-variance oracle).

The model is a `tfvae.models.base.LatentVariableModel`: it keeps the
contract (`posterior(x, training)`, `prior`, `likelihood(z, x, training)`)
and trains by `fit` on the negative ELBO (one reparameterised sample, the KL
in closed form).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import latents
from tfvae import objectives
from tfvae.models.base import LatentVariableModel

tfd = tfp.distributions

__all__ = ["LinearGaussianModel"]


def _as_matrix(value, name: str) -> np.ndarray:
  array = np.asarray(value, dtype=np.float64)
  if array.ndim != 2:
    raise ValueError(f"{name} must be a matrix, got shape {array.shape}")
  return array


def _as_vector(value, name: str, size: int) -> np.ndarray:
  array = np.asarray(value, dtype=np.float64)
  if array.ndim == 0:
    array = np.full([size], float(array))
  if array.shape != (size,):
    raise ValueError(f"{name} must have shape ({size},), got {array.shape}")
  return array


class LinearGaussianModel(LatentVariableModel):
  """Linear-Gaussian VAE with exact log-marginal and exact posterior.

  Args:
    decoder_weight: W, array [D, d].
    decoder_bias: b, array [D] (default zeros).
    noise_scale: sigma > 0, the observation standard deviation (scalar).
    encoder_weight: A, array [d, D] (default zeros).
    encoder_bias: c, array [d] (default zeros).
    encoder_log_scale: log s, array [d] or scalar (default zeros, s = 1).
    **kwargs: passed to `LatentVariableModel` (seed, grad_clip_norm, name).

  All six parameters are Keras weights (`add_weight`) and trainable; sigma is
  stored as log sigma.  Data x are float [B, D]; latents z are [..., B, d].
  """

  def __init__(
    self,
    decoder_weight,
    decoder_bias=None,
    noise_scale=1.0,
    encoder_weight=None,
    encoder_bias=None,
    encoder_log_scale=0.0,
    **kwargs,
  ):
    super().__init__(**kwargs)
    w = _as_matrix(decoder_weight, "decoder_weight")
    data_dim, latent_dim = w.shape
    b = _as_vector(0.0 if decoder_bias is None else decoder_bias, "decoder_bias", data_dim)
    if not np.all(np.asarray(noise_scale) > 0):
      raise ValueError(f"noise_scale must be positive, got {noise_scale}")
    a = (
      np.zeros([latent_dim, data_dim])
      if encoder_weight is None
      else _as_matrix(encoder_weight, "encoder_weight")
    )
    if a.shape != (latent_dim, data_dim):
      raise ValueError(f"encoder_weight must have shape ({latent_dim}, {data_dim}), got {a.shape}")
    c = _as_vector(0.0 if encoder_bias is None else encoder_bias, "encoder_bias", latent_dim)
    log_s = _as_vector(encoder_log_scale, "encoder_log_scale", latent_dim)

    self.data_dim = int(data_dim)
    self.latent_dim = int(latent_dim)
    self.latent_family = latents.GaussianLatents(self.latent_dim)
    self.add_trackers("recon", "kl", "elbo")
    self.decoder_weight = self._weight("decoder_weight", w)
    self.decoder_bias = self._weight("decoder_bias", b)
    self.log_noise_scale = self._weight("log_noise_scale", np.log(float(noise_scale)))
    self.encoder_weight = self._weight("encoder_weight", a)
    self.encoder_bias = self._weight("encoder_bias", c)
    self.encoder_log_scale = self._weight("encoder_log_scale", log_s)
    self.built = True

  def _weight(self, name: str, value) -> keras.Variable:
    value = np.asarray(value, dtype=np.float64)
    variable = self.add_weight(name=name, shape=value.shape, initializer="zeros", trainable=True)
    variable.assign(value.astype(variable.dtype))
    return variable

  # ------------------------------------------------------------------ contract
  @property
  def prior(self) -> tfd.Distribution:
    """p(z) = N(0, I_d): batch shape [], event shape [d]."""
    zeros = tf.zeros([self.latent_dim], dtype=self.compute_dtype)
    return tfd.Independent(tfd.Normal(zeros, tf.ones_like(zeros)), 1)

  def posterior(self, x, training=False) -> tfd.Distribution:
    """q(z|x) = N(A x + c, diag(s^2)): batch shape [B], event shape [d]."""
    del training  # No layers that behave differently in training.
    x = tf.convert_to_tensor(x, dtype=self.compute_dtype)
    a = tf.convert_to_tensor(self.encoder_weight)
    loc = tf.linalg.matvec(a, x) + tf.convert_to_tensor(self.encoder_bias)
    scale = tf.broadcast_to(tf.exp(tf.convert_to_tensor(self.encoder_log_scale)), tf.shape(loc))
    return tfd.Independent(tfd.Normal(loc, scale), 1)

  def likelihood(self, z, x=None, training=False) -> tfd.Distribution:
    """p(x|z) = N(W z + b, sigma^2 I_D); z may be [..., B, d].

    `x` is accepted for the contract (autoregressive decoders need it) and
    not used.  `log_prob(x)` broadcasts x [B, D] against the leading sample
    dimensions of z and returns [..., B].
    """
    del x, training
    z = tf.convert_to_tensor(z, dtype=self.compute_dtype)
    w = tf.convert_to_tensor(self.decoder_weight)
    mean = tf.linalg.matvec(w, z) + tf.convert_to_tensor(self.decoder_bias)
    scale = tf.broadcast_to(tf.exp(tf.convert_to_tensor(self.log_noise_scale)), tf.shape(mean))
    return tfd.Independent(tfd.Normal(mean, scale), 1)

  def call(self, x, training=False):
    """Returns the posterior mean E_q[z|x], [B, d]."""
    return self.posterior(x, training=training).mean()

  def compute_objective(self, x, *, seed, training):
    """The negative ELBO per example (`objectives.beta_elbo` with beta = 1)."""
    return objectives.beta_elbo(self, x, beta=1.0, seed=seed, training=training)

  # ------------------------------------------------------------------ oracles
  def _numpy_parameters(self):
    w = np.asarray(self.decoder_weight.numpy(), np.float64)
    b = np.asarray(self.decoder_bias.numpy(), np.float64)
    log_sigma = float(self.log_noise_scale.numpy())
    return w, b, np.exp(log_sigma)

  def _float64_parameters(self):
    w = tf.cast(tf.convert_to_tensor(self.decoder_weight), tf.float64)
    b = tf.cast(tf.convert_to_tensor(self.decoder_bias), tf.float64)
    sigma = tf.exp(tf.cast(tf.convert_to_tensor(self.log_noise_scale), tf.float64))
    return w, b, sigma

  def exact_log_marginal(self, x) -> tf.Tensor:
    """log p(x) = log N(x; b, W W^T + sigma^2 I_D), [B], computed in float64."""
    w, b, sigma = self._float64_parameters()
    x = tf.cast(tf.convert_to_tensor(x), tf.float64)
    covariance = tf.matmul(w, w, transpose_b=True) + tf.square(sigma) * tf.eye(
      self.data_dim, dtype=tf.float64
    )
    marginal = tfd.MultivariateNormalTriL(loc=b, scale_tril=tf.linalg.cholesky(covariance))
    return marginal.log_prob(x)

  def exact_posterior(self, x) -> tfd.Distribution:
    """True posterior p(z|x) = N(m(x), S) with full covariance, in float64.

    S = (I + W^T W / sigma^2)^{-1}, m(x) = S W^T (x - b) / sigma^2.
    Returns a `tfd.MultivariateNormalTriL` with batch shape [B], event [d].
    """
    w, b, sigma = self._float64_parameters()
    x = tf.cast(tf.convert_to_tensor(x), tf.float64)
    precision = tf.eye(self.latent_dim, dtype=tf.float64) + tf.matmul(
      w, w, transpose_a=True
    ) / tf.square(sigma)
    covariance = tf.linalg.inv(precision)
    covariance = 0.5 * (covariance + tf.transpose(covariance))
    gain = tf.matmul(covariance, w, transpose_b=True) / tf.square(sigma)  # [d, D]
    mean = tf.linalg.matvec(gain, x - b)
    scale_tril = tf.broadcast_to(
      tf.linalg.cholesky(covariance),
      tf.concat([tf.shape(mean)[:-1], tf.shape(covariance)], axis=0),
    )
    return tfd.MultivariateNormalTriL(loc=mean, scale_tril=scale_tril)

  def exact_posterior_parameters(self):
    """Amortised (A, c, log s) matching the true posterior, as numpy float64.

    A = S W^T / sigma^2 and c = -A b give the exact posterior mean m(x);
    log s = 0.5 log diag(S) gives its marginal standard deviations.  With
    these, q(z|x) equals p(z|x) exactly when S is diagonal (orthogonal
    columns of W); otherwise q is the best-mean diagonal approximation with
    the true marginals.
    """
    w, b, sigma = self._numpy_parameters()
    covariance = np.linalg.inv(np.eye(self.latent_dim) + w.T @ w / sigma**2)
    a = covariance @ w.T / sigma**2
    c = -a @ b
    log_s = 0.5 * np.log(np.diag(covariance))
    return a, c, log_s

  def set_posterior(self, encoder_weight, encoder_bias, encoder_log_scale):
    """Assigns the amortised posterior parameters (A, c, log s)."""
    for variable, value in (
      (self.encoder_weight, encoder_weight),
      (self.encoder_bias, encoder_bias),
      (self.encoder_log_scale, encoder_log_scale),
    ):
      value = np.broadcast_to(np.asarray(value, np.float64), variable.shape)
      variable.assign(value.astype(variable.dtype))

  def set_posterior_to_exact_marginals(self):
    """Sets q(z|x) to the true posterior mean and marginal scales."""
    self.set_posterior(*self.exact_posterior_parameters())
