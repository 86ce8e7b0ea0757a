"""`python -m launch.train` with a fault at a chosen moment (a test helper).

Run as `python -m tests.faulty_train FLAGS...` (tests start it through
`tests.launch_runs.Launch`) with either of:

  TFVAE_TEST_SIGNAL_AT_STEP=SIGTERM:8  the process sends itself SIGTERM at the
      end of its 8th training step, before the run's callbacks reach that step
      boundary, and waits there 1.5 s: long enough for TensorFlow's
      PreemptionCheckpointHandler, which polls every second, to notice, so
      that on several workers too the boundary after step 8 is the one where
      the signal is seen;
  TFVAE_TEST_KILL_IN_SAVE=ckpt-2  SIGKILL inside the save of checkpoint
      ckpt-2, once its files are written and before the `checkpoint` index
      file names it.

Only the moment is staged: the signal is a real one, handled by the run.
"""

import itertools
import os
import signal
import time

from absl import app
from tensorflow.python.checkpoint import checkpoint_management

from launch import train
from tfvae.training import callbacks

SIGNAL_AT_STEP = "TFVAE_TEST_SIGNAL_AT_STEP"
KILL_IN_SAVE = "TFVAE_TEST_KILL_IN_SAVE"
NOTICE_SECONDS = 1.5


def signal_at_step(name, step):
  """Sends this process signal `name` after its step `step` (NaNGuard runs first), then waits."""
  check_loss = callbacks.NaNGuard.on_train_batch_end
  steps = itertools.count(1)

  def on_train_batch_end(guard, batch, logs=None):
    check_loss(guard, batch, logs)
    if next(steps) == step:
      os.kill(os.getpid(), signal.Signals[name])
      time.sleep(NOTICE_SECONDS)

  callbacks.NaNGuard.on_train_batch_end = on_train_batch_end


def kill_in_save(name):
  """SIGKILLs this process when CheckpointManager records checkpoint `name` in its index."""
  record = checkpoint_management.update_checkpoint_state_internal

  def update_checkpoint_state_internal(save_dir, model_checkpoint_path, *args, **kwargs):
    if os.path.basename(model_checkpoint_path) == name:
      os.kill(os.getpid(), signal.SIGKILL)
    return record(save_dir, model_checkpoint_path, *args, **kwargs)

  checkpoint_management.update_checkpoint_state_internal = update_checkpoint_state_internal


if __name__ == "__main__":
  if SIGNAL_AT_STEP in os.environ:
    signal_name, _, at_step = os.environ[SIGNAL_AT_STEP].partition(":")
    signal_at_step(signal_name, int(at_step))
  if KILL_IN_SAVE in os.environ:
    kill_in_save(os.environ[KILL_IN_SAVE])
  app.run(train.main)
