"""VQ-VAE, the baseline of Melis et al. (2022), appendix A (van den Oord et al. 2017;
METHODS.md M25).

The encoder gives n vectors z_e [B, n, D]; latent i is quantised to its
nearest entry of its own codebook e_i [C, D], and the decoder reads the chosen
entries (concatenated, [B, n * D]). Training minimises (van den Oord et al.
eq. 3, with the codebook learned by exponential moving averages as in their
appendix A.1):

  -ln p(x | z_q) + beta * ||z_e - sg(e)||^2,

the decoder's gradient reaching the encoder straight through the quantiser
(z_q = z_e + sg(e - z_e)). After every step each codebook entry moves to the
moving average (with `decay`) of the encoder outputs assigned to it.

Dead codes: an entry that no encoding reaches keeps its initial value and
its moving-average count decays; the quantiser then uses only a few codes
(on 8 symbols with 8 codes, 3 to 5 of them in our test, whatever the
initial scale of the codebook). As in Dhariwal et al. (2020, Jukebox), an
entry whose average assignment frequency falls below `restart_below` times
the uniform 1/C is moved to an encoder output of the current batch, drawn
with the step's stateless seed. `restart_below=0` turns this off.

In the tfvae contract the posterior is the deterministic one-hot categorical
of the chosen codes and the prior is uniform over the C^n codes, so
KL(q || p) = n ln C whatever the data: as Melis et al. (2022) say, the VQ-VAE's
latent use is set by the number of latents and categories, not by training.
The Monte-Carlo metrics (IW-NLL, U - S) apply unchanged.
"""

import keras
import numpy as np
import scipy.stats
import tensorflow as tf

from tfvae import distribute
from tfvae import latents
from tfvae import random as tfvae_random
from tfvae.models.vae import VAE

__all__ = ["CodebookUsage", "VQVAE"]

_NOT_CHOSEN = -1e9  # Logit of the codes the quantiser did not pick.
_RESTART_STREAM = 2  # Noise stream of the dead-code restarts (0, 1: training, evaluation).


