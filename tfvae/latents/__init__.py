"""Posterior and prior families as TFP distributions."""

from tfvae.latents.gaussian import diagonal_gaussian
from tfvae.latents.gaussian import per_dimension_kl
from tfvae.latents.gaussian import reparameterized_sample
from tfvae.latents.gaussian import standard_normal_prior

__all__ = [
    "diagonal_gaussian",
    "per_dimension_kl",
    "reparameterized_sample",
    "standard_normal_prior",
]
