"""The objective of Ding and Gimpel (2021), eq. 7: an importance-weighted bound plus the ELBO.

With N samples z_i ~ q(z|x) and a learned prior p_psi (their RealNVP flow,
`tfvae.latents.RealNVPPrior`),

  L(x) = log (1/N) sum_i p(x|z_i) p_psi(z_i) / q(z_i|x)            (IW bound)
         + (1/N) sum_i log p(x|z_i) - KL_hat(x, {z_i})              (ELBO)

where KL_hat = (1/N) sum_i [log q(z_i|x) - log p_psi(z_i)] is the sampled
KL (the flow prior has no closed form). Both parts bound log p(x); the first
is tighter, the second keeps the reconstruction and the KL in view. Their
"+FB" variant clamps the sampled KL with free bits: the flow mixes the
dimensions, so the whole KL is one group clamped at lambda (as for IAF
posteriors, `tfvae.objectives.free_bits`).
"""

import tensorflow as tf

from tfvae.objectives.free_bits import free_bits_penalty
from tfvae.objectives.monte_carlo import log_mean_exp


def flow_prior_loss(model, x, *, num_samples, seed, training, target_rate=None, beta=1.0):
  """-L(x) of Ding and Gimpel (2021), eq. 7, per example, from `num_samples` samples of q.

  Args:
    model: keeps the tfvae contract (the prior any learned p(z) with a density).
    x: a batch [B, ...].
    num_samples: N.
    seed: the step's stateless seed.
    training: passed to the networks.
    target_rate: lambda of the "+FB" variant (the whole KL clamped at it);
      None: no free bits.
    beta: weight of the ELBO part's KL.

  Returns:
    (loss [B], {"recon", "kl", "elbo", "iw_bound"} each [B]); `kl` unclamped.
  """
  posterior = model.step_posterior(x, seed=seed, training=training)
  z = model.sample_posterior(posterior, seed, num_samples)
  log_likelihood = model.likelihood(z, x, training=training).log_prob(x)
  log_ratio = model.prior.log_prob(z) - posterior.log_prob(z)
  iw_bound = log_mean_exp(log_likelihood + log_ratio)
  recon = -tf.reduce_mean(log_likelihood, axis=0)
  kl = -tf.reduce_mean(log_ratio, axis=0)
  kl_term = kl if target_rate is None else free_bits_penalty(kl[:, None], target_rate)
  loss = -iw_bound + recon + beta * kl_term
  return loss, {"recon": recon, "kl": kl, "elbo": -recon - kl, "iw_bound": iw_bound}
