"""Pareto fronts of NLL against latent use over a sweep (Melis et al. (2022), section 7;
METHODS.md E11).

Melis et al. (2022) compare inference methods by the best NLL each reaches at
every level of mutual information I(X; Z): for one series (a base estimator
with K samples and an objective) it trains one model per hyperparameter
setting (lambda, the learning rate; alpha for the power objective), measures
each with K = 100 samples (NLL = -IWAE estimate of ln p(x), MI = mean U - S,
the true-posterior KL of eq. 12; Melis et al. (2022), section 7.1.2) and keeps
the points that no other point beats in both (`metrics.pareto_front`).

`run_sweep` trains every point of every series through the training loop (so
each is an ordinary run directory, with checkpoints and TensorBoard logs, and
an interrupted sweep resumes: finished points are read back), then writes
into the output directory:

  points.csv   every point: series, estimator, K, objective (for the VQ-VAE
               its latents x codes), lambda, alpha, learning rate, NLL, MI,
               whether it is on its series' front;
  front.csv    the front points only;
  front.png, front.svg
               the figure (`plotting.front_figure`): NLL (y) against MI (x),
               one labelled series per estimator, K and objective, axes in
               nats (per token for ptb35), a labelled dashed line at the
               task's optimum NLL (ln of the number of symbols for D2), a
               title naming the task and the scale;
  tensorboard  events under <out>/summary: the picture, the front table as
               text and, per series, NLL of the front points at step
               round(1000 * MI) (a curve in TensorBoard's scalar view).

Tasks (`TASKS`): `uniform10k` (D2; Melis et al. (2022), section 7.1 with the
7.1.1 networks), at scale `paper` (10000 symbols, 20,000 steps of batch 64) or
`cpu` (1000 symbols and 2,000 steps: the softmax over 10000 symbols for 2K
samples of DReG made a step about 1 s on 2 cores); `ptb35` (Melis et al.
(2022), section 7.2: PTB cut at 35 tokens, bidirectional encoder, z added to
the decoder's inputs, dropout masks shared by a sentence's samples, sizes
128), at scale `paper` (40,000 steps of batch 64) or `cpu` (250 steps of batch
16 with a 5,000-word vocabulary and three values of lambda, under 90 minutes
on 2 cores for the default series). Latents: 40 continuous, or 8 categoricals
of 10.

`estimator="vqvae"` sweeps the VQ-VAE baseline of Melis et al. (2022),
appendix A, instead: no MI term, its latent use set by the number of latents
and of codes (`vq_shapes`), whose KL to the uniform prior is n ln C.
"""

import csv
import dataclasses
import io
import itertools
import json
import math
import os

from absl import logging
import numpy as np
import tensorflow as tf

from tfvae import errors
from tfvae import metrics
from tfvae import plotting
from tfvae.training import config as config_lib
from tfvae.training import loop
from tfvae.training.progress import ItemProgress

# Per task: the Config fields of every point, and per scale more fields, the
# training steps, how many test examples measure a point (in batches of
# `eval_batch`, so that batch x 100 samples fit in memory), and the default
# grid. ptb35's NLL and MI are per token (Melis et al. (2022), section 7.2.3).
TASKS = {
    "uniform10k": {
        "fields": dict(dataset="uniform10k", network="symbol", batch_size=64),
        "scales": {
            "paper": dict(fields=dict(data_options={"num_symbols": 10000}), steps=20000,
                          eval_examples=10000, eval_batch=100),
            "cpu": dict(fields=dict(data_options={"num_symbols": 1000}), steps=2000,
                        eval_examples=2000, eval_batch=500),
        },
        "per_token": False,
    },
    "ptb35": {
        "fields": dict(dataset="ptb", max_length=35, network="bilstm", embed_dim=128,
                       hidden_dim=128, share_dropout_masks=True),
        "scales": {
            "paper": dict(fields=dict(batch_size=64), steps=40000, eval_examples=3370,
                          eval_batch=10),
            "cpu": dict(fields=dict(batch_size=16, vocab_size=5000), steps=250,
                        eval_examples=200, eval_batch=10, lambdas=(0.0, 0.5, 0.9),
                        learning_rates=(3e-3,)),
        },
        "per_token": True,
    },
}
SCALES = ("paper", "cpu")
DEFAULT_LAMBDAS = (0.0, 0.4, 0.7, 0.85, 0.95)
DEFAULT_LEARNING_RATES = (1e-3, 3e-3)
POINT_RESULTS = "sweep_point.json"
# Melis et al. (2022), section 7.1.5: 8 categorical latents (of 10 categories,
# the config default).
CATEGORICAL_LATENTS = {"categorical": 8}
EVAL_SAMPLES = 100
VQ_VAE = "vqvae"  # The --estimator value that sweeps the VQ-VAE baseline instead.


