"""Reproduction tables: every method of a paper table trained on one architecture.

`run_table("ptb_classic", "cpu", ...)` trains the rows of the PTB table of the
classic posterior-collapse remedies (Fang et al. (2019), Ding and Gimpel (2021);
METHODS.md section 4), each from its preset with the scale's shared
architecture, evaluates them with the same metrics (IW-NLL with 500 samples,
PPL, recon, KL, MI, AU, Dis-1/2) and writes a markdown table with the
published numbers beside ours. Finished rows (a
results.json in their run directory) are read back, not retrained, so an
interrupted table resumes where it stopped.
"""

import dataclasses
import json
import os
import time

import tensorflow as tf

from tfvae import plotting
from tfvae.metrics import probe
from tfvae.training import loop
from tfvae.training import presets
from tfvae.training import report
from tfvae.training.config import ConfigError
from tfvae.training.progress import ItemProgress


@dataclasses.dataclass(frozen=True)
class Row:
  """One table row: its label, preset, extra fields and the published numbers."""

  label: str
  preset: str
  fields: dict = dataclasses.field(default_factory=dict)
  published: str = "—"


# Published PTB numbers (via METHODS.md section 4): "-ELBO/PPL/KL/MI/AU" of the
# table of Fang et al. (2019); "PPL/Recon/KL/AU" of the FlowPrior table of Ding
# and Gimpel (2021) where marked.
PTB_CLASSIC = (
    Row("VAE", "vae", published="102.6 / 108.26 / 1.08 / 0.8 / 2"),
    Row("beta-VAE (0.5)", "beta_vae", published="104.5 / 117.92 / 7.50 / 3.1 / 5"),
    Row("KL annealing", "kl_anneal"),
    Row("Cyclical", "cyclical", published="103.1 / 110.50 / 3.48 / 1.8 / 5"),
    Row("FB (lambda=3)", "free_bits", {"fb_lambda": 3.0}),
    Row("FB (lambda=5)", "free_bits", {"fb_lambda": 5.0},
        published="FlowPrior table, VAE+FB: PPL 101.56, recon 99.84, KL 4.46, AU 32"),
    Row("FB (lambda=8)", "free_bits", {"fb_lambda": 8.0}),
    Row("Pre-train + FB (lambda=8)", "li2019_pretrain_fb", {"fb_lambda": 8.0},
        published="FlowPrior table, Pre-VAE+FB: PPL 96.35, recon 94.52, KL 8.15, MI 6.30, "
                  "AU 32"),
    Row("Aggressive", "he2019_aggressive"),
    Row("SA-VAE", "kim2018_savae", published="102.6 / 107.71 / 1.23 / 0.7 / 2"),
    Row("ControlVAE (KL 15)", "controlvae_kl15"),
)

# The shared architecture and budget of each scale. "paper": He et al. (2019)
# settings for GPU machines. "cpu": a narrower network (embeddings and LSTMs of
# 128), 2 epochs of 700 steps (about 1.1 passes over PTB's training set), IW-NLL
# (K=500) on the first 100 test sentences and 100 generated ones, under 2 hours
# on 2 CPU cores (a plain step takes about 0.22 s there, and evaluating 300
# sentences with K=500 took as long as 1300 steps); KL warm-ups last 1 epoch;
# SA-VAE refines with 2 steps for 1 epoch of 300 steps (a refinement step with
# its second-order backward costs several plain steps). Aggressive training
# makes the same 1400 decoder updates in 8 epochs of 175, so that its phase-end
# rule (validation MI after every epoch) gets more than one look, with inner
# loops checked every 5 encoder steps and capped at 20: a step of the phase is
# a whole inner loop, and with He et al.'s 15 and 100 the loops averaged 50
# encoder steps, so one epoch of 175 took 44 minutes here.
SCALES = {
    "paper": {
        "fields": dict(dataset="ptb", embed_dim=512, hidden_dim=1024, latent_dim=32,
                       batch_size=32, epochs=100, optimizer="sgd", learning_rate=1.0,
                       grad_clip_norm=5.0, generated_sentences=1000),
        "per_preset": {},
    },
    "cpu": {
        "fields": dict(dataset="ptb", embed_dim=128, hidden_dim=128, latent_dim=32,
                       batch_size=32, epochs=2, steps_per_epoch=700, learning_rate=1e-3,
                       grad_clip_norm=5.0, test_examples=100, generated_sentences=100,
                       epoch_eval_batches=5, verbose=2),
        "per_preset": {"kl_anneal": {"anneal_epochs": 1.0},
                       "li2019_pretrain_fb": {"pretrain_epochs": 2, "anneal_epochs": 1.0},
                       "kim2018_savae": {"refine_steps": 2, "epochs": 1,
                                         "steps_per_epoch": 300},
                       "he2019_aggressive": {"epochs": 8, "steps_per_epoch": 175,
                                             "check_every": 5, "inner_cap": 20}},
    },
}


