"""MADE (Germain et al. 2015): a masked network whose output i reads only inputs before i.

The shift and log-scale network of the inverse autoregressive flow
(`tfvae.latents.iaf`), written as Keras 3 layers so that a Keras 3 model trains
and checkpoints its weights (TFP's `tfb.AutoregressiveNetwork` is a Keras 2
layer). Germain et al. (2015), section 4 (eqs. 12-13): every unit k gets a
degree m(k); input i has degree i (1..d), hidden units degrees in 1..d-1,
and a weight from unit k to unit k' of the next layer is kept when
m(k') >= m(k) (hidden layers) or m(k') > m(k) (the output layer, whose unit for
dimension i has degree i). Hidden degrees are assigned cyclically,
1, 2, ..., d-1, 1, 2, ..., so the masks are deterministic. A context vector
(the encoder's state, Kingma et al. (2016), section 4) enters the first hidden
layer and the output layer through unmasked weights: it may depend on x in
any way, never on z.
"""

import keras
import numpy as np


def hidden_degrees(num_inputs, num_hidden):
  """Degrees 1..d-1 in turn for `num_hidden` units (all 1 when d = 1: they read no input)."""
  return np.arange(num_hidden) % max(num_inputs - 1, 1) + 1


def masks(num_inputs, num_hidden, num_outputs_per_input):
  """(input -> hidden, hidden -> hidden, hidden -> output) 0/1 masks, kernel-shaped [in, out]."""
  inputs = np.arange(1, num_inputs + 1)
  hidden = hidden_degrees(num_inputs, num_hidden)
  outputs = np.tile(inputs, num_outputs_per_input)
  return ((hidden[None, :] >= inputs[:, None]).astype(np.float32),
          (hidden[None, :] >= hidden[:, None]).astype(np.float32),
          (outputs[None, :] > hidden[:, None]).astype(np.float32))


class MaskedDense(keras.layers.Layer):
  """x @ (kernel * mask) + bias, the mask fixed at construction ([in, out])."""

  def __init__(self, mask, kernel_initializer="glorot_uniform", **kwargs):
    super().__init__(dtype="float32", **kwargs)
    self.mask = np.asarray(mask, np.float32)
    self.kernel_initializer = keras.initializers.get(kernel_initializer)

  def build(self, input_shape):
    del input_shape
    self.kernel = self.add_weight(name="kernel", shape=self.mask.shape,
                                  initializer=self.kernel_initializer)
    self.bias = self.add_weight(name="bias", shape=(self.mask.shape[1],), initializer="zeros")

  def call(self, x):
    return keras.ops.matmul(x, self.kernel * self.mask) + self.bias


class MADE(keras.layers.Layer):
  """z [..., B, d] and context [B, c] -> `num_outputs_per_input` outputs [..., B, d] each.

  Output j of dimension i depends on z_1..z_{i-1} and on the context only.

  Args:
    latent_dim: d.
    context_dim: c.
    hidden_dim: units of each of the two hidden layers.
    num_outputs_per_input: how many values per dimension (2: shift and scale).
  """

  def __init__(self, latent_dim, context_dim, hidden_dim, num_outputs_per_input=2, **kwargs):
    super().__init__(dtype="float32", **kwargs)
    self.latent_dim = int(latent_dim)
    self.context_dim = int(context_dim)
    self.hidden_dim = int(hidden_dim)
    self.num_outputs_per_input = int(num_outputs_per_input)
    first, middle, last = masks(self.latent_dim, hidden_dim, self.num_outputs_per_input)
    self.first = MaskedDense(first, name="first")
    self.middle = MaskedDense(middle, name="middle")
    self.last = MaskedDense(last, kernel_initializer="zeros", name="last")
    self.context_to_hidden = keras.layers.Dense(hidden_dim, use_bias=False, dtype="float32",
                                                name="context_to_hidden")
    self.context_to_output = keras.layers.Dense(last.shape[1], use_bias=False, dtype="float32",
                                                kernel_initializer="zeros",
                                                name="context_to_output")

  def build(self, input_shape=None):
    """Builds every sublayer from d, c and the width (no input needed)."""
    del input_shape
    self.first.build((None, self.latent_dim))
    self.middle.build((None, self.hidden_dim))
    self.last.build((None, self.hidden_dim))
    self.context_to_hidden.build((None, self.context_dim))
    self.context_to_output.build((None, self.context_dim))

  def call(self, z, context):
    hidden = keras.ops.relu(self.first(z) + self.context_to_hidden(context))
    hidden = keras.ops.relu(self.middle(hidden))
    outputs = self.last(hidden) + self.context_to_output(context)
    return keras.ops.split(outputs, self.num_outputs_per_input, axis=-1)
