"""--table=libi: the synthetic benchmark of Yacoby et al. (2020), table 1 (METHODS.md E9, D3).

On data whose true model is known (`tfvae.data.libi`: LinearJTEx, CubicJTEx,
Gaussian, Mobius, each in several replicates of 500 train / valid / test
points) every method trains with the networks of appendix E from several
random restarts:

  VAE, beta-VAE, beta-VAE with annealing (linear warm-up to beta), lagging
  inference networks in R segments (`--model=aggressive --lag_segments`) and
  LiBI (`--preset=libi`).

Of the restarts of a method on a data set the one its own objective prefers
on the validation split is kept, as in the paper: recon + beta KL for the
VAE family, the validation likelihood (eq. 48) for LiBI. The kept model is
scored by

  Test-LL  eq. 48: the mean over test points of log p_theta(x), estimated by
           importance sampling from q(z|x) with its variance doubled;
  S-kNN    the smooth k-NN two-sample statistic (Djolonga and Krause 2017)
           between 100 draws of the true p(x) and 100 of p_theta(x),
           averaged over repetitions (lower is better, about 0 for a model
           equal to the truth);

and each cell is the mean +- std over the replicates. Where a method has a
grid of hyper-parameters, every point runs and the row shows the point with
the highest mean Test-LL, as the paper does. Two reference rows come from
the truth itself: its exact Test-LL (the linear sets' closed form) and the
S-kNN of two samples of p(x). Finished runs are read back from their
directories, so an interrupted table resumes. The figure is the paper's
figures 2-3 on LinearJTEx: posterior means under the true model, of the
learned q, and under the learned decoder, for the VAE and for LiBI.
"""

import dataclasses
import itertools
import json
import os
import time

import numpy as np
import tensorflow as tf

from tfvae import metrics
from tfvae import plotting
from tfvae.data import libi
from tfvae.training import loop
from tfvae.training import presets
from tfvae.training import reproduce
from tfvae.training.config import ConfigError
from tfvae.training.progress import ItemProgress

KINDS = libi.TYPES
KIND_LABELS = {"linear_jtex": "LinearJTEx", "cubic_jtex": "CubicJTEx", "gaussian": "Gaussian",
               "mobius": "Mobius"}
SKNN_FILE = "sknn.json"
SKNN_SAMPLE_SIZE = 100  # points of p(x) and of p_theta(x) per repetition (appendix E)
FIGURE_KIND = "linear_jtex"
FIGURE_METHODS = ("vae", "libi")
POSTERIOR_SAMPLES = 2000


@dataclasses.dataclass(frozen=True)
class Method:
  """A row: its label, the config fields it sets, the paper's "Test-LL / S-kNN" per kind."""

  label: str
  fields: dict
  published: dict


# Yacoby et al. (2020), table 1: "Test-LL / S-kNN", mean +- std over their data sets.
METHODS = {
    "vae": Method("VAE", {"model": "vae"}, {
        "linear_jtex": "-3.15 ± 0.04 / 1.62 ± 0.12", "cubic_jtex": "-5.85 ± 0.63 / 4.86 ± 1.82",
        "gaussian": "6.73 ± 0.23 / 15.28 ± 7.98", "mobius": "1.88 ± 0.05 / 0.38 ± 0.20"}),
    "beta_vae": Method("beta-VAE", {"model": "vae"}, {
        "linear_jtex": "-3.15 ± 0.04 / 1.62 ± 0.12", "cubic_jtex": "-5.47 ± 0.14 / 2.99 ± 1.48",
        "gaussian": "7.65 ± 0.09 / 4.10 ± 1.22", "mobius": "1.92 ± 0.06 / 0.27 ± 0.14"}),
    "beta_vae_anneal": Method("beta-VAE+Anneal", {"model": "vae", "beta_schedule": "linear",
                                                  "anneal_start": 0.0}, {
        "linear_jtex": "-3.15 ± 0.04 / 1.63 ± 0.12",
        "cubic_jtex": "-12.91 ± 11.51 / 2.86 ± 1.01",
        "gaussian": "7.54 ± 0.14 / 5.86 ± 1.66", "mobius": "1.88 ± 0.05 / 0.37 ± 0.19"}),
    "lagging": Method("Lagging", {"model": "aggressive"}, {
        "linear_jtex": "-3.15 ± 0.04 / 1.62 ± 0.11",
        "cubic_jtex": "-30.64 ± 39.17 / 7.07 ± 1.24",
        "gaussian": "6.94 ± 0.53 / 15.61 ± 8.26", "mobius": "1.90 ± 0.08 / 0.72 ± 0.78"}),
    "libi": Method("LiBI", {"preset": "libi"}, {
        "linear_jtex": "-2.99 ± 0.03 / 0.06 ± 0.05", "cubic_jtex": "-8.90 ± 3.98 / 1.75 ± 2.75",
        "gaussian": "7.85 ± 0.05 / 0.10 ± 0.08", "mobius": "1.91 ± 0.05 / 0.17 ± 0.06"}),
}


