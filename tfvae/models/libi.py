"""LiBI, likelihood before inference (Yacoby et al. 2020, eqs. 44-46; METHODS.md M21).

A VAE that learns its generative model and its inference network in separate
phases, so that the ELBO's preference for simple posteriors cannot bend the
decoder (their section 2):

  phase "likelihood" (step 1, eq. 44): the decoder theta and a deterministic
      code network h(x; varphi) minimise -log p_theta(x | h(x)) plus the
      penalties that make the codes {h(x_n)} look like draws of N(0, I)
      (`tfvae.objectives.libi`); the inference network does not move;
  phase "inference" (step 2, eqs. 45-46): with theta fixed, the inference
      network phi minimises the negative ELBO, i.e. the mean of
      KL(q_phi(z|x) || p_theta(z|x));
  step 3: h is re-initialised at the mean of q_phi (`codes_from_posterior`):
      h has the inference network's architecture, so copying its weights
      makes h(x) the mean of q(z|x).

The paper repeats the three steps R times and keeps the repetition with the
best validation likelihood.
"""

from tfvae import objectives
from tfvae.latents.families import GaussianLatents
from tfvae.models.base import OptimizerGroup
from tfvae.models.vae import VAE

PHASES = ("likelihood", "inference")


class LiBIVAE(VAE):
  """The model of LiBI in one of its two training phases (module docstring).

  Args:
    encoder, decoder, latent_dim, and the rest: as `VAE`; `encoder` is the
      inference network phi, the latents diagonal Gaussians.
    code_encoder: h(x; varphi), a network of `encoder`'s architecture whose
      first output (the loc) is the code.
    phase: "likelihood" (step 1) or "inference" (step 2).
    eps_hz, eps_sigma, eps_mu: the penalty weights of eq. 44 (> 0).
  """

  def __init__(self, encoder, decoder, latent_dim, *, code_encoder, phase, eps_hz, eps_sigma,
               eps_mu, **kwargs):
    super().__init__(encoder, decoder, latent_dim, **kwargs)
    if type(self.latent_family) is not GaussianLatents:
      raise ValueError("LiBI's inference network is a mean-field Gaussian (Yacoby et al. "
                       f"(2020), appendix E); got {type(self.latent_family).__name__}.")
    if self.objective != "elbo":
      raise ValueError(f"LiBI's inference phase fits the ELBO; got objective={self.objective!r}.")
    if phase not in PHASES:
      raise ValueError(f"phase must be one of {PHASES}, got {phase!r}.")
    if not min(eps_hz, eps_sigma, eps_mu) > 0:
      raise ValueError(f"eps_hz, eps_sigma and eps_mu must be positive, got {eps_hz}, "
                       f"{eps_sigma}, {eps_mu}.")
    self.code_encoder = code_encoder
    self.phase = phase
    self.eps_hz = float(eps_hz)
    self.eps_sigma = float(eps_sigma)
    self.eps_mu = float(eps_mu)
    if phase == "likelihood":  # Its logs: recon and the code statistics, no KL or ELBO.
      for name in ("kl", "elbo"):
        del self.trackers[name]
      self.add_trackers("hz", "cov_gap", "mean_gap", "penalty")

  def codes(self, x, training=False):
    """h(x) [B, d]: the loc that the code network outputs."""
    loc, _ = self.code_encoder(x, training=training)
    return loc

  def call(self, x, training=False):
    """log p(x|z) [B] at one sample of q(z|x), as `VAE`; builds the code network too."""
    self.codes(x, training=training)
    return super().call(x, training=training)

  def compute_objective(self, x, *, seed, training):
    if self.phase == "likelihood":
      return objectives.libi_likelihood_loss(self, x, eps_hz=self.eps_hz,
                                             eps_sigma=self.eps_sigma, eps_mu=self.eps_mu,
                                             training=training)
    return super().compute_objective(x, seed=seed, training=training)

  def optimizer_groups(self):
    """Step 1 trains the decoder and h; step 2 the inference network alone."""
    if self.phase == "likelihood":
      networks = [self.decoder, self.code_encoder]
    else:
      networks = [self.encoder]
    variables = [v for network in networks for v in network.trainable_variables]
    return {"model": OptimizerGroup(self.optimizer, variables)}

  def codes_from_posterior(self):
    """Step 3: h <- the inference network's weights, so that h(x) is the mean of q(z|x)."""
    for target, source in zip(self.code_encoder.weights, self.encoder.weights, strict=True):
      target.assign(source)
