"""Encoder outputs and latent shapes shared by the text and image exports.

Gaussian latents (z float32 [B, d]): `loc`, `scale`, `z`, `kl`. `loc`,
`scale` and `kl` are exactly what the Keras model computes:
`model.posterior(x)` (mean and standard deviation of q(z|x)) and
`tfvae.divergences.kl(q(z|x), p(z))`. `z = loc + scale * eps` is one fresh
sample of q per request row, with eps ~ N(0, I) from a stateful
`RandomStandardNormal` op seeded non-deterministically when the server loads
the model (seed = seed2 = 0): repeated requests, and different server
replicas, draw different samples. A client that needs reproducible or
several samples draws them itself from `loc` and `scale`.

IAF posteriors (Gaussian latents through a flow, `--iaf_steps`): q(z|x) has
no closed-form mean, so the outputs are `base_loc` and `base_scale` (those of
z0's Gaussian, before the flow), `z` (one fresh sample of z0 pushed through the
flow, the same stateful noise as above) and `kl`, its one-sample estimate
log q(z|x) - log p(z).

Categorical latents and VQ-VAE codes (z one-hot float32 [B, n, C]):
`probabilities` [B, n, C] (the mean of q(z|x)), `z` (one fresh sample, drawn
by the Gumbel-max trick with stateful uniform noise) and `kl`.

Implicit posteriors (iVAE's sampler z = G(x, eps), `--model=ivae`): q(z|x) has
no parameters to return, so the outputs are samples: `z` [B, d], one fresh
sample, `samples` [B, SERVED_SAMPLES, d], further fresh samples (all drawn by
the training sampler on a stateless seed drawn by a stateful op), and `kl`,
KL(fit || p(z)) of the diagonal Gaussian fitted to 64 samples, the "kl" that
evaluation reports for the model (`tfvae.models.dual_kl`).

Spherical latents (z a unit vector float32 [B, d]): `mean_direction` [B, d]
and `concentration` [B], the parameters mu and kappa of the power-spherical
q(z|x) (its mode is mu; its mean, kappa / (d - 1 + kappa) mu, lies inside the
ball), `z` (one fresh sample: the training sampler run on a stateless seed
drawn by a stateful op, so again different for every request) and `kl`.

Poincare latents (`--model=p_vae`, `--model=apo_vae`; z a point of the ball
float32 [B, d]): the wrapped normal q(z|x) = WN_c(mu, diag(sigma^2)) as its
point and its tangent parameters, `loc` [B, d] (mu, in the ball; the Frechet
mean of q, not its Euclidean mean), `tangent_loc` [B, d] (log_0(mu), the
tangent vector at the origin that exp_0 maps to mu), `scale` [B, d] (sigma,
the standard deviations of the Gaussian in the tangent space), `z` (one fresh
sample, drawn as in the spherical case) and `kl`, the one-sample estimate
log q(z|x) - log p(z) at that z, as for IAF posteriors: neither KL has a
closed form. APo-VAE reports the same `kl`, not its critic's estimate.
"""

import numpy as np
import tensorflow as tf

from tfvae import divergences
from tfvae import latents
from tfvae.latents import poincare


def _is_gaussian(model):
  return isinstance(model.latent_family, latents.GaussianLatents)


def _is_flow(model):
  return isinstance(model.latent_family, latents.IAFLatents)


def _is_spherical(model):
  return isinstance(model.latent_family, latents.SphericalLatents)


def _is_implicit(model):
  return isinstance(model.latent_family, latents.ImplicitLatents)


def _is_poincare(model):
  return isinstance(model.latent_family, latents.PoincareLatents)


# Samples of q(z|x) per row that an implicit encoder returns beside `z`.
SERVED_SAMPLES = 16


def latent_shape(model):
  """The shape of one z the decoder signatures take: [d], or one-hot [n, C]."""
  return tuple(model.latent_family.event_shape)


def latent_example(model, rows=2):
  """`rows` valid latents for warm-up requests: zeros (in the ball too), e_1 or first codes."""
  if _is_gaussian(model) or _is_poincare(model):
    return np.zeros([rows, *latent_shape(model)], np.float32)
  if _is_spherical(model):
    return np.eye(*latent_shape(model), dtype=np.float32)[np.zeros([rows], np.int64)]
  num_latents, num_categories = latent_shape(model)
  return np.eye(num_categories, dtype=np.float32)[np.zeros([rows, num_latents], np.int64)]


