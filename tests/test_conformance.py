"""The conformance suite: the same checks over every method of the registry (`tfvae.methods`).

Like Keras's layer test run over every layer, each case below builds a
registered method with tiny networks on a small synthetic text set and
checks what every method must do:

  * it builds and keeps the contract (posterior, prior, likelihood, samples);
  * one training step changes the encoder's and the decoder's weights, and a
    test step changes no weight at all;
  * a checkpoint restores into a fresh model: every weight, and the same
    test-step loss;
  * training on uneven global batches under MirroredStrategy over two
    logical CPUs gives the weights of one device;
  * a whole launcher run evaluates to finite numbers (or "n/a": None);
  * the run exports to SavedModels that load back and answer their
    signatures like the Keras model.

A new method adds its case to CASES (the first test fails until it does).
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import exporter
from tfvae import data
from tfvae import latents
from tfvae import methods
from tfvae import models
from tfvae.training import checkpoints
from tfvae.training import config as config_lib
from tfvae.training import loop

# Every registered method at least once; the VAE's objectives, categorical and spherical
# latents too.
CASES = {
    "vae": dict(model="vae"),
    "free_bits": dict(objective="free_bits", fb_lambda=2.0),
    "autoencoder": dict(objective="autoencoder"),
    "mog_prior": dict(prior="mog", prior_components=3),
    "vamp_prior": dict(prior="vamp", prior_components=3, pseudo_input_length=4),
    "flow_prior": dict(model="flow_prior", flow_couplings=2, flow_hidden=8, flow_samples=2),
    "controlvae": dict(model="controlvae", desired_kl=1.0, kp=0.5),
    "aggressive": dict(model="aggressive", check_every=1, inner_cap=2),
    # Two refinement steps with momentum (the default 0.5) and clipping, as Kim et al. train.
    "savae": dict(model="savae", refine_steps=2, grad_clip_norm=5.0),
    "monte_carlo_dreg": dict(model="monte_carlo", estimator="dreg", num_samples=3, mi_lambda=0.5),
    "monte_carlo_vimco": dict(model="monte_carlo", estimator="vimco", num_samples=3,
                              latent_type="categorical", latent_dim=2, num_categories=3),
    "vqvae": dict(model="vqvae", latent_dim=2, num_categories=3),
    "spherical": dict(latent_type="spherical"),
    "bn_vae": dict(model="bn_vae", bn_gamma=0.6),
    "du_vae": dict(model="du_vae", du_gamma=0.5, du_keep_prob=0.5),
    "delta_vae": dict(model="delta_vae", delta=0.1),
    "iaf_free_bits": dict(objective="free_bits", fb_lambda=2.0, iaf_steps=2),
    "du_iaf": dict(model="du_vae", du_gamma=0.5, du_keep_prob=0.5, iaf_steps=2),
    "mae": dict(model="mae", mae_eta=2.0, mae_gamma=0.2),
    "ivae": dict(model="ivae", noise_dim=2, sampler_hidden=8, critic_hidden=8),
    "ivae_mi": dict(model="ivae", noise_dim=2, sampler_hidden=8, critic_hidden=8,
                    critic_sees="z"),
    "p_vae": dict(model="p_vae", curvature=0.7),
    "apo_vae": dict(model="apo_vae", critic_hidden=8),
    "apo_vae_vp": dict(model="apo_vae", prior="vamp", prior_components=3,
                       pseudo_input_length=4, critic_hidden=8, curvature=0.1),
    # LiBI runs on the LiBI sets (real vectors) with their networks and z in R^2, with SGD at
    # 1e-3 and penalties widened (eps 100) so that their exponents stay small: at the defaults
    # the tiny net's codes start with ||Cov - I||^2 / eps near 100 and a step of SGD blows
    # them up, and Adam turns gradients that round to about 0 into steps of its full rate.
    "libi_likelihood": dict(model="libi", libi_phase="likelihood", dataset="libi_linear_jtex",
                            data_options=dict(num_per_split=13), latent_dim=2, learning_rate=1e-3,
                            eps_hz=1e-3, eps_sigma=100.0, eps_mu=100.0),
    "libi_inference": dict(model="libi", libi_phase="inference", dataset="libi_linear_jtex",
                           data_options=dict(num_per_split=13), latent_dim=2, learning_rate=1e-3),
}
# A whole run and its export: one case per method, and categorical latents (the
# VAE's objectives and priors do not change what is exported; spherical latents are
# run, evaluated and exported by tests/test_spherical_latents.py; APo-VAE exports
# P-VAE's encoder, and tests/test_hyperbolic_vae.py runs, evaluates and exports it;
# the signatures of vector data, LiBI's, are tests/test_libi_vectors.py's).
RUN_CASES = [name for name in CASES
             if name not in ("free_bits", "autoencoder", "mog_prior", "iaf_free_bits",
                             "spherical", "ivae_mi", "apo_vae", "apo_vae_vp",
                             "libi_likelihood", "libi_inference")]
# What the run changes of a case to be quicker (the refinement is checked by the other tests).
RUN_FIELDS = {"savae": dict(refine_steps=1)}
DATA_OPTIONS = dict(num_train=13, num_valid=4, num_test=4, length=5)
TINY = dict(embed_dim=8, hidden_dim=16, latent_dim=3, optimizer="sgd", learning_rate=0.5, seed=3,
            latent_pictures=0,
            dataset="synthetic_mog", data_options=DATA_OPTIONS)


def _config(name, **fields):
  return config_lib.Config(**dict(TINY, **dict(CASES[name], **fields))).resolved().validate()


@pytest.fixture(scope="module")
def dataset():
  return data.load("synthetic_mog", **DATA_OPTIONS)


def _weights(model):
  return {w.path: w.numpy() for w in model.weights}


def _case_data(name, dataset):
  """The data set of case `name`: the shared tiny text set, or the one the case names."""
  if "dataset" not in CASES[name]:
    return dataset
  return data.load(CASES[name]["dataset"], **CASES[name].get("data_options", {}))


def _trained_networks(model):
  """The networks among encoder, decoder (and LiBI's code network) that a training step updates."""
  trained = {id(v) for group in model.optimizer_groups().values() for v in group.variables}
  networks = [model.encoder, model.decoder, *filter(None, [getattr(model, "code_encoder", None)])]
  return [network for network in networks
          if any(id(w) in trained for w in network.trainable_weights)]


def _build(name, dataset, strategy=None, init_seed=None):
  """(config, model) of case `name`; `init_seed` draws other initial weights (same noise seed)."""
  config = _config(name)
  dataset = _case_data(name, dataset)
  loop.configure_numerics(config)
  if init_seed is not None:
    keras.utils.set_random_seed(init_seed)
  return config, loop.build_model(config, dataset, strategy or tf.distribute.get_strategy())


def test_every_registered_method_has_a_case():
  assert {fields.get("model", "vae") for fields in CASES.values()} == set(methods.names())


@pytest.mark.parametrize("name", list(CASES))
def test_contract_steps_and_checkpoint(name, dataset, tmp_path):
  config, model = _build(name, dataset)
  x = next(iter(_case_data(name, dataset).batches("train", 5)))
  # The contract.
  posterior = model.posterior(x)
  assert posterior.batch_shape == (5,)
  z = model.sample_posterior(posterior, tf.constant([1, 2]), num_samples=2)
  assert z.shape[:2] == (2, 5) and z.shape[2:] == posterior.event_shape
  assert model.likelihood(z, x).log_prob(x).shape == (2, 5)
  assert model.prior.event_shape == posterior.event_shape
  # A test step changes no weight; a training step changes the encoder and the decoder (or,
  # for LiBI's phases, the networks the phase trains).
  initial = _weights(model)
  model.evaluate(tf.data.Dataset.from_tensors(x), verbose=0)
  for path, value in _weights(model).items():
    np.testing.assert_array_equal(value, initial[path], err_msg=path)
  model.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1, steps_per_epoch=1, verbose=0)
  trained = _weights(model)
  networks = _trained_networks(model)
  assert model.decoder in networks or model.encoder in networks
  for network in networks:
    assert any(not np.array_equal(trained[w.path], initial[w.path])
               for w in network.trainable_weights), f"{network.name} did not change"
  # The checkpoint restores every weight into a fresh model, which then computes the same loss.
  checkpoints.RunCheckpoint(str(tmp_path), model, model.optimizer).save(1, 1)
  loss = model.evaluate(tf.data.Dataset.from_tensors(x), verbose=0, return_dict=True)["loss"]
  _, fresh = _build(name, dataset, init_seed=4)
  assert checkpoints.RunCheckpoint(str(tmp_path), fresh, fresh.optimizer).restore_latest() == (1, 1)
  for path, value in _weights(fresh).items():
    np.testing.assert_array_equal(value, trained[path], err_msg=path)
  again = fresh.evaluate(tf.data.Dataset.from_tensors(x), verbose=0, return_dict=True)["loss"]
  np.testing.assert_allclose(again, loss, rtol=1e-6)
  del config


