"""The training and evaluation runs behind launch/train.py and launch/evaluate.py.

Data flow (ARCHITECTURE.md section 3): config -> data set -> model built inside
the strategy's scope -> compile -> fit with callbacks (TensorBoard, checkpoints,
NaN guard, epoch metrics) -> evaluation on the test split -> results.json and
TensorBoard.

In a multi-worker run (--strategy=multi_worker) every worker runs `train` with
the same config; only the chief writes config.json, TensorBoard events,
checkpoints and results.json, and all workers restore the chief's checkpoint.

A rerun resumes from the latest checkpoint, in mid-epoch if a signal stopped
the run there (`build_and_fit`; tfvae/training/fault_tolerance.py describes
what happens on preemption, a lost worker and a kill during a save).
"""

import dataclasses
import datetime
import json
import math
import os
import time

from absl import logging
import keras
import tensorflow as tf

from tfvae import data as tfvae_data
from tfvae import methods
from tfvae import metrics
from tfvae import sample_quality
from tfvae import schedules
from tfvae.errors import ConfigError
from tfvae.training import callbacks as run_callbacks
from tfvae.training import checkpoints
from tfvae.training import fault_tolerance
from tfvae.training import latent_pictures
from tfvae.training import presets
from tfvae.training import strategies
from tfvae.training import summaries

RESULTS_FILE = "results.json"


def default_model_dir():
  return os.path.join("runs", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))


def load_data(config):
  return tfvae_data.load(config.dataset, config.data_dir, max_length=config.max_length,
                         **config.data_request_options())


def make_optimizer(config):
  if config.optimizer == "sgd":
    return keras.optimizers.SGD(config.learning_rate)
  return keras.optimizers.Adam(config.learning_rate, beta_1=config.adam_beta1)


def build_model(config, dataset, strategy):
  """Model and optimiser created in `strategy`'s scope, built and compiled."""
  with strategy.scope():
    model = methods.build(config, dataset)
    model.compile(optimizer=make_optimizer(config), jit_compile=config.jit_compile)
    model(next(iter(dataset.batches("valid", 2))))
    model.build_optimizers()
  strategies.make_logs_reducible(model, strategy)
  return model


def configure_numerics(config):
  """Seeds, determinism and the mixed-precision policy (before building models)."""
  keras.utils.set_random_seed(config.seed)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  keras.mixed_precision.set_dtype_policy(config.mixed_precision)


def train(config):
  """Trains (or resumes) the run described by `config`; returns the results dict."""
  config = config.resolved().validate()
  if config.model_dir is None:
    config = dataclasses.replace(config, model_dir=default_model_dir())
  configure_numerics(config)
  strategy = strategies.make_strategy(config.strategy, config.tpu, config.collective_timeout)
  dataset = load_data(config)
  with fault_tolerance.reporting_lost_workers(strategy, config.model_dir,
                                              config.collective_timeout):
    model, run_checkpoint, train_seconds = build_and_fit(config, dataset, strategy)

  started = time.time()
  test = evaluate_test_split(config, dataset, model) if config.evaluate_test else {}
  valid = evaluate_split(config, dataset, model, "valid") if config.evaluate_valid else None
  eval_seconds = time.time() - started
  step = int(model.optimizer.iterations.numpy())
  results = {"config": dataclasses.asdict(config), "data": dataset.summary(), "test": test,
             "step": step, "epochs": config.epochs, "train_seconds": train_seconds,
             "eval_seconds": eval_seconds, "checkpoint": run_checkpoint.latest, "dtype_policy": model.dtype_policy.name}
  if valid is not None:
    results["valid"] = valid
  is_chief = strategies.is_chief(strategy)
  if is_chief and test:
    summaries.write_final_metrics(config.model_dir, test, step)
  if is_chief:
    checkpoints.write_file_atomically(os.path.join(config.model_dir, RESULTS_FILE),
                                      json.dumps(results, indent=2, sort_keys=True))
  return results


def read_or_train(config):
  """The results of run `config`: read from its results.json if it finished, else `train`."""
  path = os.path.join(config.model_dir, RESULTS_FILE)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      return json.load(f)
  logging.info("Training %s.", config.model_dir)
  return train(config)


def read_or_train_stages(config):
  """(`presets.combine` of the stages' results, seconds all stages took) via `read_or_train`."""
  stage_results = [read_or_train(stage) for stage in presets.stages(config)]
  seconds = sum(results["train_seconds"] + results.get("eval_seconds", 0.0)
                for results in stage_results)
  return presets.combine(config, stage_results), seconds


