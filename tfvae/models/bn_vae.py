"""BN-VAE (Zhu et al. 2020): batch-normalised posterior means (METHODS.md M16).

The encoder's means mu_x of q(z|x) = N(mu_x, sigma_x^2) pass through a batch
normalisation with a fixed scale gamma and a learned shift beta_d per
dimension, Shen et al. (2021), eq. 9:

  mu_hat_{x,d} = gamma * (mu_{x,d} - mu_B,d) / sigma_B,d + beta_d,

mu_B and sigma_B the batch's mean and standard deviation of mu_{x,d}. Over a
batch the normalised means then have mean beta_d and variance gamma^2, so the
batch-mean KL to N(0, I), sum_d 1/2 (mu^2 + sigma^2 - log sigma^2 - 1) with
mu^2 averaging gamma^2 + beta_d^2, is at least d gamma^2 / 2: the KL cannot
vanish (Zhu et al. 2020). At evaluation, and in exports, the layer uses its
moving statistics instead of the batch's.
"""

import keras

from tfvae.latents.families import GaussianLatents
from tfvae.models.vae import VAE

# PyTorch's BatchNorm1d momentum (0.1 there, 0.9 in Keras' convention), which
# Shen et al.'s code uses for the means.
MOMENTUM = 0.9
# Not PyTorch's 1e-5: an epsilon added to the batch variance lets the encoder
# escape the bound. The normalised means have variance gamma^2 var / (var + eps),
# so the KL falls as the raw means shrink; Adam, whose steps do not scale with
# the gradient, follows that small but steady pull until var << eps (on yelp,
# var ~ 1e-8 and KL 0.02 instead of 5.8 after 600 steps). With 1e-12 the
# normalisation is exact for any variance float32 can resolve.
EPSILON = 1e-12


class MeanBatchNorm(keras.layers.Layer):
  """mu_hat = scale * BN(mu) + shift, Shen et al. (2021), eq. 9.

  BN-VAE fixes the scale at gamma in every dimension; DU-VAE
  (`learn_scale=True`) learns one scale gamma_d per dimension, initialised at
  gamma, which `rescale()` brings back to mean_d gamma_d^2 = gamma^2 after
  every step (Shen et al. (2021), Algorithm 1, line 9). The shift is learned,
  initialised at 0. Under a distribution strategy the batch statistics are
  those of the global batch (`synchronized`), so replicas normalise like one
  device.
  """

  def __init__(self, gamma, learn_scale=False, **kwargs):
    super().__init__(**kwargs)
    if not gamma > 0:
      raise ValueError(f"The BN scale gamma must be positive, got {gamma}.")
    self.gamma = float(gamma)
    self.learn_scale = learn_scale
    self.normalize = keras.layers.BatchNormalization(
        center=False, scale=False, momentum=MOMENTUM, epsilon=EPSILON, synchronized=True,
        name="normalize")

  def build(self, input_shape):
    self.normalize.build(input_shape)
    self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="zeros")
    if self.learn_scale:
      # One value on every replica: `rescale` assigns it inside the replicated step.
      self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                   initializer=keras.initializers.Constant(self.gamma),
                                   aggregation="only_first_replica")
    else:
      self.scale = self.gamma

  def call(self, mu, training=False):
    return self.scale * self.normalize(mu, training=training) + self.shift

  def rescale(self):
    """gamma_d <- gamma gamma_d / sqrt(mean_d gamma_d^2) (DU-VAE, after every step)."""
    self.scale.assign(self.gamma * self.scale / keras.ops.sqrt(keras.ops.mean(self.scale**2)))


class BNVAE(VAE):
  """A VAE whose posterior means are batch-normalised with a fixed scale (Zhu et al. 2020).

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE`; the latents must be
      Gaussian.
    bn_gamma: the fixed scale gamma (Shen et al. (2021) use 0.5-0.7).
  """

  def __init__(self, encoder, decoder, latent_dim, *, bn_gamma, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if not isinstance(self.latent_family, GaussianLatents):
      raise ValueError("BN-VAE normalises the means of Gaussian latents; got "
                       f"{type(self.latent_family).__name__}.")
    self.mean_norm = MeanBatchNorm(bn_gamma, name="mean_norm")

  def posterior(self, x, training=False):
    loc, *rest = self.encoder(x, training=training)
    return self.make_posterior((self.mean_norm(loc, training=training), *rest))

  def serving_layers(self, half):
    layers = super().serving_layers(half)
    return [*layers, self.mean_norm] if half == "encoder" else layers
