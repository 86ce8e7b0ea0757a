"""The deterministic autoencoder of AE pre-training (Li et al. 2019; METHODS.md M6).

Stage 1 of "A Surprisingly Effective Fix" (Li et al. (2019)): the encoder and
decoder are trained as a plain autoencoder, z = mu(x), loss = -log p(x | mu(x));
no noise and no KL. Stage 2 keeps the encoder, re-initialises the decoder and
trains with free bits (`free_bits_elbo`).
"""

from tfvae import divergences


def autoencoder_loss(model, x, *, training):
  """Loss -log p(x | z = E_q[z]) per example.

  Returns:
    (loss [B], {"recon", "kl", "elbo"} each [B]); `kl` is the KL of the
    encoder's Gaussian to the prior, reported for monitoring only (the
    autoencoder never trains the variance), `elbo` is -recon - kl.
  """
  posterior = model.posterior(x, training=training)
  recon = -model.likelihood(posterior.mean(), x, training=training).log_prob(x)
  kl = divergences.kl(posterior, model.prior, posterior.mean()[None])
  return recon, {"recon": recon, "kl": kl, "elbo": -recon - kl}