@dataclasses.dataclass(frozen=True)
class SweepSpec:
  """What to sweep. Lists are swept as a grid; `samples` x `objectives` are the series."""
  task: str = "uniform10k"
  scale: str = "cpu"
  estimator: str = "dreg"
  samples: tuple = (16,)
  objectives: tuple = ("renyi",)
  lambdas: tuple | None = None  # None: the scale's default grid.
  learning_rates: tuple | None = None
  alphas: tuple = (0.5,)
  latent_type: str = "gaussian"
  latent_dim: int | None = None
  num_marginal: int | None = None
  num_kl: int | None = None
  batch_size: int | None = None
  steps: int | None = None
  seed: int = 0
  # estimator="vqvae": (latents, categories) per point.
  vq_shapes: tuple = ((1, 10), (1, 100), (2, 10), (2, 32), (3, 10), (3, 20))

  def check(self):
    if self.task not in TASKS:
      raise config_lib.ConfigError(f"--task={self.task!r}: choose one of {', '.join(TASKS)}.")
    if self.scale not in SCALES:
      raise config_lib.ConfigError(f"--scale={self.scale!r}: choose one of "
                                   f"{', '.join(SCALES)}.")
    for name in ("samples", "objectives", "lambdas", "learning_rates", "alphas"):
      if getattr(self, name) is not None and not getattr(self, name):
        raise config_lib.ConfigError(f"--{name} needs at least one value.")
    if len(self.samples) * len(self.objectives) > plotting.MAX_SERIES:
      raise config_lib.ConfigError(f"At most {plotting.MAX_SERIES} series (--samples x "
                                   "--objectives) fit one picture.")
    return self


def series_label(estimator, samples, objective, num_marginal=None, num_kl=None):
  """"dreg 16 renyi", or "dreg 16/1 kl" for asymmetric sample counts (Melis et al.
  (2022), Fig. 4)."""
  counts = str(samples)
  if num_marginal is not None or num_kl is not None:
    counts = f"{num_marginal or samples}/{num_kl or samples}"
  return f"{estimator} {counts} {objective}"


def _scale(spec):
  return TASKS[spec.task]["scales"][spec.scale]


def point_configs(spec, out_dir):
  """[(series label, Config)] for every point of the grid, each with its own run directory."""
  scale = _scale(spec)
  fields = {**TASKS[spec.task]["fields"], **scale["fields"]}
  if spec.batch_size is not None:
    fields["batch_size"] = spec.batch_size
  learning_rates = spec.learning_rates or scale.get("learning_rates", DEFAULT_LEARNING_RATES)
  grid = _vq_grid(spec) if spec.estimator == VQ_VAE else _mi_grid(spec, scale)
  points = []
  for (label, name, model_fields), rate in itertools.product(grid, learning_rates):
    config = config_lib.Config(
        **fields, **model_fields, epochs=1, steps_per_epoch=spec.steps or scale["steps"],
        learning_rate=rate, adam_beta1=0.0, seed=spec.seed, evaluate_test=False,
        epoch_eval_batches=2, verbose=0, latent_pictures=0,
        model_dir=os.path.join(out_dir, "runs", f"{name}_lr{rate:g}"))
    points.append((label, config.resolved().validate()))
  return points


