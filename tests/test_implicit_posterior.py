"""Posteriors without density: the implicit sampler, training, evaluation with "n/a", hooks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import data
from tfvae import latents
from tfvae import metrics
from tfvae import nets
from tfvae.latents import ImplicitPosterior
from tfvae.models import VAE
from tfvae.training import callbacks as run_callbacks
from tfvae.training import report

LATENT_DIM = 2


class _ImplicitVAE(VAE):
  """A VAE that sees its Gaussian q(z|x) only through samples z = mu + sigma * noise.

  A test fixture: `estimate_kl` gives the closed form of the Gaussian underneath
  (an oracle for what evaluation reports), and no MI estimate ("n/a").
  """

  posterior_has_density = False

  def posterior(self, x, training=False):
    loc, log_variance = self.encoder(x, training=training)
    scale = tf.exp(0.5 * log_variance)
    return ImplicitPosterior(lambda noise: loc + scale * noise, tf.shape(loc)[0], LATENT_DIM,
                             LATENT_DIM)

  def sample_posterior(self, posterior, seed, num_samples=None):
    if num_samples is None:
      return posterior.sample(seed=seed)
    return posterior.sample(num_samples, seed=seed)

  def compute_objective(self, x, *, seed, training):
    z = self.sample_posterior(self.posterior(x, training=training), seed)
    recon = -self.likelihood(z, x, training=training).log_prob(x)
    kl = self.estimate_kl(x, seed=seed)
    return recon + kl, {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

  def estimate_kl(self, x, *, seed):
    del seed
    loc, log_variance = self.encoder(x, training=False)
    return 0.5 * tf.reduce_sum(tf.square(loc) + tf.exp(log_variance) - 1.0 - log_variance, -1)


@pytest.fixture(scope="module")
def corpus():
  return data.load("synthetic_mog", num_train=64, num_valid=16, num_test=16, length=5)


def _models(corpus):
  """(implicit, plain): the same encoder and decoder weights, one without a density."""
  keras.utils.set_random_seed(0)
  vocab = corpus.vocab.size
  implicit = _ImplicitVAE(nets.LSTMEncoder(vocab, 8, 16, LATENT_DIM, name="encoder"),
                          nets.LSTMDecoder(vocab, 8, 16, LATENT_DIM, name="decoder"),
                          LATENT_DIM, seed=1)
  plain = VAE(nets.LSTMEncoder(vocab, 8, 16, LATENT_DIM, name="encoder"),
              nets.LSTMDecoder(vocab, 8, 16, LATENT_DIM, name="decoder"), LATENT_DIM, seed=1)
  x = next(iter(corpus.batches("valid", 4)))
  implicit(x)
  plain(x)
  # Away from the prior, so that the KL is about a nat: mean 0.7, variance e^0.7.
  bias = next(w for w in implicit.encoder.weights if w.path.endswith("to_params/bias"))
  bias.assign(bias + 0.7)
  plain.set_weights(implicit.get_weights())
  return implicit, plain


def test_implicit_samples_are_reparameterised_and_refuse_a_density():
  loc = tf.Variable([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
  posterior = ImplicitPosterior(lambda noise: loc + 0.5 * noise, 3, 2, 2)
  assert posterior.batch_shape == (3,) and posterior.event_shape == (2,)
  with tf.GradientTape() as tape:
    z = posterior.sample(20000, seed=tf.constant([1, 2]))
    total = tf.reduce_sum(z)
  np.testing.assert_allclose(tape.gradient(total, loc).numpy(), np.full([3, 2], 20000.0))
  np.testing.assert_allclose(tf.reduce_mean(z, 0).numpy(), loc.numpy(), atol=0.02)
  np.testing.assert_allclose(tf.math.reduce_std(z, 0).numpy(), 0.5, atol=0.01)
  with pytest.raises(NotImplementedError, match="no density"):
    posterior.log_prob(z[0])


def test_evaluation_reports_what_it_can_and_na_for_the_rest(corpus):
  implicit, plain = _models(corpus)
  batches = corpus.batches("test", 8)
  got = metrics.evaluate(implicit, batches, num_samples=4, chunk_size=4, seed=3,
                         count_tokens=corpus.count_tokens, true_kl_samples=4)
  want = metrics.evaluate(plain, batches, num_samples=4, chunk_size=4, seed=3,
                          count_tokens=corpus.count_tokens, true_kl_samples=4)
  for name in ("nll", "ppl", "mi_batch", "mi_aggregate", "true_kl", "mpd", "conditional_entropy"):
    assert got[name] is None, name
  # The model's KL estimate (the closed form underneath) is what the density gives.
  np.testing.assert_allclose(got["kl"], want["kl"], rtol=1e-5)
  assert got["kl"] > 0.5
  np.testing.assert_allclose(got["recon"], want["recon"], rtol=0.05)
  np.testing.assert_allclose(got["elbo"], -(got["recon"] + got["kl"]), rtol=1e-9)
  assert got["au"] == want["au"] and got["num_examples"] == 16
  table = report.metrics_table(got, "implicit")
  assert "| NLL (IW) | n/a |" in table and "| KL |" in table and "n/a" not in table.split(
      "| KL |")[1].splitlines()[0]


def test_training_with_per_epoch_validation_runs_without_a_density(corpus):
  implicit, _ = _models(corpus)
  implicit.compile(optimizer=keras.optimizers.Adam(1e-2))
  implicit.build_optimizers()
  history = implicit.fit(
      corpus.train_batches(16, seed=0), epochs=2, steps_per_epoch=4, verbose=0,
      callbacks=[run_callbacks.EpochMetrics(corpus.batches("valid", 8), 2, 1, 0,
                                            corpus.count_tokens)])
  assert np.all(np.isfinite(history.history["loss"]))
  assert "val_au" in history.history and "val_nll" not in history.history


class _SurrogateVAE(_ImplicitVAE):
  """An implicit VAE whose density surrogate is the exact Gaussian underneath (an oracle)."""

  def density_surrogate(self, x, *, seed):
    del seed
    loc, log_variance = self.encoder(x, training=False)
    return latents.diagonal_gaussian(loc, log_variance)


def test_a_density_surrogate_gives_the_nll_and_mi_of_the_density(corpus):
  _, plain = _models(corpus)
  surrogate = _SurrogateVAE(plain.encoder, plain.decoder, LATENT_DIM, seed=1)
  batches = corpus.batches("test", 8)
  got = metrics.evaluate(surrogate, batches, num_samples=4, chunk_size=4, seed=3,
                         count_tokens=corpus.count_tokens)
  want = metrics.evaluate(plain, batches, num_samples=4, chunk_size=4, seed=3,
                          count_tokens=corpus.count_tokens)
  for name in ("nll", "ppl", "mi_batch", "mi_aggregate"):
    np.testing.assert_allclose(got[name], want[name], rtol=1e-5, err_msg=name)
  assert got["mpd"] is None and got["conditional_entropy"] is None
