"""The FlowPrior of Ding and Gimpel (2021): a RealNVP flow (Dinh et al. 2017) over N(0, I) as p(z).

Ding and Gimpel (2021), "FlowPrior: Learning Expressive Priors for Latent
Variable Sentence Models", replace the VAE's N(0, I) prior by the density of

  z_L = f_L o ... o f_1(z_0),  z_0 ~ N(0, I),
  log p(z_L) = log N(z_0; 0, I) - sum_l log |det df_l / dz_{l-1}|   (their eq. 6),

with every f_l an affine coupling of Dinh et al. (2017), eqs. 4-5: the first k
coordinates are copied and the other d - k are scaled and shifted by functions
of the copied ones,

  y_{1:k} = x_{1:k},  y_{k+1:d} = x_{k+1:d} * exp(s(x_{1:k})) + t(x_{1:k}),

so that the log-determinant is sum_i s_i(x_{1:k}) and the flow is inverted in
one pass: log p(z) is exact, as are samples.

Here k = floor(d / 2), and the coordinates are reversed between couplings
(a fixed `tfb.Permute`), so that consecutive couplings copy opposite ends of
the vector: the alternating masks of Dinh et al. (2017), section 3.5, which
let every coordinate be transformed once two couplings have run (for odd d
as well). Reversing the vector and also flipping the side of the mask would
undo each other and copy the same coordinates twice.

s and t come from one small network per coupling (`ShiftAndLogScale`) whose
output layer starts at zero, so every coupling starts as the identity and the
prior starts as N(0, I) exactly (the flow as a whole then only reorders the
coordinates). Its log-scale is a tanh times a learned per-coordinate range,
bounded whatever the input, which keeps exp(s) finite in float32.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.latents.priors import Prior

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["RealNVPPrior", "ShiftAndLogScale"]

NUM_HIDDEN_LAYERS = 2


class ShiftAndLogScale(keras.layers.Layer):
  """The network of one affine coupling: the copied coordinates -> (t, s) for the others.

  Two relu hidden layers and a zero-initialised output layer; the log-scale is
  `log_scale_range * tanh(raw)`, with `log_scale_range` learned (initially 1).
  The weights are created here, from the widths alone.

  Args:
    input_units: k, the number of copied coordinates it reads.
    output_units: d - k, the number of coordinates it scales and shifts.
    hidden_units: the width of each hidden layer.
  """

  def __init__(self, input_units, output_units, hidden_units, **kwargs):
    super().__init__(dtype="float32", **kwargs)
    self.input_units = int(input_units)
    self.output_units = int(output_units)
    self.hidden = [keras.layers.Dense(hidden_units, activation="relu", dtype="float32",
                                      name=f"hidden_{index}")
                   for index in range(NUM_HIDDEN_LAYERS)]
    self.shift_and_raw_log_scale = keras.layers.Dense(
        2 * self.output_units, kernel_initializer="zeros", dtype="float32",
        name="shift_and_raw_log_scale")
    self._build_sublayers(hidden_units)
    self.log_scale_range = self.add_weight(name="log_scale_range", shape=(self.output_units,),
                                           initializer="ones")
    self.built = True

  def _build_sublayers(self, hidden_units):
    """Creates the Dense weights under this layer's name, so their paths are unique."""
    with keras.name_scope(self.name):
      widths = [self.input_units] + [hidden_units] * NUM_HIDDEN_LAYERS
      for layer, width in zip([*self.hidden, self.shift_and_raw_log_scale], widths):
        layer.build((None, width))

  def call(self, x, output_units):
    """(shift, log_scale), each [..., d - k], for the copied coordinates x [..., k].

    Args:
      x: the copied coordinates, [..., k].
      output_units: d - k, as `tfb.RealNVP` passes it; must match the layer's.

    Returns:
      (shift, log_scale), each [..., d - k], with |log_scale| <= |log_scale_range|.

    Raises:
      ValueError: `output_units` differs from the width the layer was made for.
    """
    if output_units != self.output_units:
      raise ValueError(f"This coupling network transforms {self.output_units} coordinates, "
                       f"asked for {output_units}.")
    hidden = x
    for layer in self.hidden:
      hidden = layer(hidden)
    shift, raw_log_scale = keras.ops.split(self.shift_and_raw_log_scale(hidden), 2, axis=-1)
    return shift, self.log_scale_range * keras.ops.tanh(raw_log_scale)


class RealNVPPrior(Prior):
  """p(z): N(0, I) over d pushed through `num_couplings` RealNVP affine couplings.

  Ding and Gimpel (2021), eq. 6; each coupling copies the first floor(d / 2)
  coordinates of its input, and the coordinates are reversed between couplings.

  Args:
    latent_dim: d, at least 2 (a coupling needs a coordinate to copy and one to
      transform).
    num_couplings: L, at least 1.
    hidden_units: the width of the hidden layers of each coupling's network.

  Raises:
    ValueError: latent_dim < 2 or num_couplings < 1.
  """

  def __init__(self, latent_dim, num_couplings, hidden_units, **kwargs):
    super().__init__(dtype="float32", **kwargs)
    if latent_dim < 2:
      raise ValueError(f"A RealNVP prior needs latent_dim >= 2 (each coupling copies some "
                       f"coordinates and transforms the others), got {latent_dim}.")
    if num_couplings < 1:
      raise ValueError(f"A RealNVP prior needs num_couplings >= 1, got {num_couplings}.")
    self.latent_dim = int(latent_dim)
    self.num_couplings = int(num_couplings)
    self.num_masked = self.latent_dim // 2
    with keras.name_scope(self.name):
      self.couplings = [
          ShiftAndLogScale(self.num_masked, self.latent_dim - self.num_masked, hidden_units,
                           name=f"coupling_{index}")
          for index in range(self.num_couplings)]

  def _coupling_bijector(self, network):
    """One affine coupling; a Keras 3 layer takes `output_units` by keyword only."""
    return tfb.RealNVP(num_masked=self.num_masked,
                       shift_and_log_scale_fn=lambda x, units: network(x, output_units=units))

  def bijector(self):
    """f_L o ... o f_1, z_0 -> z, with the coordinates reversed between couplings.

    Returns:
      A `tfb.Chain` over events [d].
    """
    reverse = tfb.Permute(list(reversed(range(self.latent_dim))))
    steps = []
    for index, network in enumerate(self.couplings):
      if index:
        steps.append(reverse)
      steps.append(self._coupling_bijector(network))
    return tfb.Chain(list(reversed(steps)))  # A Chain applies its last bijector first.

  def distribution(self):
    """p(z), rebuilt from the current weights.

    Returns:
      A `tfd.TransformedDistribution` with event shape [d] and batch shape [].
    """
    base = tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim], tf.float32))
    return tfd.TransformedDistribution(base, self.bijector())