@dataclasses.dataclass(frozen=True)
class Scale:
  """The budget of a table: shared fields, replicates, restarts, S-kNN repetitions, grids.

  `grids[method][kind]` lists the field sets a method tries on a kind
  ("*": every kind); `per_method` adds fields to one method's runs.
  """

  fields: dict
  replicates: int
  restarts: int
  knn_repetitions: int
  grids: dict
  per_method: dict = dataclasses.field(default_factory=dict)


def _grid(**values):
  """Every combination of `values` (name -> tuple) as a list of field dicts."""
  names = sorted(values)
  return [dict(zip(names, combination))
          for combination in itertools.product(*(values[name] for name in names))]


# Shared by both scales: full batches of the 500 training points, Adam at
# 0.01 (appendix E), no per-epoch pictures, the validation split scored too.
_SHARED = dict(batch_size=500, learning_rate=0.01, latent_pictures=0, evaluate_valid=True,
               epoch_eval_batches=1, verbose=0)
SCALES = {
    # Appendix E: 30k epochs (here 150 x 200 full-batch steps), 10 restarts,
    # 5 data sets per kind, K = 5000, 20,000 S-kNN repetitions, their grids.
    "paper": Scale(
        fields=dict(_SHARED, epochs=150, steps_per_epoch=200, eval_samples=5000,
                    eval_chunk_size=1000, anneal_epochs=50.0),
        replicates=5, restarts=10, knn_repetitions=20000,
        grids={"vae": {"*": [{}]},
               "beta_vae": {"*": _grid(beta=(0.5, 2.0, 5.0))},
               "beta_vae_anneal": {"*": _grid(beta=(0.5, 1.0, 2.0, 5.0))},
               "lagging": {"linear_jtex": _grid(lag_segments=(40, 50, 60, 70)),
                           "cubic_jtex": _grid(lag_segments=(30, 40, 50, 60)),
                           "gaussian": _grid(lag_segments=(5, 10, 15, 20)),
                           "mobius": _grid(lag_segments=(60, 70, 80, 90))},
               "libi": {"*": _grid(eps_hz=(0.001, 1.0, 10.0, 20.0), eps_sigma=(0.2, 0.5),
                                   eps_mu=(0.2, 0.5), libi_repetitions=(1, 6)),
                        "mobius": _grid(eps_hz=(1.0, 10.0, 20.0), eps_sigma=(0.2, 0.5),
                                        eps_mu=(0.2, 0.5), libi_repetitions=(1, 6))}}),
    # 2 CPU cores: 6,000 full-batch steps per run (10 epochs of 600; each LiBI
    # phase 3,000), annealing over the first 3 epochs, 2 restarts, K = 1000,
    # 200 S-kNN repetitions, one point of each grid.
    "cpu": Scale(
        fields=dict(_SHARED, epochs=10, steps_per_epoch=600, eval_samples=1000,
                    eval_chunk_size=1000, anneal_epochs=3.0),
        replicates=5, restarts=2, knn_repetitions=200,
        grids={"vae": {"*": [{}]},
               "beta_vae": {"*": [{"beta": 0.5}]},
               "beta_vae_anneal": {"*": [{"beta": 1.0}]},
               "lagging": {"*": [{"lag_segments": 10}]},
               "libi": {"*": [{"eps_hz": 1.0, "eps_sigma": 0.5, "eps_mu": 0.5,
                               "libi_repetitions": 2}]}},
        per_method={"libi": {"epochs": 5}}),
}


