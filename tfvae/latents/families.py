"""Latent families: what an encoder's output means and how the decoder sees z (METHODS.md M24).

A family ties together the pieces of the model contract that depend on the
kind of latent variable:

  num_params        width of the encoder's last (posterior-parameter) layer;
  split(params)     that layer's output [B, num_params] -> what the encoder
                    returns: (loc, log_variance) for Gaussians, logits
                    [B, n, C] for categoricals, (mean direction, kappa)
                    for spherical latents;
  posterior(out)    the encoder's output -> q(z|x);
  prior             p(z);
  event_shape       the shape of one z;
  sample(q, seed, K) replica-consistent samples of q;
  embedding()       a Keras layer that maps z to the decoder's input, or None
                    when the decoder reads z as it is.

`GaussianLatents(d)` is d continuous latents with q = N(mu, diag(sigma^2)) and
p = N(0, I) (M1; the 40 continuous latents of Melis et al. (2022));
`CategoricalLatents(n, C)` is their n categoricals of C categories with a
uniform prior, embedded before the decoder; `SphericalLatents(d, kappa)` is z
on the unit sphere S^{d-1} with a power-spherical q and the uniform prior
(Xu and Durrett (2018) with the posterior of De Cao and Aziz (2020); M15).
`PoincareLatents(d, c)` is z in the Poincare ball of curvature -c with the
wrapped normal q(z|x) of Dai et al. (2021), eq. 7 (after Mathieu et al.
(2019)) and the wrapped normal at the origin as prior; its decoder reads the
gyroplane features of z (Dai et al. (2021), eq. 8).
Encoders and models accept a family or an int d (Gaussian).
"""

import dataclasses
from typing import ClassVar

import tensorflow as tf

from tfvae.latents import categorical
from tfvae.latents import gaussian
from tfvae.latents import iaf
from tfvae.latents import implicit
from tfvae.latents import poincare
from tfvae.latents import spherical
from tfvae.latents import wrapped_normal
from tfvae.latents.choices import LATENT_TYPES
from tfvae.nets.gyroplane import Gyroplane



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

  def chart(self, z):
    """Euclidean coordinates of z for a network that reads it (a critic): z itself."""
    return z


@dataclasses.dataclass(frozen=True)
class SphericalLatents:
  """z on the unit sphere S^{d-1} in R^d: q(z|x) power-spherical, p(z) uniform (M15).

  Attributes:
    latent_dim: d >= 2.
    kappa: None for a concentration learned per example (the encoder emits
      d + 1 numbers: the direction and kappa; `spherical.split_parameters`),
      or one fixed kappa > 0 for every example, as Xu and Durrett (2018) fix
      it (the encoder emits the direction only, and the KL is a constant).
  """
  latent_dim: int
  kappa: float | None = None
  reparameterised: ClassVar[bool] = True

  def __post_init__(self):
    if self.latent_dim < 2:
      raise ValueError(f"Spherical latents need latent_dim >= 2 (the sphere S^(d-1) in R^d), "
                       f"got {self.latent_dim}.")
    if self.kappa is not None and not self.kappa > 0:
      raise ValueError(f"A fixed kappa must be positive, got {self.kappa}.")

  @property
  def num_params(self):
    return self.latent_dim + (1 if self.kappa is None else 0)

  @property
  def event_shape(self):
    """The shape of one z: a unit vector [d]."""
    return (self.latent_dim,)

  def split(self, params):
    return spherical.split_parameters(params, self.latent_dim, self.kappa)

  def posterior(self, encoded):
    return spherical.power_spherical(*encoded)

  @property
  def prior(self):
    return spherical.spherical_uniform_prior(self.latent_dim)

  def sample(self, posterior, seed, num_samples=None):
    return spherical.reparameterized_sample(posterior, seed, num_samples)

  def embedding(self):
    return None


@dataclasses.dataclass(frozen=True)
class PoincareLatents:
  """d latents in the Poincare ball B_c^d: q(z|x) a wrapped normal, p(z) the one at the origin.

  The encoder emits 2d numbers, a tangent vector u at the origin and the
  log-variances of the tangent Gaussian; q(z|x) is
  WN_c(exp_0(u), diag(exp(log_variance))) (Dai et al. (2021), eq. 7; Mathieu
  et al. (2019)) and p(z) = WN_c(0, I). Neither KL has a closed form, so
  `tfvae.divergences.kl` estimates it by Monte Carlo. The decoder reads the
  gyroplane features of z (`embedding()`; Dai et al. (2021), eq. 8).

  Attributes:
    latent_dim: d.
    curvature: c > 0; the ball has curvature -c and radius 1 / sqrt(c).
  """
  latent_dim: int
  curvature: float = 1.0
  reparameterised: ClassVar[bool] = True

  def __post_init__(self):
    if not self.curvature > 0:
      raise ValueError(f"The Poincare ball needs a positive curvature magnitude c, got "
                       f"{self.curvature}.")

  @property
  def num_params(self):
    return 2 * self.latent_dim

  @property
  def event_shape(self):
    """The shape of one z: a point of the ball [d]."""
    return (self.latent_dim,)

  def split(self, params):
    """[B, 2d] -> (tangent_loc, log_variance), each [B, d]."""
    tangent_loc, log_variance = tf.split(params, 2, axis=-1)
    return tangent_loc, log_variance

  def posterior(self, encoded):
    tangent_loc, log_variance = encoded
    return wrapped_normal.PoincareWrappedNormal(poincare.expmap0(tangent_loc, c=self.curvature),
                                                tf.exp(0.5 * log_variance), self.curvature)

  @property
  def prior(self):
    origin = tf.zeros([self.latent_dim])
    return wrapped_normal.PoincareWrappedNormal(origin, tf.ones_like(origin), self.curvature)

  def sample(self, posterior, seed, num_samples=None):
    return wrapped_normal.reparameterized_sample(posterior, seed, num_samples)

  def embedding(self):
    """The gyroplane layer, in float32 under any mixed-precision policy: in bfloat16 the
    features of points near the boundary are 10% off."""
    return Gyroplane(self.latent_dim, self.curvature, dtype="float32", name="latent_embedding")

  def chart(self, z):
    """Euclidean coordinates of z for a network that reads it (a critic): log_0(z).

    In them the prior WN_c(0, I) is N(0, I) and a point's norm is half its
    geodesic distance from the origin, which ball coordinates squeeze into
    1 / sqrt(c) (a critic of ball coordinates barely tells the prior's
    samples from a posterior pushed toward the boundary).
    """
    return poincare.logmap0(z, c=self.curvature)


