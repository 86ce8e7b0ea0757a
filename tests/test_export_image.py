"""SavedModel export of an image VAE (binarized MNIST, MLP networks) for TF Serving.

The text export's tests (tests/test_export.py) cover versions, the launcher
and the serving formats; this file checks the image signatures against the
Keras model, on both loader paths, in fresh processes.
"""

import numpy as np
import pytest
import tensorflow as tf

from export import exporter
from export import replay
from export import warmup
from tfvae.training import loop
from tests.export_answers import error as _error
from tests.export_answers import outputs as _outputs
from tfvae.training.config import Config

NAME = "digits"
LATENT_DIM = 4
SHAPE = (28, 28, 1)
# A learned prior (--prior=mog): its weights must reach both exports.
TINY = dict(dataset="binarized_mnist", network="mlp", hidden_dim=16, latent_dim=LATENT_DIM,
            latent_pictures=0,
            prior="mog", prior_components=3, epochs=1, steps_per_epoch=2, eval_samples=2, eval_chunk_size=2,
            epoch_eval_batches=1, verbose=0)
MODES = ("tf2", "session")




@pytest.fixture(scope="module")
def keras_run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("image_run")
  loop.train(Config(model_dir=str(model_dir), **TINY))
  return model_dir, loop.restore_run(str(model_dir))


@pytest.fixture(scope="module")
def exported(keras_run, tmp_path_factory):
  model_dir, _ = keras_run
  return exporter.export_run(str(model_dir), str(tmp_path_factory.mktemp("exports")), NAME)


@pytest.fixture(scope="module")
def inputs(keras_run):
  _, (_, dataset, _) = keras_run
  images = next(iter(dataset.batches("test", 4))).numpy()
  grey = np.random.default_rng(0).uniform(size=[2, *SHAPE]).astype(np.float32)
  z = np.random.default_rng(1).normal(size=[4, LATENT_DIM]).astype(np.float32)
  return {"images": np.concatenate([images, grey]), "z": z, "seed": np.array([3, 4], np.int32),
          "pixels": (np.arange(2 * 784) % 256).astype(np.uint8).reshape([2, *SHAPE])}


@pytest.fixture(scope="module")
def served(exported, inputs):
  images, z, seed = inputs["images"], inputs["z"], inputs["seed"]
  generate = ("generate", {"z": z, "seed": seed})
  encoder = {
      "encode": ("serving_default", {"images": images}),
      "encode_uint8": ("encode_uint8", {"images": inputs["pixels"]}),
      "encode_empty": ("serving_default", {"images": np.zeros([0, *SHAPE], np.float32)}),
      "bad_range": ("serving_default", {"images": 255 * images[:1]}),
      "bad_dtype": ("serving_default", {"images": images[:1].astype(np.float64)}),
      "bad_shape": ("serving_default", {"images": np.zeros([1, 28, 28], np.float32)}),
      "after_bad": ("serving_default", {"images": images}),
  }
  decoder = {
      "generate": generate,
      "generate_again": generate,
      "generate_other_seed": ("generate", {"z": z, "seed": np.array([5, 6], np.int32)}),
      "serving_default": ("serving_default", generate[1]),
      "log_likelihood": ("log_likelihood", {"images": images[:4], "z": z}),
      "generate_empty": ("generate", {"z": np.zeros([0, LATENT_DIM], np.float32), "seed": seed}),
      "sample_prior": ("sample_prior", {"num_samples": np.array(5, np.int32), "seed": seed}),
      "sample_prior_none": ("sample_prior", {"num_samples": np.array(0, np.int32),
                                             "seed": seed}),
      "bad_num_samples": ("sample_prior", {"num_samples": np.array(-1, np.int32), "seed": seed}),
      "bad_batch": ("log_likelihood", {"images": images[:2], "z": z}),
      "after_bad": generate,
  }
  jobs = [(exported.encoder, encoder), (exported.decoder, decoder)]
  answers = {}
  for mode in MODES:
    encoded, decoded = replay.in_fresh_process(jobs, session=mode == "session")
    answers[mode] = {"encoder": encoded, "decoder": decoded}
  return answers


@pytest.fixture(scope="module")
def reference(keras_run, inputs):
  _, (_, _, model) = keras_run
  posterior = model.posterior(inputs["images"])
  from_pixels = model.posterior(inputs["pixels"].astype(np.float32) / 255.0)
  likelihood = model.likelihood(tf.constant(inputs["z"]), None)
  return {"loc": posterior.mean().numpy(), "scale": posterior.stddev().numpy(),
          "posterior": posterior, "prior": model.prior,
          "prior_sample": model.prior.sample(5, seed=tf.constant(inputs["seed"])).numpy(),
          "uint8_loc": from_pixels.mean().numpy(),
          "probabilities": likelihood.mean().numpy(),
          "sampled": likelihood.sample(seed=tf.constant(inputs["seed"])).numpy(),
          "log_likelihood": model.likelihood(inputs["z"], inputs["images"][:4]).log_prob(
              inputs["images"][:4]).numpy()}