def grid_points(scale, method, kind):
  """The field sets `method` tries on `kind` at `scale`."""
  grids = scale.grids[method]
  return grids[kind] if kind in grids else grids["*"]


def point_name(point):
  """A grid point as a directory name: {"beta": 0.5} -> "beta_0.5"; {} -> "default"."""
  return "_".join(f"{name}_{value}" for name, value in sorted(point.items())) or "default"


def run_config(scale, method, kind, point, replicate, restart, runs_dir):
  """The Config of one run: `method` at grid `point` on a replicate of `kind`, one restart."""
  fields = dict(scale.fields)
  fields.update(scale.per_method.get(method, {}))
  fields.update({k: v for k, v in METHODS[method].fields.items() if k != "preset"})
  fields.update(point)
  fields.update(dataset=f"libi_{kind}", data_options={"replicate": replicate}, seed=restart,
                model_dir=os.path.join(runs_dir, kind, method, point_name(point),
                                       f"replicate{replicate}", f"restart{restart}"))
  return presets.make_config(METHODS[method].fields.get("preset"), **fields)


def validation_objective(results):
  """What a run's own objective says on the validation split (lower is better).

  LiBI: the validation NLL (eq. 48); the VAE family: recon + beta KL, its loss.
  """
  valid = results["valid"]
  if results["config"]["model"] == "libi":
    return valid["nll"]
  return valid["recon"] + results["config"]["beta"] * valid["kl"]


def true_sampler(kind, generator="network"):
  """(num, seed) -> [num, D] draws of the true p(x) of `kind` (float32)."""
  model = libi.true_model(kind, generator=generator)

  def sample(num, seed):
    rng = np.random.RandomState(np.asarray(seed, np.int64) % (2**32))
    return libi.sample(model, int(num), rng)[0].astype(np.float32)
  return sample


def model_sampler(model):
  """(num, seed) -> [num, D] draws of p_theta(x): z ~ p(z), then x ~ p_theta(x|z)."""
  def sample(num, seed):
    z = model.prior.sample(int(num), seed=tf.random.experimental.stateless_fold_in(seed, 0))
    return model.likelihood(z, None).sample(seed=tf.random.experimental.stateless_fold_in(
        seed, 1))
  return sample


def smooth_knn(model_dir, kind, repetitions, seed=0):
  """The averaged S-kNN of run `model_dir` against the true p(x), kept in its sknn.json."""
  path = os.path.join(model_dir, SKNN_FILE)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      saved = json.load(f)
    if saved["repetitions"] == repetitions:
      return saved["mean"]
  _, _, model = loop.restore_run(model_dir)
  summary = metrics.averaged_smooth_knn(true_sampler(kind), model_sampler(model), repetitions,
                                        SKNN_SAMPLE_SIZE, seed=seed)
  mean = float(summary.mean)
  with tf.io.gfile.GFile(path, "w") as f:
    json.dump({"repetitions": repetitions, "mean": mean}, f)
  return mean


def true_rows(kind, scale):
  """The truth's Test-LL per replicate (closed form; None off the linear sets) and S-kNN."""
  if kind in libi.LINEAR_TYPES:
    model = libi.true_model(kind, generator="exact")
    test_ll = [float(np.mean(libi.log_marginal(
        model, libi.generate(kind, replicate, libi.NUM_PER_SPLIT)["test"][0])))
               for replicate in range(scale.replicates)]
  else:
    test_ll = None
  sample = true_sampler(kind)
  sknn = [float(metrics.averaged_smooth_knn(sample, sample, scale.knn_repetitions,
                                            SKNN_SAMPLE_SIZE, seed=replicate + 1).mean)
          for replicate in range(scale.replicates)]
  return test_ll, sknn