class VQVAE(VAE):
  """Vector-quantised autoencoder with EMA codebooks.

  Args:
    encoder: layer x -> z_e [B, n, D], e.g. any tfvae encoder built for
      `latents.VectorQuantizedLatents(n, C, D)`.
    decoder: layer with `likelihood(z, x)`, z [..., B, n * D].
    num_latents, num_categories, code_dim: n, C, D.
    commitment: beta of the commitment term (Melis et al. (2022) tune it in
      [0.01, 20]).
    decay: the codebooks' moving-average decay (Melis et al. (2022): [0.9, 0.99999]).
    restart_below: dead-code threshold, a fraction of the uniform frequency.
    **kwargs: seed, grad_clip_norm, name, ... as for VAE.
  """

  def __init__(self, encoder, decoder, num_latents, num_categories, code_dim, *,
               commitment=0.25, decay=0.99, restart_below=0.01, **kwargs):
    family = latents.VectorQuantizedLatents(num_latents, num_categories, code_dim)
    super().__init__(encoder, decoder, family, **kwargs)
    if not 0.0 < decay < 1.0:
      raise ValueError(f"decay must be in (0, 1), got {decay}.")
    if commitment < 0:
      raise ValueError(f"commitment must be >= 0, got {commitment}.")
    self.code_dim = int(code_dim)
    self.commitment = float(commitment)
    self.decay = float(decay)
    self.restart_below = float(restart_below)
    shape = (num_latents, num_categories, code_dim)
    self.codebook = self.add_state("codebook", keras.initializers.RandomNormal(stddev=1.0),
                                   shape=shape)
    # Moving averages of the assignment frequencies and of the assigned
    # vectors' means; codebook = sums / counts (started consistent with it).
    self.code_counts = self.add_state("code_counts", 1.0 / num_categories, shape=shape[:2])
    self.code_sums = self.add_state("code_sums", 0.0, shape=shape)
    self.code_sums.assign(self.codebook * self.code_counts[..., None])
    self.add_trackers("commitment")

  trains_without_reparameterisation = True  # Straight through the quantiser.

  def extra_metrics(self):
    return (CodebookUsage(),)

  # The model contract.
  def encode(self, x, training=False):
    """z_e [B, n, D]."""
    return self.encoder(x, training=training)

  def quantise(self, z_e):
    """One-hot codes [B, n, C] of the nearest codebook entries."""
    distances = tf.reduce_sum(tf.square(z_e[:, :, None, :] - self.codebook[None]), axis=-1)
    return tf.one_hot(tf.argmin(distances, axis=-1), self.latent_family.num_categories)

  def posterior(self, x, training=False):
    """The deterministic q(z|x): all mass on the quantised codes."""
    codes = self.quantise(self.encode(x, training=training))
    return latents.categorical_posterior(_NOT_CHOSEN * (1.0 - codes))

  def embed_codes(self, codes):
    """One-hot codes [..., n, C] -> the chosen entries, concatenated [..., n * D]."""
    vectors = tf.einsum("...nc,ncd->...nd", codes, self.codebook)
    return self._flatten_codes(vectors)

  def _flatten_codes(self, vectors):
    """[..., n, D] -> [..., n * D], the width static for the decoder's first layer."""
    width = self.latent_family.num_latents * self.code_dim
    return tf.reshape(vectors, tf.concat([tf.shape(vectors)[:-2], [width]], axis=0))

  def serving_layers(self, half):
    """The whole model for either half: both read the codebooks, which are model weights."""
    del half
    return [self]

  def decoder_input(self, z):
    """The chosen codebook entries of one-hot codes z, concatenated."""
    return self.embed_codes(z)

  # Training.
  def compute_objective(self, x, *, seed, training):
    """(recon + commitment [B], terms); the decoder sees z_q with straight-through gradients."""
    del seed  # Deterministic.
    z_e = self.encode(x, training=training)
    codes = self.quantise(z_e)
    chosen = tf.einsum("bnc,ncd->bnd", codes, self.codebook)
    straight_through = z_e + tf.stop_gradient(chosen - z_e)
    recon = -self.decoder.likelihood(self._flatten_codes(straight_through), x,
                                     training=training).log_prob(x)
    commitment = tf.reduce_sum(tf.square(z_e - tf.stop_gradient(chosen)), axis=[1, 2])
    kl = tf.fill(tf.shape(recon), self.prior_kl())
    terms = {"recon": recon, "kl": kl, "elbo": -(recon + kl), "commitment": commitment,
             "codes": codes, "z_e": z_e}
    return recon + self.commitment * commitment, terms

  def prior_kl(self):
    """KL(q(z|x) || p(z)) = n ln C for a deterministic q and a uniform prior."""
    family = self.latent_family
    return family.num_latents * tf.math.log(float(family.num_categories))

  def post_step_update(self, x, per_example_loss, terms):
    """Moves the codebooks to the moving averages of their assigned vectors."""
    codes, z_e = terms["codes"], tf.stop_gradient(terms["z_e"])
    frequency = distribute.global_batch_mean(codes)  # [n, C]
    mean_vector = distribute.global_batch_mean(codes[..., None] * z_e[:, :, None, :])
    counts = self.decay * self.code_counts + (1 - self.decay) * frequency
    sums = self.decay * self.code_sums + (1 - self.decay) * mean_vector
    codebook = sums / (counts[..., None] + 1e-7)
    num_categories = self.latent_family.num_categories
    dead = counts < self.restart_below / num_categories
    seed = tfvae_random.step_seed(self.seed, self.optimizer.iterations, _RESTART_STREAM)
    picks = tf.random.stateless_uniform(tf.shape(dead), seed, maxval=tf.shape(z_e)[0],
                                        dtype=tf.int32)
    restarts = tf.gather(tf.transpose(z_e, [1, 0, 2]), picks, batch_dims=1)  # [n, C, D]
    codebook = tf.where(dead[..., None], restarts, codebook)
    counts = tf.where(dead, 1.0 / num_categories, counts)
    self.code_counts.assign(counts)
    self.code_sums.assign(codebook * counts[..., None])
    self.codebook.assign(codebook)


class CodebookUsage:
  """The VQ-VAE's own evaluation metric: how much of its codebooks the data uses.

  Codebook collapse (few codes chosen whatever the input) is the VQ-VAE's
  form of an unused latent. Over the evaluation set:

    codes_used: entries chosen at least once, summed over the n codebooks
      (at most n C);
    code_perplexity: exp of the entropy of each codebook's frequencies of
      use, averaged over the n codebooks: C when every code is used equally
      often, 1 when one code takes every example.

  A `tfvae.metrics.Metric`: `evaluate` runs it through `VQVAE.extra_metrics`.
  """

  name = "codebook"

  def __init__(self):
    self.counts = None

  def batch_values(self, batch):
    """Uses of each code in the batch, [n, C] (q(z|x) is one-hot, its mean the codes)."""
    return {"counts": tf.reduce_sum(batch.posterior.mean(), axis=0)}

  def update(self, values):
    counts = np.asarray(values["counts"], np.float64)
    self.counts = counts if self.counts is None else self.counts + counts

  def result(self):
    entropy = scipy.stats.entropy(self.counts, axis=-1)  # Normalises each codebook's counts.
    return {"codes_used": int(np.count_nonzero(self.counts)),
            "code_perplexity": float(np.mean(np.exp(entropy)))}