def test_encoder_outputs_equal_the_keras_posterior(served, reference):
  for mode in MODES:
    answers = served[mode]["encoder"]["answers"]
    out = _outputs(answers["encode"])
    for key in ("loc", "scale"):
      np.testing.assert_allclose(out[key], reference[key], rtol=1e-5, atol=1e-6,
                                 err_msg=f"{mode} {key}")
    # A mixture prior has no closed-form KL: kl is log q(z|x) - log p(z) at the served z.
    z = tf.constant(out["z"])
    np.testing.assert_allclose(
        out["kl"], (reference["posterior"].log_prob(z) - reference["prior"].log_prob(z)).numpy(),
        rtol=1e-4, atol=1e-4, err_msg=mode)
    noise = (out["z"] - out["loc"]) / out["scale"]
    assert np.all(np.isfinite(noise)) and np.all(np.abs(noise) < 6)
    np.testing.assert_allclose(_outputs(answers["encode_uint8"])["loc"], reference["uint8_loc"],
                               rtol=1e-5, atol=1e-6)
    empty = _outputs(answers["encode_empty"])
    assert empty["loc"].shape == (0, LATENT_DIM) and empty["kl"].shape == (0,)


def test_generate_gives_the_keras_probabilities_and_seeded_samples(served, reference):
  for mode in MODES:
    answers = served[mode]["decoder"]["answers"]
    out = _outputs(answers["generate"])
    np.testing.assert_allclose(out["probabilities"], reference["probabilities"], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(out["sampled"], reference["sampled"])
    assert set(np.unique(out["sampled"])) <= {0.0, 1.0}
    # The sampled pixels are Bernoulli(probabilities): compare the means.
    assert abs(out["sampled"].mean() - out["probabilities"].mean()) < 0.05
    np.testing.assert_array_equal(_outputs(answers["generate_again"])["sampled"], out["sampled"])
    other = _outputs(answers["generate_other_seed"])
    assert not np.array_equal(other["sampled"], out["sampled"])
    np.testing.assert_array_equal(_outputs(answers["serving_default"])["sampled"],
                                  out["sampled"])
    assert _outputs(answers["generate_empty"])["probabilities"].shape == (0, *SHAPE)


def test_sample_prior_draws_the_learned_prior_of_the_keras_model(served, reference):
  for mode in MODES:
    answers = served[mode]["decoder"]["answers"]
    np.testing.assert_allclose(_outputs(answers["sample_prior"])["z"], reference["prior_sample"],
                               rtol=1e-5, atol=1e-6, err_msg=mode)
    assert _outputs(answers["sample_prior_none"])["z"].shape == (0, LATENT_DIM)
    assert "num_samples must be >= 0" in _error(answers["bad_num_samples"])["message"]


def test_log_likelihood_equals_the_keras_likelihood(served, reference):
  for mode in MODES:
    out = _outputs(served[mode]["decoder"]["answers"]["log_likelihood"])
    np.testing.assert_allclose(out["log_likelihood"], reference["log_likelihood"], rtol=1e-5)


def test_bad_images_are_refused_and_the_model_keeps_serving(served):
  for mode in MODES:
    encoder = served[mode]["encoder"]["answers"]
    error = _error(encoder["bad_range"])
    assert error["type"] == "InvalidArgumentError"
    assert "images must be float32 pixel values in [0, 1]" in error["message"]
    assert "Cannot feed value of shape" in _error(encoder["bad_shape"])["message"] or (
        mode == "tf2")
    np.testing.assert_array_equal(_outputs(encoder["after_bad"])["loc"],
                                  _outputs(encoder["encode"])["loc"])
    decoder = served[mode]["decoder"]["answers"]
    assert "images and z must have the same batch size" in _error(
        decoder["bad_batch"])["message"]
    np.testing.assert_array_equal(_outputs(decoder["after_bad"])["sampled"],
                                  _outputs(decoder["generate"])["sampled"])
  tf2, session = served["tf2"]["encoder"]["answers"], served["session"]["encoder"]["answers"]
  assert "expected to be a float tensor but is a double tensor" in _error(
      tf2["bad_dtype"])["message"]
  assert _error(tf2["bad_shape"])["type"] == "InvalidArgumentError"
  # The Python session client converts float64 numpy arrays to the float32
  # input before running (as TF Serving's REST API converts JSON numbers).
  assert _outputs(session["bad_dtype"])["loc"].shape == (1, LATENT_DIM)


def test_signatures_and_warmup_requests(exported, served):
  expected = {"encoder": ["encode_uint8", "serving_default"],
              "decoder": ["generate", "log_likelihood", "sample_prior", "serving_default"]}
  for half, signatures in expected.items():
    requests = warmup.read_warmup(getattr(exported, half))
    assert sorted(r.model_spec.signature_name for r in requests) == signatures
    assert {r.model_spec.name for r in requests} == {f"{NAME}_{half}"}
    for mode in MODES:
      assert served[mode][half]["signatures"] == signatures
      assert [signature for _, signature, _ in served[mode][half]["warmup"]] == signatures
