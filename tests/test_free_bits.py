"""Free bits (M5): the clamp's value and gradient and global-batch means.

The behaviour on D4 (KL held near lambda where the plain VAE collapses) is in
test_collapse_remedies.py, beside the plain VAE it is compared with.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import divergences
from tfvae import latents
from tfvae import nets
from tfvae import objectives
from tfvae.models import VAE

# Per-example, per-dimension KL [B=4, d=3]: dimension 0 has batch mean 0.25
# (below lambda/d = 1), dimension 1 has mean 2.5 (above), dimension 2 mean 1.0.
KL = np.array([[0.1, 1.0, 0.5], [0.4, 4.0, 1.5], [0.2, 2.0, 0.5], [0.3, 3.0, 1.5]], np.float32)


def _numpy_free_bits(per_dimension_kl, rate):
  threshold = rate / per_dimension_kl.shape[-1]
  return np.sum(np.maximum(threshold, per_dimension_kl.mean(axis=0)))


def test_penalty_mean_is_the_clamped_sum():
  penalty = objectives.free_bits_penalty(tf.constant(KL), 3.0)
  assert penalty.shape == (4,)
  np.testing.assert_allclose(np.mean(penalty), _numpy_free_bits(KL, 3.0), rtol=1e-6)
  np.testing.assert_allclose(np.mean(penalty), 1.0 + 2.5 + 1.0, rtol=1e-6)


def test_no_gradient_for_dimensions_under_the_threshold():
  loc = tf.Variable(np.random.RandomState(0).normal(size=(4, 3)).astype(np.float32)
                    * np.array([0.1, 2.0, 0.3], np.float32))
  log_variance = tf.Variable(np.full((4, 3), -0.5, np.float32))
  prior = latents.standard_normal_prior(3)
  with tf.GradientTape() as tape:
    posterior = latents.diagonal_gaussian(loc, log_variance)
    per_dimension = divergences.kl_per_dimension(posterior, prior)
    penalty = tf.reduce_mean(objectives.free_bits_penalty(per_dimension, 3.0))
  batch_kl = per_dimension.numpy().mean(axis=0)
  under = batch_kl < 1.0
  assert under.any() and (~under).any(), batch_kl
  grad_loc, grad_log_variance = tape.gradient(penalty, [loc, log_variance])
  for grad in (grad_loc.numpy(), grad_log_variance.numpy()):
    np.testing.assert_array_equal(grad[:, under], 0.0)
    assert np.all(np.abs(grad[:, ~under]) > 0)


def test_replicas_clamp_the_global_batch_mean(mirrored_strategy):
  # Replica 0 sees rows 0-1, replica 1 rows 2-3. With threshold 1.2 the local
  # means 0.1 and 3.0 would be clamped separately (to 1.2 and 3.0, mean 2.1 per
  # dimension); the global mean 1.55 is above the threshold and is not clamped.
  halves = np.array([[0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [3.0, 3.0, 3.0], [3.0, 3.0, 3.0]],
                    np.float32)
  rate = 3.0 * 1.2
  dataset = tf.data.Dataset.from_tensors(tf.constant(halves))
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(dataset)))
  per_replica = mirrored_strategy.run(
      tf.function(lambda kl: objectives.free_bits_penalty(kl, rate)), args=(batch,))
  penalty = np.concatenate([t.numpy() for t in
                            mirrored_strategy.experimental_local_results(per_replica)])
  np.testing.assert_allclose(penalty.mean(), _numpy_free_bits(halves, rate), rtol=1e-6)
  np.testing.assert_allclose(penalty.mean(), 3 * 1.55, rtol=1e-6)


def test_model_loss_uses_the_clamp_and_reports_the_true_kl():
  text = tf.constant([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]], tf.int32)
  model = VAE(nets.LSTMEncoder(10, 8, 16, 4), nets.LSTMDecoder(10, 8, 16, 4), 4,
              objective="free_bits", free_bits=50.0)
  seed = tf.constant([1, 2], tf.int32)
  loss, terms = model.compute_objective(text, seed=seed, training=False)
  # A fresh encoder has KL far below 50 nats in every dimension: all clamped.
  np.testing.assert_allclose(loss.numpy(), terms["recon"].numpy() + 50.0, rtol=1e-5)
  assert np.all(terms["kl"].numpy() < 50.0)


@pytest.mark.parametrize("objective, free_bits", [("free_bits", None), ("elbo", 3.0),
                                                  ("free_bits", -1.0), ("bits", None)])
def test_bad_objective_arguments(objective, free_bits):
  with pytest.raises(ValueError, match="free_bits|objective"):
    VAE(nets.MLPEncoder([8], 2), nets.MLPDecoder([8], (4,)), 2, objective=objective,
        free_bits=free_bits)
