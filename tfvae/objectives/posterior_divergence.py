"""MAE's objective: the ELBO with the mutual posterior-divergence regulariser (Ma et al. 2019; M20).

Ma et al. (2019) regularise the geometry of the latent space through the
symmetric KL divergences between the posteriors of the batch,
D_ij = D_SKL[q(z|x_i) || q(z|x_j)] (the mean of the two KL directions;
`tfvae.divergences.pairwise_symmetric_kl`), whose expectation over pairs of
examples is the mutual posterior diversity, MPD (Shen et al. (2021), eq. 2,
after Ma et al.). With MPD_d the mean of dimension d's terms D_ij,d over the
B (B - 1) distinct pairs i != j of the batch and sigma_D the standard
deviation of the D_ij over the same pairs, the loss is

  -ELBO + eta sum_d softplus(-MPD_d / eta) + gamma sigma_D,
          \\____ diversity ______________/   \\_ smoothness _/

the -ELBO with the KL weighted by beta (1: the ELBO of Shen et al. (2021),
eq. 1) and the model's prior (Shen et al. (2021), section 4.1, train MAE with
the standard normal prior rather than Ma et al.'s flow prior). Which form, and
why:

* diversity: eta softplus(-MPD_d / eta) = -eta log sigmoid(MPD_d / eta), not
  -eta MPD_d. MPD grows without bound as the posteriors narrow (it holds
  (m_i - m_j)^2 / v_j), so a linear reward would make the loss unbounded below
  whatever the ELBO; the log-sigmoid rewards each dimension by at most
  eta log 2, with a gradient of -1/2 per dimension for a collapsed dimension
  (MPD_d = 0) that vanishes once MPD_d >> eta. This is the normalisation that
  balances the scales of the terms, which Shen et al. (2021), section 3.1,
  name as MAE's difficulty. eta = 0 drops the term.
* smoothness: gamma times the standard deviation of the total divergences
  D_ij, penalising a latent space in which a few posteriors lie far from the
  others while most stay together.

Ma et al.'s text is not among the source texts, so the equation numbers of
their section 3 could not be checked here; the form is that of the authors'
released code (`MAE.loss`, `GaussianEncoder._postKL` in XuezheMax/mae:
per-dimension means over distinct pairs, the log-sigmoid of mean / eta, the
standard deviation weighted by gamma), but for sigma_D: theirs is the standard
deviation of the directed KL(q_i || q_j) over ordered pairs with Bessel's
correction, ours that of D_SKL, the divergence of the diversity term and of
Shen et al. (2021), eq. 2, without Bessel's correction (defined from B = 2).

The regulariser is a statistic of the *global* batch: under a distribution
strategy the posteriors' parameters are all-gathered over the replicas
(`tfvae.distribute.global_batch`), every example carries the regulariser's
value, so that the global-batch mean of the per-example losses is
-ELBO + regulariser exactly as one device computes it, and the gradient flows
back through the gather to each replica's rows. A global batch of one example
has no pairs: MPD_d = sigma_D = 0, and no gradient from the regulariser.
"""

import tensorflow as tf

from tfvae import distribute
from tfvae import divergences
from tfvae.objectives.elbo import elbo_terms


def pair_divergence_statistics(loc, scale):
  """(MPD_d [d], sigma_D scalar) of the global batch's posteriors N(loc, diag scale^2).

  MPD_d is the mean of D_SKL's dimension-d terms over the distinct pairs i != j,
  sigma_D the standard deviation of the total D_SKL over the same pairs (both
  0 for a global batch of one example).

  Args:
    loc, scale: this replica's [B, d] posterior parameters.
  """
  loc = distribute.global_batch(loc)
  scale = distribute.global_batch(scale)
  per_dimension = divergences.pairwise_symmetric_kl(loc, scale, per_dimension=True)
  rows = tf.shape(loc)[0]
  pairs = tf.cast(tf.maximum(rows * (rows - 1), 1), loc.dtype)
  # The diagonal terms D_ii are exactly 0: sums over all entries are sums over the pairs.
  mpd = tf.reduce_sum(per_dimension, axis=[0, 1]) / pairs
  off_diagonal = 1.0 - tf.eye(rows, dtype=loc.dtype)
  deviation = off_diagonal * (tf.reduce_sum(per_dimension, axis=-1) - tf.reduce_sum(mpd))
  variance = tf.reduce_sum(tf.square(deviation)) / pairs
  # sqrt has an infinite derivative at 0 (equal divergences, e.g. B = 2): there the std is 0
  # with gradient 0.
  positive = variance > 0
  std = tf.where(positive, tf.sqrt(tf.where(positive, variance, tf.ones_like(variance))), 0.0)
  return mpd, std


def mutual_posterior_regulariser(loc, scale, *, eta, gamma):
  """eta sum_d softplus(-MPD_d / eta) + gamma sigma_D on the global batch (module docstring).

  Returns:
    (regulariser: scalar, {"pair_divergence": sum_d MPD_d, "pair_divergence_std": sigma_D}).
  """
  mpd, std = pair_divergence_statistics(loc, scale)
  diversity = eta * tf.reduce_sum(tf.nn.softplus(-mpd / eta)) if eta > 0 else 0.0
  return diversity + gamma * std, {"pair_divergence": tf.reduce_sum(mpd),
                                   "pair_divergence_std": std}


def mae_loss(model, x, *, eta, gamma, seed, training, beta=1.0):
  """Loss -E_q log p(x|z) + beta KL + the regulariser, per example (module docstring).

  Every example carries the global batch's regulariser, so that the mean of
  the losses over the global batch is the batch objective.

  Returns:
    (loss [B], {"recon", "kl", "elbo", "pair_divergence", "pair_divergence_std"}
    each [B]; the last two the global batch's values on every row).
  """
  terms = elbo_terms(model, x, seed=seed, training=training)
  posterior = terms["posterior"]
  regulariser, statistics = mutual_posterior_regulariser(
      posterior.mean(), posterior.stddev(), eta=eta, gamma=gamma)
  recon = -terms["log_likelihood"]
  rows = tf.ones_like(recon)
  loss = recon + beta * terms["kl"] + regulariser * rows
  return loss, {"recon": recon, "kl": terms["kl"], "elbo": terms["elbo"],
                **{name: value * rows for name, value in statistics.items()}}
