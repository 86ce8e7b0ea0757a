"""The 2-d latent study (Shen et al. (2021), section 4.3 and figure 1; METHODS.md E12).

On D4 (`synthetic_mog`: sentences generated from 2-d codes drawn from a
five-component mixture) train a VAE, BN-VAE, DU-VAE and aggressive training
with d = 2, then draw each model's posterior means of held-out sentences,
coloured by the component that generated them, over the contours of its
aggregate posterior q(z) = (1/N) sum_i q(z|x_i), side by side in one figure.
Shen et al.'s picture: the VAE's means collapse to a point while DU-VAE's
separate the components. Beside the figure, `study.json` gives each model's
test metrics and two numbers read off the picture: the spread of its means
(root mean square distance from their centre) and the share of the means'
variance that lies between the components (the between-class share of the
total, 1 for perfectly separated clusters, about 0 for a collapsed one).
"""

import json
import os

import numpy as np
import tensorflow as tf

from tfvae import plotting
from tfvae.metrics.densities import is_diagonal_gaussian
from tfvae.training import loop
from tfvae.training import presets
from tfvae.training import reproduce
from tfvae.training.config import ConfigError
from tfvae.training.latent_pictures import aggregate_density
from tfvae.training.progress import ItemProgress

__all__ = ["ROWS", "SCALES", "cluster_share", "run_study"]

ROWS = (
    reproduce.Row("VAE", "vae"),
    reproduce.Row("BN-VAE (0.6)", "bn_vae"),
    reproduce.Row("DU-VAE (0.5, 0.8)", "du_vae"),
    reproduce.Row("Aggressive", "he2019_aggressive"),
)
# cpu: the launcher's D4 defaults (embeddings 64, LSTMs 128, batches of 64,
# 10 epochs); paper: Shen et al.'s synthetic configuration (embeddings and
# LSTMs of 50, decoder dropout 0.5 on inputs and outputs, batches of 32,
# 50 epochs).
SCALES = {
    "cpu": {},
    "paper": dict(embed_dim=50, hidden_dim=50, dropout_in=0.5, dropout_out=0.5, batch_size=32,
                  epochs=50),
}
NUM_POINTS = 500
STEM = "latent_study"


def cluster_share(points, labels):
  """The share of the points' total variance that lies between the classes' centres."""
  points = np.asarray(points, np.float64)
  centre = points.mean(axis=0)
  total = np.sum((points - centre)**2)
  between = sum(np.sum(labels == value) * np.sum((points[labels == value].mean(axis=0)
                                                   - centre)**2)
                for value in np.unique(labels))
  return float(between / total) if total > 0 else 0.0


def _panel(model, dataset, label):
  """One panel: the means of the first NUM_POINTS test sentences, their classes, q(z)."""
  x = next(iter(dataset.batches("test", NUM_POINTS)))
  posterior = model.posterior(x, training=False)
  if not (is_diagonal_gaussian(posterior) and posterior.event_shape[-1] == 2):
    raise ConfigError(f"The 2-d study draws 2-d Gaussian posteriors; {label} has another.")
  means = posterior.mean().numpy()
  classes = np.asarray(dataset.labels("test"))[:len(means)]
  return {"label": label, "points": means, "classes": classes,
          "density": aggregate_density(means, posterior.stddev().numpy())}


def run_study(scale, runs_dir, results_dir, verbose=1):
  """Trains (or reads back) the study's models; writes the figure and study.json.

  Returns:
    The paths written: `<results_dir>/latent_study_<scale>.png`, `.svg` and
    `.json`; the figure also goes to TensorBoard under `<runs_dir>/study`.
  """
  if scale not in SCALES:
    raise ConfigError(f"--scale={scale!r} is not one of {', '.join(SCALES)}.")
  panels, measured = [], []
  progress = ItemProgress("model", len(ROWS), verbose=verbose)
  for row in ROWS:
    progress.begin(row.label)
    config = presets.make_config(row.preset, **SCALES[scale], latent_dim=2,
                                 model_dir=os.path.join(runs_dir, reproduce.row_name(row)))
    test, seconds = reproduce.run_row(config)
    _, dataset, model = loop.restore_run(config.model_dir)
    panel = _panel(model, dataset, row.label)
    panels.append(panel)
    centred = panel["points"] - panel["points"].mean(axis=0)
    measured.append({"label": row.label, "preset": row.preset, "test": test,
                     "seconds": seconds,
                     "spread": float(np.sqrt(np.mean(np.sum(centred**2, axis=1)))),
                     "cluster_share": cluster_share(panel["points"], panel["classes"])})
    progress.end()
  figure = plotting.latent_panels_figure(
      panels, title=f"Posterior means of {NUM_POINTS} D4 test sentences by mixture component, "
                    f"{scale} scale (Shen et al. (2021), figure 1)")
  name = os.path.join(results_dir, f"{STEM}_{scale}")
  paths = plotting.save_figure(figure, name)
  with tf.io.gfile.GFile(f"{name}.json", "w") as f:
    json.dump(measured, f, indent=2, sort_keys=True)
  writer = tf.summary.create_file_writer(os.path.join(runs_dir, "study"))
  with writer.as_default():
    tf.summary.image(f"{STEM}_{scale}", tf.image.decode_png(plotting.png_bytes(figure))[None],
                     step=0)
  writer.flush()
  return [*paths, f"{name}.json"]