PROBE_FILE = "probe.json"
COLUMNS = (("nll", "NLL", "{:.2f}"), ("ppl", "PPL", "{:.2f}"), ("recon", "Recon", "{:.2f}"),
           ("kl", "KL", "{:.2f}"), ("mi_batch", "MI", "{:.2f}"), ("au", "AU", "{:d}"),
           ("sampled_dis1", "Dis-1", "{:d}"), ("sampled_dis2", "Dis-2", "{:d}"))

# Shen et al. (2021), table 1 (Yelp: "NLL / KL / MI / AU") and table 2 (Yelp probe
# accuracy with 100 / 1k / 10k labels). Their Yelp is He et al.'s (2019) corpus of
# reviews; ours the labelled yelp_sentiment sentences (METHODS.md D6), so only the
# ordering of the methods carries over, not the values. FB (0.1) is 0.1 nats per
# dimension, lambda = 3.2 for d = 32.
DU_VAE = (
    Row("VAE", "vae", published="357.5 / 0.0 / 0.0 / 0.0; probe 71.10 / 71.58 / 77.11"),
    Row("FB (0.1)", "free_bits", {"fb_lambda": 3.2},
        published="357.1 / 4.8 / 2.5 / 32.0; probe 75.19 / 81.63 / 82.39"),
    Row("delta-VAE (0.1)", "delta_vae",
        published="357.6 / 3.2 / 0.0 / 0.0; probe 60.11 / 61.46 / 64.38"),
    Row("BN-VAE (0.6)", "bn_vae", published="355.7 / 6.0 / 5.2 / 32.0; probe 84.53 / 89.45 / "
                                            "89.72"),
    Row("MAE (2, 0.2)", "mae", published="362.8 / 8.0 / 4.6 / 32.0; probe 61.50 / 62.42 / 63.68"),
    Row("DU-VAE (0.5, 0.8)", "du_vae",
        published="355.5 / 6.8 / 5.9 / 18.0; probe 88.91 / 90.36 / 90.77"),
    # BN-VAE's gamma: Shen et al.'s claim that DU-VAE keeps more KL and MI than
    # BN-VAE at the same gamma compares these two rows.
    Row("DU-VAE (0.6, 0.8)", "du_vae", {"du_gamma": 0.6},
        published="355.8 / 9.6 / 7.7 / 23.0; probe -"),
    Row("IAF+FB (0.25)", "iaf_fb", published="357.1 / 7.7 / - / -; probe 89.73 / 90.94 / 91.01"),
    Row("IAF+BN (0.7)", "iaf_bn", published="356.6 / 0.6 / - / -; probe 87.98 / 89.18 / 90.29"),
    Row("DU-IAF (0.6, 0.7)", "du_iaf",
        published="356.1 / 5.1 / - / -; probe 91.25 / 91.52 / 92.31"),
)
# Shen et al.'s (2021) image data set is OMNIGLOT, which has no labels here: the
# image half runs on binarized MNIST (conv networks) and has no published numbers.
DU_VAE_IMAGE = tuple(dataclasses.replace(row, published="—") for row in DU_VAE)
# The KL weight warms up from 0 in every row, as Shen et al.'s code does (10 epochs);
# "cpu": 2 epochs of 600 steps with a 1-epoch warm-up, IW-NLL (K=500) on the first
# 100 test sentences (500 test images), narrower networks.
_WARM_UP = dict(beta_schedule="linear", anneal_start=0.0)
DU_VAE_TEXT_SCALES = {
    "paper": {"fields": dict(dataset="yelp", embed_dim=512, hidden_dim=1024, latent_dim=32,
                             batch_size=32, epochs=150, optimizer="sgd", learning_rate=1.0,
                             grad_clip_norm=5.0, dropout_in=0.5, dropout_out=0.5,
                             anneal_epochs=10.0, **_WARM_UP),
              "per_preset": {}},
    "cpu": {"fields": dict(dataset="yelp", embed_dim=128, hidden_dim=128, latent_dim=32,
                           batch_size=32, epochs=2, steps_per_epoch=600, learning_rate=1e-3,
                           grad_clip_norm=5.0, test_examples=100, epoch_eval_batches=5,
                           anneal_epochs=1.0, verbose=2, **_WARM_UP),
            "per_preset": {}},
}
DU_VAE_IMAGE_SCALES = {
    "paper": {"fields": dict(dataset="binarized_mnist", latent_dim=32, batch_size=64,
                             epochs=100, anneal_epochs=10.0, **_WARM_UP),
              "per_preset": {}},
    "cpu": {"fields": dict(dataset="binarized_mnist", hidden_dim=64, latent_dim=32,
                           batch_size=64, epochs=2, steps_per_epoch=400, learning_rate=1e-3,
                           test_examples=500, epoch_eval_batches=5, anneal_epochs=1.0,
                           verbose=2, **_WARM_UP),
            "per_preset": {}},
}
# Published PTB numbers (via METHODS.md section 4): "-ELBO / PPL / KL / MI / AU" of
# the tables of Fang et al. (2019) and Dai et al. (2021), and "PPL / Recon / KL /
# AU / MI" of the FlowPrior table of Ding and Gimpel (2021) where marked.
PTB_IMPLICIT = (
    Row("VAE", "vae", published="102.6 / 108.26 / 1.08 / 0.8 / 2; FlowPrior table: 101.40 / "
                                "101.28 / 0.00 / 0 / 0.00"),
    Row("MoG", "mog_vae", published="FlowPrior table: 98.22 / 100.54 / 0.00 / 0 / 0.00"),
    Row("VampPrior", "vamp_vae", published="FlowPrior table: 98.27 / 100.56 / 0.00 / 0 / 0.00"),
    Row("FlowPrior", "flow_prior", published="FlowPrior table: 94.72 / 98.46 / 3.28 / 2 / 2.25"),
    Row("FlowPrior+FB", "flow_prior_fb",
        published="FlowPrior table: 93.58 / 99.20 / 7.21 / 31 / 2.83"),
    Row("iVAE", "ivae", published="87.6 / 54.46 / 6.32 / 3.5 / 32"),
    Row("iVAE_MI", "ivae_mi", published="87.2 / 53.44 / 12.51 / 12.2 / 32"),
    Row("P-VAE", "p_vae", published="91.4 / 76.13 / 4.5 / 2.9 / 23"),
    Row("APo-VAE", "apo_vae", published="87.2 / 53.32 / 8.4 / 4.8 / 32"),
    Row("APo-VAE+VP", "apo_vae_vp", published="87.0 / 53.02 / 8.9 / 4.5 / 32"),
)
# The architecture and budget of the PTB table of the classic remedies (`SCALES`);
# FlowPrior's importance-weighted part uses N = 2 samples at cpu scale (each is a
# pass of the decoder) and N = 5 at paper scale; at cpu scale the critics' KL
# weight warms up over 1 of the 2 epochs (10 at paper scale, the presets').
_ONE_EPOCH_WARM_UP = {"anneal_epochs": 1.0}
PTB_IMPLICIT_SCALES = {
    "paper": {"fields": SCALES["paper"]["fields"],
              "per_preset": {"flow_prior": {"flow_samples": 5},
                             "flow_prior_fb": {"flow_samples": 5}}},
    "cpu": {"fields": SCALES["cpu"]["fields"],
            "per_preset": {"flow_prior": {"flow_samples": 2},
                           "flow_prior_fb": {"flow_samples": 2},
                           **{preset: _ONE_EPOCH_WARM_UP
                              for preset in ("ivae", "ivae_mi", "apo_vae", "apo_vae_vp")}}},
}
DIVERSITY_COLUMNS = (("mpd", "MPD", "{:.2f}"),)
# He et al.'s per-batch MI cannot exceed log(batch size), e.g. 2.3 nats for the
# evaluation's batches of 10; the whole-set estimate (ceiling log N) separates
# the informative rows.
SET_MI_COLUMN = ("mi_aggregate", "MI (set)", "{:.2f}")
# The rows whose KL is read off a critic also report the critic's estimate.
IMPLICIT_COLUMNS = (("neg_elbo", "-ELBO", "{:.2f}"),) + COLUMNS[:5] + (
    SET_MI_COLUMN, ("dual_kl", "KL (critic)", "{:.2f}")) + COLUMNS[5:6]


