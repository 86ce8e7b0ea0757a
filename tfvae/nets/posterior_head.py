"""The last layer of every encoder: features -> the latent family's posterior parameters."""

import keras

from tfvae import latents as latents_lib


class PosteriorParams(keras.layers.Dense):
  """Dense float32 layer of `family.num_params` units whose output goes through `family.split`.

  For Gaussian latents it returns (loc, log_variance) [B, d] each, for
  categorical latents the logits [B, n, C]. It runs in float32 under any
  mixed-precision policy: distribution parameters stay in float32.

  Args:
    latents: a latent family (`tfvae.latents.family`) or an int d (Gaussian).
  """

  def __init__(self, latents, name="to_params", **kwargs):
    self.family = latents_lib.family(latents)
    super().__init__(self.family.num_params, dtype="float32", name=name, **kwargs)

  def call(self, features):
    return self.family.split(super().call(features))
