"""The dual form of the KL divergence, estimated with a critic nu from samples alone.

For any function nu, E_q nu(z) - E_p exp(nu(z)) <= KL(q || p) - 1, with
equality at nu = log q/p (the convex dual of f(t) = t log t; Fang et al.
(2019), eq. 7; Dai et al. (2021), eq. 9). Neither density is needed: samples
of q (an implicit sampler) and of p suffice. Training alternates (Fang et al.
(2019), eqs. 9-10; Dai et al. (2021), Algorithm 1):

  critic step   maximise E_q nu(x, z) - E_p exp(nu(x, z)) over nu;
  model step    maximise E_q [log p(x|z) - nu(x, z)] over encoder and
                decoder: at the optimal critic, E_q nu = KL(q(z|x) || p(z)),
                so this is the ELBO with the KL read off the critic.

With nu of z alone and z from q(z) = E_x q(z|x), the same bound measures
KL(q(z) || p(z)), the KL of the aggregate posterior (iVAE_MI, Fang et al.
(2019), eqs. 13-14).
"""

import tensorflow as tf


def critic_loss(nu_posterior, nu_prior):
  """Per-example loss of the critic step: -(nu(z_q) - exp(nu(z_p))), z_q ~ q, z_p ~ p.

  Args:
    nu_posterior: nu at samples of q, [B] (or [S, B], averaged over S).
    nu_prior: nu at samples of p, the same shape.

  Returns:
    [B]; its mean over the data is minimised over nu.
  """
  return -tf.reduce_mean(_with_sample_axis(nu_posterior) - tf.exp(_with_sample_axis(nu_prior)),
                         axis=0)


def dual_kl_estimate(nu_posterior, nu_prior):
  """The dual lower bound of KL(q || p): 1 + mean nu(z_q) - mean exp(nu(z_p)), per example [B].

  Args:
    nu_posterior: nu at S samples of each q, [S, B] (or [B] for S = 1).
    nu_prior: nu at S samples of p, the same shape.
  """
  return 1.0 - critic_loss(nu_posterior, nu_prior)


def _with_sample_axis(values):
  """[B] -> [1, B]; [S, B] unchanged."""
  return values[None] if values.shape.rank == 1 else values
