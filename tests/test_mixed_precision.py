"""Mixed precision and XLA: a bfloat16 launcher run; float16, bfloat16 and XLA steps against float32."""

import functools
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import launch_runs
from tfvae import data
from tfvae.training import config as config_lib
from tfvae.training import loop

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mixed_bfloat16_trains_and_evaluates_to_finite_numbers(tmp_path):
  launch_runs.run("launch.train", f"--model_dir={tmp_path}", "--mixed_precision=mixed_bfloat16",
                  "--embed_dim=8", "--hidden_dim=16", "--batch_size=32", "--epochs=1",
                  "--steps_per_epoch=3", "--eval_samples=4", "--eval_chunk_size=4",
                  "--epoch_eval_samples=4", "--epoch_eval_batches=1", "--verbose=2")
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["mixed_precision"] == "mixed_bfloat16"
  assert results["dtype_policy"] == "mixed_bfloat16"
  assert results["step"] == 3
  for key in ("nll", "kl", "recon", "mi_batch", "ppl"):
    assert np.isfinite(results["test"][key]), (key, results["test"])
  assert results["test"]["nll"] > 0


# Short runs from the same weights on the same batches, SGD 0.5 with the gradient
# clipped to norm 1 (clipping active on every step), against float32. Measured on
# an AVX2 host over 10 steps, in which the weights move by up to 2.4:
#   mixed_bfloat16  step losses within 1.9e-3 (relative), weights within 0.074;
#   mixed_float16   1.5e-5 and 2.4e-4; with the clip threshold not scaled by the
#                   loss scale, 0.11 and 2.4 (the clip then stops almost every update);
#   XLA             2.2e-7 and 2.4e-7 with the noise-free autoencoder objective
#                   (XLA's stateless Philox stream differs from TensorFlow's kernel, so
#                   sampled objectives draw other noise under --jit_compile).
PRECISION_TOLERANCES = {
    "mixed_bfloat16": dict(loss_rtol=1e-2, weights_atol=0.3),
    "mixed_float16": dict(loss_rtol=1e-3, weights_atol=1e-2),
}


@functools.cache
def _small_data():
  return data.load("synthetic_mog", num_train=640, num_valid=64, num_test=64)


def _short_run(**fields):
  """(loss of every step, trained weights) of 10 clipped SGD steps of the tiny VAE."""
  config = config_lib.Config(embed_dim=8, hidden_dim=16, optimizer="sgd", learning_rate=0.5,
                             grad_clip_norm=1.0, seed=1, **fields).resolved().validate()
  loop.configure_numerics(config)
  try:
    model = loop.build_model(config, _small_data(), tf.distribute.get_strategy())
    losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(model.batch_loss.numpy())))
    model.fit(_small_data().batches("train", 32), epochs=1, steps_per_epoch=10, verbose=0,
              callbacks=[record])
    weights = {v.path: v.numpy().astype(np.float64) for v in model.trainable_weights}
  finally:
    keras.mixed_precision.set_dtype_policy("float32")
  return np.array(losses), weights


def _assert_same_run(got, want, loss_rtol, weights_atol):
  np.testing.assert_allclose(got[0], want[0], rtol=loss_rtol)
  assert got[1].keys() == want[1].keys()
  for path, value in want[1].items():
    np.testing.assert_allclose(got[1][path], value, rtol=0, atol=weights_atol, err_msg=path)


@pytest.mark.parametrize("policy", list(PRECISION_TOLERANCES))
def test_mixed_precision_trains_like_float32(policy):
  reference = _short_run()
  _assert_same_run(_short_run(mixed_precision=policy), reference, **PRECISION_TOLERANCES[policy])


def test_xla_step_trains_like_the_plain_step():
  reference = _short_run(objective="autoencoder")
  _assert_same_run(_short_run(objective="autoencoder", jit_compile=True), reference,
                   loss_rtol=1e-5, weights_atol=1e-5)