def posterior_outputs(model, x):
  """The encoder's outputs for one batch x (see the module docstring)."""
  posterior = model.posterior(x, training=False)
  if _is_implicit(model):
    seeds = tf.raw_ops.RandomUniformInt(shape=[2, 2], minval=tf.int32.min, maxval=tf.int32.max,
                                        seed=0, seed2=0)
    samples = model.sample_posterior(posterior, seeds[0], SERVED_SAMPLES + 1)
    return {"z": samples[0], "samples": tf.transpose(samples[1:], [1, 0, 2]),
            "kl": model.estimate_kl(x, seed=seeds[1])}
  if _is_flow(model):
    base = posterior.distribution
    base_loc, base_scale = base.mean(), base.stddev()
    z = posterior.bijector.forward(base_loc + base_scale * _standard_normal(base_loc))
    return {"base_loc": base_loc, "base_scale": base_scale, "z": z,
            "kl": divergences.kl(posterior, model.prior, z[None])}
  if _is_gaussian(model):
    loc = posterior.mean()
    scale = posterior.stddev()
    z = loc + scale * _standard_normal(loc)
    return {"loc": loc, "scale": scale, "z": z,
            "kl": divergences.kl(posterior, model.prior, z[None])}
  if _is_spherical(model):
    z = model.sample_posterior(posterior, _fresh_seed())
    return {"mean_direction": posterior.mean_direction, "concentration": posterior.concentration,
            "z": z, "kl": divergences.kl(posterior, model.prior, z[None])}
  if _is_poincare(model):
    return _poincare_outputs(model, posterior)
  probabilities = posterior.mean()
  uniform = tf.raw_ops.RandomUniform(shape=tf.shape(probabilities), dtype=probabilities.dtype,
                                     seed=0, seed2=0)
  gumbel = -tf.math.log(-tf.math.log(tf.clip_by_value(uniform, 1e-12, 1.0 - 1e-7)))
  scores = tf.math.log(tf.maximum(probabilities, 1e-30)) + gumbel
  z = tf.one_hot(tf.argmax(scores, axis=-1), tf.shape(probabilities)[-1],
                 dtype=probabilities.dtype)
  return {"probabilities": probabilities, "z": z,
          "kl": divergences.kl(posterior, model.prior, z[None])}


def _poincare_outputs(model, posterior):
  """loc, tangent_loc, scale, one fresh z and its one-sample KL of a wrapped-normal q(z|x)."""
  z = model.sample_posterior(posterior, _fresh_seed())
  tangent_loc = poincare.logmap0(posterior.loc, c=posterior.curvature)
  return {"loc": posterior.loc, "tangent_loc": tangent_loc, "scale": posterior.scale, "z": z,
          "kl": divergences.kl(posterior, model.prior, z[None])}


def _fresh_seed():
  """A stateless seed [2] drawn by a stateful op: another one for every request."""
  return tf.raw_ops.RandomUniformInt(shape=[2], minval=tf.int32.min, maxval=tf.int32.max, seed=0,
                                     seed2=0)


def _standard_normal(like):
  """Stateful N(0, 1) noise shaped like `like`, seeded when the server loads the model."""
  return tf.raw_ops.RandomStandardNormal(shape=tf.shape(like), dtype=like.dtype, seed=0, seed2=0)


def posterior_specs(model):
  """Output specs of `posterior_outputs` (for empty-batch answers)."""
  latent = tf.TensorSpec([None, *latent_shape(model)], tf.float32)
  kl = tf.TensorSpec([None], tf.float32)
  if _is_implicit(model):
    samples = tf.TensorSpec([None, SERVED_SAMPLES, *latent_shape(model)], tf.float32)
    return {"z": latent, "samples": samples, "kl": kl}
  if _is_flow(model):
    return {"base_loc": latent, "base_scale": latent, "z": latent, "kl": kl}
  if _is_gaussian(model):
    return {"loc": latent, "scale": latent, "z": latent, "kl": kl}
  if _is_spherical(model):
    concentration = tf.TensorSpec([None], tf.float32)
    return {"mean_direction": latent, "concentration": concentration, "z": latent, "kl": kl}
  if _is_poincare(model):
    return {"loc": latent, "tangent_loc": latent, "scale": latent, "z": latent, "kl": kl}
  return {"probabilities": latent, "z": latent, "kl": kl}
