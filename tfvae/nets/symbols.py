"""Networks of the synthetic task of Melis et al. (2022), section 7.1.1: one symbol in, one
symbol out.

Encoder: an embedding of the symbol, two densely connected tanh layers, then
the posterior parameters (a normal with f(o), exp(g(o)) for continuous
latents, softmax(o) logits for categorical ones). Decoder: tanh layers on z
(categorical z arrives embedded, see `tfvae.latents.CategoricalEmbedding`;
Melis et al. (2022) give those decoders one hidden layer instead of two), then
a softmax over the symbols. All sizes 128 in the paper.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.nets.posterior_head import PosteriorParams

tfd = tfp.distributions


def _tanh_stack(hidden_dim, hidden_layers):
  return [keras.layers.Dense(hidden_dim, activation="tanh", name=f"hidden_{i}")
          for i in range(hidden_layers)]


class SymbolEncoder(keras.layers.Layer):
  """x [B] int symbol ids -> posterior parameters (`PosteriorParams`)."""

  def __init__(self, num_symbols, latents, embed_dim=128, hidden_dim=128, hidden_layers=2,
               **kwargs):
    super().__init__(**kwargs)
    self.embedding = keras.layers.Embedding(num_symbols, embed_dim, name="embedding")
    self.hidden = _tanh_stack(hidden_dim, hidden_layers)
    self.to_params = PosteriorParams(latents)

  def call(self, x, training=False):
    return self.encode_continuous(self.embedding(x), training=training)

  def encode_continuous(self, embedded, training=False):
    """Posterior parameters of embedding vectors [K, E] (a VampPrior's pseudo-inputs)."""
    h = embedded
    for layer in self.hidden:
      h = layer(h)
    return self.to_params(h)


class SymbolDecoder(keras.layers.Layer):
  """p(x|z) = Categorical(softmax(logits(z))) over `num_symbols`; z [..., B, d]."""

  def __init__(self, num_symbols, hidden_dim=128, hidden_layers=2, **kwargs):
    super().__init__(**kwargs)
    self.hidden = _tanh_stack(hidden_dim, hidden_layers)
    self.to_logits = keras.layers.Dense(num_symbols, name="to_logits")

  def call(self, z, x=None, training=False):
    """Logits [..., B, num_symbols] (float32)."""
    h = z
    for layer in self.hidden:
      h = layer(h)
    return tf.cast(self.to_logits(h), tf.float32)

  def likelihood(self, z, x=None, training=False):
    """Its `log_prob(x)` for x [B] has z's leading shape [..., B]."""
    return tfd.Categorical(logits=self(z, x, training=training))
