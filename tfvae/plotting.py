"""Figures of tfvae, drawn with matplotlib (no display needed: `Figure` renders with Agg).

`front_figure` draws the Pareto front of a sweep (METHODS.md E11; Melis et al.
(2022), section 7): NLL against the mutual information, one labelled series
per estimator, sample count and objective, and the best possible NLL as a
labelled dashed line. `trade_off_figure` draws a reproduced table: each method
a labelled point of NLL against KL and against MI, so the trade-off between
fitting the data and using the latent is seen at a glance. `save_figure`
writes a figure as PNG and SVG; `latent_figure` draws posterior means in
two dimensions, coloured by class, over the contours of the aggregate
posterior (Shen et al. (2021), figure 1); `posterior_means_figure` compares
the posterior means of learned and true models (Yacoby et al. (2020),
figures 2-3);
`png_bytes` gives the PNG that TensorBoard shows as an image, from the same
figure.
"""

import io
import os

import matplotlib
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

__all__ = ["MAX_SERIES", "front_figure", "latent_figure", "png_bytes",
           "posterior_means_figure", "save_figure", "trade_off_figure"]

# Series beyond the colours of matplotlib's default cycle would repeat a colour.
MAX_SERIES = 10
FORMATS = ("png", "svg")
_DPI = 100
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def front_figure(series, *, title, unit="nats", optimum=None):
  """NLL (y) against MI (x) for each series of points, in increasing MI.

  Args:
    series: [(label, mi, nll)], mi and nll sequences of one length; the label
      names the series in the legend (e.g. "dreg 16 renyi": estimator, K,
      objective).
    title: names the data set and the scale.
    unit: of both axes ("nats", or "nats per token" for per-token numbers).
    optimum: the best possible NLL, drawn as a dashed line labelled with it.

  Returns:
    A matplotlib `Figure`.

  Raises:
    ValueError: no series, too many, an empty one, or a non-finite value.
  """
  if not series or len(series) > MAX_SERIES:
    raise ValueError(f"front_figure draws 1 to {MAX_SERIES} series, got {len(series)}.")
  figure = Figure(figsize=(6.4, 4.8), dpi=_DPI, layout="constrained")
  axes = figure.add_subplot()
  for label, mi, nll in series:
    mi, nll = np.asarray(mi, np.float64), np.asarray(nll, np.float64)
    if mi.size == 0 or mi.shape != nll.shape:
      raise ValueError(f"series {label!r} needs at least one point and as many MI as NLL values.")
    if not (np.all(np.isfinite(mi)) and np.all(np.isfinite(nll))):
      raise ValueError(f"series {label!r} has a value that is not finite.")
    order = np.argsort(mi, kind="stable")
    axes.plot(mi[order], nll[order], marker="o", label=label)
  if optimum is not None:
    axes.axhline(optimum, color="grey", linestyle="--",
                 label=f"optimum NLL {optimum:.3f} {unit}")
  axes.set_xlabel(f"mutual information I(X; Z), U - S estimate [{unit}]")
  axes.set_ylabel(f"NLL [{unit}]")
  axes.set_title(title)
  axes.grid(alpha=0.3)
  axes.legend(title="estimator, K, objective")
  return figure


def trade_off_figure(points, *, title, unit="nats"):
  """Two panels, NLL against KL and NLL against MI, each method a point named in the legend.

  Args:
    points: [(label, nll, kl, mi)]; a None KL or MI ("n/a") leaves the method
      out of that panel.
    title: names the table, the data set and the scale.
    unit: of every axis.

  Returns:
    A matplotlib `Figure`.
  """
  if not points:
    raise ValueError("trade_off_figure needs at least one method.")
  figure = Figure(figsize=(12, 4.8), dpi=_DPI, layout="constrained")
  panels = figure.subplots(1, 2, sharey=True)
  colours = matplotlib.colormaps["tab20"].colors
  for axes, column, name in ((panels[0], 2, "KL(q(z|x) || p(z))"),
                             (panels[1], 3, "mutual information I(X; Z)")):
    for index, point in enumerate(points):
      label, nll, x = point[0], point[1], point[column]
      if x is not None and nll is not None:
        axes.plot([x], [nll], marker=_MARKERS[index % len(_MARKERS)], linestyle="none",
                  color=colours[index % len(colours)], label=label)
    axes.set_xlabel(f"{name} [{unit}]")
    axes.grid(alpha=0.3)
  panels[0].set_ylabel(f"NLL [{unit}]")
  figure.legend(*panels[0].get_legend_handles_labels(), loc="outside right center",
                title="method")
  figure.suptitle(title)
  return figure