def kept_run(scale, method, kind, point, replicate, runs_dir):
  """Trains (or reads) every restart; returns the results of the one its objective keeps."""
  candidates = []
  for restart in range(scale.restarts):
    config = run_config(scale, method, kind, point, replicate, restart, runs_dir)
    results, _ = loop.read_or_train_stages(config)
    candidates.append(results)
  return min(candidates, key=validation_objective)


def _scale(scale):
  if isinstance(scale, Scale):
    return scale
  if scale not in SCALES:
    raise ConfigError(f"--scale={scale!r} is not one of {', '.join(SCALES)}.")
  return SCALES[scale]


def run_table(scale_name, runs_dir, results_dir, methods=None, kinds=KINDS, verbose=1,
              scale=None):
  """Trains and scores every method on every kind; writes libi_<scale>.md, .json and the figure.

  Args:
    scale_name: "cpu" or "paper" (the files' names); `scale` overrides its budget.
    runs_dir: parent of the run directories (<kind>/<method>/<point>/replicate<r>/restart<s>).
    results_dir: where libi_<scale>.md, .json and libi_posteriors_<scale>.png/.svg go.
    methods: names in METHODS (default all).
    kinds: names in KINDS.
    verbose: 1 prints each (method, kind) as it starts, with the time left.
    scale: a `Scale` to use instead of SCALES[scale_name] (tests).

  Returns:
    The markdown.
  """
  scale = _scale(scale or scale_name)
  methods = list(methods or METHODS)
  unknown = sorted(set(methods) - set(METHODS)) + sorted(set(kinds) - set(KINDS))
  if unknown:
    raise ConfigError(f"Unknown rows or kinds {unknown}; --table=libi has the rows "
                      f"{', '.join(METHODS)} on {', '.join(KINDS)}.")
  started = time.time()
  progress = ItemProgress("method and data set", len(methods) * len(kinds), verbose=verbose)
  measured = {"scale": scale_name, "replicates": scale.replicates, "restarts": scale.restarts,
              "knn_repetitions": scale.knn_repetitions, "methods": {}, "truth": {}}
  for kind in kinds:
    test_ll, sknn = true_rows(kind, scale)
    measured["truth"][kind] = {"test_ll": test_ll, "sknn": sknn}
  for method in methods:
    measured["methods"][method] = {}
    for kind in kinds:
      progress.begin(f"{METHODS[method].label} on {KIND_LABELS[kind]}")
      points = [score_point(scale, method, kind, point, runs_dir)
                for point in grid_points(scale, method, kind)]
      measured["methods"][method][kind] = max(points, key=lambda p: np.mean(p["test_ll"]))
      progress.end()
  measured["minutes"] = (time.time() - started) / 60
  markdown = format_table(measured)
  name = f"libi_{scale_name}"
  reproduce.write_table_files(results_dir, name, markdown, measured)
  if FIGURE_KIND in kinds and set(FIGURE_METHODS) <= set(methods):
    draw_posteriors(measured, scale_name, results_dir)
  return markdown


def score_point(scale, method, kind, point, runs_dir):
  """Test-LL, S-kNN and the kept run's directory per replicate, for one grid point."""
  kept = [kept_run(scale, method, kind, point, replicate, runs_dir)
          for replicate in range(scale.replicates)]
  model_dirs = [results["config"]["model_dir"] for results in kept]
  return {"point": point, "model_dirs": model_dirs,
          "test_ll": [-results["test"]["nll"] for results in kept],
          "sknn": [smooth_knn(model_dir, kind, scale.knn_repetitions)
                   for model_dir in model_dirs]}


def _mean_std(values, fmt="{:.2f}"):
  if values is None:
    return "—"
  return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values))}"


