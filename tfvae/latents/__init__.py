"""Posterior families and priors as TFP distributions and Keras layers.

The names below are imported when first used (PEP 562), so that
`tfvae.latents.choices`, which needs no TensorFlow, can be read by the run
config before TensorFlow is imported.
"""

from tfvae import lazy

_EXPORTS = {
  "CategoricalEmbedding": "tfvae.latents.categorical",
  "base_and_sample": "tfvae.latents.gaussian",
  "CategoricalLatents": "tfvae.latents.families",
  "FixedPrior": "tfvae.latents.priors",
  "GaussianLatents": "tfvae.latents.families",
  "IAFLatents": "tfvae.latents.families",
  "InverseAutoregressiveFlow": "tfvae.latents.iaf",
  "ImplicitLatents": "tfvae.latents.families",
  "ImplicitPosterior": "tfvae.latents.implicit",
  "ImplicitSampler": "tfvae.latents.implicit",
  "LATENT_TYPES": "tfvae.latents.choices",
  "MixtureOfGaussiansPrior": "tfvae.latents.priors",
  "PRIORS": "tfvae.latents.choices",
  "PoincareLatents": "tfvae.latents.families",
  "PoincareWrappedNormal": "tfvae.latents.wrapped_normal",
  "Prior": "tfvae.latents.priors",
  "RealNVPPrior": "tfvae.latents.flow_prior",
  "VampPrior": "tfvae.latents.vamp_prior",
  "SphericalLatents": "tfvae.latents.families",
  "VectorQuantizedLatents": "tfvae.latents.families",
  "categorical_posterior": "tfvae.latents.categorical",
  "default_prior_name": "tfvae.latents.prior_choice",
  "diagonal_gaussian": "tfvae.latents.gaussian",
  "is_flow": "tfvae.latents.gaussian",
  "family": "tfvae.latents.families",
  "fitted_diagonal_gaussian": "tfvae.latents.implicit",
  "make": "tfvae.latents.families",
  "make_prior": "tfvae.latents.prior_choice",
  "reparameterized_sample": "tfvae.latents.gaussian",
  "sample_one_hot": "tfvae.latents.categorical",
  "standard_normal_prior": "tfvae.latents.gaussian",
  "uniform_categorical_prior": "tfvae.latents.categorical",
}

__getattr__, __dir__, __all__ = lazy.exports(__name__, _EXPORTS)
