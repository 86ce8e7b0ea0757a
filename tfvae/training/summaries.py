"""TensorBoard: step and epoch scalars, the run's config as text, its hyper-parameters."""

import dataclasses
import os

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from tfvae.training import callbacks

HPARAM_FIELDS = ("model", "preset", "objective", "fb_lambda", "beta_schedule", "mi_objective",
                 "estimator", "num_samples", "mi_lambda", "renyi_alpha", "dataset", "network",
                 "embed_dim", "hidden_dim", "latent_dim", "beta", "batch_size", "optimizer",
                 "learning_rate", "grad_clip_norm", "seed", "max_length", "mixed_precision",
                 "strategy")


def write_run_start(log_dir, config):
  """Writes the config (text summary) and the hparams of the run into `log_dir`."""
  writer = tf.summary.create_file_writer(os.path.join(log_dir, "run"))
  values = {k: v for k, v in dataclasses.asdict(config).items()
            if k in HPARAM_FIELDS and v is not None}
  with writer.as_default():
    tf.summary.text("config", "```\n" + config.to_json() + "\n```", step=0)
    hparams_api.hparams(values, trial_id=os.path.basename(os.path.normpath(log_dir)))
  writer.flush()


def write_final_metrics(log_dir, results, step):
  """Writes the final evaluation numbers as `test/<name>` scalars."""
  writer = tf.summary.create_file_writer(os.path.join(log_dir, "run"))
  with writer.as_default():
    for name, value in results.items():
      if isinstance(value, (int, float)):
        tf.summary.scalar(f"test/{name}", value, step=step)
  writer.flush()


class ScalarSummaries(keras.callbacks.Callback):
  """Writes the step and epoch logs of `fit` as TensorBoard scalars.

  Replaces `keras.callbacks.TensorBoard` for scalars: that callback records
  epoch summaries inside the batch-level `record_if(step % update_freq == 0)`
  it leaves open, so an epoch whose last step is not a multiple of
  `update_freq` writes nothing (tensorflow/tensorflow#49109). Here
  `train/epoch_<name>` and `validation/epoch_<name>` (the `val_` logs) are
  written after every epoch at step = epoch index (0-based, as Keras does),
  and `train/batch_<name>` at the run's step t (1-based, counted over the
  whole run, so a resumed run continues its curves) whenever t is a multiple
  of `every_steps`. Each write is flushed, so that a run stopped by a signal
  keeps its curves up to the step it saved.

  Args:
    log_dir: run directory; events go to its `train/` and `validation/`.
    every_steps: interval of the step scalars.
    steps_per_epoch: steps of a whole epoch.
  """

  def __init__(self, log_dir, every_steps, steps_per_epoch):
    super().__init__()
    self.log_dir = log_dir
    self.every_steps = every_steps
    self.steps_per_epoch = steps_per_epoch
    self._writers = {}
    self._epoch = 0

  def _write(self, folder, prefix, logs, step):
    if folder not in self._writers:
      self._writers[folder] = tf.summary.create_file_writer(os.path.join(self.log_dir, folder))
    with self._writers[folder].as_default(), tf.summary.record_if(True):
      for name, value in logs.items():
        tf.summary.scalar(f"{prefix}_{name}", value, step=step)
    self._writers[folder].flush()

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    step = (self._epoch * self.steps_per_epoch
            + callbacks.step_in_epoch(self.params, batch, self.steps_per_epoch))
    if logs and step % self.every_steps == 0:
      self._write("train", "batch", logs, step)

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    self._write("train", "epoch", {k: v for k, v in logs.items() if not k.startswith("val_")},
                epoch)
    self._write("validation", "epoch",
                {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}, epoch)

  def on_train_end(self, logs=None):
    for writer in self._writers.values():
      writer.close()
    self._writers = {}
