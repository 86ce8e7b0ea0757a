"""The 2-d latent study of Shen et al. (2021), figure 1: `python -m launch.latent_study`.

Trains a VAE, BN-VAE, DU-VAE and aggressive training with 2-d latents on D4
(or reads back the runs already in --runs_dir) and draws their posterior
means by mixture component over their aggregate posteriors, side by side
(`tfvae.training.latent_study`): `<results_dir>/latent_study_<scale>.png`,
`.svg`, `.json` and a TensorBoard image under `<runs_dir>/study`.
"""

from absl import app
from absl import flags

from launch import common

FLAGS = flags.FLAGS

flags.DEFINE_enum("scale", "cpu", ["cpu", "paper"], "cpu: the launcher's D4 defaults (10 "
                  "epochs); paper: Shen et al.'s synthetic settings (50 epochs).")
flags.DEFINE_string("runs_dir", "runs/latent_study", "Parent of the four models' run "
                    "directories; finished runs are read back, not retrained.")
flags.DEFINE_string("results_dir", "results", "Where the figure and its JSON go.")
flags.DEFINE_integer("verbose", 1, "1: print 'model i/n' with the time left as each model "
                     "starts; 0: quiet.", lower_bound=0, upper_bound=1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  from tfvae.training import latent_study

  paths = common.run_or_exit(latent_study.run_study, FLAGS.scale, FLAGS.runs_dir,
                             FLAGS.results_dir, verbose=FLAGS.verbose)
  print("Written:", ", ".join(paths))


if __name__ == "__main__":
  app.run(main)
