"""Objectives: pure functions of (model, batch, seed) -> (per-example loss, terms).

Per-example losses [B] are averaged over the *global* batch by the model's
train_step (`tf.nn.compute_average_loss`), so an objective never needs to know
about replicas.

The names below are imported when first used (PEP 562), so that
`tfvae.objectives.choices`, which needs no TensorFlow, can be read by the run
config before TensorFlow is imported.
"""

from tfvae import lazy

_EXPORTS = {
  "autoencoder_loss": "tfvae.objectives.autoencoder",
  "beta_elbo": "tfvae.objectives.elbo",
  "elbo_terms": "tfvae.objectives.elbo",
  "free_bits_elbo": "tfvae.objectives.free_bits",
  "free_bits_penalty": "tfvae.objectives.free_bits",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS)