def _train_on_uneven_batches(name, dataset, strategy):
  """3 steps on global batches of 5, 5 and 3 rows (odd ones split 3/2 over two replicas)."""
  config, model = _build(name, dataset, strategy)
  batches = _case_data(name, dataset).batches("train", 5)
  assert [int(tf.shape(b)[0]) for b in batches] == [5, 5, 3]
  # The method's own callbacks; the aggressive phase stays on (its end reads the
  # per-epoch validation MI, which this fit does not compute).
  callbacks = [callback for callback in methods.callbacks(config, 3)
               if not isinstance(callback, models.AggressivePhaseEnd)]
  model.fit(batches.repeat(), epochs=1, steps_per_epoch=3, verbose=0, callbacks=callbacks)
  return _weights(model)


# BN-VAE's and DU-VAE's batch normalisation standardises the means exactly
# (epsilon 1e-12), and the fresh tiny encoder's means vary by only 1e-6 to
# 1e-4 over a batch: the division, then SGD at rate 0.5, amplify the rounding
# of other summation orders (one device, two replicas) to at most ~5e-4 in the
# weights upstream of it. Statistics of the wrong batch (each replica's own,
# `synchronized=False`) move them by ~0.2.
_AMPLIFIED_ROUNDING = {"bn_vae", "du_vae", "du_iaf"}
# Hyperbolic latents: at c = 0.7 and 1 with SGD at rate 0.5, samples reach
# 1 - c||z||^2 ~ 5e-4, where one float32 ulp of z is ~1e-4 in geodesic
# distance, and the gyroplane features and densities move by about that much.
# One device and two replicas give z a few ulps apart (the encoder's LSTM
# rounds differently for other batch sizes), and three steps amplify it as
# they amplify a one-ulp change of every initial weight on one device: by
# 6e-5 (P-VAE) and 5e-5 (APo-VAE), against 1e-7 for the Gaussian VAE. The
# replicas are 8e-5 and 4e-4 off; at c = 0.1 (1 - c||z||^2 > 0.17) both are
# within the default 1e-5. Noise drawn for each replica's rows alone moves
# the weights by 0.4 to 4.
_BALL_ROUNDING = {"p_vae": 1e-3, "apo_vae": 2e-3}


