"""Priors p(z) as Keras layers that own their variables (ARCHITECTURE.md section 2).

A model holds one prior layer; `model.prior` is `layer.distribution()`, a TFP
distribution over z rebuilt from the layer's current weights, so a learned
prior is trained, checkpointed and restored with the model like any layer.

  FixedPrior               no variables: the latent family's own prior,
                           N(0, I) for Gaussian latents (Kingma and Welling
                           2014), uniform for categorical ones (Melis
                           et al. (2022), M24) and on the sphere for
                           spherical ones (Xu and Durrett (2018), M15);
  MixtureOfGaussiansPrior  sum_k pi_k N(z; mu_k, diag(sigma_k^2)) with learned
                           weights, means and scales: the MoG-prior baseline of
                           the FlowPrior table of Ding and Gimpel (2021)
                           (METHODS.md M13).

With a learned prior the KL of the ELBO has no closed form, so training uses
the Monte-Carlo estimate on the step's own samples (`tfvae.divergences.kl`),
which carries gradients to both q and p.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp


tfd = tfp.distributions


class Prior(keras.layers.Layer):
  """A prior p(z): `distribution()` returns it as a TFP distribution over z.

  Subclasses create their weights in `__init__` (their shapes do not depend on
  any input), so a prior is built from the start.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.built = True

  def distribution(self):
    raise NotImplementedError


class FixedPrior(Prior):
  """A prior without variables: `distribution()` is `latent_family.prior`."""

  def __init__(self, latent_family, **kwargs):
    super().__init__(**kwargs)
    self.latent_family = latent_family

  def distribution(self):
    return self.latent_family.prior


class MixtureOfGaussiansPrior(Prior):
  """p(z) = sum_k softmax(logits)_k N(z; means_k, diag(exp(log_scales_k))^2), all learned.

  Means start as draws of N(0, I) (Keras's seeded initializer), so the
  components start apart; scales at 1 and weights uniform.

  Args:
    latent_dim: d.
    num_components: K.
  """

  def __init__(self, latent_dim, num_components, **kwargs):
    super().__init__(**kwargs)
    if latent_dim < 1 or num_components < 1:
      raise ValueError(f"Need latent_dim >= 1 and num_components >= 1, got {latent_dim}, "
                       f"{num_components}.")
    self.latent_dim = int(latent_dim)
    self.num_components = int(num_components)
    self.logits = self.add_weight(name="logits", shape=(num_components,), initializer="zeros")
    self.means = self.add_weight(name="means", shape=(num_components, latent_dim),
                                 initializer=keras.initializers.RandomNormal(stddev=1.0))
    self.log_scales = self.add_weight(name="log_scales", shape=(num_components, latent_dim),
                                      initializer="zeros")

  def distribution(self):
    components = tfd.Independent(
        tfd.Normal(tf.convert_to_tensor(self.means), tf.exp(tf.convert_to_tensor(self.log_scales))),
        reinterpreted_batch_ndims=1)
    return tfd.MixtureSameFamily(tfd.Categorical(logits=tf.convert_to_tensor(self.logits)),
                                 components)
