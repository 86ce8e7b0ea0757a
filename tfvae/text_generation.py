"""Sentences from a trained text model: reconstructions and homotopies between sentences.

Sentences sampled from the prior are `tfvae.sample_quality.sample_sentences`.
Here a sentence is encoded to the centre of its posterior (the mean of a
Gaussian q(z|x); the most likely codes of categorical latents; the mean
direction of a power-spherical one, whose mean lies inside the ball; the point
mu of a wrapped normal on the Poincare ball, its Frechet mean) and decoded
back (a reconstruction), and the line between two sentences' centres is
decoded point by point (the homotopy of Bowman et al. (2016), section 5.2; on
the sphere its points are projected back onto the sphere, which traces the
great circle between the two; in the Poincare ball the line is the geodesic
exp_a(t log_a(b))).
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.latents import poincare
from tfvae.latents.families import PoincareLatents
from tfvae.latents.wrapped_normal import PoincareWrappedNormal
from tfvae.sample_quality import DEFAULT_MAX_LENGTH

__all__ = ["encode_sentences", "posterior_centres", "reconstruct", "interpolate"]


def encode_sentences(vocab, sentences):
  """int32 [B, T] batch of `<s> w1 ... wn </s>` ids, padded with `<pad>` (the data sets' framing)."""
  if not sentences:
    raise ValueError("Give at least one sentence.")
  rows = [vocab.encode(sentence, add_markers=True) for sentence in sentences]
  batch = np.full([len(rows), max(len(row) for row in rows)], vocab.PAD_ID, np.int32)
  for i, row in enumerate(rows):
    batch[i, :len(row)] = row
  return tf.constant(batch)


def posterior_centres(model, vocab, sentences):
  """The centre of q(z|x) of each sentence: the mean of a reparameterised (continuous)
  posterior, the mode of a discrete one (one-hot codes), the mean direction (mode) of a
  power-spherical one, the point mu (Frechet mean) of a wrapped normal."""
  posterior = model.posterior(encode_sentences(vocab, sentences), training=False)
  if isinstance(posterior, tfp.distributions.PowerSpherical):
    return tf.convert_to_tensor(posterior.mean_direction)
  if isinstance(posterior, PoincareWrappedNormal):
    return tf.convert_to_tensor(posterior.loc)
  continuous = posterior.reparameterization_type == tfp.distributions.FULLY_REPARAMETERIZED
  try:
    return posterior.mean() if continuous else posterior.mode()
  except NotImplementedError as error:
    raise ValueError(f"{type(posterior).__name__} has no closed-form centre; this model's "
                     "sentences cannot be encoded to one point.") from error


def _decode(model, vocab, z, *, greedy, seed, max_length):
  ids = model.decoder.generate(model.decoder_input(z), max_length, greedy=greedy,
                               seed=None if greedy else tf.constant(seed, tf.int32))
  return [vocab.decode(row) for row in ids.numpy()]


def reconstruct(model, vocab, sentences, *, greedy=True, seed=(0, 0),
                max_length=DEFAULT_MAX_LENGTH):
  """Each sentence decoded from the centre of its posterior (greedy, or sampled with `seed`)."""
  return _decode(model, vocab, posterior_centres(model, vocab, sentences), greedy=greedy,
                 seed=seed, max_length=max_length)


def interpolate(model, vocab, first, second, steps, *, max_length=DEFAULT_MAX_LENGTH):
  """Greedy decodings of `steps` evenly spaced points from `first`'s centre to `second`'s.

  z_t = (1 - t) z_first + t z_second, t = 0, 1/(steps-1), ..., 1 (on the sphere
  normalised, in the Poincare ball the geodesic's point at t): the ends are the
  two reconstructions.

  Returns:
    [(t, sentence)] in order of t.
  """
  if steps < 2:
    raise ValueError(f"An interpolation needs at least 2 steps (its two ends), got {steps}.")
  centres = posterior_centres(model, vocab, [first, second])
  weights = tf.linspace(0.0, 1.0, steps)
  shape = [steps] + [1] * (centres.shape.rank - 1)
  weights = tf.cast(tf.reshape(weights, shape), centres.dtype)
  sentences = _decode(model, vocab, _path(model, centres, weights), greedy=True, seed=(0, 0),
                      max_length=max_length)
  return list(zip(np.linspace(0.0, 1.0, steps).tolist(), sentences))


def _path(model, centres, weights):
  """The points at `weights` t of the line between the two centres, in the latents' geometry."""
  if isinstance(model.latent_family, PoincareLatents):
    curvature = model.latent_family.curvature
    step = poincare.logmap(centres[0], centres[1], c=curvature)
    return poincare.expmap(centres[0], weights * step, c=curvature)
  path = (1.0 - weights) * centres[0] + weights * centres[1]
  if isinstance(model.prior, tfp.distributions.SphericalUniform):
    return tf.math.l2_normalize(path, axis=-1)
  return path
