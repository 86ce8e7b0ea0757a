"""What a training run does when it is preempted, loses a worker or is killed while saving.

Preemption (SIGTERM) and Ctrl-C (SIGINT), on every strategy. `SaveOnSignal`
is a callback and a context manager around `fit`: while it is active a
signal handler only notes the signal. At the next step boundary the run
saves a `RunCheckpoint` of its position (`ckpt-<epoch>-step-<n>`; at an epoch
end, the epoch's own checkpoint, which EpochCheckpoint has just written) and
raises `TrainingInterrupted`, which the launchers turn into one line and exit
status 42. Rerunning the command restores that checkpoint, and `loop.train`
fits the rest of the interrupted epoch before the whole ones: the same data
position, optimiser state and steps as a run that never stopped. A second
signal takes its usual effect at once (the handler that was there before),
and a signal that arrives too late for a boundary takes it after training.

  One process (default, mirrored, TPU): the boundary after the signal.
  Several workers: every worker must save at the same step, since the steps
      and the save are collective. TensorFlow's PreemptionCheckpointHandler
      picks it (`save_checkpoint_if_preempted` at every boundary): the noted
      signal is its termination watcher; the worker that has it publishes
      "the step after this one" through the cluster's coordination service
      and waits until every worker has acknowledged, which each does before
      it can finish that step. Its save and exit functions are SaveOnSignal's,
      so the checkpoint is the same RunCheckpoint as on one process.

A lost worker (multi-worker). Every collective op times out after
`--collective_timeout` seconds (CommunicationOptions), so a dead or silent
worker can no longer block the others: their pending collective fails within
that time, at once where the connection is refused or reset.
`reporting_lost_workers` turns the failure into a `WorkerLostError` naming
the missing worker (as TensorFlow's error names it, else every other task of
the cluster) and the last complete checkpoint: exit status 1. Rerunning every
worker's command resumes from that checkpoint.

A kill during a save (any strategy, any cause) leaves the previous complete
checkpoint in use: tf.train.CheckpointManager replaces the `checkpoint` index
file atomically once the new checkpoint's files are written (see
`checkpoints`), and nothing else of the run directory is read on resume.
"""

import contextlib
import os
import re
import signal
import tempfile
import threading

import keras
import tensorflow as tf

from tfvae.errors import TrainingInterrupted
from tfvae.errors import WorkerLostError
from tfvae.training import callbacks
from tfvae.training import strategies

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How collectives fail when a peer is gone: refused or reset (Unavailable),
# silent past the timeout (DeadlineExceeded), or aborted after either.
_LOST_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                     tf.errors.AbortedError, tf.errors.CancelledError)
_TASK_NAME = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)")
# What TensorFlow puts before an op's message: {{function_node ...}}.
_OP_CONTEXT = re.compile(r"\{\{.*?\}\}\s*")


class SignalNote:
  """Notes the first SIGTERM or SIGINT while active (a context manager in the main thread).

  Attributes:
    received: the name of the first signal ("SIGTERM"), or None.
  """

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {number: signal.signal(number, self._note) for number in STOP_SIGNALS}
    return self

  def __exit__(self, *exc_info):
    for number, handler in self._previous.items():
      signal.signal(number, signal.SIG_DFL if handler is None else handler)
    self._previous = {}

  def _note(self, number, frame):
    del frame
    if self.received is None:
      self.received = signal.Signals(number).name
      return
    self.__exit__()
    signal.raise_signal(number)


