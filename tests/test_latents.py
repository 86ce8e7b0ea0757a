"""Latent families (M24): categorical sampling, densities and embedding; the Gaussian default."""

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from tfvae import latents
from tfvae import nets
from tfvae.models import MonteCarloVAE
from tfvae.models import VAE

LOGITS = np.array([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]],
                   [[-3.0, 1.0, 1.0], [5.0, -5.0, 0.0]]], np.float32)  # [B=2, n=2, C=3]


def test_gumbel_max_samples_follow_the_softmax():
  posterior = latents.categorical_posterior(LOGITS)
  z = latents.sample_one_hot(posterior, tf.constant([3, 4]), num_samples=20000).numpy()
  assert z.shape == (20000, 2, 2, 3)
  assert set(np.unique(z)) == {0.0, 1.0} and np.all(z.sum(-1) == 1)
  probs = scipy.special.softmax(LOGITS, axis=-1)
  for b in range(2):
    for i in range(2):
      counts = z[:, b, i].sum(0)
      expected = probs[b, i] * len(z)
      keep = expected > 0
      _, p_value = scipy.stats.chisquare(counts[keep], expected[keep] * counts[keep].sum()
                                         / expected[keep].sum())
      assert p_value > 1e-4, (b, i, counts, expected)


def test_samples_are_a_function_of_the_seed():
  posterior = latents.categorical_posterior(LOGITS)
  first = latents.sample_one_hot(posterior, tf.constant([1, 2]), 5)
  np.testing.assert_array_equal(first, latents.sample_one_hot(posterior, tf.constant([1, 2]), 5))
  assert not np.array_equal(first, latents.sample_one_hot(posterior, tf.constant([1, 3]), 5))


def test_densities_are_sums_of_log_softmax():
  family = latents.CategoricalLatents(2, 3)
  posterior = family.posterior(tf.constant(LOGITS))
  z = latents.sample_one_hot(posterior, tf.constant([0, 1]), 4).numpy()
  chosen = np.argmax(z, axis=-1)  # [K, B, n]
  log_softmax = scipy.special.log_softmax(LOGITS, axis=-1)
  expected = np.take_along_axis(log_softmax[None], chosen[..., None], axis=-1)[..., 0].sum(-1)
  np.testing.assert_allclose(posterior.log_prob(z), expected, rtol=1e-5)
  np.testing.assert_allclose(family.prior.log_prob(z), np.full([4, 2], 2 * np.log(1 / 3)),
                             rtol=1e-6)
  assert posterior.reparameterization_type != latents.GaussianLatents(1).prior.reparameterization_type


def test_embedding_is_one_table_per_latent():
  layer = latents.CategoricalEmbedding(2, 3, 4)
  z = tf.one_hot([[[2, 0]], [[1, 1]]], 3)  # [K=2, B=1, n=2, C=3]
  out = layer(z).numpy()
  table = layer.table.numpy()
  assert out.shape == (2, 1, 8)
  np.testing.assert_allclose(out[0, 0], np.concatenate([table[0, 2], table[1, 0]]), rtol=1e-6)
  np.testing.assert_allclose(out[1, 0], np.concatenate([table[0, 1], table[1, 1]]), rtol=1e-6)


def test_gaussian_family_is_the_default_contract():
  assert latents.family(3) == latents.GaussianLatents(3)
  encoder = nets.MLPEncoder([5], 3)
  loc, log_variance = encoder(tf.ones([2, 4]))
  assert loc.shape == log_variance.shape == (2, 3)
  with pytest.raises(ValueError, match="positive int"):
    latents.family(0)
  with pytest.raises(ValueError, match="Unknown latent type"):
    latents.make("poisson", 3)


def test_encoders_emit_logits_for_categorical_latents():
  family = latents.CategoricalLatents(4, 5)
  for encoder, x in ((nets.MLPEncoder([6], family), tf.ones([2, 7])),
                     (nets.LSTMEncoder(12, 4, 6, family), tf.constant([[2, 5, 6, 3]] * 2)),
                     (nets.SymbolEncoder(9, family, 4, 6), tf.constant([1, 8]))):
    assert encoder(x).shape == (2, 4, 5)


def test_only_score_function_training_accepts_categorical_latents():
  family = latents.CategoricalLatents(2, 3, 4)
  keras.utils.set_random_seed(0)
  with pytest.raises(ValueError, match="reinforce or vimco"):
    VAE(nets.SymbolEncoder(9, family, 4, 6), nets.SymbolDecoder(9, 6, 1), family)
  with pytest.raises(ValueError, match="reinforce or vimco"):
    MonteCarloVAE(nets.SymbolEncoder(9, family, 4, 6), nets.SymbolDecoder(9, 6, 1), family,
                  estimator="dreg")
  model = MonteCarloVAE(nets.SymbolEncoder(9, family, 4, 6), nets.SymbolDecoder(9, 6, 1), family,
                        estimator="vimco", num_samples=3)
  x = tf.constant([0, 4, 8])
  z = model.sample_posterior(model.posterior(x), tf.constant([1, 1]), 3)
  assert model.likelihood(z, x).log_prob(x).shape == (3, 3)
  # The embedding is part of the model's (decoder-side) trainable weights.
  assert any("latent_embedding" in v.path for v in model.trainable_variables)