@dataclasses.dataclass(frozen=True)
class IAFLatents(GaussianLatents):
  """d continuous latents z_T: an IAF over a diagonal Gaussian z_0, N(0, I) prior (M18).

  Kingma et al. (2016): the encoder emits mu_0, log sigma_0^2 and a context
  h of 2d numbers (as Shen et al.'s (2021) code); the model owns the flow's
  weights (`flow()`, a layer) and builds q(z_T|x) from the three
  (`tfvae.latents.iaf`).

  Attributes:
    latent_dim: d.
    steps: T, the number of IAF steps.
    width: hidden units of each step's MADE per latent dimension.
  """
  steps: int = 2
  width: int = 2

  @property
  def context_dim(self):
    return 2 * self.latent_dim

  @property
  def num_params(self):
    return 2 * self.latent_dim + self.context_dim

  def split(self, params):
    loc, log_variance, context = tf.split(
        params, [self.latent_dim, self.latent_dim, self.context_dim], axis=-1)
    return loc, log_variance, context

  def posterior(self, encoded):
    raise NotImplementedError("An IAF posterior needs the flow's weights: use VAE.posterior.")

  def flow(self):
    """A fresh flow layer for these latents."""
    return iaf.InverseAutoregressiveFlow(self.latent_dim, self.context_dim, self.steps,
                                         self.width * self.latent_dim, name="posterior_flow")


@dataclasses.dataclass(frozen=True)
class ImplicitLatents(GaussianLatents):
  """d continuous latents drawn by a sampler z = G(x, eps), with no density; N(0, I) prior (M9).

  Fang et al. (2019): the encoder emits features h of x (`feature_dim`
  numbers), and a network of h and noise eps ~ N(0, I_e) draws z; the model
  owns that network (`sampler()`, a layer) and builds q(z|x) with it
  (`tfvae.latents.implicit`).

  Attributes:
    latent_dim: d.
    noise_dim: e, the width of the noise.
    hidden_units: width of the sampler's hidden layers (0: a linear sampler).
  """
  noise_dim: int = 32
  hidden_units: int = 0

  @property
  def feature_dim(self):
    return 2 * self.latent_dim

  @property
  def num_params(self):
    return self.feature_dim

  def split(self, params):
    return params

  def posterior(self, encoded):
    raise NotImplementedError("An implicit posterior needs its sampler's weights: use the "
                              "model's posterior.")

  def sample(self, posterior, seed, num_samples=None):
    return posterior.sample(seed=seed) if num_samples is None else posterior.sample(
        num_samples, seed=seed)

  def sampler(self):
    """A fresh sampler layer G(h, eps) for these latents."""
    return implicit.ImplicitSampler(self.noise_dim, self.latent_dim, self.hidden_units,
                                    name="posterior_sampler")


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
  if isinstance(latents, (GaussianLatents, CategoricalLatents, SphericalLatents,
                          PoincareLatents, VectorQuantizedLatents)):
    return latents
  if isinstance(latents, bool) or int(latents) != latents or latents < 1:
    raise ValueError(f"latents must be a latent family or a positive int (Gaussian "
                     f"dimensions), got {latents!r}.")
  return GaussianLatents(int(latents))


def make(latent_type, latent_dim, *, num_categories=10, embed_dim=128, kappa=None, iaf_steps=0,
         iaf_width=2):
  """The family named `latent_type` (one of LATENT_TYPES) with `latent_dim` latent variables.

  `num_categories` and `embed_dim` apply to categorical latents, `kappa` (None:
  learned) to spherical ones, `iaf_steps` (0: none) and `iaf_width` to the
  inverse autoregressive flow over Gaussian ones.
  """
  if latent_type == "gaussian" and iaf_steps:
    return IAFLatents(int(latent_dim), int(iaf_steps), int(iaf_width))
  if latent_type == "gaussian":
    return GaussianLatents(int(latent_dim))
  if latent_type == "categorical":
    return CategoricalLatents(int(latent_dim), int(num_categories), int(embed_dim))
  if latent_type == "spherical":
    return SphericalLatents(int(latent_dim), None if kappa is None else float(kappa))
  raise ValueError(f"Unknown latent type {latent_type!r}; choose one of "
                   f"{', '.join(LATENT_TYPES)}.")
