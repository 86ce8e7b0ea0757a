"""Reproduces a paper table: `python -m launch.reproduce --table=ptb_classic --scale=cpu`.

Trains every row of the table (one preset each, one shared architecture; for
--table=libi every method on the four synthetic sets, see tfvae.training.libi_table),
evaluates them with the same metrics and writes `<results_dir>/<table>_<scale>.md`
(and .json, a figure of NLL against KL and MI as .png and .svg, and the table
and figure to TensorBoard under `<runs_dir>/table`). Rerunning resumes:
finished rows are read back from their run directories; --replot redraws the
figure from the .json.
"""

import os

from absl import app
from absl import flags

from launch import common
from tfvae.training import libi_table
from tfvae.training import reproduce

LIBI = "libi"

FLAGS = flags.FLAGS

flags.DEFINE_enum("table", "ptb_classic", [*reproduce.TABLES, *reproduce.GROUPS, LIBI],
                  "Table to reproduce (du_vae: its yelp and mnist halves, du_vae_yelp and "
                  "du_vae_mnist; libi: Yacoby et al. (2020), table 1, on the synthetic sets).")
flags.DEFINE_enum("data", None, ["yelp", "mnist"], "--table=du_vae: only this half.")
flags.DEFINE_enum("scale", "cpu", list(reproduce.SCALES),
                  "paper: the papers' network and epochs (GPU); cpu: under 2 h on 2 cores.")
flags.DEFINE_string("runs_dir", None, "Parent of the rows' run directories "
                    "(default runs/reproduce/<table>_<scale>; <runs_dir>/<table> for each half "
                    "of a group).")
flags.DEFINE_string("results_dir", "results", "Where the markdown/JSON table goes.")
flags.DEFINE_list("rows", None, "Only these rows, by name: vae, beta_vae_0_5, kl_annealing, "
                  "cyclical, fb_lambda_3, ..., pre_train_fb_lambda_8, aggressive, sa_vae, "
                  "controlvae_kl_15; du_vae: vae, fb_0_1, delta_vae_0_1, bn_vae_0_6, mae_2_0_2, "
                  "du_vae_0_5_0_8, iaf_fb_0_25, iaf_bn_0_7, du_iaf_0_6_0_7; ptb_implicit: vae, "
                  "mog, vampprior, flowprior, flowprior_fb, ivae, ivae_mi, p_vae, apo_vae, "
                  "apo_vae_vp; libi: vae, beta_vae, beta_vae_anneal, lagging, libi.")
flags.DEFINE_bool("replot", False, "Only redraw the table's figure from its .json in "
                  "--results_dir, training nothing.")
flags.DEFINE_integer("verbose", 1, "1: print 'row i/n' with the time left as each row starts; "
                     "0: quiet.", lower_bound=0, upper_bound=1)


def reproduce_libi():
  """--table=libi: its own harness (restarts, replicates, S-kNN; `libi_table`)."""
  if FLAGS.data is not None:
    raise app.UsageError("--data applies to --table=du_vae, not to --table=libi.")
  if FLAGS.replot:
    for path in common.run_or_exit(libi_table.replot, FLAGS.scale, FLAGS.results_dir):
      print(f"Written {path}")
    return
  runs_dir = FLAGS.runs_dir or f"runs/reproduce/{LIBI}_{FLAGS.scale}"
  print(common.run_or_exit(libi_table.run_table, FLAGS.scale, runs_dir, FLAGS.results_dir,
                           methods=FLAGS.rows, verbose=FLAGS.verbose))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  if FLAGS.table == LIBI:
    reproduce_libi()
    return
  tables = common.run_or_exit(reproduce.table_names, FLAGS.table, FLAGS.data)
  for table in tables:
    if FLAGS.replot:
      for path in common.run_or_exit(reproduce.replot_table, table, FLAGS.scale,
                                     FLAGS.results_dir):
        print(f"Written {path}")
      continue
    runs_dir = FLAGS.runs_dir or f"runs/reproduce/{table}_{FLAGS.scale}"
    if FLAGS.runs_dir and len(tables) > 1:
      runs_dir = os.path.join(FLAGS.runs_dir, table)  # The halves' rows share names.
    markdown = common.run_or_exit(reproduce.run_table, table, FLAGS.scale, runs_dir,
                                  FLAGS.results_dir, rows=FLAGS.rows, verbose=FLAGS.verbose)
    print(markdown)


if __name__ == "__main__":
  app.run(main)
