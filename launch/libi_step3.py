"""What LiBI's step 3 does: `python -m launch.libi_step3 --kind=mobius --seeds=0,1,2`.

For each seed, the first repetition of --preset=libi and then the second
twice, with step 3 (h set to q's mean) and without (`tfvae.training.libi_step3`);
prints the test log-likelihoods (eq. 48) as a markdown table and writes it
to --output if given. Full batches of the 500 training points.
"""

from absl import app
from absl import flags

from launch import common
from tfvae.data import libi

FLAGS = flags.FLAGS

flags.DEFINE_enum("kind", "linear_jtex", list(libi.TYPES), "Which LiBI set (replicate 0).")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4", "5"], "Random starts.")
flags.DEFINE_integer("steps", 1500, "Full-batch steps of each phase.")
flags.DEFINE_float("learning_rate", 0.01, "Adam's learning rate.")
flags.DEFINE_float("eps_hz", 1.0, "eps_HZ of eq. 44.")
flags.DEFINE_float("eps_sigma", 0.5, "eps_Sigma of eq. 44.")
flags.DEFINE_float("eps_mu", 0.5, "eps_mu of eq. 44.")
flags.DEFINE_integer("eval_samples", 1000, "Importance samples of the test log-likelihood.")
flags.DEFINE_string("runs_dir", "runs/libi_step3", "Parent of the runs; finished runs are read "
                    "back, not retrained.")
flags.DEFINE_string("output", None, "Also write the markdown table to this file.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  from tfvae.training import libi_step3

  seeds = common.run_or_exit(_seeds, FLAGS.seeds)
  fields = dict(steps_per_epoch=FLAGS.steps, epochs=1, batch_size=500,
                learning_rate=FLAGS.learning_rate, eps_hz=FLAGS.eps_hz,
                eps_sigma=FLAGS.eps_sigma, eps_mu=FLAGS.eps_mu, eval_samples=FLAGS.eval_samples,
                eval_chunk_size=FLAGS.eval_samples, latent_pictures=0, verbose=0)
  rows = common.run_or_exit(libi_step3.compare, FLAGS.kind, seeds, FLAGS.runs_dir, **fields)
  markdown = libi_step3.format_rows(FLAGS.kind, rows, {
      "steps": FLAGS.steps, "learning_rate": FLAGS.learning_rate, "eps_hz": FLAGS.eps_hz,
      "eps_sigma": FLAGS.eps_sigma, "eps_mu": FLAGS.eps_mu})
  print(markdown)
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      f.write(markdown + "\n")


def _seeds(values):
  from tfvae.errors import ConfigError
  try:
    return [int(value) for value in values]
  except ValueError as error:
    raise ConfigError(f"--seeds takes integers, e.g. --seeds=0,1,2; got {values}.") from error


if __name__ == "__main__":
  app.run(main)