@pytest.mark.parametrize("name", list(CASES))
def test_uneven_global_batches_train_like_one_device(name, dataset, mirrored_strategy):
  one = _train_on_uneven_batches(name, dataset, tf.distribute.get_strategy())
  two = _train_on_uneven_batches(name, dataset, mirrored_strategy)
  assert one.keys() == two.keys()
  for path, value in one.items():
    atol = 2e-3 if name in _AMPLIFIED_ROUNDING else _BALL_ROUNDING.get(name, 1e-5)
    np.testing.assert_allclose(two[path], value, rtol=1e-4, atol=atol, err_msg=path)


def _location(posterior):
  """A Gaussian's mean, or a wrapped normal's point mu in the ball (it has no closed-form mean)."""
  if isinstance(posterior, latents.PoincareWrappedNormal):
    return posterior.loc
  return posterior.mean()


@pytest.mark.parametrize("name", RUN_CASES)
def test_a_run_evaluates_to_finite_numbers_and_exports(name, tmp_path):
  model_dir = tmp_path / "run"
  results = loop.train(_config(name, **RUN_FIELDS.get(name, {}), model_dir=str(model_dir),
                               epochs=1, steps_per_epoch=2,
                               eval_samples=2, eval_chunk_size=2, epoch_eval_samples=2,
                               epoch_eval_batches=1, verbose=0))
  for metric, value in results["test"].items():
    assert value is None or math.isfinite(value), (metric, value)
  exported = exporter.export_run(str(model_dir), str(tmp_path / "exports"), "conformance")
  _, run_data, model = loop.restore_run(str(model_dir))
  encoder = tf.saved_model.load(exported.encoder).signatures["serving_default"]
  decoder = tf.saved_model.load(exported.decoder).signatures
  sentences = np.array([run_data.vocab.decode(row) for row in
                        next(iter(run_data.batches("test", 3))).numpy()], object)
  encoded = encoder(sentences=tf.constant(sentences))
  assert all(np.all(np.isfinite(value.numpy())) for value in encoded.values())
  x = next(iter(run_data.batches("test", 3)))
  # The posterior's location is the Keras model's: q's own, or z0's under a flow.
  posterior = model.posterior(x)
  for key, gaussian in (("loc", posterior), ("base_loc", getattr(posterior, "distribution", None))):
    if key in encoded:
      np.testing.assert_allclose(encoded[key].numpy(), _location(gaussian).numpy(), rtol=1e-5,
                                 atol=1e-6)
  z = decoder["sample_prior"](num_samples=tf.constant(3), seed=tf.constant([1, 2]))["z"]
  np.testing.assert_allclose(z.numpy(), model.prior.sample(3, seed=tf.constant([1, 2])).numpy(),
                             rtol=1e-6)
  served = decoder["log_likelihood"](sentences=tf.constant(sentences), z=z)["log_likelihood"]
  np.testing.assert_allclose(served.numpy(), model.likelihood(z, x).log_prob(x).numpy(),
                             rtol=1e-5)
  generated = decoder["generate"](z=z, seed=tf.constant([1, 2]))
  assert generated["sampled_ids"].shape[0] == 3