def build_and_fit(config, dataset, strategy):
  """Builds the model, restores the run's latest checkpoint and trains the rest of the run.

  Returns:
    (model, run_checkpoint, seconds spent training).
  """
  # In a multi-worker run only the chief writes into the run directory.
  is_chief = strategies.is_chief(strategy)
  checkpoints.check_run_config(config.model_dir, config, write=is_chief)
  model = build_model(config, dataset, strategy)
  run_checkpoint = checkpoints.RunCheckpoint(config.model_dir, model, model.optimizer,
                                             is_chief=is_chief)
  if run_checkpoint.latest is None:
    if config.init_encoder_from:
      checkpoints.restore_encoder(config.init_encoder_from, model, config)
    if config.init_weights_from:
      checkpoints.restore_weights(config.init_weights_from, model, config)
    methods.initialise(config, model)
  epoch, batches_seen = run_checkpoint.restore_latest()
  steps_per_epoch = config.steps_per_epoch or dataset.num_batches("train", config.batch_size)
  valid_batches = strategies.shard_by_batch(dataset.batches("valid", config.batch_size))
  if is_chief:
    summaries.write_run_start(config.model_dir, config)
  save_on_signal = fault_tolerance.SaveOnSignal(run_checkpoint, steps_per_epoch, strategy)
  # Last: at an epoch end it names the checkpoint EpochCheckpoint has just saved.
  callbacks = [*training_callbacks(config, dataset, run_checkpoint, valid_batches,
                                   steps_per_epoch, is_chief), save_on_signal]

  def fit(batches_seen, **epochs):
    model.fit(train_stream(config, dataset, batches_seen), validation_data=valid_batches,
              callbacks=callbacks, verbose=config.verbose, **epochs)

  started = time.time()
  with save_on_signal:
    step = int(run_checkpoint.step_in_epoch.numpy())
    if step and epoch < config.epochs:
      check_step_in_epoch(run_checkpoint, step, steps_per_epoch)
      # The rest of the epoch a signal interrupted, then the whole epochs.
      fit(batches_seen, initial_epoch=epoch, epochs=epoch + 1,
          steps_per_epoch=steps_per_epoch - step)
      epoch += 1
      batches_seen = run_callbacks.batches_read(model, epoch * steps_per_epoch)
    if epoch < config.epochs:
      fit(batches_seen, initial_epoch=epoch, epochs=config.epochs,
          steps_per_epoch=steps_per_epoch)
  return model, run_checkpoint, time.time() - started


def training_callbacks(config, dataset, run_checkpoint, valid_batches, steps_per_epoch, is_chief):
  """NaN guard, epoch metrics, the method's callbacks, TensorBoard (chief) and checkpoints."""
  count_tokens = dataset.count_tokens if dataset.kind == "text" else None
  callbacks = [
      run_callbacks.NaNGuard(run_checkpoint, steps_per_epoch),
      run_callbacks.EpochMetrics(valid_batches, config.epoch_eval_samples,
                                 config.epoch_eval_batches, config.seed, count_tokens),
      *method_callbacks(config, steps_per_epoch),
  ]
  if is_chief:
    callbacks.append(summaries.ScalarSummaries(config.model_dir, config.log_every_steps,
                                               steps_per_epoch))
    if config.latent_pictures and "valid" in dataset.splits:
      callbacks.append(latent_pictures.LatentPictures(dataset, config.model_dir,
                                                      config.latent_pictures))
  # Every worker saves (MultiWorkerMirroredStrategy needs all of them to).
  callbacks.append(run_callbacks.EpochCheckpoint(run_checkpoint, steps_per_epoch))
  return callbacks


