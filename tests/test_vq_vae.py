"""VQ-VAE (M25): quantiser, EMA codebooks, straight-through training, KL = n ln C."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import latents
from tfvae import metrics
from tfvae import nets
from tfvae.models import VQVAE
from tfvae.models.vq_vae import CodebookUsage

SYMBOLS = 8


def _model(num_latents=1, num_categories=SYMBOLS, code_dim=4, **kwargs):
  keras.utils.set_random_seed(1)
  family = latents.VectorQuantizedLatents(num_latents, num_categories, code_dim)
  model = VQVAE(nets.SymbolEncoder(SYMBOLS, family, 8, 16), nets.SymbolDecoder(SYMBOLS, 16, 1),
                num_latents, num_categories, code_dim, **kwargs)
  model.compile(optimizer=keras.optimizers.Adam(1e-2))
  return model


def test_quantiser_picks_the_nearest_code_of_each_latent():
  model = _model(num_latents=2, num_categories=3, code_dim=2)
  model.codebook.assign(np.array([[[0, 0], [5, 5], [-5, 5]], [[1, 1], [2, 2], [3, 3]]],
                                 np.float32))
  z_e = tf.constant([[[4.0, 4.0], [0.0, 0.0]], [[-4.0, 6.0], [2.9, 3.2]]])
  np.testing.assert_array_equal(np.argmax(model.quantise(z_e), -1), [[1, 0], [2, 2]])
  codes = tf.one_hot([[1, 0]], 3)
  np.testing.assert_array_equal(model.embed_codes(codes), [[5, 5, 1, 1]])


def test_codebook_is_the_moving_average_of_assigned_encodings():
  model = _model(decay=0.5)
  x = tf.constant([0, 1, 2, 3, 4, 5, 6, 7] * 4)
  before = {name: getattr(model, name).numpy() for name in ("code_counts", "code_sums")}
  z_e = model.encode(x).numpy()  # The encoding the step sees (before its update).
  codes = model.quantise(z_e).numpy()
  model.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0)
  frequency = codes.mean(0)
  mean_vector = (codes[..., None] * z_e[:, :, None, :]).mean(0)
  counts = 0.5 * before["code_counts"] + 0.5 * frequency
  sums = 0.5 * before["code_sums"] + 0.5 * mean_vector
  np.testing.assert_allclose(model.code_counts, counts, rtol=1e-5)
  np.testing.assert_allclose(model.codebook, sums / (counts[..., None] + 1e-7), rtol=1e-4)


def test_loss_is_reconstruction_plus_commitment_with_straight_through_gradients():
  """van den Oord et al. (2017), eq. 3 with moving-average codebooks (no codebook term):
  L = -log p(x | z_q) + beta ||z_e - sg(e)||^2, and dL/dz_e = dL/dz_q + 2 beta (z_e - e)."""
  beta = 0.3
  model = _model(num_latents=2, num_categories=3, code_dim=4, commitment=beta)
  x = tf.constant([0, 3, 5, 7, 1, 1])
  model(x)
  encoder_weights = model.encoder.trainable_weights
  with tf.GradientTape(persistent=True) as tape:
    loss, terms = model.compute_objective(x, seed=None, training=False)
    total_loss = tf.reduce_sum(loss)
    z_e = model.encode(x)
  # The nearest codes, found in numpy from the codebook.
  codebook = model.codebook.numpy()
  distances = ((z_e.numpy()[:, :, None, :] - codebook[None]) ** 2).sum(-1)
  chosen = codebook[np.arange(2)[None, :], distances.argmin(-1)]  # [B, n, D]
  z_q = tf.constant(chosen)
  with tf.GradientTape() as decoder_tape:
    decoder_tape.watch(z_q)
    recon = -model.decoder.likelihood(tf.reshape(z_q, [6, 8]), x).log_prob(x)
    total_recon = tf.reduce_sum(recon)
  commitment = ((z_e.numpy() - chosen) ** 2).sum(axis=(1, 2))
  np.testing.assert_allclose(loss, recon.numpy() + beta * commitment, rtol=1e-5)
  np.testing.assert_allclose(terms["commitment"], commitment, rtol=1e-5)
  upstream = decoder_tape.gradient(total_recon, z_q) + 2 * beta * (z_e - chosen)
  expected = tape.gradient(z_e, encoder_weights, output_gradients=upstream)
  got = tape.gradient(total_loss, encoder_weights)
  for want, have, weight in zip(expected, got, encoder_weights):
    np.testing.assert_allclose(tf.convert_to_tensor(have), tf.convert_to_tensor(want),
                               rtol=1e-4, atol=1e-6, err_msg=weight.path)
  assert not model.codebook.trainable  # moved by the moving averages, not by gradients


def test_codebook_usage_counts_codes_and_their_perplexity():
  """Latent 0 uses codes 0 and 2 twice each (perplexity 2), latent 1 code 1 always (1)."""
  codes = tf.one_hot([[0, 1], [2, 1], [0, 1], [2, 1]], 3)
  usage = CodebookUsage()
  for rows in (slice(0, 3), slice(3, 4)):
    posterior = latents.categorical_posterior(-1e9 * (1.0 - codes[rows]))
    batch = metrics.Batch(model=None, x=codes[rows], posterior=posterior, seed=tf.constant([0, 0]))
    usage.update({key: value.numpy() for key, value in usage.batch_values(batch).items()})
  assert usage.result() == {"codes_used": 3, "code_perplexity": pytest.approx(1.5)}


def _codes_used_after_training(**kwargs):
  model = _model(commitment=0.25, decay=0.9, **kwargs)
  data = tf.data.Dataset.from_tensor_slices(tf.range(SYMBOLS)).repeat().shuffle(64, seed=0)
  model.fit(data.batch(32), steps_per_epoch=400, epochs=1, verbose=0)
  used = np.argmax(model.quantise(model.encode(tf.range(SYMBOLS))), -1)[:, 0]
  return model, len(set(used.tolist()))


def test_without_restarts_dead_codes_leave_symbols_sharing_codes():
  model, used = _codes_used_after_training(restart_below=0.0)
  assert used < SYMBOLS
  results = metrics.evaluate(model, [tf.range(SYMBOLS)], num_samples=2, chunk_size=2)
  assert results["codes_used"] == used
  assert 1.0 <= results["code_perplexity"] < SYMBOLS - 0.5


def test_learns_one_code_per_symbol_and_its_nll_is_recon_plus_n_ln_c():
  model, used = _codes_used_after_training()
  assert used == SYMBOLS  # Every symbol its own code.
  x = tf.range(SYMBOLS)
  recon = -model.likelihood(model.posterior(x).mode(), x).log_prob(x).numpy()
  assert recon.max() < 0.1
  nll = -metrics.iw_log_likelihood(model, x, num_samples=5, seed=0).numpy()
  np.testing.assert_allclose(nll, recon + math.log(SYMBOLS), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(metrics.true_kl(model, x, num_samples=5), math.log(SYMBOLS),
                             rtol=1e-5)
  # Every symbol once, each its own code: the codebook's usage is uniform.
  results = metrics.evaluate(model, [x[:5], x[5:]], num_samples=2, chunk_size=2)
  assert results["codes_used"] == SYMBOLS
  assert results["code_perplexity"] == pytest.approx(SYMBOLS, rel=1e-6)


@pytest.mark.parametrize("kwargs, message", [({"decay": 1.0}, "decay"),
                                             ({"commitment": -1.0}, "commitment")])
def test_bad_settings_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    _model(**kwargs)
