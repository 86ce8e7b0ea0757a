"""Mixed precision from the launcher: a bfloat16 run trains, evaluates and says so."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mixed_bfloat16_trains_and_evaluates_to_finite_numbers(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("TF_CONFIG", None)
  result = subprocess.run(
      [sys.executable, "-m", "launch.train", f"--model_dir={tmp_path}",
       "--mixed_precision=mixed_bfloat16", "--embed_dim=8", "--hidden_dim=16",
       "--batch_size=32", "--epochs=1", "--steps_per_epoch=3", "--eval_samples=4",
       "--eval_chunk_size=4", "--epoch_eval_samples=4", "--epoch_eval_batches=1",
       "--verbose=2"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-5000:]}"
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["mixed_precision"] == "mixed_bfloat16"
  assert results["dtype_policy"] == "mixed_bfloat16"
  assert results["step"] == 3
  for key in ("nll", "kl", "recon", "mi_batch", "ppl"):
    assert np.isfinite(results["test"][key]), (key, results["test"])
  assert results["test"]["nll"] > 0