def train_stream(config, dataset, batches_seen):
  """The training batches from data position `batches_seen` on, split between workers."""
  batches_per_epoch = dataset.num_batches("train", config.batch_size)
  batches = dataset.train_batches(config.batch_size, seed=config.seed,
                                  start_epoch=batches_seen // batches_per_epoch)
  return strategies.shard_by_batch(batches.skip(batches_seen % batches_per_epoch))


def check_step_in_epoch(run_checkpoint, step, steps_per_epoch):
  """Raises ConfigError if a mid-epoch checkpoint is past the end of an epoch of this run."""
  if step >= steps_per_epoch:
    raise ConfigError(f"{run_checkpoint.latest} stopped {step} steps into an epoch, but "
                      f"--steps_per_epoch={steps_per_epoch}: resume with the "
                      "--steps_per_epoch of the run that wrote it.")


def method_callbacks(config, steps_per_epoch):
  """The beta schedule (M3, M4) and the callbacks of the method (e.g. a controller, M11).

  Linear annealing rises from `anneal_start` to `beta` (1 by default; Yacoby
  et al. (2020) anneal to other betas too).

  They come after EpochMetrics (whose validation MI some of them read) and
  before TensorBoard (so the values they put in the logs are written).
  """
  callbacks = []
  if config.beta_schedule == "linear":
    warmup_steps = round(config.anneal_epochs * steps_per_epoch)
    callbacks.append(run_callbacks.BetaSchedule(
        schedules.linear_anneal(config.anneal_start, warmup_steps, end=config.beta)))
  elif config.beta_schedule == "cyclical":
    callbacks.append(run_callbacks.BetaSchedule(
        schedules.cyclical(config.epochs * steps_per_epoch, config.cycles, config.cycle_ramp)))
  return callbacks + methods.callbacks(config, steps_per_epoch)


def train_stages(config):
  """Trains every stage of `config` (see presets.stages); returns `presets.combine`'s results."""
  return presets.combine(config, [train(stage) for stage in presets.stages(config)])


def evaluation_batches(config, dataset, split="test"):
  """`split` in evaluation batches; of the test split the first `test_examples` only if set.

  With `test_examples` the count is rounded up to whole evaluation batches
  (the stored order of the split, not sorted by length).
  """
  batch_size = config.evaluation_batch_size()
  batches = dataset.batches(split, batch_size)
  if config.test_examples and split == "test":
    batches = batches.take(math.ceil(config.test_examples / batch_size))
  return batches


def evaluate_split(config, dataset, model, split):
  """The metrics of METHODS.md E1-E5 on `split`, with the config's evaluation settings."""
  count_tokens = dataset.count_tokens if dataset.kind == "text" else None
  logging.info("Evaluating on the %s split with %d importance samples.", split,
               config.eval_samples)
  return metrics.evaluate(model, evaluation_batches(config, dataset, split),
                          num_samples=config.eval_samples, chunk_size=config.eval_chunk_size,
                          seed=config.seed, count_tokens=count_tokens,
                          true_kl_samples=config.true_kl_samples,
                          proposal_variance_factor=config.eval_proposal_variance,
                          verbose=config.verbose)


def evaluate_test_split(config, dataset, model):
  """Test metrics (METHODS.md E1-E5) and, for text, the quality of generated text (E10)."""
  test = evaluate_split(config, dataset, model, "test")
  if config.generated_sentences and dataset.kind == "text":
    test.update(sample_quality.text_sample_quality(
        model, dataset.vocab, num_sentences=config.generated_sentences, seed=config.seed))
  return test


def restore_run(model_dir, strategy=None):
  """(config, dataset, model) of a finished or interrupted run, latest weights loaded."""
  config = checkpoints.read_run_config(model_dir).resolved()
  configure_numerics(dataclasses.replace(config, deterministic=False))
  dataset = load_data(config)
  model = build_model(config, dataset, strategy or tf.distribute.get_strategy())
  run_checkpoint = checkpoints.RunCheckpoint(model_dir, model, model.optimizer)
  if run_checkpoint.latest is None:
    raise checkpoints.RunDirectoryError(f"No checkpoint in {model_dir}: train first with "
                            f"`python -m launch.train --model_dir={model_dir}`.")
  run_checkpoint.restore_latest()
  return config, dataset, model


def evaluate_run(model_dir, split="test", num_samples=500, chunk_size=100, seed=0,
                 batch_size=None, sort_by_length=False, decode_budget=metrics.DECODE_BUDGET,
                 verbose=0, restored=None):
  """Evaluates the latest checkpoint of a run on `split`; returns the metrics dict.

  `restored` is `restore_run(model_dir)` when the caller has it already.
  `sort_by_length` (text) batches the split in length order: far less padding,
  so a faster pass; the averages are the same quantities, estimated with other
  importance samples (each batch draws its own), and He et al.'s per-batch MI
  then averages over batches of similar length. The proposal's variance
  inflation is the run's (`Config.eval_proposal_variance`). `decode_budget` bounds the
  decoder's memory (`metrics.decoder_log_prob`). `verbose` is `metrics.evaluate`'s
  progress display.
  """
  config, dataset, model = restored or restore_run(model_dir)
  config = dataclasses.replace(config, eval_chunk_size=chunk_size, eval_batch_size=batch_size)
  count_tokens = dataset.count_tokens if dataset.kind == "text" else None
  batches = dataset.batches(split, config.evaluation_batch_size(), by_length=sort_by_length)
  return metrics.evaluate(model, batches, num_samples=num_samples, chunk_size=chunk_size,
                          seed=seed, count_tokens=count_tokens, decode_budget=decode_budget,
                          proposal_variance_factor=config.eval_proposal_variance,
                          verbose=verbose)
