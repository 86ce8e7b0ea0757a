"""The inverse autoregressive flow posterior (Kingma et al. 2016), from TFP bijectors.

q(z_T|x) is the distribution of z_T = f_T(...f_1(z_0)), z_0 ~ N(mu_0(x),
diag(sigma_0(x)^2)), each step the affine autoregressive map of Kingma et al.
(2016), eq. 10, z_t = mu_t + sigma_t * z_{t-1}, written as

  [m_t, s_t] = MADE_t(z_{t-1}, h),  sigma_t = sigmoid(s_t + b_t),
  z_t = sigma_t * (z_{t-1} - m_t)      (mu_t = -sigma_t m_t),

with h a context vector the encoder emits beside mu_0 and log sigma_0^2, b_t a
learned bias (initially 2, so that every step starts close to the identity:
the MADE's output layer starts at zero) and the order of the dimensions
reversed between steps. The scale goes through a sigmoid as in their
numerically stable "LSTM-type" update (section 4), whose shift (1 - sigma_t) m_t
we replace by -sigma_t m_t: the same maps, but a shift that stays finite in
float32 when sigma_t underflows. Its log-Jacobian is sum_i log sigma_t,i, so
log q(z_T|x) is exact:

  log q(z_T|x) = log N(z_0; mu_0, sigma_0^2) - sum_t sum_i log sigma_t,i,

and importance-weighted NLL, MI and KL work as for any posterior with a density.

Each step is `tfb.Invert(tfb.MaskedAutoregressiveFlow(...))`: a masked
autoregressive flow's inverse, y -> (y - shift(y)) exp(-log_scale(y)), is one
pass of the network, and is the step above with shift = m_t and
log_scale = softplus(-(s_t + b_t)) (so exp(-log_scale) = sigma_t). Sampling
and the log-density of the posterior's own samples are one pass per step; the
density of any other z_T inverts the flow, d passes per step.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.latents.made import MADE

tfb = tfp.bijectors
tfd = tfp.distributions

INITIAL_GATE_BIAS = 2.0


class InverseAutoregressiveFlow(keras.layers.Layer):
  """`steps` IAF steps over d latents, each with its MADE; `posterior(base, context)` -> q(z_T|x).

  Args:
    latent_dim: d.
    context_dim: c, the width of the encoder's context h.
    steps: T, the number of IAF steps.
    hidden_dim: the width of each MADE's two hidden layers.
  """

  def __init__(self, latent_dim, context_dim, steps, hidden_dim, **kwargs):
    super().__init__(dtype="float32", **kwargs)
    if steps < 1:
      raise ValueError(f"An inverse autoregressive flow needs at least one step, got {steps}.")
    self.latent_dim = int(latent_dim)
    self.made = [MADE(self.latent_dim, context_dim, hidden_dim, name=f"made_{t}")
                 for t in range(steps)]

  def build(self, input_shape=None):
    del input_shape
    for made in self.made:
      made.build()
    self.gate_bias = [self.add_weight(name=f"gate_bias_{t}", shape=(self.latent_dim,),
                                      initializer=keras.initializers.Constant(INITIAL_GATE_BIAS))
                      for t in range(len(self.made))]

  def step(self, t, context):
    """Step t as a bijector of z_{t-1} (event [d]), for the batch's `context` [B, c]."""
    made, gate_bias = self.made[t], self.gate_bias[t]

    def shift_and_log_scale(y):
      m, s = made(y, context)
      return m, tf.nn.softplus(-(s + gate_bias))

    return tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale))

  def bijector(self, context):
    """f_T o ... o f_1, the dimensions reversed between steps."""
    reverse = tfb.Permute(list(reversed(range(self.latent_dim))))
    parts = []
    for t in range(len(self.made)):
      if t:
        parts.append(reverse)
      parts.append(self.step(t, context))
    return tfb.Chain(list(reversed(parts)))  # A Chain applies its last bijector first.

  def posterior(self, base, context):
    """q(z_T|x): `base` q(z_0|x), a diagonal Gaussian with batch [B], pushed through the flow."""
    if not self.built:
      self.build()
    return tfd.TransformedDistribution(base, self.bijector(context))