@dataclasses.dataclass(frozen=True)
class Table:
  """A reproduction table: its rows, its scales, its columns and the probe's label counts.

  `scales` maps a scale's name to {"fields": the shared config fields,
  "per_preset": {preset: fields that differ for that row}}; `probe_labels`
  adds a linear-probe accuracy column per count (E8; () for none).
  """
  rows: tuple
  scales: dict
  columns: tuple = COLUMNS
  probe_labels: tuple = ()


TABLES = {
    "ptb_classic": Table(PTB_CLASSIC, SCALES),
    "ptb_implicit": Table(PTB_IMPLICIT, PTB_IMPLICIT_SCALES, IMPLICIT_COLUMNS),
    "du_vae_yelp": Table(DU_VAE, DU_VAE_TEXT_SCALES,
                         COLUMNS[:5] + (SET_MI_COLUMN,) + COLUMNS[5:6] + DIVERSITY_COLUMNS,
                         probe_labels=(100, 1000, 10000)),
    "du_vae_mnist": Table(DU_VAE_IMAGE, DU_VAE_IMAGE_SCALES,
                          (COLUMNS[0],) + COLUMNS[2:5] + (SET_MI_COLUMN,) + COLUMNS[5:6]
                          + DIVERSITY_COLUMNS,
                          probe_labels=(100, 1000, 5000)),
}
# --table=du_vae: both halves, or the one --data names.
GROUPS = {"du_vae": {"yelp": "du_vae_yelp", "mnist": "du_vae_mnist"}}