class SaveOnSignal(keras.callbacks.Callback):
  """Saves the position and stops at the first step boundary after SIGTERM or SIGINT.

  Enter it (`with`) around the fits it is a callback of, and list it after
  EpochCheckpoint, whose checkpoint it names at an epoch end.

  Args:
    run_checkpoint: the run's `RunCheckpoint`.
    steps_per_epoch: steps of a whole epoch.
    strategy: the run's strategy; on several workers they agree on the step.
  """

  def __init__(self, run_checkpoint, steps_per_epoch, strategy):
    super().__init__()
    self.run_checkpoint = run_checkpoint
    self.steps_per_epoch = steps_per_epoch
    self.strategy = strategy
    self.signals = SignalNote()
    self._handler = None
    self._epoch = 0
    self._position = (0, 0)

  def __enter__(self):
    self.signals.__enter__()
    if strategies.spans_workers(self.strategy):
      self._handler = _preemption_handler(self.strategy, self.signals, self._save, self._stop)
    return self

  def __exit__(self, exc_type, exc_value, traceback):
    self.signals.__exit__()
    if self.signals.received and exc_type is None:
      signal.raise_signal(signal.Signals[self.signals.received])

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    step = callbacks.step_in_epoch(self.params, batch, self.steps_per_epoch)
    if step < self.steps_per_epoch:  # The last step's boundary is the epoch's end.
      self._at_boundary(self._epoch, step)

  def on_epoch_end(self, epoch, logs=None):
    self._at_boundary(epoch + 1, 0)

  def _at_boundary(self, epoch, step):
    """At `step` steps into epoch `epoch` + 1: save and stop if a signal says so."""
    self._position = (epoch, step)
    if self._handler is not None:
      self._handler.save_checkpoint_if_preempted()  # _save and _stop at the agreed step.
    elif self.signals.received:
      self._save()
      self._stop()

  def _save(self):
    epoch, step = self._position
    if step:
      batches = callbacks.batches_read(self.model, epoch * self.steps_per_epoch + step)
      self.run_checkpoint.save(epoch, batches, step)

  def _stop(self):
    epoch, step = self._position
    cause = (f"on {self.signals.received}" if self.signals.received
             else "because another worker of the cluster received a stop signal")
    steps = f" and {step} steps" if step else ""
    workers = " on every worker" if strategies.spans_workers(self.strategy) else ""
    raise TrainingInterrupted(
        f"Training stopped {cause} after {epoch} epochs{steps}, saved in "
        f"{self.run_checkpoint.path(epoch, step)}. Rerun the same command{workers} to resume "
        "from there.")


def _preemption_handler(strategy, signals, save, stop):
  """TensorFlow's PreemptionCheckpointHandler, to pick the step: `save` and `stop` act.

  The handler insists on a checkpoint manager, which it restores from and adds
  its step counter to; it saves through `save` instead, so its manager holds
  an empty checkpoint of an empty directory. Its watcher threads are daemons,
  which end with the process.
  """
  config = tf.distribute.experimental.TerminationConfig(
      termination_watcher_fn=lambda: signals.received is not None, exit_fn=stop,
      grace_period=0, save_fn=save)
  empty = tempfile.mkdtemp(prefix="tfvae-preemption-")
  try:
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), empty, max_to_keep=1)
    return tf.distribute.experimental.PreemptionCheckpointHandler(
        strategy.cluster_resolver, manager, termination_config=config)
  finally:
    os.rmdir(empty)


@contextlib.contextmanager
def reporting_lost_workers(strategy, model_dir, collective_timeout):
  """Turns a collective that failed for want of a peer into a WorkerLostError (multi-worker).

  Raises:
    WorkerLostError: naming the missing worker and the last complete checkpoint.
  """
  try:
    yield
  except _LOST_PEER_ERRORS as error:
    if not strategies.spans_workers(strategy):
      raise
    last = tf.train.latest_checkpoint(model_dir) or "none yet"
    reason = _OP_CONTEXT.sub("", error.message or "").strip().splitlines() or [""]
    raise WorkerLostError(
        f"Lost {_missing_workers(error, strategy.cluster_resolver)} during training "
        f"({type(error).__name__}: {reason[0].rstrip(':')}; a silent worker stops the others "
        f"after --collective_timeout={collective_timeout} s). Last complete checkpoint: "
        f"{last}. Rerun the same command on every worker to resume from it.") from error


def _missing_workers(error, resolver):
  """The tasks `error` names besides this one, else every other task, with their addresses."""
  spec = resolver.cluster_spec()
  this = (resolver.task_type, resolver.task_id)
  named = {(job, int(task)) for job, task in _TASK_NAME.findall(error.message or "")} - {this}
  tasks = named or {(job, task) for job in spec.jobs for task in spec.task_indices(job)} - {this}
  names = ", ".join(f"/job:{job}/task:{task} at {spec.task_address(job, task)}"
                    for job, task in sorted(tasks))
  return f"worker {names}" if named else f"one of the other workers ({names})"
