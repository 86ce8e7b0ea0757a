"""Sweeps an MI-constrained objective and draws its Pareto front (Melis et al. (2022), section 7;
E11).

  python -m launch.sweep --task=uniform10k --estimator=dreg --samples=16 --objective=renyi

trains one model per (lambda, learning rate) (alpha for --objective=power) for
every series (--samples x --objective), measures NLL and MI (U - S) with 100
samples, and writes points.csv, front.csv, front.png and .svg, front.md and
TensorBoard summaries into --out_dir (default
runs/sweep/<task>_<scale>_<estimator>). Rerunning resumes: finished points are
read back. --replot redraws the outputs from points.csv alone.
"""

from absl import app
from absl import flags

from launch import common
from tfvae.latents.choices import LATENT_TYPES
from tfvae.objectives import choices
from tfvae.training import config as config_lib
from tfvae.training import sweep

FLAGS = flags.FLAGS

flags.DEFINE_enum("task", "uniform10k", list(sweep.TASKS),
                  "Data and networks (Melis et al. (2022), section 7).")
flags.DEFINE_enum("scale", "cpu", list(sweep.SCALES), "paper: the sizes and lengths of "
                  "Melis et al. (2022); cpu: "
                  "reduced to fit 2 CPU cores (see tfvae.training.sweep.TASKS).")
flags.DEFINE_enum("estimator", "dreg", [*choices.ESTIMATORS, sweep.VQ_VAE],
                  "Base estimator (M23), or vqvae for the VQ-VAE baseline (M25) over "
                  "--vq_shapes.")
flags.DEFINE_list("vq_shapes", ["1x10", "1x100", "2x10", "2x32", "3x10", "3x20"],
                  "--estimator=vqvae: LATENTSxCODES per point.")
flags.DEFINE_list("samples", ["16"], "K values; each is a series.")
flags.DEFINE_list("objective", ["renyi"], "kl, renyi and/or power (M22); each is a series.")
flags.DEFINE_list("lambdas", None, "Values of lambda (kl, renyi); default: the scale's "
                  "(0,0.4,0.7,0.85,0.95; ptb35 cpu: 0,0.5,0.9).")
flags.DEFINE_list("learning_rates", None, "Adam learning rates (beta_1 = 0); default: the "
                  "scale's (0.001,0.003; ptb35 cpu: 0.003).")
flags.DEFINE_list("alphas", ["0.5"], "alpha values (renyi, power).")
flags.DEFINE_enum("latent_type", "gaussian", LATENT_TYPES,
                  "gaussian (40 latents) or categorical (8 x 10; reinforce or vimco).")
flags.DEFINE_integer("latent_dim", None, "Override the number of latents.")
flags.DEFINE_integer("num_marginal", None, "N of 'N/M' (samples for ln p(x)).")
flags.DEFINE_integer("num_kl", None, "M of 'N/M' (samples for the KL term).")
flags.DEFINE_integer("steps", None, "Training steps per point (default: the scale's).")
flags.DEFINE_integer("batch_size", None, "Batch size (default: the task's).")
flags.DEFINE_integer("seed", 0, "Seed of every point.")
flags.DEFINE_string("out_dir", None, "Output directory.")
flags.DEFINE_integer("verbose", 1, "1: print 'point i/n' with the time left as each point "
                     "starts; 0: quiet.", lower_bound=0, upper_bound=1)
flags.DEFINE_bool("replot", False, "Only redraw: rewrite the figure, tables and summary of "
                  "--out_dir from its points.csv, training nothing.")


def _numbers(values, kind, flag):
  if values is None:
    return None
  try:
    return tuple(kind(value) for value in values)
  except ValueError:
    raise config_lib.ConfigError(f"--{flag} takes a comma-separated list of numbers, got "
                                 f"{','.join(values)!r}.") from None


def spec_from_flags():
  return sweep.SweepSpec(
      task=FLAGS.task, scale=FLAGS.scale, estimator=FLAGS.estimator,
      samples=_numbers(FLAGS.samples, int, "samples"), objectives=tuple(FLAGS.objective),
      lambdas=_numbers(FLAGS.lambdas, float, "lambdas"),
      learning_rates=_numbers(FLAGS.learning_rates, float, "learning_rates"),
      alphas=_numbers(FLAGS.alphas, float, "alphas"), latent_type=FLAGS.latent_type,
      latent_dim=FLAGS.latent_dim, num_marginal=FLAGS.num_marginal, num_kl=FLAGS.num_kl,
      batch_size=FLAGS.batch_size, steps=FLAGS.steps, seed=FLAGS.seed,
      vq_shapes=tuple(_shape(value) for value in FLAGS.vq_shapes))


def _shape(value):
  latents, separator, codes = value.partition("x")
  try:
    return int(latents), int(codes)
  except ValueError:
    raise config_lib.ConfigError(f"--vq_shapes takes LATENTSxCODES values such as 2x10, got "
                                 f"{value!r}.") from None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  out_dir = FLAGS.out_dir or f"runs/sweep/{FLAGS.task}_{FLAGS.scale}_{FLAGS.estimator}"
  if FLAGS.replot:
    table = common.run_or_exit(lambda: sweep.replot(spec_from_flags(), out_dir))
  else:
    table = common.run_or_exit(lambda: sweep.run_sweep(spec_from_flags(), out_dir,
                                                       verbose=FLAGS.verbose))
  print(table)


if __name__ == "__main__":
  app.run(main)
