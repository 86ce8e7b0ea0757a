"""Pictures of the latent space: projection, aggregate density, the per-epoch callback."""

import numpy as np
import scipy.stats
import tensorflow as tf

from tests import launch_runs
from tfvae import methods
from tfvae import plotting
from tfvae.training import latent_pictures
from tfvae.training import loop
from tfvae.training.config import Config


def test_more_than_two_dimensions_are_projected_on_their_principal_components():
  rng = np.random.default_rng(0)
  # Variance 9 along (1, 1, 0)/sqrt(2), 1 along z3, nearly none along (1, -1, 0).
  along = rng.normal(size=(400, 1)) * 3 * np.array([[1, 1, 0]]) / np.sqrt(2)
  means = along + rng.normal(size=(400, 3)) * np.array([0.01, 0.01, 1.0])
  points, labels = latent_pictures.project(means)
  np.testing.assert_allclose(np.var(points, axis=0), np.var(means @ np.array(
      [[1, 0], [1, 0], [0, 1]]) / np.array([np.sqrt(2), 1]), axis=0), rtol=0.05)
  eigenvalues = np.linalg.eigvalsh(np.cov(means.T))[::-1]
  shares = 100 * eigenvalues / eigenvalues.sum()
  assert labels == (f"PC1 ({shares[0]:.0f}% of the variance)",
                    f"PC2 ({shares[1]:.0f}% of the variance)")
  assert 88 < shares[0] < 93
  two, names = latent_pictures.project(means[:, :2])
  np.testing.assert_array_equal(two, means[:, :2])
  assert names == ("z1", "z2")


def test_the_aggregate_density_is_the_mixture_of_the_posteriors():
  loc = np.array([[0.0, 0.0], [2.0, -1.0]])
  scale = np.array([[1.0, 0.5], [0.3, 0.8]])
  x, y, density = latent_pictures.aggregate_density(loc, scale, grid_size=30)
  i, j = 11, 17
  want = np.mean([scipy.stats.multivariate_normal(loc[k], np.diag(scale[k]**2)).pdf([x[j], y[i]])
                  for k in range(2)])
  np.testing.assert_allclose(density[i, j], want, rtol=1e-10)
  dx, dy = x[1] - x[0], y[1] - y[0]
  assert 0.97 < density.sum() * dx * dy < 1.01  # The grid holds (nearly) all the mass.


def test_the_callback_draws_every_epoch_coloured_by_class(tmp_path):
  config = Config(dataset="synthetic_mog", embed_dim=8, hidden_dim=16, latent_dim=2,
                  data_options=dict(num_train=8, num_valid=40, num_test=2, length=5)).resolved()
  dataset = loop.load_data(config)
  model = methods.build(config, dataset)
  pictures = latent_pictures.LatentPictures(dataset, str(tmp_path), 30)
  pictures.set_model(model)
  for epoch in range(2):
    pictures.on_epoch_end(epoch)
  pictures.on_train_end()
  assert (tmp_path / "latents.png").read_bytes()[:4] == b"\x89PNG"
  svg = (tmp_path / "latents.svg").read_text()
  assert "aggregate posterior q(z)" in svg and "class 0" in svg and "epoch 2" in svg
  images = [(event.step, value) for event in launch_runs.events(tmp_path / "validation")
            for value in event.summary.value if value.tag == latent_pictures.TAG]
  assert [step for step, _ in images] == [0, 1]
  assert tf.io.decode_png(images[0][1].tensor.string_val[2]).shape[:2] == (540, 640)
  # The points are the posterior means of the first 30 validation sentences.
  x = next(iter(dataset.batches("valid", 30)))
  figure = pictures.figure(epoch=2)
  offsets = np.concatenate([c.get_offsets() for c in figure.axes[0].collections[-len(
      np.unique(dataset.labels("valid")[:30])):]])
  np.testing.assert_allclose(np.sort(offsets, axis=0),
                             np.sort(model.posterior(x).mean().numpy(), axis=0), rtol=1e-5)


def test_the_figure_has_its_classes_and_contours():
  points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
  density = latent_pictures.aggregate_density(points, np.ones_like(points), grid_size=20)
  figure = plotting.latent_figure(points, title="t", labels=[1, 0, 1], density=density,
                                  axis_labels=("PC1", "PC2"))
  axes = figure.axes[0]
  assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == ("PC1", "PC2", "t")
  assert [text.get_text() for text in axes.get_legend().get_texts()] == [
      "aggregate posterior q(z)", "class 0", "class 1"]
  assert [len(c.get_offsets()) for c in axes.collections[-2:]] == [1, 2]
