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
from tfvae import methods
from tfvae.data.catalog import LSTM_IMPLEMENTATIONS
from tfvae.latents.choices import LATENT_TYPES
from tfvae.latents.choices import PRIORS
from tfvae.objectives.choices import VAE_OBJECTIVES
from tfvae.training import config as config_lib
from tfvae.training import presets
from tfvae.training import report

FLAGS = flags.FLAGS

flags.DEFINE_enum("model", "vae", methods.names(), "Method to train: " + "; ".join(
    f"{method.name}: {method.summary}" for method in methods.METHODS.values()) + ".")
flags.DEFINE_enum("preset", None, list(presets.PRESETS),
                  "A paper's table row (python -c 'from tfvae.training import presets; "
                  "print(presets.describe())'); flags given explicitly override it.")
flags.DEFINE_string("dataset", "synthetic_mog",
                    "Data set name: synthetic_mog, ptb, yahoo, yelp, text_file, "
                    "binarized_mnist, omniglot, array_file, uniform10k, libi_linear_jtex, "
                    "libi_cubic_jtex, libi_gaussian, libi_mobius.")
flags.DEFINE_string("data_dir", None, "Directory of the corpora (default: $TFVAE_DATA_DIR).")
flags.DEFINE_multi_string("data_option", [],
                          "KEY=VALUE option of the data set, repeatable, e.g. "
                          "--data_option=train=my.train.txt for --dataset=text_file "
                          "(python -c 'from tfvae import data; print(data.describe(NAME))').")
flags.DEFINE_integer("max_length", None, "Truncate sentences to this many words.")
flags.DEFINE_integer("vocab_size", None, "Cap the vocabulary at this many entries.")
flags.DEFINE_enum("network", None, config_lib.NETWORKS, "Encoder/decoder family "
                  "(default: lstm for text, conv for images, symbol for uniform10k, libi for "
                  "the libi_* sets (Yacoby et al. (2020), appendix E); bilstm: the "
                  "bidirectional encoder of Melis et al. (2022) and a decoder that adds z to "
                  "its inputs).")
flags.DEFINE_integer("embed_dim", None, "Word-embedding size (text).")
flags.DEFINE_integer("hidden_dim", None, "LSTM / hidden layer size.")
flags.DEFINE_integer("latent_dim", None, "Latent dimensions d (Gaussian, spherical) or number "
                     "of categorical latents.")
flags.DEFINE_enum("latent_type", "gaussian", LATENT_TYPES, "Latent variables: "
                  "gaussian (N(0, I) prior), categorical (uniform prior, Melis et al. "
                  "(2022), M24; with --model=monte_carlo --estimator=reinforce|vimco) or "
                  "spherical (unit vectors in R^d, power-spherical q, uniform prior; the "
                  "vMF-VAE of Xu and Durrett (2018), M15).")
flags.DEFINE_integer("num_categories", 10, "--latent_type=categorical: categories per latent.")
flags.DEFINE_float("kappa", None, "--latent_type=spherical: a fixed concentration of q(z|x) "
                   "for every example, as Xu and Durrett (2018) (a constant KL); default: "
                   "learned per example.")
flags.DEFINE_integer("iaf_steps", 0, "Gaussian latents: steps of an inverse autoregressive "
                     "flow over q(z|x) (Kingma et al. (2016), M18; 0: none). With --model="
                     "bn_vae, du_vae or --objective=free_bits the regulariser acts on z0.")
flags.DEFINE_integer("iaf_width", 2, "--iaf_steps: hidden units of each step's MADE per latent "
                     "dimension.")
flags.DEFINE_enum("prior", None, PRIORS, "p(z) (default: the latents' own, "
                  "standard_normal or uniform); learned: mog, a mixture of Gaussians, vamp, "
                  "the VampPrior (M13), flow, a RealNVP flow (M12).")
flags.DEFINE_integer("prior_components", 10, "--prior=mog: number of mixture components; "
                     "--prior=vamp: number of pseudo-inputs.")
flags.DEFINE_integer("pseudo_input_length", 20, "--prior=vamp on text: embedding vectors per "
                     "pseudo-input.")
