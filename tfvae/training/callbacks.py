"""Keras callbacks of a training run: checkpoints, NaN guard, epoch metrics."""

import math

import keras

from tfvae import metrics


class TrainingDivergedError(FloatingPointError):
  """The training loss became NaN or infinite."""


class EpochCheckpoint(keras.callbacks.Callback):
  """Saves a `RunCheckpoint` after every epoch (model, optimiser, data position)."""

  def __init__(self, run_checkpoint, steps_per_epoch):
    super().__init__()
    self.run_checkpoint = run_checkpoint
    self.steps_per_epoch = steps_per_epoch

  def on_epoch_end(self, epoch, logs=None):
    self.run_checkpoint.save(epoch + 1, (epoch + 1) * self.steps_per_epoch)


class NaNGuard(keras.callbacks.Callback):
  """Stops training at the first non-finite loss, naming the step and last checkpoint."""

  def __init__(self, run_checkpoint):
    super().__init__()
    self.run_checkpoint = run_checkpoint
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
        f"batch {batch + 1}). Last checkpoint: {last}. Lower --learning_rate or set "
        "--grad_clip_norm; rerunning the same command resumes from that checkpoint.")


class EpochMetrics(keras.callbacks.Callback):
  """Adds validation MI, AU, IW-NLL (and PPL) and the learning rate to epoch logs.

  Runs on the first `num_batches` validation batches with `num_samples`
  importance samples, cheap enough for every epoch; the final evaluation uses
  the full settings. Placed before the TensorBoard callback, its values reach
  TensorBoard through the shared logs dict.
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
                              count_tokens=self.count_tokens)
    logs["val_mi"] = result["mi_batch"]
    logs["val_au"] = result["au"]
    logs["val_nll"] = result["nll"]
    if "ppl" in result:
      logs["val_ppl"] = result["ppl"]
    logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
