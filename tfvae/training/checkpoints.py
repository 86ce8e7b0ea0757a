"""Checkpoints of a run: model, optimiser, epoch and data position.

The model's weights are saved by their Keras paths (e.g. `vae/encoder/lstm/...`)
and include beta and any controller state; the optimiser's variables include its
step counter, and other optimisers the model holds as attributes are saved too;
`epoch` and `batches_seen` locate the data stream (epoch e's batch order is a
function of the seed and e), so a run restarted with the same command continues
exactly where it stopped.

`ckpt-<epoch>` is saved after every epoch. A run stopped on a signal saves
`ckpt-<epoch>-step-<n>` instead: `epoch` whole epochs and `n` steps of the next
(`step_in_epoch`), which the rerun finishes first.

An interrupted save never spoils the run directory: tf.train.CheckpointManager
writes a checkpoint's files first and then replaces the `checkpoint` index
file atomically (a temporary file and a rename), so until that rename the
index names the previous complete checkpoint. Files of a save that was
killed are never read; the next save of the same name overwrites them
(tests/test_fault_tolerance.py kills a run inside a save).

In a multi-worker run only the chief writes the run directory; see RunCheckpoint.

A run directory also keeps `config.json`; a directory made by another model or
architecture is refused before anything is restored.
"""

import json
import os
import shutil
import tempfile

from absl import logging
import keras
import tensorflow as tf

from tfvae.errors import UserError
from tfvae.training.config import Config

CONFIG_FILE = "config.json"


class CheckpointMismatchError(UserError, ValueError):
  """The checkpoint in a run directory belongs to another model or config."""


class RunDirectoryError(UserError, FileNotFoundError):
  """A run directory lacks the config or checkpoint an operation needs."""


