"""The evidence lower bound and its beta-weighted form (METHODS.md M1, M2).

ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))
(He's lecture notes (2026), the ELBO section),
estimated with one reparameterised sample for the reconstruction term; the KL
is the closed form where TFP has one (Gaussian posterior and prior), else the
Monte-Carlo estimate on the same sample (`tfvae.divergences.kl`).
"""

from tfvae import divergences


def elbo_terms(model, x, *, seed, training):
  """Per-example reconstruction log-likelihood, KL and ELBO, each [B].

  Returns:
    dict with `log_likelihood` (log p(x|z), z ~ q(z|x) one sample), `kl`
    (KL(q||p)), `elbo` (their difference), `posterior` (the model's
    `step_posterior`) and the sample `z`.
  """
  posterior = model.step_posterior(x, seed=seed, training=training)
  z = model.sample_posterior(posterior, seed)
  log_likelihood = model.likelihood(z, x, training=training).log_prob(x)
  kl = divergences.kl(posterior, model.prior, z[None])
  return {"log_likelihood": log_likelihood, "kl": kl, "elbo": log_likelihood - kl,
          "posterior": posterior, "z": z}


def beta_elbo(model, x, *, beta, seed, training):
  """Loss -E_q log p(x|z) + beta * KL per example (beta = 1: the negative ELBO).

  Returns:
    (loss [B], {"recon", "kl", "elbo"} each [B]).
  """
  terms = elbo_terms(model, x, seed=seed, training=training)
  recon = -terms["log_likelihood"]
  loss = recon + beta * terms["kl"]
  return loss, {"recon": recon, "kl": terms["kl"], "elbo": terms["elbo"]}