def latent_figure(points, *, title, axis_labels=("z1", "z2"), labels=None, density=None):
  """Points in two dimensions (posterior means), coloured by label, over density contours.

  Args:
    points: [N, 2] coordinates.
    title: what the points are (model, split, epoch).
    axis_labels: the names of the two coordinates.
    labels: optional [N] integer classes; each gets its own colour and legend entry.
    density: optional (x [G], y [G], values [G, G]) of a density over the plane,
      values[i, j] at (x[j], y[i]), drawn as contours.

  Returns:
    A matplotlib `Figure`.
  """
  figure = Figure(figsize=(6.4, 5.4), dpi=_DPI, layout="constrained")
  _draw_latents(figure.add_subplot(), points, title, axis_labels, labels, density)
  return figure


def latent_panels_figure(panels, *, title):
  """`latent_figure`'s picture for several models side by side, one panel each.

  Args:
    panels: dicts with "label" (the panel's title), "points" [N, 2], and
      optionally "classes" [N] and "density" (as `latent_figure`'s).
    title: the figure's title.
  """
  figure = Figure(figsize=(4.2 * len(panels), 4.4), dpi=_DPI, layout="constrained")
  for axes, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
    _draw_latents(axes, panel["points"], panel["label"], ("z1", "z2"), panel.get("classes"),
                  panel.get("density"))
  figure.suptitle(title)
  return figure


def _draw_latents(axes, points, title, axis_labels, labels, density):
  points = np.asarray(points, np.float64)
  if points.ndim != 2 or points.shape[1] != 2 or not len(points):
    raise ValueError(f"A latent picture needs [N, 2] points, got shape {points.shape}.")
  if density is not None:
    axes.contour(*density, levels=8, cmap="Greys", linewidths=0.8)
    axes.plot([], [], color="grey", linewidth=0.8, label="aggregate posterior q(z)")
  if labels is None:
    axes.scatter(points[:, 0], points[:, 1], s=8, alpha=0.7, label="posterior means")
  else:
    labels = np.asarray(labels)
    for value in np.unique(labels):
      chosen = labels == value
      axes.scatter(points[chosen, 0], points[chosen, 1], s=8, alpha=0.7, label=f"class {value}")
  axes.set_xlabel(axis_labels[0])
  axes.set_ylabel(axis_labels[1])
  axes.set_title(title)
  axes.legend(loc="best", fontsize=8, markerscale=2)


POSTERIOR_PANELS = ("true z", "true posterior means", "means of the learned q(z|x)",
                    "posterior means of the learned decoder")


def posterior_means_figure(rows, *, title):
  """Yacoby et al. (2020), figures 2-3: where each method puts the posterior means.

  One row per method, four panels of the same test points: the z that
  generated them, the means of the true model's posterior, the means of the
  learned q(z|x), and the means of the learned decoder's own posterior. Each
  point keeps one colour throughout, the angle of its true posterior mean,
  so that a rotation, reflection or squeeze of the learned map shows.

  Args:
    rows: (label, (true z, true means, q means, learned-decoder means)), each [N, 2].
    title: the figure's title.
  """
  figure = Figure(figsize=(3.4 * len(POSTERIOR_PANELS), 3.3 * len(rows) + 0.6), dpi=_DPI,
                  layout="constrained")
  grid = figure.subplots(len(rows), len(POSTERIOR_PANELS), squeeze=False, sharex=True,
                         sharey=True)
  for axes_row, (label, panels) in zip(grid, rows):
    if len(panels) != len(POSTERIOR_PANELS):
      raise ValueError(f"Each row needs {len(POSTERIOR_PANELS)} point sets, got {len(panels)}.")
    true_means = np.asarray(panels[1], np.float64)
    angle = np.arctan2(true_means[:, 1], true_means[:, 0])
    for axes, points, name in zip(axes_row, panels, POSTERIOR_PANELS):
      points = np.asarray(points, np.float64)
      if points.shape != true_means.shape:
        raise ValueError(f"{label}: {name} has shape {points.shape}, the true means "
                         f"{true_means.shape}.")
      scatter = axes.scatter(points[:, 0], points[:, 1], c=angle, cmap="twilight", s=6,
                             vmin=-np.pi, vmax=np.pi)
      axes.set_title(f"{label}: {name}", fontsize=9)
      axes.set_xlabel("z1")
      axes.set_ylabel("z2")
  figure.colorbar(scatter, ax=grid, label="angle of the true posterior mean [rad]",
                  shrink=0.8)
  figure.suptitle(title)
  return figure


def png_bytes(figure) -> bytes:
  """The figure as PNG bytes."""
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=_DPI)
  return buffer.getvalue()


def save_figure(figure, stem):
  """Writes `stem`.png and `stem`.svg (any tf.io.gfile path); returns their paths."""
  paths = []
  for extension in FORMATS:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=extension, dpi=_DPI)
    path = f"{stem}.{extension}"
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.gfile.GFile(path, "wb") as f:
      f.write(buffer.getvalue())
    paths.append(path)
  return paths