def _mi_grid(spec, scale):
  """(series label, run name, Config fields) of the objectives of Melis et al. (2022)
  over lambda and alpha."""
  latent_dim = spec.latent_dim or CATEGORICAL_LATENTS.get(spec.latent_type)
  for samples, objective in itertools.product(spec.samples, spec.objectives):
    # VIMCO has no single-sample form; Melis et al. (2022, section 7.1.5) put
    # REINFORCE 1 in its place.
    estimator = "reinforce" if (spec.estimator, samples) == ("vimco", 1) else spec.estimator
    label = series_label(estimator, samples, objective, spec.num_marginal, spec.num_kl)
    # The power objective ties lambda to alpha (Melis et al. (2022), eq. 18): sweep
    # alpha alone.
    lambdas = ((0.0,) if objective == "power" else
               spec.lambdas or scale.get("lambdas", DEFAULT_LAMBDAS))
    alphas = (1.0,) if objective == "kl" else spec.alphas
    for lam, alpha in itertools.product(lambdas, alphas):
      yield (label, f"{label.replace(' ', '_').replace('/', '-')}_lam{lam:g}_a{alpha:g}",
             dict(model="monte_carlo", latent_type=spec.latent_type, latent_dim=latent_dim,
                  estimator=estimator, num_samples=samples, mi_objective=objective,
                  mi_lambda=lam, renyi_alpha=alpha, num_marginal=spec.num_marginal,
                  num_kl=spec.num_kl))


def _vq_grid(spec):
  """The VQ-VAE baseline (Melis et al. (2022), appendix A): its latent use is set by n
  latents of C codes."""
  for latents, categories in spec.vq_shapes:
    yield ("vqvae", f"vqvae_{latents}x{categories}",
           dict(model="vqvae", latent_dim=latents, num_categories=categories))


def measure(model_dir, num_examples, batch_size, seed=0, per_token=False):
  """(NLL, MI) of a run's latest checkpoint on the first `num_examples` test examples.

  Per example, or per predicted token (summed over the examples, divided by
  their tokens) with `per_token`.
  """
  _, dataset, model = loop.restore_run(model_dir)
  log_px, kl, units = [], [], []
  for x in dataset.batches("test", batch_size).take(math.ceil(num_examples / batch_size)):
    batch_log_px, batch_kl = metrics.log_marginal_and_true_kl(model, x, EVAL_SAMPLES, seed)
    log_px.append(batch_log_px.numpy())
    kl.append(batch_kl.numpy())
    units.append(dataset.count_tokens(x).numpy() if per_token else np.ones(len(log_px[-1])))
  log_px, kl, units = (np.concatenate(v)[:num_examples] for v in (log_px, kl, units))
  return float(-np.sum(log_px) / np.sum(units)), float(np.sum(kl) / np.sum(units))


def run_point(label, config, scale, per_token):
  """Trains (or reads back) one point; returns its row for points.csv."""
  path = os.path.join(config.model_dir, POINT_RESULTS)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      return json.load(f)
  logging.info("Sweep point %s.", config.model_dir)
  try:
    results = loop.train(config)
    nll, mi = measure(config.model_dir, scale["eval_examples"], scale["eval_batch"],
                      seed=config.seed, per_token=per_token)
  except errors.TrainingDivergedError as error:
    logging.warning("Sweep point %s diverged (%s); it stays off the front.", config.model_dir,
                    error)
    results, nll, mi = {"train_seconds": float("nan")}, float("nan"), float("nan")
  vq = config.model == VQ_VAE
  row = {"series": label, "estimator": VQ_VAE if vq else config.estimator,
         "samples": 1 if vq else config.num_samples,
         "objective": (f"{config.latent_dim}x{config.num_categories}" if vq
                       else config.mi_objective), "lambda": config.mi_lambda,
         "alpha": config.renyi_alpha, "learning_rate": config.learning_rate, "nll": nll,
         "mi": mi, "train_seconds": results["train_seconds"],
         "run": os.path.basename(config.model_dir)}
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump(row, f, indent=2, sort_keys=True)
  return row


def mark_fronts(rows):
  """Sets row["on_front"] per series; rows with a non-finite NLL or MI are never on it."""
  for label in dict.fromkeys(row["series"] for row in rows):
    members = [row for row in rows if row["series"] == label]
    finite = [row for row in members if math.isfinite(row["nll"]) and math.isfinite(row["mi"])]
    for row in members:
      row["on_front"] = False
    if finite:
      front = metrics.pareto_front([r["nll"] for r in finite], [r["mi"] for r in finite])
      for index in front:
        finite[index]["on_front"] = True
  return rows


def optimum_nll(spec):
  """The best possible NLL of the task: ln(number of symbols) for D2; None if unknown."""
  options = _scale(spec)["fields"].get("data_options", {})
  return math.log(options["num_symbols"]) if "num_symbols" in options else None


