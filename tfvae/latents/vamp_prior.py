"""The VampPrior (Tomczak and Welling 2018): p(z) = (1/K) sum_k q(z | u_k) over learned pseudo-inputs.

Tomczak and Welling (2018), eq. 9, replace N(0, I) by the encoder's own
posterior averaged over K pseudo-inputs u_k, learned with the model: the prior
closest to the aggregate posterior that the encoder can express. The
pseudo-inputs live where the encoder's computation is continuous: pixels for
an image encoder, and for a text encoder sequences of embedding vectors
[K, T, E] that enter the LSTM where the embeddings of real words would
(`encode_continuous` of the encoders in `tfvae.nets`). Dai et al. (2021),
eq. 12, use the same prior over hyperbolic posteriors (APo-VAE+VP).

The layer owns the pseudo-inputs; the model that holds it supplies the map
u -> q(z|u) (`attach`), so that the prior follows the encoder's weights.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.latents.priors import Prior

tfd = tfp.distributions

__all__ = ["VampPrior"]


class VampPrior(Prior):
  """p(z) = (1/K) sum_k q(z|u_k), a uniform mixture of the posteriors of K learned inputs.

  Args:
    pseudo_input_shape: the shape of one u_k as the encoder's continuous input
      takes it ([T, E] for text, the image shape for images).
    num_components: K.
    initial_scale: the standard deviation of the pseudo-inputs' initial
      values (N(initial_mean, initial_scale^2)).
    initial_mean: their initial mean (e.g. 0.5 for pixels in [0, 1]).
  """

  def __init__(self, pseudo_input_shape, num_components, initial_scale=0.1, initial_mean=0.0,
               **kwargs):
    super().__init__(**kwargs)
    if num_components < 1:
      raise ValueError(f"A VampPrior needs num_components >= 1, got {num_components}.")
    self.num_components = int(num_components)
    self.pseudo_inputs = self.add_weight(
        name="pseudo_inputs", shape=(self.num_components, *pseudo_input_shape),
        initializer=keras.initializers.RandomNormal(initial_mean, initial_scale))
    self._posterior_of = None

  def attach(self, posterior_of):
    """Sets the map u [K, ...] -> q(z|u) with batch [K] (the model's encoder and posterior)."""
    self._posterior_of = posterior_of

  def distribution(self):
    if self._posterior_of is None:
      raise ValueError("This VampPrior has no encoder yet: the model holding it must call "
                       "attach(posterior_of) (VAE does so for a VampPrior it is given).")
    components = self._posterior_of(tf.convert_to_tensor(self.pseudo_inputs))
    return tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.zeros([self.num_components], components.dtype)), components)