def table_names(table, data=None):
  """The TABLES that `--table=table --data=data` runs, in order."""
  if table in GROUPS:
    halves = GROUPS[table]
    if data is not None and data not in halves:
      raise ConfigError(f"--data={data!r}: --table={table} has the halves "
                        f"{', '.join(halves)}.")
    return [halves[data]] if data else list(halves.values())
  if table not in TABLES:
    raise ConfigError(f"--table={table!r} is not one of {', '.join([*TABLES, *GROUPS])}.")
  if data is not None:
    raise ConfigError(f"--data applies to --table={' or --table='.join(GROUPS)}, not to "
                      f"--table={table}.")
  return [table]


def row_config(row, scale, runs_dir, table="ptb_classic"):
  """The Config of `row` of `table` at `scale`, run in `runs_dir/<row_name(row)>`."""
  scales = TABLES[table].scales
  if scale not in scales:
    raise ConfigError(f"--scale={scale!r} is not one of {', '.join(scales)}.")
  fields = dict(scales[scale]["fields"])
  fields.update(scales[scale]["per_preset"].get(row.preset, {}))
  fields.update(row.fields)
  fields["model_dir"] = os.path.join(runs_dir, row_name(row))
  return presets.make_config(row.preset, **fields)


def row_name(row):
  """The row's label as an identifier: "FB (lambda=3)" -> "fb_lambda_3"."""
  words = "".join(c if c.isalnum() else " " for c in row.label.lower()).split()
  return "_".join(words)


def run_row(config, probe_labels=()):
  """Trains the stages of one row (or reads its results); returns (test metrics, seconds).

  With `probe_labels` the test metrics also hold the linear probe's accuracy,
  "probe_<count>", computed once and kept in the run's `probe.json`.
  """
  results, seconds = loop.read_or_train_stages(config)
  test = dict(results["test"])
  if probe_labels:
    test.update({f"probe_{count}": value
                 for count, value in _probe(config.model_dir, probe_labels).items()})
  return test, seconds


def _probe(model_dir, label_counts):
  """{count: accuracy} of the run's linear probe, read from or written to `probe.json`."""
  path = os.path.join(model_dir, PROBE_FILE)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      saved = json.load(f)
    if saved["label_counts"] == list(label_counts):
      return {int(count): value for count, value in saved["accuracy"].items()}
  _, dataset, model = loop.restore_run(model_dir)
  accuracy = probe.linear_probe(model, dataset, label_counts=label_counts)
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump({"label_counts": list(label_counts),
               "accuracy": {str(count): value for count, value in accuracy.items()}}, f)
  return accuracy


