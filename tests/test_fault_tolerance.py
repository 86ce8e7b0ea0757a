"""Fault tolerance end to end, in real launcher processes on loopback (docs/scaling.md).

A worker killed mid-epoch stops the other within --collective_timeout with a
one-line error; SIGTERM or SIGINT saves a checkpoint at the step boundary and
exits with status 42, on one process and on every worker of a cluster; a kill
inside a checkpoint save leaves the previous checkpoint in use. In every case
rerunning the same command (on every worker) ends with the weights of a run
that never stopped.
"""

import json
import re
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from tests import faulty_train
from tests import launch_runs
from tfvae.errors import TrainingInterrupted

STEPS_PER_EPOCH = 6
# The eval and validation settings keep every run short; --evaluate_test=false
# skips the final evaluation, which says nothing about resuming.
FLAGS = ["--embed_dim=8", "--hidden_dim=16", "--batch_size=32", "--learning_rate=0.05",
         f"--steps_per_epoch={STEPS_PER_EPOCH}", "--epochs=3", "--epoch_eval_samples=4",
         "--epoch_eval_batches=1", "--log_every_steps=2", "--verbose=2", "--deterministic",
         "--latent_pictures=0", "--evaluate_test=false"]
COLLECTIVE_TIMEOUT = 20
TIMEOUT_SECONDS = 240
INTERRUPTED = TrainingInterrupted.exit_code