def check_run_config(model_dir, config, write=True):
  """Checks any `config.json` in `model_dir` has `config`'s architecture, then writes it.

  Only the chief of a multi-worker run writes (`write=True`); the other workers
  pass `write=False` and just check. The file is replaced atomically, so a
  worker reading it while the chief writes sees the old or the new version.

  Raises:
    CheckpointMismatchError: the directory holds a run of another model.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      previous = Config.from_dict(json.load(f)).resolved()
    before, now = previous.architecture(), config.architecture()
    changed = {k: (before[k], now[k]) for k in before if before[k] != now[k]}
    if changed and tf.train.latest_checkpoint(model_dir):
      details = ", ".join(f"{k}: checkpoint has {a!r}, this run asks for {b!r}"
                          for k, (a, b) in sorted(changed.items()))
      raise CheckpointMismatchError(
          f"{model_dir} holds a checkpoint of a different model ({details}). "
          "Use another --model_dir, or repeat the original flags to resume.")
  if write:
    write_file_atomically(path, config.to_json())


def write_file_atomically(path, text):
  """Writes `text` to `path` (local or e.g. gs://) through a temporary file and a rename."""
  tf.io.gfile.makedirs(os.path.dirname(path) or ".")
  temporary = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(temporary, "w") as f:
    f.write(text)
  tf.io.gfile.rename(temporary, path, overwrite=True)


def read_run_config(model_dir):
  """The Config saved in a run directory (for evaluation and export)."""
  path = os.path.join(model_dir, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    raise RunDirectoryError(f"No {CONFIG_FILE} in {model_dir}: is it a run directory "
                            "written by `python -m launch.train --model_dir=...`?")
  with tf.io.gfile.GFile(path) as f:
    return Config.from_dict(json.load(f))


def model_weights(model):
  """The model's variables keyed by their Keras paths, for tf.train.Checkpoint.

  Keras 3 layers do not expose their sub-layers' variables to TensorFlow's
  object graph, so the checkpoint names every variable explicitly.
  """
  return {variable.path: variable for variable in model.weights}


def other_optimizers(model, optimizer):
  """Keras optimisers held as attributes of `model` besides `optimizer`, by attribute name.

  A model may train its networks with optimisers of its own (e.g. one for the
  encoder and one for the decoder, METHODS.md M7); their state (steps, moments)
  belongs in the checkpoint as much as the compiled optimiser's.
  """
  return {name: value for name, value in sorted(vars(model).items())
          if isinstance(value, keras.optimizers.Optimizer) and value is not optimizer}


class RunCheckpoint:
  """tf.train.Checkpoint + CheckpointManager for one run directory.

  In a multi-worker run every worker restores from `directory` (the chief's
  checkpoints) and every worker takes part in saving, as
  MultiWorkerMirroredStrategy requires; only the chief (`is_chief`) writes to
  `directory`. The others save into a fresh temporary directory outside the run
  directory, deleted as soon as the save returns.
  """

  def __init__(self, directory, model, optimizer, is_chief=True, max_to_keep=3):
    self.directory = directory
    self.is_chief = is_chief
    self.max_to_keep = max_to_keep
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
    self.batches_seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_seen")
    extra = other_optimizers(model, optimizer)
    self._objects = dict(model=model_weights(model), optimizer=optimizer, epoch=self.epoch,
                         step_in_epoch=self.step_in_epoch, batches_seen=self.batches_seen,
                         **({"other_optimizers": extra} if extra else {}))
    self.checkpoint = tf.train.Checkpoint(**self._objects)

  @property
  def latest(self):
    """Path of the newest complete checkpoint in the run directory, or None."""
    return tf.train.latest_checkpoint(self.directory)

  def restore_latest(self):
    """Restores the newest checkpoint if any; returns (epoch, batches_seen).

    `step_in_epoch` then holds the steps of epoch `epoch` + 1 that the
    checkpoint's run had taken when it stopped (0 after a whole epoch).

    Raises:
      CheckpointMismatchError: the checkpoint's variables do not fit the model.
    """
    path = self.latest
    if path is None:
      return 0, 0
    checkpoint = self.checkpoint
    if not any(name.startswith("step_in_epoch/") for name, _ in tf.train.list_variables(path)):
      # Written before mid-epoch checkpoints existed: after a whole epoch.
      self.step_in_epoch.assign(0)
      checkpoint = tf.train.Checkpoint(**{name: value for name, value in self._objects.items()
                                          if name != "step_in_epoch"})
    try:
      checkpoint.restore(path).assert_consumed()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
      raise CheckpointMismatchError(
          f"Checkpoint {path} does not fit this model: {str(error).splitlines()[0]} "
          "Use another --model_dir, or the flags of the run that wrote it.") from error
    epoch, step = int(self.epoch.numpy()), int(self.step_in_epoch.numpy())
    logging.info("Restored %s (epoch %d%s).", path, epoch,
                 f" and {step} steps of the next" if step else "")
    return epoch, int(self.batches_seen.numpy())

  def save(self, epoch, batches_seen, step_in_epoch=0):
    """Saves after `epoch` epochs and `step_in_epoch` steps; returns the newest checkpoint.

    The chief writes `ckpt-<epoch>` into the run directory, or
    `ckpt-<epoch>-step-<step_in_epoch>` in mid-epoch; the other workers write
    the same into a scratch directory that is deleted at once.
    """
    self.epoch.assign(epoch)
    self.step_in_epoch.assign(step_in_epoch)
    self.batches_seen.assign(batches_seen)
    name, number = _name_and_number(epoch, step_in_epoch)
    if self.is_chief:
      return self._manager(self.directory, name).save(checkpoint_number=number)
    scratch = tempfile.mkdtemp(prefix="tfvae-worker-checkpoint-")
    try:
      self._manager(scratch, name).save(checkpoint_number=number)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    logging.info("Took part in saving epoch %d: wrote %s and deleted it (the chief keeps "
                 "the run's checkpoints).", epoch, scratch)
    return self.path(epoch, step_in_epoch)

  def path(self, epoch, step_in_epoch=0):
    """The run directory's checkpoint of that position, as `save` names it."""
    name, number = _name_and_number(epoch, step_in_epoch)
    return os.path.join(self.directory, f"{name}-{number}")

  def _manager(self, directory, name):
    """A CheckpointManager of `directory` that names its checkpoints `<name>-<number>`.

    Made for each save: it reads the directory's `checkpoint` index, so checkpoints
    of both names share one list, of which the newest `max_to_keep` are kept.
    """
    return tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=self.max_to_keep,
                                      checkpoint_name=name)


def _name_and_number(epoch, step_in_epoch):
  """(checkpoint_name, checkpoint_number) of CheckpointManager.save for a position."""
  return (f"ckpt-{epoch}-step", step_in_epoch) if step_in_epoch else ("ckpt", epoch)


def restore_encoder(source_dir, model, config):
  """Loads the encoder weights of run `source_dir`'s latest checkpoint into `model`.

  Stage 2 of AE pre-training (Li et al. 2019, METHODS.md M6) keeps the
  pre-trained encoder and initialises the decoder afresh. Only the encoder's
  variables are read; the source run may be another model or objective, but
  its encoder must have the same architecture (`Config.encoder_architecture`).

  Raises:
    RunDirectoryError: `source_dir` has no config or checkpoint.
    CheckpointMismatchError: the source encoder has another architecture.
  """
  return _restore_variables(source_dir, model.encoder.weights, "init_encoder_from",
                            read_run_config(source_dir).resolved().encoder_architecture(),
                            config.encoder_architecture(), "encoder")


def restore_weights(source_dir, model, config):
  """Loads every weight of `model` (not the optimiser) from run `source_dir`'s latest checkpoint.

  A training stage that continues another run's model with a fresh optimiser
  starts this way, e.g. each phase of LiBI (Yacoby et al. 2020, eqs. 44-46)
  from the one before it. The source run must have `config`'s architecture
  (`Config.architecture`, apart from the optimiser); its objective, phase and
  schedule may differ.

  Raises:
    RunDirectoryError: `source_dir` has no config or checkpoint.
    CheckpointMismatchError: the source model has another architecture.
  """
  def weights_architecture(run_config):
    return {k: v for k, v in run_config.architecture().items() if k != "optimizer"}
  return _restore_variables(source_dir, model.weights, "init_weights_from",
                            weights_architecture(read_run_config(source_dir).resolved()),
                            weights_architecture(config), "model")


def _restore_variables(source_dir, variables, flag, source_architecture, architecture, what):
  """Reads `variables` (by Keras path) from `source_dir`'s latest checkpoint; returns its path."""
  changed = {k: (source_architecture[k], architecture[k]) for k in source_architecture
             if source_architecture[k] != architecture[k]}
  if changed:
    details = ", ".join(f"{k}: {a!r} there, {b!r} here" for k, (a, b) in sorted(changed.items()))
    raise CheckpointMismatchError(f"--{flag}={source_dir} holds another {what} ({details}).")
  path = tf.train.latest_checkpoint(source_dir)
  if path is None:
    raise RunDirectoryError(f"--{flag}={source_dir} has no checkpoint yet: train that run "
                            "first.")
  status = tf.train.Checkpoint(model={variable.path: variable for variable in variables}).read(
      path)
  try:
    status.assert_existing_objects_matched()
  except AssertionError as error:
    raise CheckpointMismatchError(f"{path} lacks this model's {what} variables: "
                                  f"{str(error).splitlines()[0]}") from error
  status.expect_partial()
  logging.info("Initialised the %s from %s.", what, path)
  return path
