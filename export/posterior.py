"""Encoder outputs shared by the text and image exports: loc, scale, z, kl.

`loc`, `scale` and `kl` are exactly what the Keras model computes:
`model.posterior(x)` (mean and standard deviation of q(z|x)) and
`tfvae.divergences.kl(q(z|x), p(z))`. `z = loc + scale * eps` is one fresh
sample of q per request row, with eps ~ N(0, I) from a stateful
`RandomStandardNormal` op seeded non-deterministically when the server loads
the model (seed = seed2 = 0): repeated requests, and different server
replicas, draw different samples. A client that needs reproducible or
several samples draws them itself from `loc` and `scale`.
"""

import tensorflow as tf

from tfvae import divergences


def posterior_outputs(model, x):
  """{loc, scale, z: [B, d], kl: [B]} of q(z|x) for one batch x."""
  posterior = model.posterior(x, training=False)
  loc = posterior.mean()
  scale = posterior.stddev()
  noise = tf.raw_ops.RandomStandardNormal(shape=tf.shape(loc), dtype=loc.dtype, seed=0,
                                          seed2=0)
  return {"loc": loc, "scale": scale, "z": loc + scale * noise,
          "kl": divergences.kl(posterior, model.prior, (loc + scale * noise)[None])}


def posterior_specs(latent_dim):
  """Output specs of `posterior_outputs` (for empty-batch answers)."""
  return {"loc": tf.TensorSpec([None, latent_dim], tf.float32),
          "scale": tf.TensorSpec([None, latent_dim], tf.float32),
          "z": tf.TensorSpec([None, latent_dim], tf.float32),
          "kl": tf.TensorSpec([None], tf.float32)}
