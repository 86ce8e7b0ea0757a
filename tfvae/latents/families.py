"""Latent families: what an encoder's output means and how the decoder sees z (METHODS.md M24).

A family ties together the pieces of the model contract that depend on the
kind of latent variable:

  num_params        width of the encoder's last (posterior-parameter) layer;
  split(params)     that layer's output [B, num_params] -> what the encoder
                    returns: (loc, log_variance) for Gaussians, logits
                    [B, n, C] for categoricals;
  posterior(out)    the encoder's output -> q(z|x);
  prior             p(z);
  event_shape       the shape of one z;
  sample(q, seed, K) replica-consistent samples of q;
  embedding()       a Keras layer that maps z to the decoder's input, or None
                    when the decoder reads z as it is.

`GaussianLatents(d)` is d continuous latents with q = N(mu, diag(sigma^2)) and
p = N(0, I) (M1; the 40 continuous latents of Melis et al. (2022));
`CategoricalLatents(n, C)` is their n categoricals of C categories with a
uniform prior, embedded before the decoder. Encoders and models accept either
a family or an int d (Gaussian).
"""

import dataclasses
from typing import ClassVar

import tensorflow as tf

from tfvae.latents import categorical
from tfvae.latents import gaussian
from tfvae.latents.choices import LATENT_TYPES



@dataclasses.dataclass(frozen=True)
class GaussianLatents:
  """d continuous latents: q(z|x) diagonal Gaussian, p(z) = N(0, I)."""
  latent_dim: int
  reparameterised: ClassVar[bool] = True

  @property
  def num_params(self):
    return 2 * self.latent_dim

  @property
  def event_shape(self):
    """The shape of one z: [d]."""
    return (self.latent_dim,)

  def split(self, params):
    loc, log_variance = tf.split(params, 2, axis=-1)
    return loc, log_variance

  def posterior(self, encoded):
    return gaussian.diagonal_gaussian(*encoded)

  @property
  def prior(self):
    return gaussian.standard_normal_prior(self.latent_dim)

  def sample(self, posterior, seed, num_samples=None):
    return gaussian.reparameterized_sample(posterior, seed, num_samples)

  def embedding(self):
    return None


@dataclasses.dataclass(frozen=True)
class _OneHotCodes:
  """n latents taking one of C values, one-hot [n, C], under a uniform prior."""
  num_latents: int
  num_categories: int
  reparameterised: ClassVar[bool] = False

  @property
  def latent_dim(self):
    return self.num_latents

  @property
  def event_shape(self):
    """The shape of one z: one-hot codes [n, C]."""
    return (self.num_latents, self.num_categories)

  @property
  def prior(self):
    return categorical.uniform_categorical_prior(self.num_latents, self.num_categories)

  def sample(self, posterior, seed, num_samples=None):
    return categorical.sample_one_hot(posterior, seed, num_samples)


@dataclasses.dataclass(frozen=True)
class CategoricalLatents(_OneHotCodes):
  """n categorical latents of C categories: uniform prior, embedded for the decoder."""
  embed_dim: int = 128

  @property
  def num_params(self):
    return self.num_latents * self.num_categories

  def split(self, params):
    return tf.reshape(params, [-1, self.num_latents, self.num_categories])

  def posterior(self, encoded):
    return categorical.categorical_posterior(encoded)

  def embedding(self):
    return categorical.CategoricalEmbedding(self.num_latents, self.num_categories,
                                            self.embed_dim, name="latent_embedding")


@dataclasses.dataclass(frozen=True)
class VectorQuantizedLatents(_OneHotCodes):
  """n latents quantised to one of C code vectors of size D each (VQ-VAE, M25).

  The encoder emits the n vectors z_e [B, n, D]; the model (`models.VQVAE`)
  owns the codebooks, so it, not the family, turns z_e into q(z|x): one-hot
  codes [n, C] under a uniform prior, as for `CategoricalLatents`.
  """
  code_dim: int = 128

  @property
  def num_params(self):
    return self.num_latents * self.code_dim

  def split(self, params):
    return tf.reshape(params, [-1, self.num_latents, self.code_dim])

  def posterior(self, encoded):
    raise NotImplementedError("A VQ-VAE's posterior needs its codebooks: use VQVAE.posterior.")

  def embedding(self):
    return None


def family(latents):
  """`latents` as a family: an int d is GaussianLatents(d)."""
  if isinstance(latents, (GaussianLatents, CategoricalLatents, VectorQuantizedLatents)):
    return latents
  if isinstance(latents, bool) or int(latents) != latents or latents < 1:
    raise ValueError(f"latents must be a latent family or a positive int (Gaussian "
                     f"dimensions), got {latents!r}.")
  return GaussianLatents(int(latents))


def make(latent_type, latent_dim, *, num_categories=10, embed_dim=128):
  """The family named `latent_type` (one of LATENT_TYPES) with `latent_dim` latent variables."""
  if latent_type == "gaussian":
    return GaussianLatents(int(latent_dim))
  if latent_type == "categorical":
    return CategoricalLatents(int(latent_dim), int(num_categories), int(embed_dim))
  raise ValueError(f"Unknown latent type {latent_type!r}; choose one of "
                   f"{', '.join(LATENT_TYPES)}.")
