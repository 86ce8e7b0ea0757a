"""The critic nu_psi of the dual-form KL (Fang et al. (2019), eqs. 7-8; Dai et al. (2021), eq. 9).

KL(q || p) = 1 + max_nu E_q nu(z) - E_p exp(nu(z)), attained at
nu = log q/p; a network plays nu. iVAE and APo-VAE give it the pair (x, z)
(through features of x, the encoder's output, held fixed: the critic does not
train the encoder), iVAE_MI z alone (Fang et al. (2019), eq. 13).
"""

import keras
import tensorflow as tf


class Critic(keras.layers.Layer):
  """nu(x, z) or nu(z): an MLP of [features of x, z] (or of z) to one number.

  Leaky-ReLU hidden layers, three by default, as the critics of Fang et al.'s
  (2019) code.

  Its last layer starts at zero, so nu starts at 0 and exp(nu) at 1.

  Args:
    hidden_units: width of the hidden layers.
    num_hidden: how many hidden layers.
    sees_x: whether nu reads x (iVAE, APo-VAE) or only z (iVAE_MI).
  """

  def __init__(self, hidden_units, num_hidden=3, sees_x=True, **kwargs):
    super().__init__(**kwargs)
    if hidden_units < 1 or num_hidden < 1:
      raise ValueError(f"A critic needs hidden_units >= 1 and num_hidden >= 1, got "
                       f"{hidden_units}, {num_hidden}.")
    self.sees_x = bool(sees_x)
    self.hidden = [keras.layers.Dense(hidden_units, activation="leaky_relu", name=f"hidden_{i}")
                   for i in range(num_hidden)]
    # nu enters float32 losses (and exp(nu) overflows bfloat16 early): float32 out.
    self.to_value = keras.layers.Dense(1, kernel_initializer="zeros", dtype="float32",
                                       name="to_value")

  def call(self, features, z):
    """nu [...] of z [..., B, d] (leading sample dims allowed) given features [B, f] of x."""
    h = z
    if self.sees_x:
      features = tf.broadcast_to(
          tf.cast(features, z.dtype),
          tf.concat([tf.shape(z)[:-1], tf.shape(features)[-1:]], axis=0))
      h = tf.concat([features, z], axis=-1)
    for layer in self.hidden:
      h = layer(h)
    return tf.squeeze(self.to_value(h), axis=-1)
