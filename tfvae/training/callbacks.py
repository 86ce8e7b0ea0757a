"""Keras callbacks of a training run: checkpoints, NaN guard, epoch metrics, beta schedules."""

import math

import keras

from tfvae import metrics
from tfvae.errors import TrainingDivergedError


def batches_read(model, steps):
  """Training batches read by the first `steps` steps of a run: the data position.

  One batch per step, unless the model reads a varying number of batches per
  step and counts them in its `batches_read` (AggressiveVAE's inner loop).
  """
  return getattr(model, "batches_read", steps)


def step_in_epoch(params, batch, steps_per_epoch):
  """Which step of its epoch (1-based) batch `batch` (0-based) of the current fit is.

  `params` are the fit's (Keras sets `Callback.params`). A fit of fewer steps
  than an epoch runs the end of an epoch that a signal interrupted
  (`loop.build_and_fit`), so its first batch is a later step.
  """
  return steps_per_epoch - params["steps"] + batch + 1


class EpochCheckpoint(keras.callbacks.Callback):
  """Saves a `RunCheckpoint` after every epoch (model, optimiser, data position)."""

  def __init__(self, run_checkpoint, steps_per_epoch):
    super().__init__()
    self.run_checkpoint = run_checkpoint
    self.steps_per_epoch = steps_per_epoch

  def on_epoch_end(self, epoch, logs=None):
    steps = (epoch + 1) * self.steps_per_epoch
    self.run_checkpoint.save(epoch + 1, batches_read(self.model, steps))


class NaNGuard(keras.callbacks.Callback):
  """Stops training at the first non-finite loss, naming the step and last checkpoint."""

  def __init__(self, run_checkpoint, steps_per_epoch):
    super().__init__()
    self.run_checkpoint = run_checkpoint
    self.steps_per_epoch = steps_per_epoch
    self._epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is None or math.isfinite(float(loss)):
      return
    step = int(self.model.optimizer.iterations.numpy())
    last = self.run_checkpoint.latest or "none yet"
    raise TrainingDivergedError(
        f"The training loss became {float(loss)} at step {step} (epoch {self._epoch + 1}, "
        f"batch {step_in_epoch(self.params, batch, self.steps_per_epoch)}). Last checkpoint: "
        f"{last}. Lower --learning_rate or set "
        "--grad_clip_norm; rerunning the same command resumes from that checkpoint.")


class EpochMetrics(keras.callbacks.Callback):
  """Adds validation MI, AU, IW-NLL (and PPL) and the learning rate to epoch logs.

  Runs on the first `num_batches` validation batches with `num_samples`
  importance samples, cheap enough for every epoch; the final evaluation uses
  the full settings. Placed before the TensorBoard callback, its values reach
  TensorBoard through the shared logs dict.

  Validation MI is He et al.'s per-batch estimate in its lower-variance form
  (`metrics.mutual_information(..., entropy="sampled")`): on a few batches the
  analytic-entropy form that the final evaluation reports for comparison with
  the papers has a standard deviation of several tenths of a nat near
  collapse, enough to flip the aggressive phase's MI-rise test by chance.
  """

  def __init__(self, dataset, num_samples, num_batches, seed, count_tokens=None):
    super().__init__()
    self.dataset = dataset.take(num_batches)
    self.num_samples = num_samples
    self.seed = seed
    self.count_tokens = count_tokens

  def on_epoch_end(self, epoch, logs=None):
    if logs is None:
      return
    result = metrics.evaluate(self.model, self.dataset, num_samples=self.num_samples,
                              chunk_size=self.num_samples, seed=self.seed,
                              count_tokens=self.count_tokens, mi_entropy="sampled")
    for name, key in (("val_mi", "mi_batch"), ("val_au", "au"), ("val_nll", "nll"),
                      ("val_ppl", "ppl")):
      if result.get(key) is not None:
        logs[name] = result[key]
    logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _global_step(model):
  """optimizer.iterations as an int: the number of steps run so far in the run."""
  return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


class BetaSchedule(keras.callbacks.Callback):
  """Sets the KL weight from a schedule before every step (METHODS.md M2-M4).

  Before each training step, `model.beta` becomes schedule(t), t the global
  step (`optimizer.iterations`, 0 for the first step). Keyed on the global step
  rather than on the batch or epoch index, a resumed or repeated `fit`
  continues the schedule where it stopped.

  Args:
    schedule: a callable step -> beta, e.g. from `tfvae.schedules`.
  """

  def __init__(self, schedule):
    super().__init__()
    self.schedule = schedule

  def on_train_batch_begin(self, batch, logs=None):
    self.model.beta.assign(self.schedule(_global_step(self.model)))
