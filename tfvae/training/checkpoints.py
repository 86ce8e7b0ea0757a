"""Checkpoints of a run: model, optimiser, epoch and data position.

The model's weights are saved by their Keras paths (e.g. `vae/encoder/lstm/...`)
and include beta and any controller state; the optimiser's variables include its
step counter; `epoch` and `batches_seen` locate the
data stream (epoch e's batch order is a function of the seed and e), so a run
restarted with the same command continues exactly where it stopped.

A run directory also keeps `config.json`; a directory made by another model or
architecture is refused before anything is restored.
"""

import json
import os

from absl import logging
import tensorflow as tf

from tfvae.training.config import Config

CONFIG_FILE = "config.json"


class CheckpointMismatchError(ValueError):
  """The checkpoint in a run directory belongs to another model or config."""


class RunDirectoryError(FileNotFoundError):
  """A run directory lacks the config or checkpoint an operation needs."""


def check_run_config(model_dir, config):
  """Writes `config.json`, or checks the one there has the same architecture.

  Raises:
    CheckpointMismatchError: the directory holds a run of another model.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as f:
      previous = Config.from_dict(json.load(f)).resolved()
    before, now = previous.architecture(), config.architecture()
    changed = {k: (before[k], now[k]) for k in before if before[k] != now[k]}
    if changed and tf.train.latest_checkpoint(model_dir):
      details = ", ".join(f"{k}: checkpoint has {a!r}, this run asks for {b!r}"
                          for k, (a, b) in sorted(changed.items()))
      raise CheckpointMismatchError(
          f"{model_dir} holds a checkpoint of a different model ({details}). "
          "Use another --model_dir, or repeat the original flags to resume.")
  tf.io.gfile.makedirs(model_dir)
  with open(path, "w") as f:
    f.write(config.to_json())


def read_run_config(model_dir):
  """The Config saved in a run directory (for evaluation and export)."""
  path = os.path.join(model_dir, CONFIG_FILE)
  if not os.path.exists(path):
    raise RunDirectoryError(f"No {CONFIG_FILE} in {model_dir}: is it a run directory "
                            "written by `python -m launch.train --model_dir=...`?")
  with open(path) as f:
    return Config.from_dict(json.load(f))


def model_weights(model):
  """The model's variables keyed by their Keras paths, for tf.train.Checkpoint.

  Keras 3 layers do not expose their sub-layers' variables to TensorFlow's
  object graph, so the checkpoint names every variable explicitly.
  """
  return {variable.path: variable for variable in model.weights}


class RunCheckpoint:
  """tf.train.Checkpoint + CheckpointManager for one run directory.

  Non-chief workers of a multi-worker run write to a scratch directory (all
  workers must take part in saving; only the chief's copy is kept).
  """

  def __init__(self, directory, model, optimizer, is_chief=True, max_to_keep=3):
    self.directory = directory
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    self.batches_seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_seen")
    self.checkpoint = tf.train.Checkpoint(model=model_weights(model), optimizer=optimizer,
                                          epoch=self.epoch, batches_seen=self.batches_seen)
    target = directory if is_chief else os.path.join(directory, "worker_scratch",
                                                      str(os.getpid()))
    self.manager = tf.train.CheckpointManager(self.checkpoint, target,
                                              max_to_keep=max_to_keep)

  @property
  def latest(self):
    return self.manager.latest_checkpoint

  def restore_latest(self):
    """Restores the newest checkpoint if any; returns (epoch, batches_seen).

    Raises:
      CheckpointMismatchError: the checkpoint's variables do not fit the model.
    """
    path = self.manager.latest_checkpoint
    if path is None:
      return 0, 0
    try:
      self.checkpoint.restore(path).assert_consumed()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
      raise CheckpointMismatchError(
          f"Checkpoint {path} does not fit this model: {str(error).splitlines()[0]} "
          "Use another --model_dir, or the flags of the run that wrote it.") from error
    logging.info("Restored %s (epoch %d).", path, int(self.epoch.numpy()))
    return int(self.epoch.numpy()), int(self.batches_seen.numpy())

  def save(self, epoch, batches_seen):
    self.epoch.assign(epoch)
    self.batches_seen.assign(batches_seen)
    return self.manager.save(checkpoint_number=epoch)