flags.DEFINE_integer("flow_couplings", 4, "--prior=flow: RealNVP affine couplings.")
flags.DEFINE_integer("flow_hidden", 64, "--prior=flow: hidden units of each coupling's network.")
flags.DEFINE_float("dropout_in", 0.0, "Text decoder: dropout rate of the LSTM's inputs.")
flags.DEFINE_float("dropout_out", 0.0, "Text decoder: dropout rate of the LSTM's outputs.")
flags.DEFINE_bool("share_dropout_masks", False, "Text decoder: one dropout mask per sentence "
                  "for all its samples of z (Melis et al. (2022), section 7.2.5).")
flags.DEFINE_float("beta", 1.0, "Weight of the KL term (beta-VAE, M2).")
flags.DEFINE_enum("objective", "elbo", VAE_OBJECTIVES,
                  "elbo (beta-weighted), free_bits (M5) or autoencoder (AE pre-training, M6).")
flags.DEFINE_float("fb_lambda", None, "Free-bits target rate lambda in nats (--objective="
                   "free_bits): sum_d max(lambda/d, batch-mean KL_d).")
flags.DEFINE_enum("beta_schedule", "constant", config_lib.BETA_SCHEDULES,
                  "KL weight schedule: constant --beta, linear annealing (M3) or cyclical (M4).")
flags.DEFINE_float("anneal_start", 0.0, "Linear annealing: beta at step 0 (rises to --beta, default 1).")
flags.DEFINE_float("anneal_epochs", 10.0, "Linear annealing: epochs to reach beta = 1.")
flags.DEFINE_integer("cycles", 4, "Cyclical annealing: number of cycles M over the run.")
flags.DEFINE_float("cycle_ramp", 0.5, "Cyclical annealing: fraction R of a cycle spent rising.")
flags.DEFINE_string("init_encoder_from", None, "Run directory whose latest checkpoint gives "
                    "the encoder's initial weights (AE pre-training, M6).")
flags.DEFINE_string("init_weights_from", None, "Run directory whose latest checkpoint gives "
                    "every initial weight of the model (not the optimiser's state).")
flags.DEFINE_integer("epochs", None, "Epochs to train (total, including resumed ones).")
flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass).")
flags.DEFINE_integer("batch_size", None, "Global batch size.")
flags.DEFINE_enum("optimizer", "adam", config_lib.OPTIMIZERS, "Optimiser.")
flags.DEFINE_float("adam_beta1", 0.9, "Adam's beta_1 (Melis et al. (2022) use 0).")
flags.DEFINE_float("learning_rate", None, "Learning rate (default 1e-3).")
flags.DEFINE_float("grad_clip_norm", None, "Clip the global gradient norm to this.")
flags.DEFINE_integer("seed", 0, "Seed of weights, data order and noise.")
flags.DEFINE_bool("deterministic", False, "Bit-identical reruns on CPU (op determinism).")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_enum("lstm", "auto", LSTM_IMPLEMENTATIONS,
                  "LSTM layer of the text networks: fused (fastest on CPU), keras (cuDNN on a "
                  "GPU), auto: keras where a GPU is visible, else fused. Checkpoints load into "
                  "either.")
flags.DEFINE_enum("mixed_precision", "float32", config_lib.PRECISIONS,
                  "Keras dtype policy; distributions and losses stay float32.")
