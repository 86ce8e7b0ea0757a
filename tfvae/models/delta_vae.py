"""delta-VAE (Razavi et al. 2019): a posterior family whose KL to the prior is at least delta per dimension.

With q(z_d|x) = N(mu_d, v_d) and p(z_d) = N(0, 1),

  KL_d = (mu_d^2 + v_d - log v_d - 1) / 2 >= (v_d - log v_d - 1) / 2,

(Razavi et al. (2019), section 2.1), so every posterior whose variances
satisfy v - log v - 1 >= 2 delta commits at least delta nats per dimension,
whatever its means. v - log v - 1 is 0 at v = 1 and grows on both sides, so
the allowed variances are v <= v_low or v >= v_high, where v_low < 1 < v_high
are the two roots of log v - v + 1 + 2 delta = 0:

  v = -W_k(-exp(-1 - 2 delta)),  k = 0 gives v_low, k = -1 gives v_high

(W_k the branches of Lambert's W function). A continuous encoder can reach
one of the two pieces only; this model takes the lower one,

  v_d = v_low * sigmoid(encoder output),

posteriors narrower than the prior, as every collapse-free VAE has: the
upper piece makes each posterior wider than the prior, so that the decoder can
only read z through means far out in the prior's tails. The bound is then a
property of the family, not of training: it holds at initialisation, under
any optimiser and at evaluation.
"""

import math

import scipy.special
import tensorflow as tf

from tfvae.latents.families import GaussianLatents
from tfvae.models.vae import VAE


def variance_range(delta):
  """(v_low, v_high): the roots of log v - v + 1 + 2 delta = 0, v_low < 1 < v_high.

  Raises:
    ValueError: delta is not positive.
  """
  if not delta > 0:
    raise ValueError(f"The committed rate delta must be positive, got {delta}.")
  argument = -math.exp(-1.0 - 2.0 * delta)
  return tuple(float(-scipy.special.lambertw(argument, k=branch).real) for branch in (0, -1))


class DeltaVAE(VAE):
  """A VAE whose posterior variances lie in (0, v_low], so that each KL_d >= delta.

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE`; the latents must be
      Gaussian and the prior N(0, I).
    delta: the committed rate per dimension, in nats.
  """

  def __init__(self, encoder, decoder, latent_dim, *, delta, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if type(self.latent_family) is not GaussianLatents:
      raise ValueError("delta-VAE bounds the variances of a diagonal-Gaussian posterior; got "
                       f"{type(self.latent_family).__name__}.")
    self.delta = float(delta)
    self.max_variance = variance_range(self.delta)[0]

  def posterior(self, x, training=False):
    loc, unconstrained = self.encoder(x, training=training)
    log_variance = math.log(self.max_variance) + tf.math.log_sigmoid(unconstrained)
    return self.latent_family.posterior((loc, log_variance))
