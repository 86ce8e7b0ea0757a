"""The evidence lower bound and its beta-weighted form (METHODS.md M1, M2).

ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))   (002, the ELBO section),
estimated with one reparameterised sample for the reconstruction term and the
closed-form KL (Gaussian posterior and prior).
"""

import tensorflow_probability as tfp

tfd = tfp.distributions


def elbo_terms(model, x, *, seed, training):
  """Per-example reconstruction log-likelihood, KL and ELBO, each [B].

  Returns:
    dict with `log_likelihood` (log p(x|z), z ~ q(z|x) one sample), `kl`
    (analytic KL(q||p)), `elbo` (their difference) and `posterior`.
  """
  posterior = model.posterior(x, training=training)
  z = model.sample_posterior(posterior, seed)
  log_likelihood = model.likelihood(z, x, training=training).log_prob(x)
  kl = tfd.kl_divergence(posterior, model.prior)
  return {"log_likelihood": log_likelihood, "kl": kl, "elbo": log_likelihood - kl,
          "posterior": posterior}


def beta_elbo(model, x, *, beta, seed, training):
  """Loss -E_q log p(x|z) + beta * KL per example (beta = 1: the negative ELBO).

  Returns:
    (loss [B], {"recon", "kl", "elbo"} each [B]).
  """
  terms = elbo_terms(model, x, seed=seed, training=training)
  recon = -terms["log_likelihood"]
  loss = recon + beta * terms["kl"]
  return loss, {"recon": recon, "kl": terms["kl"], "elbo": terms["elbo"]}