flags.DEFINE_string("model_dir", None, "Run directory (default: runs/<timestamp>).")
flags.DEFINE_enum("strategy", "default", config_lib.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", None, "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_integer("collective_timeout", 300, "--strategy=multi_worker: seconds a worker "
                     "waits for the others in a collective op; then it stops with an error "
                     "naming the missing worker and the last checkpoint (docs/scaling.md).")
flags.DEFINE_integer("num_cpu_devices", None,
                     "Split the CPU into this many logical devices (for --strategy=mirrored).")
flags.DEFINE_bool("evaluate_test", True, "Evaluate the test split after training.")
flags.DEFINE_integer("test_examples", None, "Evaluate only the first N test examples "
                     "(rounded up to whole evaluation batches).")
flags.DEFINE_integer("generated_sentences", 0, "Text: sample this many sentences from the "
                     "prior and report Dis-1/2 and self-BLEU-2/3 (E10).")
flags.DEFINE_integer("latent_pictures", 500, "After every epoch, draw the posterior means of "
                     "this many validation examples (TensorBoard image; latents.png at the "
                     "end); 0: off.")
flags.DEFINE_integer("eval_samples", 500, "Importance samples K for the final IW-NLL.")
flags.DEFINE_integer("eval_chunk_size", 100, "Importance samples per chunk.")
flags.DEFINE_float("eval_proposal_variance", None, "Final IW-NLL: multiply the variance of "
                   "the proposal q(z|x) by this (default 1; 2 on the libi_* sets, Yacoby et "
                   "al. (2020), eq. 48).")
flags.DEFINE_bool("evaluate_valid", False, "Also evaluate the validation split after "
                  "training (results.json's 'valid').")
flags.DEFINE_integer("true_kl_samples", 0, "Final evaluation: also the true-posterior KL "
                     "U - S with this many samples (E6; Melis et al. (2022) use 100); 0: skip.")
flags.DEFINE_integer("eval_batch_size", None,
                     "Examples per evaluation batch (default: 1000 // eval_chunk_size).")
flags.DEFINE_integer("epoch_eval_samples", 20,
                     "Importance samples for the per-epoch validation NLL/MI/AU.")
flags.DEFINE_integer("epoch_eval_batches", 10, "Validation batches for the per-epoch metrics.")
flags.DEFINE_integer("log_every_steps", 50, "TensorBoard step-scalar interval.")
flags.DEFINE_integer("verbose", 1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line "
                     "per epoch.")
common.define_method_flags()


def parse_data_options(pairs):
  """['num_train=500', 'train=a.txt'] -> {'num_train': 500, 'train': 'a.txt'}."""
  options = {}
  for pair in pairs:
    key, separator, value = pair.partition("=")
    if not separator or not key:
      raise config_lib.ConfigError(
          f"--data_option={pair} is not KEY=VALUE; e.g. --data_option=train=my.train.txt "
          "(python -c 'from tfvae import data; print(data.describe(NAME))' lists the keys).")
    for convert in (int, float):
      try:
        value = convert(value)
        break
      except ValueError:
        continue
    options[key] = value
  return options


def config_from_flags():
  """The Config whose fields are the flags of the same names.

  With --preset, the preset's fields apply unless the flag was given explicitly.
  """
  names = [field.name for field in dataclasses.fields(config_lib.Config)
           if field.name not in ("data_options", "preset")]
  values = {name: FLAGS[name].value for name in names
            if FLAGS.preset is None or FLAGS[name].present}
  return presets.make_config(FLAGS.preset, data_options=parse_data_options(FLAGS.data_option),
                             **values)


def check_stages(config):
  """Validates every stage of `config` (presets.stages) without TensorFlow."""
  for stage in presets.stages(config):
    stage.resolved().validate()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  config = common.run_or_exit(config_from_flags)
  common.run_or_exit(check_stages, config)
  # TensorFlow takes seconds to import: bad flags are reported before that.
  from tfvae.training import loop
  from tfvae.training import strategies

  if FLAGS.num_cpu_devices:
    strategies.split_cpu(FLAGS.num_cpu_devices)
  results = common.run_or_exit(loop.train_stages, config)
  model_dir = results["config"]["model_dir"]
  if "repetition" in results:
    print(f"Kept repetition {results['repetition']} of {len(results['valid_nll_by_repetition'])}"
          f" (validation NLL by repetition: {results['valid_nll_by_repetition']}).")
  if results["test"]:
    print(report.metrics_table(results["test"], f"Test metrics ({model_dir})"))
  else:
    print(f"Trained {model_dir}; the test split was not evaluated (--evaluate_test=false).")
  print(f"\nResults and config: {model_dir}/results.json")
  print(f"To watch training:  tensorboard --logdir {model_dir}")


if __name__ == "__main__":
  app.run(main)
