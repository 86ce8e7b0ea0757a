"""Posterior and prior families as TFP distributions."""

from tfvae.latents.categorical import CategoricalEmbedding
from tfvae.latents.categorical import categorical_posterior
from tfvae.latents.categorical import sample_one_hot
from tfvae.latents.categorical import uniform_categorical_prior
from tfvae.latents.families import LATENT_TYPES
from tfvae.latents.families import CategoricalLatents
from tfvae.latents.families import GaussianLatents
from tfvae.latents.families import VectorQuantizedLatents
from tfvae.latents.families import family
from tfvae.latents.families import make
from tfvae.latents.gaussian import diagonal_gaussian
from tfvae.latents.gaussian import reparameterized_sample
from tfvae.latents.gaussian import standard_normal_prior

__all__ = [
    "LATENT_TYPES",
    "CategoricalEmbedding",
    "CategoricalLatents",
    "GaussianLatents",
    "VectorQuantizedLatents",
    "categorical_posterior",
    "diagonal_gaussian",
    "family",
    "make",
    "reparameterized_sample",
    "sample_one_hot",
    "standard_normal_prior",
    "uniform_categorical_prior",
]