def _csv(rows):
  out = io.StringIO()
  fields = ["series", "estimator", "samples", "objective", "lambda", "alpha", "learning_rate",
            "nll", "mi", "on_front", "train_seconds", "run"]
  writer = csv.DictWriter(out, fields, lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({key: row[key] for key in fields})
  return out.getvalue()


def front_table(rows, optimum):
  """Markdown table of the front points, series by series, in increasing MI."""
  known = "unknown" if optimum is None else f"{optimum:.3f}"
  lines = [f"optimum NLL {known}", "", "| series | objective | lambda | alpha | lr | NLL | MI |",
           "|---|---|---|---|---|---|---|"]
  for row in sorted((r for r in rows if r["on_front"]), key=lambda r: (r["series"], r["mi"])):
    lines.append(f"| {row['series']} | {row['objective']} | {row['lambda']:g} | {row['alpha']:g} | "
                 f"{row['learning_rate']:g} | {row['nll']:.3f} | {row['mi']:.3f} |")
  return "\n".join(lines)


def front_figure(rows, spec):
  """The figure of the fronts of `rows` (`plotting.front_figure`) for `spec`'s task and scale."""
  front = [row for row in rows if row["on_front"]]
  series = []
  for label in dict.fromkeys(row["series"] for row in rows):
    points = [row for row in front if row["series"] == label]
    series.append((label, [row["mi"] for row in points], [row["nll"] for row in points]))
  unit = "nats per token" if TASKS[spec.task]["per_token"] else "nats"
  return plotting.front_figure(series, optimum=optimum_nll(spec), unit=unit,
                               title=f"Pareto fronts: {spec.task}, {spec.scale} scale")


def write_outputs(rows, spec, out_dir):
  """points.csv, front.csv, front.png and .svg, front.md and the TensorBoard summary.

  Returns front.md's table.
  """
  optimum = optimum_nll(spec)
  tf.io.gfile.makedirs(out_dir)
  front = [row for row in rows if row["on_front"]]
  figure = front_figure(rows, spec)
  plotting.save_figure(figure, os.path.join(out_dir, "front"))
  png = plotting.png_bytes(figure)
  table = front_table(rows, optimum)
  for name, content in (("points.csv", _csv(rows)), ("front.csv", _csv(front)),
                        ("front.md", table + "\n")):
    with tf.io.gfile.GFile(os.path.join(out_dir, name), "w") as f:
      f.write(content)
  writer = tf.summary.create_file_writer(os.path.join(out_dir, "summary"))
  with writer.as_default():
    tf.summary.image("pareto_front", tf.image.decode_png(png)[None], step=0)
    tf.summary.text("pareto_front", table, step=0)
    for row in sorted(front, key=lambda row: (row["series"], row["mi"])):
      tf.summary.scalar(f"front_nll/{row['series'].replace(' ', '_')}", row["nll"],
                        step=max(int(round(1000 * row["mi"])), 0))
    if optimum is not None:
      tf.summary.scalar("optimum_nll", optimum, step=0)
  writer.flush()
  return table


_FLOAT_COLUMNS = ("lambda", "alpha", "learning_rate", "nll", "mi", "train_seconds")


def replot(spec, out_dir):
  """Rewrites the outputs of a finished sweep from its points.csv (trains nothing).

  Returns front.md's table.
  """
  path = os.path.join(out_dir, "points.csv")
  if not tf.io.gfile.exists(path):
    raise config_lib.ConfigError(f"No points.csv in {out_dir}: run the sweep first (without "
                                 "--replot).")
  with tf.io.gfile.GFile(path) as f:
    rows = list(csv.DictReader(f))
  for row in rows:
    row.update({name: float(row[name]) for name in _FLOAT_COLUMNS})
    row["on_front"] = row["on_front"] == "True"
  return write_outputs(rows, spec, out_dir)


def run_sweep(spec, out_dir, verbose=1):
  """Trains every point of `spec`, writes the outputs; returns the front table (markdown).

  verbose: 1 prints "point i/n" with the time left as each point starts; 0 nothing.
  """
  spec.check()
  per_token = TASKS[spec.task]["per_token"]
  points = point_configs(spec, out_dir)
  progress = ItemProgress("point", len(points), verbose=verbose)
  rows = []
  for label, config in points:
    progress.begin(os.path.basename(config.model_dir))
    rows.append(run_point(label, config, _scale(spec), per_token))
    progress.end()
  return write_outputs(mark_fronts(rows), spec, out_dir)
