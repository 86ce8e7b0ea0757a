"""TensorBoard extras: the run's config as text and its hyper-parameters."""

import dataclasses
import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

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
