"""Free bits (Kingma et al. 2016), in the batch form of Li et al. 2019 (METHODS.md M5).

The KL term is taken per latent dimension, averaged over the batch, and clamped
below at lambda / d:

  loss = -E_q log p(x|z) + beta * sum_d max(lambda / d, mean_batch KL(q(z_d|x) || p(z_d)))

with lambda the total target rate in nats (Li et al. (2019), "FBP (lambda)"
rows; Li et al.'s tables show the KL settling near lambda) and beta 1 unless a
schedule anneals it (Li et al. 2019 warm the thresholded KL term up from 0 in
the stage after AE pre-training). Dimensions whose batch-mean KL is below the
threshold pay the constant lambda / d and get no gradient from the KL term, so
the optimiser has no reason to push them further towards the prior.
"""

import tensorflow as tf

from tfvae import distribute
from tfvae import divergences
from tfvae import latents
from tfvae.objectives.elbo import elbo_terms


def free_bits_penalty(per_dimension_kl, target_rate):
  """Per-example KL terms [B] whose global-batch mean is sum_d max(lambda/d, KL_d).

  Args:
    per_dimension_kl: KL(q(z_d|x) || p(z_d)), [B, d].
    target_rate: lambda, the total rate in nats (> 0).

  The batch means KL_d are taken over the global batch (all replicas), so a
  distributed run clamps exactly what one device would. Each example carries
  its own KL for the dimensions above the threshold (their gradient is the
  gradient of the batch mean) and lambda/d for the others (no gradient).
  """
  num_dims = tf.cast(tf.shape(per_dimension_kl)[-1], per_dimension_kl.dtype)
  threshold = target_rate / num_dims
  batch_kl = tf.stop_gradient(distribute.global_batch_mean(per_dimension_kl))
  above = batch_kl > threshold
  clamped = tf.where(above, per_dimension_kl, tf.broadcast_to(threshold,
                                                              tf.shape(per_dimension_kl)))
  return tf.reduce_sum(clamped, axis=-1)


def free_bits_elbo(model, x, *, target_rate, seed, training, beta=1.0):
  """Loss -E_q log p(x|z) + beta * free-bits KL per example (see `free_bits_penalty`).

  Returns:
    (loss [B], {"recon", "kl", "elbo"} each [B]); `kl` and `elbo` are the true,
    unclamped values.
  """
  terms = elbo_terms(model, x, seed=seed, training=training)
  posterior = terms["posterior"]
  if latents.is_flow(posterior):
    # A flow mixes the dimensions, so z_T has no KL per dimension: one group
    # (Kingma et al. 2016), the whole estimate clamped at lambda.
    kl_term = free_bits_penalty(terms["kl"][:, None], target_rate)
  else:
    per_dimension = divergences.kl_per_dimension(posterior, model.prior, terms["z"][None])
    kl_term = free_bits_penalty(per_dimension, target_rate)
  recon = -terms["log_likelihood"]
  loss = recon + beta * kl_term
  return loss, {"recon": recon, "kl": terms["kl"], "elbo": terms["elbo"]}

