"""Step 1 of LiBI: the likelihood of x given codes h(x) that must look like draws of p(z).

Yacoby et al. (2020), eq. 44, learn the decoder theta together with a
deterministic encoder h(x; varphi) by minimising

  -(1/N) sum_n log p_theta(x_n | h(x_n))
      + eps_HZ exp(HZ({h(x_n)}))
      + exp(||Sigma({h(x_n)}) - I||^2 / eps_Sigma)
      + exp(||mu({h(x_n)})||^2 / eps_mu),

the smooth form of the constraints of their eq. 43: the codes must pass the
Henze-Zirkler test of normality (`tfvae.henze_zirkler`) and have the
prior's mean 0 and covariance I. Without them the codes' scale is not
identified: the likelihood alone is as good for codes z / c and a decoder
stretched by c, each giving another p_theta(x) (with eq. 31's log p(z) term
the codes even shrink toward 0: their eqs. 34-41).

The statistics are those of the global batch (every replica's codes, gathered
by `tfvae.distribute.global_batch`); the paper's batch is the whole training
set (N = 500). ||.||^2 of the covariance gap is the squared Frobenius norm
and Sigma the biased (divide-by-N) covariance, the one the HZ statistic
standardises with. eps_HZ multiplies its term while eps_Sigma and eps_mu
divide theirs, as eq. 44 prints them. Each exponent above `SOFT_CAP` grows
the penalty linearly instead (exp(c) (1 + v - c)), so that codes far from
the prior early in training give a large finite penalty and a gradient that
neither vanishes nor overflows Adam's squared-gradient estimate in float32.
HZ is computed in float64: it is affine invariant, so it does not care how
nearly collinear the codes are, but its covariance check in float32 would
stop training where the optimisation passes close to collinear codes.
"""

import tensorflow as tf

from tfvae import distribute
from tfvae import henze_zirkler

# Above it an exponent's penalty grows linearly: exp(20) ~ 5e8, whose squared
# gradient stays far below float32's limit (3e38).
SOFT_CAP = 20.0


def code_statistics(codes):
  """{"hz", "cov_gap", "mean_gap"} of the codes [N, d] (scalars; eq. 43's three constraints).

  cov_gap = ||Sigma - I||_F^2 with the biased covariance, mean_gap = ||mu||^2.
  """
  codes = tf.convert_to_tensor(codes)
  rows = tf.cast(tf.shape(codes)[0], codes.dtype)
  mean = tf.reduce_mean(codes, axis=0)
  centred = codes - mean
  covariance = tf.matmul(centred, centred, transpose_a=True) / rows
  identity = tf.eye(tf.shape(codes)[1], dtype=codes.dtype)
  hz = henze_zirkler.henze_zirkler_statistic(tf.cast(codes, tf.float64))
  return {"hz": tf.cast(hz, codes.dtype),
          "cov_gap": tf.reduce_sum(tf.square(covariance - identity)),
          "mean_gap": tf.reduce_sum(tf.square(mean))}


def code_penalty(statistics, *, eps_hz, eps_sigma, eps_mu):
  """The penalty of eq. 44 from `code_statistics`: a scalar."""
  def soft_capped_exp(value):
    return tf.exp(tf.minimum(value, SOFT_CAP)) * (1.0 + tf.nn.relu(value - SOFT_CAP))
  return (eps_hz * soft_capped_exp(statistics["hz"])
          + soft_capped_exp(statistics["cov_gap"] / eps_sigma)
          + soft_capped_exp(statistics["mean_gap"] / eps_mu))


def libi_likelihood_loss(model, x, *, eps_hz, eps_sigma, eps_mu, training):
  """Eq. 44 per example: -log p(x | h(x)) plus the global batch's penalty on every row.

  Args:
    model: has `codes(x, training)` -> h(x) [B, d] and `likelihood(z, x, training)`.
    x: this replica's batch.
    eps_hz, eps_sigma, eps_mu: the penalty weights of eq. 44 (> 0).
    training: passed to the networks.

  Returns:
    (loss [B], {"recon", "hz", "cov_gap", "mean_gap", "penalty"} each [B], the
    last four the global batch's values on every row).
  """
  codes = model.codes(x, training=training)
  recon = -model.likelihood(codes, x, training=training).log_prob(x)
  statistics = code_statistics(distribute.global_batch(codes))
  penalty = code_penalty(statistics, eps_hz=eps_hz, eps_sigma=eps_sigma, eps_mu=eps_mu)
  rows = tf.ones_like(recon)
  terms = {"recon": recon, "penalty": penalty * rows,
           **{name: value * rows for name, value in statistics.items()}}
  return recon + penalty * rows, terms
