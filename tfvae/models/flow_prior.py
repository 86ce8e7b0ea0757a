"""FlowPrior (Ding and Gimpel 2021; METHODS.md M12): a VAE with a RealNVP prior and their eq. 7.

The prior is a `tfvae.latents.RealNVPPrior` (or any learned prior the model
is given), trained with the encoder and decoder on the objective of
`tfvae.objectives.flow_prior_loss`: the N-sample importance-weighted bound
plus the sampled ELBO, with free bits on the whole KL for "FlowPrior+FB".
"""

from tfvae import objectives
from tfvae.models.vae import VAE


class FlowPriorVAE(VAE):
  """The VAE of Ding and Gimpel (2021), trained on their eq. 7.

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE` (objective "elbo",
      or "free_bits" with `free_bits` = lambda for the "+FB" variant).
    num_samples: N, the samples of q(z|x) per example and step.
  """

  def __init__(self, encoder, decoder, latent_dim, *, num_samples, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if self.objective not in ("elbo", "free_bits"):
      raise ValueError(f"FlowPriorVAE trains eq. 7 of Ding and Gimpel (2021), with or without "
                       f"free bits; got objective={self.objective!r}.")
    if num_samples < 1:
      raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    self.num_samples = int(num_samples)
    self.add_trackers("iw_bound")

  def compute_objective(self, x, *, seed, training):
    return objectives.flow_prior_loss(self, x, num_samples=self.num_samples, seed=seed,
                                      training=training, target_rate=self.free_bits,
                                      beta=self.beta)
