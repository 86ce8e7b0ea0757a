"""AE pre-training objective (M6 stage 1): deterministic, no KL, no variance gradient."""

import numpy as np
import tensorflow as tf

from tfvae import nets
from tfvae import objectives
from tfvae.models import VAE

TEXT = tf.constant([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0], [2, 4, 4, 3, 0]], tf.int32)


def _model():
  return VAE(nets.LSTMEncoder(10, 8, 16, 4), nets.LSTMDecoder(10, 8, 16, 4), 4, seed=3,
             objective="autoencoder")


def test_loss_is_the_reconstruction_at_the_posterior_mean():
  model = _model()
  loss, terms = model.compute_objective(TEXT, seed=tf.constant([1, 2]), training=False)
  loc = model.posterior(TEXT).mean()
  expected = -model.likelihood(loc, TEXT).log_prob(TEXT)
  np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-6)
  np.testing.assert_allclose(terms["recon"].numpy(), expected.numpy(), rtol=1e-6)
  again, _ = model.compute_objective(TEXT, seed=tf.constant([7, 9]), training=False)
  np.testing.assert_array_equal(loss.numpy(), again.numpy())


def test_encoder_variance_gets_no_gradient():
  """The encoder's last layer emits [loc, log_variance]: only the loc half learns."""
  model = _model()
  model(TEXT)
  head = model.encoder.to_params
  with tf.GradientTape() as tape:
    loss, _ = objectives.autoencoder_loss(model, TEXT, training=True)
    loss = tf.reduce_mean(loss)
  kernel_grad, bias_grad = tape.gradient(loss, [head.kernel, head.bias])
  for grad in (kernel_grad.numpy(), bias_grad.numpy()):
    np.testing.assert_array_equal(grad[..., 4:], 0.0)
    assert np.all(np.any(grad[..., :4] != 0.0, axis=0) if grad.ndim > 1 else grad[:4] != 0.0)
