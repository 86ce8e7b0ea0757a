"""Objectives: pure functions of (model, batch, seed) -> (per-example loss, terms).

Per-example losses [B] are averaged over the *global* batch by the model's
train_step (`tf.nn.compute_average_loss`), so an objective never needs to know
about replicas.
"""

from tfvae.objectives.autoencoder import autoencoder_loss
from tfvae.objectives.elbo import beta_elbo
from tfvae.objectives.elbo import elbo_terms
from tfvae.objectives.free_bits import free_bits_elbo
from tfvae.objectives.free_bits import free_bits_penalty

__all__ = ["autoencoder_loss", "beta_elbo", "elbo_terms", "free_bits_elbo",
           "free_bits_penalty"]