def _assert_same_weights(got_prefix, want_prefix):
  got = launch_runs.checkpoint_weights(got_prefix)
  want = launch_runs.checkpoint_weights(want_prefix)
  assert got.keys() == want.keys() and len(got) > 10
  for name in want:
    np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _position(prefix):
  """(epoch, step_in_epoch, batches_seen, optimiser steps) stored in a checkpoint."""
  reader = tf.train.load_checkpoint(str(prefix))
  return tuple(int(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
               for name in ("epoch", "step_in_epoch", "batches_seen", "optimizer/_iterations"))


def _run_with_fault(model_dir, stderr, **fault):
  """One process of tests.faulty_train with `fault` (its environment); returns its exit code."""
  process = launch_runs.Launch("tests.faulty_train", f"--model_dir={model_dir}", *FLAGS,
                               stdout=stderr.with_suffix(".out"), stderr=stderr, **fault)
  return launch_runs.wait_all([process], TIMEOUT_SECONDS)[0]


def _stop_line(log):
  """The launcher's one-line message of an interrupted or failed run."""
  lines = [line for line in log.splitlines() if line.startswith(("stopped: ", "error: "))]
  assert len(lines) == 1, log[-5000:]
  return lines[0]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """A one-process run of FLAGS that nobody interrupts."""
  model_dir = tmp_path_factory.mktemp("straight")
  launch_runs.run("launch.train", f"--model_dir={model_dir}", *FLAGS, timeout=TIMEOUT_SECONDS)
  return model_dir


@pytest.mark.parametrize("name, step, saved", [
    # Two steps into epoch 2: a checkpoint of its own; the rerun finishes the epoch first.
    ("SIGTERM", STEPS_PER_EPOCH + 2, "ckpt-1-step-2"),
    # Ctrl-C on the last step of epoch 2: the epoch's own checkpoint.
    ("SIGINT", 2 * STEPS_PER_EPOCH, "ckpt-2"),
])
def test_a_signal_saves_at_the_step_boundary_and_the_rerun_resumes_exactly(
    tmp_path, straight, name, step, saved):
  model_dir, log = tmp_path / "run", tmp_path / "first.err"
  assert _run_with_fault(model_dir, log, **{faulty_train.SIGNAL_AT_STEP: f"{name}:{step}"}) == (
      INTERRUPTED), log.read_text()[-5000:]
  epochs, steps = divmod(step, STEPS_PER_EPOCH)
  assert _stop_line(log.read_text()) == (
      f"stopped: Training stopped on {name} after {epochs} epochs"
      f"{f' and {steps} steps' if steps else ''}, saved in {model_dir / saved}. Rerun the "
      "same command to resume from there.")
  assert tf.train.latest_checkpoint(str(model_dir)) == str(model_dir / saved)
  # The data position and optimiser of the step boundary (one batch per step).
  assert _position(model_dir / saved) == (epochs, steps, step, step)
  assert "Traceback" not in log.read_text()

  resumed = launch_runs.run("launch.train", f"--model_dir={model_dir}", *FLAGS,
                            timeout=TIMEOUT_SECONDS)
  assert f"Restored {model_dir / saved} (epoch {epochs}" in resumed.stderr
  _assert_same_weights(model_dir / "ckpt-3", straight / "ckpt-3")
  assert json.loads((model_dir / "results.json").read_text())["step"] == 3 * STEPS_PER_EPOCH
  # The curves go on from the saved step: every step and epoch scalar once.
  launch_runs.assert_tensorboard_scalars(model_dir, epochs=3, steps_per_epoch=STEPS_PER_EPOCH,
                                         every_steps=2, latent_pictures=False)


def test_an_aggressive_run_resumes_mid_epoch_at_the_batches_it_has_read(tmp_path):
  # Each step of the aggressive phase reads 1 + 2..4 batches (an inner loop).
  flags = [*FLAGS, "--preset=he2019_aggressive", "--inner_cap=4", "--check_every=2",
           "--epochs=2", "--steps_per_epoch=3"]
  straight_dir, model_dir, log = tmp_path / "straight", tmp_path / "run", tmp_path / "first.err"
  launch_runs.run("launch.train", f"--model_dir={straight_dir}", *flags, timeout=TIMEOUT_SECONDS)
  process = launch_runs.Launch("tests.faulty_train", f"--model_dir={model_dir}", *flags,
                               stdout=tmp_path / "first.out", stderr=log,
                               **{faulty_train.SIGNAL_AT_STEP: "SIGTERM:4"})
  assert launch_runs.wait_all([process], TIMEOUT_SECONDS) == [INTERRUPTED], (
      log.read_text()[-5000:])
  epoch, step, batches, _ = _position(model_dir / "ckpt-1-step-1")
  assert (epoch, step) == (1, 1) and batches >= 4 * 3, batches
  launch_runs.run("launch.train", f"--model_dir={model_dir}", *flags, timeout=TIMEOUT_SECONDS)
  _assert_same_weights(model_dir / "ckpt-2", straight_dir / "ckpt-2")


def test_a_kill_inside_a_checkpoint_save_leaves_the_previous_one_in_use(tmp_path, straight):
  model_dir, log = tmp_path / "run", tmp_path / "first.err"
  assert _run_with_fault(model_dir, log, **{faulty_train.KILL_IN_SAVE: "ckpt-2"}) == (
      -signal.SIGKILL), log.read_text()[-5000:]
  # Killed after ckpt-2's files were written, before the index named them.
  assert (model_dir / "ckpt-2.index").exists()
  assert tf.train.latest_checkpoint(str(model_dir)) == str(model_dir / "ckpt-1")
  # What a kill earlier in the write leaves: a truncated data file, a shard directory.
  data = model_dir / "ckpt-2.data-00000-of-00001"
  data.write_bytes(data.read_bytes()[:100])
  (model_dir / "ckpt-2_temp").mkdir()
  (model_dir / "ckpt-2_temp" / "part-00000-of-00001.index").write_bytes(b"partial")

  resumed = launch_runs.run("launch.train", f"--model_dir={model_dir}", *FLAGS,
                            timeout=TIMEOUT_SECONDS)
  assert f"Restored {model_dir / 'ckpt-1'} (epoch 1)." in resumed.stderr
  for epoch in (2, 3):  # ckpt-2 written anew over the partial files.
    _assert_same_weights(model_dir / f"ckpt-{epoch}", straight / f"ckpt-{epoch}")


# ------------------------------------------------------------------ two workers
def _two_workers(model_dir, scratch, *flags, chief_fault=None):
  """Starts two workers (the chief through tests.faulty_train with `chief_fault`)."""
  chief = ("tests.faulty_train", chief_fault) if chief_fault else ("launch.train", {})
  return launch_runs.start_workers(model_dir, scratch, *FLAGS,
                                   f"--collective_timeout={COLLECTIVE_TIMEOUT}", *flags,
                                   workers=(chief, ("launch.train", {})))


def _rerun_two_workers(model_dir, scratch):
  """Reruns both workers to the end; returns their stderr texts."""
  workers = _two_workers(model_dir, scratch)
  codes = launch_runs.wait_all([process for process, _, _ in workers], TIMEOUT_SECONDS)
  logs = [err.read_text() for _, _, err in workers]
  assert codes == [0, 0], "\n".join(log[-4000:] for log in logs)
  return logs


@pytest.fixture(scope="module")
def worker_lost(tmp_path_factory):
  """Two workers; worker 1 SIGKILLed in epoch 2; both rerun.

  Returns (model_dir, survivor's exit code, its seconds from the kill to its
  exit, its stderr, the rerun's stderr texts).
  """
  model_dir, scratch = tmp_path_factory.mktemp("lost") / "run", tmp_path_factory.mktemp("logs")
  workers = _two_workers(model_dir, scratch)
  processes = [process for process, _, _ in workers]
  try:
    deadline = time.time() + TIMEOUT_SECONDS
    while (tf.train.latest_checkpoint(str(model_dir)) != str(model_dir / "ckpt-1")
           and time.time() < deadline):
      time.sleep(0.05)
    processes[1].kill()
    killed = time.time()
    survivor = launch_runs.wait_all(processes[:1], COLLECTIVE_TIMEOUT + 60)[0]
    seconds = time.time() - killed
  finally:
    launch_runs.wait_all(processes, 1)
  return model_dir, survivor, seconds, workers[0][2].read_text(), _rerun_two_workers(
      model_dir, scratch)


@pytest.fixture(scope="module")
def chief_preempted(tmp_path_factory):
  """Two workers; the chief gets SIGTERM after step 8; both rerun.

  Returns (model_dir, both exit codes, both stderr texts, the rerun's).
  """
  model_dir, scratch = tmp_path_factory.mktemp("preempted") / "run", tmp_path_factory.mktemp(
      "logs")
  workers = _two_workers(model_dir, scratch, chief_fault={
      faulty_train.SIGNAL_AT_STEP: f"SIGTERM:{STEPS_PER_EPOCH + 2}"})
  codes = launch_runs.wait_all([process for process, _, _ in workers], TIMEOUT_SECONDS)
  logs = [err.read_text() for _, _, err in workers]
  return model_dir, codes, logs, _rerun_two_workers(model_dir, scratch)


def test_a_killed_worker_stops_the_other_within_the_timeout(worker_lost):
  model_dir, code, seconds, log, _ = worker_lost
  assert code == 1, log[-5000:]
  assert seconds < COLLECTIVE_TIMEOUT + 30, seconds
  line = _stop_line(log)
  # TensorFlow names the dead worker, or this one lists every other one.
  assert re.match(r"error: Lost (worker |one of the other workers \()/job:worker/task:1 at "
                  r"127\.0\.0\.1:\d+", line), line
  assert (f"--collective_timeout={COLLECTIVE_TIMEOUT} s). Last complete checkpoint: "
          f"{model_dir / 'ckpt-1'}. Rerun the same command on every worker") in line
  assert "Traceback" not in log


def test_sigterm_to_the_chief_stops_both_workers_at_one_step(chief_preempted):
  model_dir, codes, logs, _ = chief_preempted
  assert codes == [INTERRUPTED, INTERRUPTED], "\n".join(log[-4000:] for log in logs)
  # The chief sees the signal at the boundary after step 8 and asks every
  # worker to save at the next one, after step 9.
  saved = model_dir / "ckpt-1-step-3"
  ending = (f" after 1 epochs and 3 steps, saved in {saved}. Rerun the same command on every "
            "worker to resume from there.")
  assert [_stop_line(log) for log in logs] == [
      "stopped: Training stopped on SIGTERM" + ending,
      "stopped: Training stopped because another worker of the cluster received a stop signal"
      + ending]
  assert _position(saved) == (1, 3, 9, 9)


@pytest.fixture(scope="module")
def two_workers_uninterrupted(tmp_path_factory):
  """The run directory of two workers that ran to the end without a fault."""
  model_dir, scratch = tmp_path_factory.mktemp("uninterrupted") / "run", tmp_path_factory.mktemp(
      "logs")
  _rerun_two_workers(model_dir, scratch)
  return model_dir


def test_both_reruns_end_with_the_weights_of_an_uninterrupted_run(worker_lost, chief_preempted,
                                                                  two_workers_uninterrupted):
  lost_dir, *_, lost_rerun = worker_lost
  preempted_dir, _, _, preempted_rerun = chief_preempted
  for index in range(2):
    assert f"Restored {lost_dir / 'ckpt-1'} (epoch 1)." in lost_rerun[index]
    assert (f"Restored {preempted_dir / 'ckpt-1-step-3'} (epoch 1 and 3 steps of the next)."
            in preempted_rerun[index])
  # Resumed at an epoch end and in mid-epoch: the steps of two workers that never stopped.
  _assert_same_weights(lost_dir / "ckpt-3", two_workers_uninterrupted / "ckpt-3")
  _assert_same_weights(preempted_dir / "ckpt-3", two_workers_uninterrupted / "ckpt-3")
