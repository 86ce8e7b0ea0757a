"""Objectives: pure functions of (model, batch, seed) -> (per-example loss, terms).

Per-example losses [B] are averaged over the *global* batch by the model's
train_step (`tfvae.distribute.global_average_loss`), so an objective needs to
know about replicas only for statistics of the global batch
(`tfvae.distribute`: free bits' per-dimension KL, MAE's pairwise divergences).

Importing the package costs no TensorFlow: the functions load with their
modules on first use (`tfvae.lazy`), and the run config reads the names of
the objectives (`tfvae.objectives.choices`) before TensorFlow is imported.
"""

from tfvae import lazy

_EXPORTS = {
  "autoencoder_loss": "tfvae.objectives.autoencoder",
  "beta_elbo": "tfvae.objectives.elbo",
  "critic_loss": "tfvae.objectives.dual_kl",
  "dual_kl_estimate": "tfvae.objectives.dual_kl",
  "elbo_terms": "tfvae.objectives.elbo",
  "flow_prior_loss": "tfvae.objectives.flow_prior",
  "free_bits_elbo": "tfvae.objectives.free_bits",
  "free_bits_penalty": "tfvae.objectives.free_bits",
  "libi_likelihood_loss": "tfvae.objectives.libi",
  "mae_loss": "tfvae.objectives.posterior_divergence",
  "mutual_posterior_regulariser": "tfvae.objectives.posterior_divergence",
  "pair_divergence_statistics": "tfvae.objectives.posterior_divergence",
}

__getattr__, __dir__, __all__ = lazy.exports(__name__, _EXPORTS)
