"""Trains a tfvae model: `python -m launch.train [--flags]`.

With no flags it trains the default VAE on the built-in synthetic data set
(METHODS.md D4, no files needed), evaluates it and prints the metrics table.
A rerun of the same command with the same --model_dir resumes from the last
checkpoint.
"""

import dataclasses

from absl import app
from absl import flags

from launch import common
from tfvae.training import config as config_lib
from tfvae.training import loop
from tfvae.training import report
from tfvae.training import strategies

FLAGS = flags.FLAGS

flags.DEFINE_enum("model", "vae", config_lib.MODELS, "Model to train.")
flags.DEFINE_string("dataset", "synthetic_mog",
                    "Data set name: synthetic_mog, ptb, yahoo, yelp, text_file, "
                    "binarized_mnist, omniglot, array_file.")
flags.DEFINE_string("data_dir", None, "Directory of the corpora (default: $TFVAE_DATA_DIR).")
flags.DEFINE_multi_string("data_option", [],
                          "KEY=VALUE option of the data set, repeatable, e.g. "
                          "--data_option=train=my.train.txt for --dataset=text_file "
                          "(python -c 'from tfvae import data; print(data.describe(NAME))').")
flags.DEFINE_integer("max_length", None, "Truncate sentences to this many words.")
flags.DEFINE_integer("vocab_size", None, "Cap the vocabulary at this many entries.")
flags.DEFINE_enum("network", None, config_lib.NETWORKS, "Encoder/decoder family "
                  "(default: lstm for text, conv for images).")
flags.DEFINE_integer("embed_dim", None, "Word-embedding size (text).")
flags.DEFINE_integer("hidden_dim", None, "LSTM / hidden layer size.")
flags.DEFINE_integer("latent_dim", None, "Latent dimensions d.")
flags.DEFINE_float("beta", 1.0, "Weight of the KL term.")
flags.DEFINE_integer("epochs", None, "Epochs to train (total, including resumed ones).")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).")
flags.DEFINE_integer("batch_size", None, "Global batch size.")
flags.DEFINE_enum("optimizer", "adam", config_lib.OPTIMIZERS, "Optimiser.")
flags.DEFINE_float("learning_rate", None, "Learning rate (default 1e-3).")
flags.DEFINE_float("grad_clip_norm", None, "Clip the global gradient norm to this.")
flags.DEFINE_integer("seed", 0, "Seed of weights, data order and noise.")
flags.DEFINE_bool("deterministic", False, "Bit-identical reruns on CPU (op determinism).")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_enum("mixed_precision", "float32", config_lib.PRECISIONS,
                  "Keras dtype policy; distributions and losses stay float32.")
flags.DEFINE_string("model_dir", None, "Run directory (default: runs/<timestamp>).")
flags.DEFINE_enum("strategy", "default", config_lib.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", None, "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_integer("num_cpu_devices", None,
                     "Split the CPU into this many logical devices (for --strategy=mirrored).")
flags.DEFINE_integer("eval_samples", 500, "Importance samples K for the final IW-NLL.")
flags.DEFINE_integer("eval_chunk_size", 100, "Importance samples per chunk.")
flags.DEFINE_integer("eval_batch_size", None,
                     "Examples per evaluation batch (default: 1000 // eval_chunk_size).")
flags.DEFINE_integer("epoch_eval_samples", 20,
                     "Importance samples for the per-epoch validation NLL/MI/AU.")
flags.DEFINE_integer("epoch_eval_batches", 10, "Validation batches for the per-epoch metrics.")
flags.DEFINE_integer("log_every_steps", 50, "TensorBoard step-scalar interval.")
flags.DEFINE_integer("verbose", 1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line "
                     "per epoch.")


def parse_data_options(pairs):
  """['num_train=500', 'train=a.txt'] -> {'num_train': 500, 'train': 'a.txt'}."""
  options = {}
  for pair in pairs:
    key, separator, value = pair.partition("=")
    if not separator or not key:
      raise app.UsageError(f"--data_option={pair!r} is not KEY=VALUE.")
    for convert in (int, float):
      try:
        value = convert(value)
        break
      except ValueError:
        continue
    options[key] = value
  return options


def config_from_flags():
  """The Config whose fields are the flags of the same names."""
  names = [field.name for field in dataclasses.fields(config_lib.Config)
           if field.name != "data_options"]
  values = {name: FLAGS[name].value for name in names}
  return config_lib.Config(data_options=parse_data_options(FLAGS.data_option), **values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  if FLAGS.num_cpu_devices:
    strategies.split_cpu(FLAGS.num_cpu_devices)
  results = common.run_or_exit(loop.train, config_from_flags())
  model_dir = results["config"]["model_dir"]
  print(report.metrics_table(results["test"], f"Test metrics ({model_dir})"))
  print(f"\nResults and config: {model_dir}/results.json")
  print(f"To watch training:  tensorboard --logdir {model_dir}")


if __name__ == "__main__":
  app.run(main)
