"""The networks of Yacoby et al. (2020), appendix E ("Architecture"), for the LiBI sets.

Encoders (the paper's inference model), by data set:

* `linear_jtex`, `gaussian`: linear, x -> the posterior parameters;
* `mobius`: one hidden layer of 50 ReLU units;
* `cubic_jtex`: a hidden layer of 4 units, half sigmoid and half cube root,
  then one of 20 ReLU units.

Decoders ("the same architecture for the likelihood as the one of the
ground-truth process"): p(x|z) = N(mean_theta(z), diag(noise)) with the noise of
the true process held fixed ("we also fix the hyper-parameters (sigma^2 and B)
to be those of the true generative process"), and

* `linear_jtex`: mean = L z, L = Cholesky(A A^T + B), theta = A (2 x 2), B fixed
  (eq. 3);
* `cubic_jtex`: mean = (L z)^3, element-wise;
* `gaussian`: mean = z^T A, theta = A (2 x 4);
* `mobius`: mean = an MLP 2 -> 50 tanh -> 50 tanh -> 2, the architecture of the
  generator's network (`tfvae.data.libi`), trained from a random start.

The decoders run in float32 under any mixed-precision policy. Each has
`set_true_parameters(true_model)`, which sets theta to the ground truth of
`tfvae.data.libi.true_model(kind)` (for `mobius`: the generator's network).
"""

import keras
import numpy as np
import tensorflow as tf

from tfvae import likelihoods
from tfvae.data import libi
from tfvae.nets.posterior_head import PosteriorParams

__all__ = ["JTExDecoder", "LiBIEncoder", "LinearDecoder", "MobiusDecoder", "SigmoidCubeRoot",
           "cube_root", "libi_decoder"]

# Keeps the gradient of the cube root finite at 0: (|x| + offset)^(-2/3) / 3 <= 3.4e7.
CUBE_ROOT_OFFSET = 1e-12
MOBIUS_ENCODER_UNITS = 50
CUBIC_ENCODER_UNITS = (4, 20)


def cube_root(x):
  """sign(x) (|x| + CUBE_ROOT_OFFSET)^(1/3), computed in float32.

  The offset bounds the derivative near 0 (the exact cube root's is infinite
  there, and TensorFlow's gradient of |x|^(1/3) at 0 is NaN) and moves the
  value by at most 1e-4.
  """
  x32 = tf.cast(x, tf.float32)
  root = tf.sign(x32) * tf.pow(tf.abs(x32) + CUBE_ROOT_OFFSET, 1.0 / 3.0)
  return tf.cast(root, x.dtype)


class SigmoidCubeRoot(keras.layers.Layer):
  """A Dense layer whose first half of units is sigmoid, the second half cube root.

  The first hidden layer of the Cubic JTEx encoder (Yacoby et al. (2020),
  appendix E), there to help invert the cube of the generative process.
  """

  def __init__(self, units, **kwargs):
    super().__init__(**kwargs)
    self.num_sigmoid = units // 2
    self.dense = keras.layers.Dense(units, name="dense")

  def call(self, x):
    h = self.dense(x)
    return tf.concat([tf.sigmoid(h[..., :self.num_sigmoid]),
                      cube_root(h[..., self.num_sigmoid:])], axis=-1)


def _encoder_hidden(kind):
  if kind in libi.LINEAR_TYPES:
    return []
  if kind == "mobius":
    return [keras.layers.Dense(MOBIUS_ENCODER_UNITS, activation="relu", name="hidden_0")]
  first, second = CUBIC_ENCODER_UNITS
  return [SigmoidCubeRoot(first, name="hidden_0"),
          keras.layers.Dense(second, activation="relu", name="hidden_1")]


class LiBIEncoder(keras.layers.Layer):
  """x [B, D] -> posterior parameters (`PosteriorParams`) through the encoder of `kind`.

  Args:
    kind: one of `tfvae.data.libi.TYPES`.
    latents: the latent family (or d for d Gaussian latents).
  """

  def __init__(self, kind, latents, **kwargs):
    super().__init__(**kwargs)
    if kind not in libi.TYPES:
      raise ValueError(f"Unknown LiBI data set {kind!r}; expected one of {libi.TYPES}.")
    self.kind = kind
    self.hidden = _encoder_hidden(kind)
    self.to_params = PosteriorParams(latents)

  def call(self, x, training=False):
    h = x
    for layer in self.hidden:
      h = layer(h)
    return self.to_params(h)

  def encode_continuous(self, x, training=False):
    """Posterior parameters of real-valued inputs (a VampPrior's pseudo-inputs): `call` itself."""
    return self(x, training=training)


class _FixedNoiseDecoder(keras.layers.Layer):
  """p(x|z) = N(self.mean(z), diag(noise_variance)) with the noise variance fixed.

  `call(z)` returns the mean [..., D] for z [..., 2]; `likelihood(z, x)` the
  distribution, whose `log_prob(x)` has shape z.shape[:-1].
  """

  def __init__(self, noise_variance, **kwargs):
    kwargs.setdefault("dtype", "float32")
    super().__init__(**kwargs)
    self.noise_variance = np.asarray(noise_variance, np.float32)

  def call(self, z, x=None, training=False):
    return self.mean(tf.cast(z, tf.float32))

  def likelihood(self, z, x=None, training=False):
    return likelihoods.gaussian_vectors(self(z, x, training=training), self.noise_variance)

  def mean(self, z):
    raise NotImplementedError


