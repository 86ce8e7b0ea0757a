"""The VampPrior (Tomczak and Welling 2018): the mixture of the encoder's posteriors over learned
pseudo-inputs, the encoders' continuous inputs, training and the configuration's refusals."""

import keras
import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from tests import d4_runs
from tfvae import latents
from tfvae import methods
from tfvae import nets
from tfvae.errors import ConfigError
from tfvae.training import config as config_lib

VOCAB, EMBED, HIDDEN, LATENT = 30, 6, 8, 3


def _sentences():
  """Two rows without padding (every step valid, as for a pseudo-input)."""
  return tf.constant([[2, 5, 7, 9, 3], [2, 11, 4, 6, 3]], tf.int32)


@pytest.mark.parametrize("encoder_class", [nets.LSTMEncoder, nets.BiLSTMEncoder])
def test_text_encoders_read_embedding_vectors_as_they_read_words(encoder_class):
  keras.utils.set_random_seed(0)
  encoder = encoder_class(VOCAB, EMBED, HIDDEN, LATENT)
  x = _sentences()
  want = encoder(x)
  got = encoder.encode_continuous(encoder.embedding(x))
  for got_part, want_part in zip(got, want):
    np.testing.assert_allclose(got_part.numpy(), want_part.numpy(), rtol=1e-5, atol=1e-6)


def test_symbol_and_image_encoders_read_real_valued_inputs():
  keras.utils.set_random_seed(0)
  symbols = nets.SymbolEncoder(VOCAB, LATENT, EMBED, HIDDEN)
  ids = tf.constant([1, 4, 7])
  for got, want in zip(symbols.encode_continuous(symbols.embedding(ids)), symbols(ids)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
  images = nets.MLPEncoder([8], LATENT)
  pixels = tf.random.stateless_uniform([2, 4, 4], [1, 2])
  for got, want in zip(images.encode_continuous(pixels), images(pixels)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def _vamp_model(num_components=4, pseudo_input_length=5):
  """The untrained model of `d4_runs.train` (same initial weights)."""
  config = config_lib.Config(prior="vamp", prior_components=num_components,
                             pseudo_input_length=pseudo_input_length, latent_dim=LATENT,
                             embed_dim=EMBED, hidden_dim=HIDDEN).resolved()
  keras.utils.set_random_seed(0)
  model = methods.build(config, d4_runs.d4())
  model(next(iter(d4_runs.d4().batches("valid", 2))))
  return model


def test_the_prior_is_the_mean_of_the_encoder_posteriors_at_the_pseudo_inputs():
  model = _vamp_model()
  pseudo_inputs = model.latent_prior.pseudo_inputs
  assert pseudo_inputs.shape == (4, 5, EMBED)
  loc, log_variance = model.encoder.encode_continuous(tf.convert_to_tensor(pseudo_inputs))
  loc, scale = loc.numpy(), np.exp(0.5 * log_variance.numpy())
  z = np.random.default_rng(0).normal(size=[7, LATENT]).astype(np.float32)
  per_component = np.stack([scipy.stats.norm(loc[k], scale[k]).logpdf(z).sum(-1)
                            for k in range(4)])
  want = scipy.special.logsumexp(per_component, axis=0) - np.log(4)
  np.testing.assert_allclose(model.prior.log_prob(z).numpy(), want, rtol=1e-4, atol=1e-4)


def test_pseudo_inputs_train_and_the_prior_follows_the_encoder():
  model, _ = d4_runs.train(steps=5, prior="vamp", prior_components=3, pseudo_input_length=4,
                           latent_dim=LATENT, embed_dim=EMBED, hidden_dim=HIDDEN)
  fresh = _vamp_model(num_components=3, pseudo_input_length=4)
  moved = np.abs(model.latent_prior.pseudo_inputs.numpy() -
                 fresh.latent_prior.pseudo_inputs.numpy()).max()
  assert moved > 1e-4
  z = tf.zeros([1, LATENT])
  before = float(model.prior.log_prob(z)[0])
  bias = next(w for w in model.encoder.weights if w.path.endswith("to_params/bias"))
  bias.assign(bias + 1.0)
  assert abs(float(model.prior.log_prob(z)[0]) - before) > 0.1


def test_a_vamp_prior_without_an_encoder_and_methods_that_cannot_have_one_are_refused():
  prior = latents.VampPrior((5, EMBED), 3)
  with pytest.raises(ValueError, match="attach"):
    prior.distribution()
  with pytest.raises(ConfigError, match="VampPrior cannot be made"):
    config_lib.Config(model="bn_vae", prior="vamp").resolved().validate()
  with pytest.raises(ConfigError, match="pseudo_input_length"):
    config_lib.Config(prior="vamp", pseudo_input_length=0).resolved().validate()


def test_apo_vae_vp_moves_its_pseudo_inputs_down_the_dual_bound_in_the_critic_step():
  """Dai et al. (2021), Algorithm 1: the critic step trains the hyperbolic VampPrior too, so
  that its samples go where the critic finds the posterior's (exp(nu) at them rises)."""
  config = config_lib.Config(preset="apo_vae_vp", model="apo_vae", prior="vamp",
                             prior_components=3, pseudo_input_length=4, latent_dim=LATENT,
                             embed_dim=EMBED, hidden_dim=HIDDEN, critic_hidden=16,
                             critic_learning_rate=1e-2).resolved().validate()
  keras.utils.set_random_seed(0)
  model = methods.build(config, d4_runs.d4())
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  x = next(iter(d4_runs.d4().batches("train", 16)))
  model(x)
  model.build_optimizers()
  seed = tf.constant([3, 4])
  model.critic_step(x, seed=seed)  # a critic that is no longer constant
  encoded = model.encoder(x)
  features = model.critic_features(encoded)
  prior_seed = tf.constant([5, 6])

  def mean_exp_nu_at_prior_samples():
    z = model.prior.sample(16, seed=prior_seed)
    return float(tf.reduce_mean(tf.exp(model.nu(features, z))))

  critic_before = [w.numpy() for w in model.critic.weights]
  pseudo_before = model.latent_prior.pseudo_inputs.numpy()
  before = mean_exp_nu_at_prior_samples()
  z_posterior = model.sample_posterior(model.make_posterior(encoded), seed)
  model._critic_update(features, z_posterior, prior_seed)
  assert np.abs(model.latent_prior.pseudo_inputs.numpy() - pseudo_before).max() > 0
  for weight, value in zip(model.critic.weights, critic_before):
    weight.assign(value)  # Judge the prior's move with the critic it was made against.
  assert mean_exp_nu_at_prior_samples() > before
