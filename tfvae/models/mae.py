"""MAE (Ma et al. 2019): the ELBO with the mutual posterior-divergence regulariser (METHODS.md M20).

A VAE whose objective adds to the negative ELBO a reward for the diversity of
the batch's posteriors and a penalty on the spread of their pairwise
divergences (`tfvae.objectives.posterior_divergence`, which says which form
and why); the networks, the posterior and the prior are the VAE's (Shen et al.
(2021), section 4.1, run MAE with the standard normal prior).
"""

from tfvae import objectives
from tfvae.latents.families import GaussianLatents
from tfvae.models.vae import VAE


class MAE(VAE):
  """The VAE of Ma et al. (2019) with diagonal Gaussian posteriors.

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE` (objective "elbo");
      the latents must be Gaussian.
    mae_eta: eta >= 0, the scale of the diversity term (0: none).
    mae_gamma: gamma >= 0, the weight of the smoothness term.
  """

  def __init__(self, encoder, decoder, latent_dim, *, mae_eta, mae_gamma, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if type(self.latent_family) is not GaussianLatents:  # Not spherical, categorical or IAF.
      raise ValueError("MAE's regulariser compares diagonal Gaussian posteriors; got "
                       f"{type(self.latent_family).__name__}.")
    if self.objective != "elbo":
      raise ValueError(f"MAE regularises the ELBO; got objective={self.objective!r}.")
    if not (mae_eta >= 0 and mae_gamma >= 0):
      raise ValueError(f"mae_eta and mae_gamma must be >= 0, got {mae_eta} and {mae_gamma}.")
    self.eta = float(mae_eta)
    self.gamma = float(mae_gamma)
    self.add_trackers("pair_divergence", "pair_divergence_std")

  def compute_objective(self, x, *, seed, training):
    return objectives.mae_loss(self, x, eta=self.eta, gamma=self.gamma, beta=self.beta, seed=seed,
                               training=training)
