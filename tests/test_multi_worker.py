"""Multi-worker training from the launcher: two worker processes, one run directory.

Two `python -m launch.train --strategy=multi_worker` processes form a cluster on
loopback ports (TF_CONFIG), as workers on two machines sharing a file system
would. The chief alone writes the run directory; a rerun of the same commands
resumes every worker from the chief's checkpoint; and the weights match a
one-process run on the same global batches.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests import launch_runs
from tfvae.training import config as config_lib
from tfvae.training import strategies

FLAGS = ["--embed_dim=8", "--hidden_dim=16", "--batch_size=32", "--learning_rate=0.05",
         "--eval_samples=4", "--eval_chunk_size=4", "--epoch_eval_samples=4",
         "--epoch_eval_batches=1", "--steps_per_epoch=3", "--log_every_steps=2", "--verbose=2",
         "--deterministic", "--latent_pictures=0"]
TIMEOUT_SECONDS = 150
# What the chief writes at the top of a run directory (ckpt-N.* besides).
RUN_DIRECTORY_ENTRIES = {"checkpoint", "config.json", "latents.png", "latents.svg", "results.json",
                         "run", "train", "validation"}


def _train_on_two_workers(model_dir, scratch, *flags):
  """Runs both workers to completion; returns their stderr texts (chief first).

  `scratch` holds their logs and is their TMPDIR (where non-chief workers put
  their throw-away checkpoints).
  """
  workers = launch_runs.start_workers(model_dir, scratch, *FLAGS, *flags)
  launch_runs.wait_all([process for process, _, _ in workers], TIMEOUT_SECONDS)
  logs = [err.read_text() for _, _, err in workers]
  failed = [(index, process.returncode) for index, (process, _, _) in enumerate(workers)
            if process.returncode != 0]
  if failed:
    def status(code):
      return f"killed after {TIMEOUT_SECONDS} s" if code == -9 else f"exit status {code}"
    details = "\n".join(f"--- worker {index} ({status(code)}):\n"
                        f"{workers[index][1].read_text()[-2000:]}\n{logs[index][-6000:]}"
                        for index, code in failed)
    raise AssertionError(f"multi-worker training failed:\n{details}")
  return logs, [process.pid for process, _, _ in workers]


def _assert_close_checkpoints(got_prefix, want_prefix):
  # Two workers and one process sum the same gradients in different orders
  # (about 1e-7 relative). Adam divides each gradient by its own magnitude, so
  # for the few weights whose gradient is itself near rounding level that noise
  # becomes a visible part of an lr = 0.05 step: after 6 steps, 7e-5 on 2 of
  # the 8032 decoder embedding entries with the fused LSTM (4e-6 with
  # keras.layers.LSTM, which sums in yet another order). A wrong
  # reduction (one replica's gradient alone) moves whole tensors by up to ~lr.
  got = launch_runs.checkpoint_weights(got_prefix)
  want = launch_runs.checkpoint_weights(want_prefix)
  assert got.keys() == want.keys() and len(got) > 10
  for name in want:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=2e-4, err_msg=name)


def _assert_only_chiefs_wrote(model_dir, chief_pids, scratch):
  entries = {p.name for p in model_dir.iterdir()}
  unexpected = {e for e in entries - RUN_DIRECTORY_ENTRIES if not e.startswith("ckpt-")}
  assert not unexpected, f"unexpected entries in the run directory: {sorted(unexpected)}"
  events = list(model_dir.glob("**/events.out.tfevents.*"))
  assert events
  # Event file names end in .<host>.<pid>.<n>.v2.
  writers = {int(path.name.split(".")[-3]) for path in events}
  assert writers <= chief_pids, f"event files written by {writers}, chiefs were {chief_pids}"
  left = list((scratch / "tmp").glob("tfvae-worker-checkpoint-*"))
  assert not left, f"a worker left its scratch checkpoint: {left}"


def test_two_workers_train_resume_and_match_one_process(tmp_path):
  model_dir, scratch = tmp_path / "run", tmp_path / "scratch"

  logs, pids = _train_on_two_workers(model_dir, scratch, "--epochs=1")
  chief_pids = {pids[0]}
  results = json.loads((model_dir / "results.json").read_text())
  assert results["step"] == 3 and results["config"]["strategy"] == "multi_worker"
  assert np.isfinite(results["test"]["nll"])
  assert (model_dir / "ckpt-1.index").exists()
  _assert_only_chiefs_wrote(model_dir, chief_pids, scratch)
  assert not any("Restored" in log for log in logs)
  assert f"Took part in saving epoch 1: wrote {scratch / 'tmp'}" in logs[1]
  first_checkpoint = (model_dir / "ckpt-1.index").stat().st_mtime_ns

  logs, pids = _train_on_two_workers(model_dir, scratch, "--epochs=2")
  chief_pids.add(pids[0])
  for index, log in enumerate(logs):
    assert f"Restored {model_dir}/ckpt-1 (epoch 1)." in log, f"worker {index} did not resume"
  assert (model_dir / "ckpt-1.index").stat().st_mtime_ns == first_checkpoint, (
      "the rerun must continue from ckpt-1, not train epoch 1 again")
  assert f"Took part in saving epoch 2: wrote {scratch / 'tmp'}" in logs[1]
  results = json.loads((model_dir / "results.json").read_text())
  assert results["step"] == 6 and results["checkpoint"] == str(model_dir / "ckpt-2")
  assert (model_dir / "ckpt-2.index").exists()
  _assert_only_chiefs_wrote(model_dir, chief_pids, scratch)
  # Epoch 1's scalars from the first run, epoch 2's from the resumed one.
  launch_runs.assert_tensorboard_scalars(model_dir, epochs=2, steps_per_epoch=3, every_steps=2,
                                         latent_pictures=False)

  # One process on one device, two epochs straight through, same global batches.
  reference = tmp_path / "reference"
  launch_runs.run("launch.train", f"--model_dir={reference}", *FLAGS, "--epochs=2",
                  timeout=TIMEOUT_SECONDS)
  _assert_close_checkpoints(model_dir / "ckpt-1", reference / "ckpt-1")
  _assert_close_checkpoints(model_dir / "ckpt-2", reference / "ckpt-2")
  first, second = (launch_runs.checkpoint_weights(reference / f"ckpt-{epoch}") for epoch in (1, 2))
  assert any(not np.allclose(first[name], second[name]) for name in first), (
      "the second epoch must move the weights for the comparison to mean anything")


def test_multi_worker_needs_a_model_dir():
  with pytest.raises(config_lib.ConfigError, match="--model_dir"):
    config_lib.Config(strategy="multi_worker").validate()


def test_launcher_without_tf_config_says_so(tmp_path):
  result = launch_runs.run("launch.train", "--strategy=multi_worker", f"--model_dir={tmp_path}",
                           check=False, timeout=TIMEOUT_SECONDS)
  assert result.returncode == 1
  assert "needs the TF_CONFIG environment variable" in result.stderr
  assert "Traceback" not in result.stderr


def test_single_process_strategies_are_chief_on_one_worker(mirrored_strategy):
  for strategy in (tf.distribute.get_strategy(), mirrored_strategy):
    assert strategies.is_chief(strategy)
    assert not strategies.spans_workers(strategy)
