"""Pictures of the latent space during training (METHODS.md E12; Shen et al. (2021), figure 1).

After every epoch `LatentPictures` encodes a fixed sample of the validation
split and draws the posterior means in two dimensions (2-d latents directly,
1-d ones against 0, more dimensions projected on their first two principal
components), coloured by class where the data set has labels (D4's mixture
components, MNIST digits, Yelp sentiment), over the contours of the aggregate
posterior q(z) = (1/N) sum_i q(z|x_i) when the latents are 2-d diagonal
Gaussians. The picture goes to TensorBoard (`validation/`, tag
`latent_means`) and, at the end of the run, to `latents.png` and `latents.svg`
in the run directory.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import metrics
from tfvae import plotting
from tfvae.data.errors import DataError
from tfvae.metrics.densities import is_diagonal_gaussian

__all__ = ["LatentPictures", "aggregate_density", "project"]

TAG = "latent_means"
FILE_STEM = "latents"
_GRID = 80


def project(means):
  """(points [N, 2], axis labels): the means themselves, or their first two principal components."""
  means = np.asarray(means, np.float64).reshape(len(means), -1)
  if means.shape[1] == 1:
    return np.concatenate([means, np.zeros_like(means)], axis=1), ("z1", "(none)")
  if means.shape[1] == 2:
    return means, ("z1", "z2")
  centred = means - means.mean(axis=0)
  _, singular, right = np.linalg.svd(centred, full_matrices=False)
  shares = singular**2 / max(np.sum(singular**2), 1e-300)
  labels = tuple(f"PC{k + 1} ({100 * shares[k]:.0f}% of the variance)" for k in range(2))
  return centred @ right[:2].T, labels


def aggregate_density(loc, scale, grid_size=_GRID):
  """(x [G], y [G], q [G, G]): (1/N) sum_i N(z; loc_i, diag(scale_i^2)) on a grid over the means.

  q[i, j] is the density at (x[j], y[i]); the grid covers the means and 3
  standard deviations of the widest posterior around them.
  """
  loc, scale = np.asarray(loc, np.float64), np.asarray(scale, np.float64)
  low = (loc - 3 * scale).min(axis=0)
  high = (loc + 3 * scale).max(axis=0)
  x, y = np.linspace(low[0], high[0], grid_size), np.linspace(low[1], high[1], grid_size)
  grid = np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 1, 2)  # [G*G, 1, 2]
  standardised = (grid - loc[None]) / scale[None]  # [G*G, N, 2]
  log_q = (-0.5 * np.sum(standardised**2, axis=-1) - np.sum(np.log(scale), axis=-1)[None]
           - np.log(2 * np.pi))
  return x, y, np.exp(log_q).mean(axis=1).reshape(grid_size, grid_size)


class LatentPictures(keras.callbacks.Callback):
  """Draws the posterior means of a fixed validation sample after every epoch.

  Args:
    dataset: the run's `tfvae.data.DataSet`.
    model_dir: the run directory.
    num_examples: the sample: the first examples of the validation split.

  Only the chief of a run adds it (it writes into the run directory).
  """

  def __init__(self, dataset, model_dir, num_examples):
    super().__init__()
    self.x = next(iter(dataset.batches("valid", num_examples)))
    try:
      self.labels = np.asarray(dataset.labels("valid"))[:len(self.x)]
    except DataError:
      self.labels = None
    self.name = dataset.name
    self.model_dir = model_dir
    self._writer = None
    self._figure = None

  def figure(self, epoch):
    """The picture of the model's current posterior means."""
    posterior = self.model.posterior(self.x, training=False)
    means, _ = metrics.posterior_means(posterior, tf.constant([0, 0], tf.int32))
    points, axis_labels = project(means.numpy())
    density = None
    if is_diagonal_gaussian(posterior) and posterior.event_shape[-1] == 2:
      density = aggregate_density(means.numpy(), posterior.stddev().numpy())
    title = f"Posterior means of {len(points)} {self.name} validation examples, epoch {epoch}"
    return plotting.latent_figure(points, title=title, axis_labels=axis_labels,
                                  labels=self.labels, density=density)

  def on_epoch_end(self, epoch, logs=None):
    self._figure = self.figure(epoch + 1)
    if self._writer is None:
      self._writer = tf.summary.create_file_writer(os.path.join(self.model_dir, "validation"))
    image = tf.image.decode_png(plotting.png_bytes(self._figure))[None]
    with self._writer.as_default(), tf.summary.record_if(True):
      tf.summary.image(TAG, image, step=epoch)
    self._writer.flush()

  def on_train_end(self, logs=None):
    if self._figure is not None:
      paths = plotting.save_figure(self._figure, os.path.join(self.model_dir, FILE_STEM))
      logging.info("Latent picture: %s", ", ".join(paths))