class JTExDecoder(_FixedNoiseDecoder):
  """The (Linear or Cubic) JTEx likelihood of Yacoby et al. (2020), eq. 3 and appendix E.

  mean(z) = L z (or (L z)^3 with `cubic`), L = Cholesky(A A^T + B); A is the
  trainable theta, B and the noise variance sigma^2 - B_ii are fixed.

  Args:
    b: the fixed diagonal B [2, 2].
    noise_variance: [2], the fixed noise variance.
    cubic: cube the mean element-wise (Cubic JTEx).
  """

  def __init__(self, b, noise_variance, cubic=False, **kwargs):
    super().__init__(noise_variance, **kwargs)
    self.b = np.asarray(b, np.float32)
    self.cubic = bool(cubic)
    self.a = self.add_weight(shape=self.b.shape, initializer="glorot_uniform", name="a")

  def loading(self):
    """L = Cholesky(A A^T + B) [2, 2], lower triangular."""
    return tf.linalg.cholesky(tf.matmul(self.a, self.a, transpose_b=True) + self.b)

  def mean(self, z):
    linear = tf.linalg.matvec(self.loading(), z)
    return linear**3 if self.cubic else linear

  def set_true_parameters(self, true_model):
    """Sets A to the ground truth (`tfvae.data.libi.true_model("linear_jtex")` or cubic)."""
    _check_noise(self, true_model)
    if not np.allclose(true_model.b, self.b):
      raise ValueError(f"The decoder's fixed B {self.b.tolist()} is not the true model's "
                       f"{true_model.b.tolist()}.")
    self.a.assign(true_model.a)


class LinearDecoder(_FixedNoiseDecoder):
  """The "Gaussian" likelihood of Yacoby et al. (2020), appendix E: mean(z) = z^T A.

  Args:
    shape: the shape of the trainable A, [latent dim, data dim] ([2, 4]).
    noise_variance: [data dim], the fixed noise variance.
  """

  def __init__(self, shape, noise_variance, **kwargs):
    super().__init__(noise_variance, **kwargs)
    self.a = self.add_weight(shape=tuple(shape), initializer="glorot_uniform", name="a")

  def mean(self, z):
    return tf.linalg.matvec(self.a, z, transpose_a=True)

  def set_true_parameters(self, true_model):
    """Sets A to the ground truth (`tfvae.data.libi.true_model("gaussian")`)."""
    _check_noise(self, true_model)
    self.a.assign(true_model.a)


class MobiusDecoder(_FixedNoiseDecoder):
  """The Mobius likelihood: mean(z) = an MLP 2 -> 50 tanh -> 50 tanh -> 2 of z.

  The architecture of the network that generates the data (`tfvae.data.libi`);
  Yacoby et al. (2020), appendix E, give none, and use the ground-truth one.
  """

  def __init__(self, noise_variance, **kwargs):
    super().__init__(noise_variance, **kwargs)
    self.network = [keras.layers.Dense(units, activation="tanh", name=f"hidden_{i}")
                    for i, units in enumerate(libi.NETWORK_HIDDEN)]
    self.network.append(keras.layers.Dense(len(self.noise_variance), name="to_mean"))

  def mean(self, z):
    h = z
    for layer in self.network:
      h = layer(h)
    return h

  def set_true_parameters(self, true_model):
    """Sets the MLP to the generator's network (`true_model("mobius", generator="network")`)."""
    _check_noise(self, true_model)
    if true_model.generator != "network":
      raise ValueError("Only the Mobius network (generator='network') is an MLP the decoder "
                       "can hold; the exact transform is not.")
    if not self.built:
      self(tf.zeros([1, libi.LATENT_DIM]))
    weights = true_model.mean.weights  # (kernel, bias) per layer
    for index, layer in enumerate(self.network):
      layer.kernel.assign(weights[2 * index])
      layer.bias.assign(weights[2 * index + 1])


def _check_noise(decoder, true_model):
  if not np.allclose(true_model.noise_variance, decoder.noise_variance):
    raise ValueError(f"The decoder's fixed noise variance {decoder.noise_variance.tolist()} is "
                     f"not that of the true {true_model.kind} model.")


def libi_decoder(kind, **kwargs):
  """The trainable decoder of LiBI data set `kind`, its noise (and B) fixed to the truth."""
  truth = libi.true_model(kind, generator="exact")  # "exact": the noise, without the network
  if kind in ("linear_jtex", "cubic_jtex"):
    return JTExDecoder(truth.b, truth.noise_variance, cubic=kind == "cubic_jtex", **kwargs)
  if kind == "gaussian":
    return LinearDecoder(truth.a.shape, truth.noise_variance, **kwargs)
  return MobiusDecoder(truth.noise_variance, **kwargs)
