"""The variational autoencoder of Kingma and Welling (METHODS.md M1, M2).

`VAE` keeps the contract of `tfvae.models.base.LatentVariableModel` with an
encoder, a decoder and a prior layer for a latent family (`tfvae.latents`):
d Gaussian latents by default, or categorical ones (event [n, C], one-hot),
which the model embeds before the decoder (`latent_embedding`, part of the
decoder side for every optimiser). It trains (the base's one train step) on one of three objectives:

  elbo         -E_q log p(x|z) + beta * KL, beta a non-trainable weight (1 by
               default) that callbacks change without retracing (M2-M4, M11);
  free_bits    -E_q log p(x|z) + beta * sum_d max(lambda/d, batch-mean KL_d) (M5);
  autoencoder  -log p(x | z = mu(x)), stage 1 of AE pre-training (M6).

Subclasses change the objective further by overriding `compute_objective`
and the base's other hooks.
"""

import tensorflow as tf

from tfvae import latents
from tfvae import objectives
from tfvae.models.base import LatentVariableModel
from tfvae.objectives.choices import VAE_OBJECTIVES as OBJECTIVES


class VAE(LatentVariableModel):
  """Amortised VAE; Gaussian posterior and standard-normal prior unless given another family.

  Args:
    encoder: layer mapping x to the latent family's posterior parameters
      ((loc, log_variance) [B, d] each for Gaussian latents).
    decoder: layer with `likelihood(z, x, training)` returning p(x|z).
    latent_dim: the latent family (`tfvae.latents.family`), or d for d
      Gaussian latents.
    beta: initial KL weight (objectives "elbo" and "free_bits").
    seed: base seed of the stateless per-step noise.
    grad_clip_norm: clip the global gradient norm to this (None: no clipping).
    objective: one of OBJECTIVES.
    free_bits: lambda, the total target rate in nats (objective "free_bits").
    prior: a `tfvae.latents.Prior` layer (its weights train with the model);
      default the family's own fixed prior.
  """

  def __init__(self, encoder, decoder, latent_dim, *, beta=1.0, seed=0, grad_clip_norm=None,
               objective="elbo", free_bits=None, prior=None, **kwargs):
    super().__init__(seed=seed, grad_clip_norm=grad_clip_norm, **kwargs)
    if objective not in OBJECTIVES:
      raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if (objective == "free_bits") != (free_bits is not None):
      raise ValueError("free_bits (the target rate lambda) goes with objective='free_bits' "
                       f"and only with it; got objective={objective!r}, free_bits={free_bits}.")
    if free_bits is not None and free_bits <= 0:
      raise ValueError(f"free_bits must be a positive rate in nats, got {free_bits}.")
    self.objective = objective
    self.free_bits = free_bits
    self.encoder = encoder
    self.decoder = decoder
    self.latent_family = latents.family(latent_dim)
    if not (self.latent_family.reparameterised or self.trains_without_reparameterisation):
      raise ValueError(f"{type(self).__name__} trains through reparameterised samples and "
                       f"cannot learn {type(self.latent_family).__name__}; use MonteCarloVAE "
                       "(--model=monte_carlo) with estimator reinforce or vimco.")
    self.latent_dim = self.latent_family.latent_dim
    self.latent_embedding = self.latent_family.embedding()
    self.posterior_flow = (self.latent_family.flow()
                           if isinstance(self.latent_family, latents.IAFLatents) else None)
    self.latent_prior = prior if prior is not None else latents.FixedPrior(self.latent_family)
    if isinstance(self.latent_prior, latents.VampPrior):
      self.latent_prior.attach(self.posterior_of_inputs)
    self.beta = self.add_state("beta", float(beta))
    self.add_trackers("recon", "kl", "elbo")

  # Whether the objective can train latents without a reparameterisation.
  trains_without_reparameterisation = False

  # The model contract.
  def posterior(self, x, training=False):
    return self.make_posterior(self.encoder(x, training=training))

  def make_posterior(self, encoded):
    """q(z|x) from the encoder's outputs, after any change a subclass makes to them.

    With an IAF family (`encoded` is (loc, log_variance, context)) it is the
    flow over N(loc, exp(log_variance)); regularisers of the Gaussian's
    parameters (BN-VAE, DU-VAE) therefore act on z0.
    """
    if self.posterior_flow is None:
      return self.latent_family.posterior(encoded)
    loc, log_variance, context = encoded
    return self.posterior_flow.posterior(latents.diagonal_gaussian(loc, log_variance), context)

  def posterior_of_inputs(self, inputs):
    """q(z|u) for real-valued inputs u of the encoder (`encode_continuous`): a VampPrior's."""
    return self.make_posterior(self.encoder.encode_continuous(inputs))

  @property
  def prior(self):
    return self.latent_prior.distribution()

  def likelihood(self, z, x, training=False):
    return self.decoder.likelihood(self.decoder_input(z), x, training=training)

  def serving_layers(self, half):
    """The layers whose weights an export of `half` ("encoder" or "decoder") needs."""
    if half == "encoder":
      flow = [] if self.posterior_flow is None else [self.posterior_flow]
      return [self.encoder, self.latent_prior, *flow]
    embedding = [] if self.latent_embedding is None else [self.latent_embedding]
    # A VampPrior is the encoder's posterior of its pseudo-inputs.
    encoder = [self.encoder] if isinstance(self.latent_prior, latents.VampPrior) else []
    return [self.decoder, self.latent_prior, *embedding, *encoder]

  def decoder_input(self, z):
    """What the decoder reads for z: z itself, or the embedding of categorical codes."""
    if self.latent_embedding is None:
      return z
    return self.latent_embedding(z)

  def compute_objective(self, x, *, seed, training):
    """(per-example loss [B], {term: [B]}) for one batch under `self.objective`."""
    if self.objective == "free_bits":
      return objectives.free_bits_elbo(self, x, target_rate=self.free_bits, seed=seed,
                                       training=training, beta=self.beta)
    if self.objective == "autoencoder":
      return objectives.autoencoder_loss(self, x, training=training)
    return objectives.beta_elbo(self, x, beta=self.beta, seed=seed, training=training)

  def logged_values(self):
    return {"beta": tf.convert_to_tensor(self.beta)}