def run_table(table, scale, runs_dir, results_dir, rows=None, verbose=1):
  """Trains every row of `table` at `scale`; writes and returns the markdown table.

  Args:
    table: a name in TABLES.
    scale: a name in SCALES.
    runs_dir: parent of the rows' run directories.
    results_dir: where `<table>_<scale>.md`, `.json` and the figure (`.png`, `.svg`,
      `table_figure`) go; TensorBoard gets the table and the figure.
    rows: optional subset of rows by name (`row_name`, e.g. "fb_lambda_3").
    verbose: 1 prints "row i/n" with the time left as each row starts; 0 nothing.
  """
  if table not in TABLES:
    raise ConfigError(f"--table={table!r} is not one of {', '.join(TABLES)}.")
  spec = TABLES[table]
  selected = [row for row in spec.rows if rows is None or row_name(row) in rows]
  if rows is not None and len(selected) != len(set(rows)):
    known = ", ".join(row_name(row) for row in spec.rows)
    raise ConfigError(f"Unknown rows in {sorted(rows)}; {table} has: {known}.")
  started = time.time()
  measured = []
  progress = ItemProgress("row", len(selected), verbose=verbose)
  for row in selected:
    progress.begin(f"{row.label} ({row_name(row)})")
    test, seconds = run_row(row_config(row, scale, runs_dir, table), spec.probe_labels)
    progress.end()
    measured.append({"label": row.label, "preset": row.preset, "test": test,
                     "seconds": seconds, "published": row.published})
  markdown = format_table(table, scale, measured, time.time() - started)
  name = f"{table}_{scale}"
  write_table_files(results_dir, name, markdown, measured)
  figure = table_figure(table, scale, measured)
  plotting.save_figure(figure, os.path.join(results_dir, name))
  writer = tf.summary.create_file_writer(os.path.join(runs_dir, "table"))
  with writer.as_default():
    tf.summary.text(name, markdown, step=0)
    tf.summary.image(name, tf.image.decode_png(plotting.png_bytes(figure))[None], step=0)
  writer.flush()
  return markdown


def write_table_files(results_dir, name, markdown, measured):
  """Writes `<results_dir>/<name>.md` (the markdown) and `.json` (the measured values)."""
  tf.io.gfile.makedirs(results_dir)
  with tf.io.gfile.GFile(os.path.join(results_dir, f"{name}.md"), "w") as f:
    f.write(markdown + "\n")
  with tf.io.gfile.GFile(os.path.join(results_dir, f"{name}.json"), "w") as f:
    json.dump(measured, f, indent=2, sort_keys=True)


def table_figure(table, scale, measured):
  """Each measured row as a labelled point of NLL against KL and MI (`plotting.trade_off_figure`)."""
  points = [(entry["label"], entry["test"].get("nll"), entry["test"].get("kl"),
             entry["test"].get("mi_batch")) for entry in measured]
  return plotting.trade_off_figure(
      points, title=f"{table}, {scale} scale: test NLL against KL and MI per sentence")


def replot_table(table, scale, results_dir):
  """Redraws `<results_dir>/<table>_<scale>`.png and .svg from its .json (trains nothing)."""
  path = os.path.join(results_dir, f"{table}_{scale}.json")
  if not tf.io.gfile.exists(path):
    raise ConfigError(f"No {path}: reproduce the table first (without --replot).")
  with tf.io.gfile.GFile(path) as f:
    measured = json.load(f)
  return plotting.save_figure(table_figure(table, scale, measured),
                              os.path.join(results_dir, f"{table}_{scale}"))


def table_columns(table):
  """(key, header, format) of `table`'s metric columns, the probe's accuracies last."""
  spec = TABLES[table]
  return spec.columns + tuple((f"probe_{count}", f"probe {count} (%)", "{:.1f}")
                              for count in spec.probe_labels)


def format_table(table, scale, measured, seconds):
  """The markdown table of measured rows, with the published numbers beside them."""
  columns = table_columns(table)
  header = ["method", "preset"] + [label for _, label, _ in columns] + ["time (min)",
                                                                        "published"]
  rows_minutes = sum(entry["seconds"] for entry in measured) / 60
  lines = [f"{table}, scale {scale}: {rows_minutes:.0f} min of training and evaluation in all "
           f"({seconds / 60:.0f} min for this invocation)", "",
           "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for entry in measured:
    cells = [entry["label"], f"`{entry['preset']}`"]
    for key, _, fmt in columns:
      value = entry["test"].get(key)
      if key.startswith("probe_") and value is not None:
        value = 100 * value
      cells.append(report.format_value(value, fmt))
    cells += [f"{entry['seconds'] / 60:.1f}", entry["published"]]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)