def format_table(measured):
  """The markdown: our table (mean +- std over replicates), then the paper's beside it."""
  kinds = list(measured["truth"])
  header = ["method"] + [f"{KIND_LABELS[k]} {column}" for k in kinds
                         for column in ("Test-LL", "S-kNN")] + ["settings"]
  lines = [f"libi, scale {measured['scale']}: {measured['replicates']} data sets per kind, "
           f"best of {measured['restarts']} restarts by each method's validation objective, "
           f"S-kNN over {measured['knn_repetitions']} repetitions; mean ± std over data sets "
           f"({measured['minutes']:.0f} min for this invocation)", "",
           "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  truth = measured["truth"]
  cells = ["true model"] + [cell for k in kinds for cell in (_mean_std(truth[k]["test_ll"]),
                                                             _mean_std(truth[k]["sknn"]))]
  lines.append("| " + " | ".join(cells + ["exact p(x); S-kNN of two samples of p(x)"]) + " |")
  for method, by_kind in measured["methods"].items():
    cells = [METHODS[method].label]
    settings = []
    for kind in kinds:
      entry = by_kind.get(kind)
      cells += ([_mean_std(entry["test_ll"]), _mean_std(entry["sknn"])] if entry
                else ["—", "—"])
      if entry and entry["point"]:
        settings.append(f"{KIND_LABELS[kind]}: {point_name(entry['point'])}")
    lines.append("| " + " | ".join(cells + ["; ".join(sorted(set(
        s.split(": ")[1] for s in settings))) or "—"]) + " |")
  lines += ["", "Yacoby et al. (2020), table 1 (Test-LL / S-kNN):", "",
            "| method | " + " | ".join(KIND_LABELS[k] for k in kinds) + " |",
            "|" + "---|" * (len(kinds) + 1)]
  for method in measured["methods"]:
    lines.append(f"| {METHODS[method].label} | "
                 + " | ".join(METHODS[method].published[k] for k in kinds) + " |")
  return "\n".join(lines)


def posterior_panels(model_dir):
  """(true z, posterior means under the truth, of q, under the learned decoder) on the test split.

  For LinearJTEx: p(z|x) of the true model in closed form
  (`libi.exact_posterior`), q's means, and E[z|x] under the learned
  p_theta(z|x) by importance sampling (`metrics.importance_posterior_mean`).
  """
  config, dataset, model = loop.restore_run(model_dir)
  kind = config.dataset[len("libi_"):]
  x = np.concatenate([np.asarray(batch) for batch in dataset.batches("test", 500)])
  true_means, _ = libi.exact_posterior(kind, x)
  q_means = model.posterior(tf.constant(x), training=False).mean().numpy()
  learned_means = metrics.importance_posterior_mean(
      model, tf.constant(x), POSTERIOR_SAMPLES, seed=0,
      proposal_variance_factor=config.eval_proposal_variance).numpy()
  return dataset.latents("test"), true_means, q_means, learned_means


def draw_posteriors(measured, scale_name, results_dir):
  """Figures 2-3 of Yacoby et al. (2020) as one figure; returns the .png and .svg paths."""
  rows = []
  for method in FIGURE_METHODS:
    model_dir = measured["methods"][method][FIGURE_KIND]["model_dirs"][0]
    rows.append((METHODS[method].label, posterior_panels(model_dir)))
  figure = plotting.posterior_means_figure(
      rows, title=f"LinearJTEx (replicate 0, test split), {scale_name} scale: posterior means")
  return plotting.save_figure(figure, os.path.join(results_dir, f"libi_posteriors_{scale_name}"))


def replot(scale_name, results_dir):
  """Redraws the posterior figure from libi_<scale>.json and the runs it names."""
  path = os.path.join(results_dir, f"libi_{scale_name}.json")
  if not tf.io.gfile.exists(path):
    raise ConfigError(f"No {path}: reproduce the table first (without --replot).")
  with tf.io.gfile.GFile(path) as f:
    measured = json.load(f)
  if not all(FIGURE_KIND in measured["methods"].get(m, {}) for m in FIGURE_METHODS):
    raise ConfigError(f"{path} lacks the {' and '.join(FIGURE_METHODS)} rows on "
                      f"{FIGURE_KIND} that the figure shows.")
  return draw_posteriors(measured, scale_name, results_dir)

