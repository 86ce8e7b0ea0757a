"""Flow posteriors (tfd.TransformedDistribution over the diagonal Gaussian) under the contract."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import data
from tfvae import latents
from tfvae import metrics
from tfvae import nets
from tfvae.models import VAE

tfb = tfp.bijectors
tfd = tfp.distributions
SEED = tf.constant([5, 6])


def _flow(loc, log_variance):
  """An elementwise nonlinear flow z = sinh(z0) + 0.3 over q0 = N(loc, diag(e^log_variance))."""
  return tfd.TransformedDistribution(latents.diagonal_gaussian(loc, log_variance),
                                     tfb.Chain([tfb.Shift(0.3), tfb.Sinh()]))


def test_a_flow_samples_its_base_and_pushes_it_through_the_bijector():
  loc = tf.constant([[0.0, 1.0], [-1.0, 0.5], [2.0, 0.0]])
  log_variance = tf.constant([[0.0, -1.0], [0.5, 0.0], [-2.0, 1.0]])
  flow = _flow(loc, log_variance)
  base, z = latents.base_and_sample(flow, SEED, num_samples=4)
  assert base.shape == z.shape == (4, 3, 2)
  np.testing.assert_array_equal(
      base.numpy(), latents.reparameterized_sample(flow.distribution, SEED, 4).numpy())
  np.testing.assert_allclose(z.numpy(), np.sinh(base.numpy()) + 0.3, rtol=1e-6)
  np.testing.assert_array_equal(latents.reparameterized_sample(flow, SEED, 4).numpy(), z.numpy())
  # The density of the flow is the base density at the inverse, minus log |dz/dz0|.
  expected = (flow.distribution.log_prob(base)
              - tf.reduce_sum(tf.math.log(tf.cosh(base)), axis=-1)).numpy()
  np.testing.assert_allclose(flow.log_prob(z).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_flow_samples_are_replica_consistent_on_an_uneven_split(mirrored_strategy):
  loc = tf.reshape(tf.range(10, dtype=tf.float32), [5, 2]) / 5.0
  batch = next(iter(mirrored_strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(loc))))

  @tf.function
  def draw(rows):
    return latents.reparameterized_sample(_flow(rows, tf.zeros_like(rows)), SEED, 3)

  local = mirrored_strategy.experimental_local_results(mirrored_strategy.run(draw, args=(batch,)))
  assert [part.shape[1] for part in local] == [3, 2]
  np.testing.assert_allclose(tf.concat(local, axis=1).numpy(), draw(loc).numpy(), rtol=1e-6)


class _FlowVAE(VAE):
  """A VAE whose q(z|x) is a learned shift after sinh of the Gaussian (a test fixture)."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.flow_shift = self.add_weight(name="flow_shift", shape=(self.latent_dim,),
                                      initializer="zeros")

  def posterior(self, x, training=False):
    base = super().posterior(x, training=training)
    return tfd.TransformedDistribution(
        base, tfb.Chain([tfb.Shift(tf.convert_to_tensor(self.flow_shift)), tfb.Sinh()]))


def test_a_vae_with_a_flow_posterior_trains_and_evaluates():
  corpus = data.load("synthetic_mog", num_train=64, num_valid=16, num_test=16, length=5)
  keras.utils.set_random_seed(0)
  vocab = corpus.vocab.size
  model = _FlowVAE(nets.LSTMEncoder(vocab, 8, 16, 2), nets.LSTMDecoder(vocab, 8, 16, 2), 2,
                   seed=1)
  model.compile(optimizer=keras.optimizers.Adam(0.05))
  model(next(iter(corpus.batches("valid", 4))))
  model.build_optimizers()
  history = model.fit(corpus.train_batches(16, seed=0), epochs=1, steps_per_epoch=3, verbose=0)
  assert np.all(np.isfinite(history.history["loss"]))
  assert np.any(model.flow_shift.numpy() != 0.0)  # The flow's parameter is trained.
  results = metrics.evaluate(model, corpus.batches("test", 8), num_samples=4, chunk_size=4,
                             seed=0)
  # KL by Monte Carlo, MI through log_prob, AU from Monte-Carlo means: all defined.
  for name in ("nll", "kl", "elbo", "mi_batch", "au"):
    assert results[name] is not None and np.isfinite(results[name]), (name, results)
  # Parameter-form metrics need a diagonal Gaussian: n/a for the flow.
  for name in ("mi_aggregate", "mpd", "conditional_entropy"):
    assert results[name] is None, name
