"""The Pareto-front figure: what it shows, read back from the figure object, and its files."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import plotting
from tfvae.training import sweep


def _front():
  return plotting.front_figure([("dreg 1 renyi", [4.0, 0.0, 2.0], [11.0, 9.5, 10.0]),
                                ("dreg 16 renyi", [1.0], [9.3])],
                               optimum=9.2, title="Pareto fronts: uniform10k, cpu scale")


def test_the_front_shows_its_series_in_increasing_mi_with_the_optimum_labelled():
  axes = _front().axes[0]
  assert axes.get_title() == "Pareto fronts: uniform10k, cpu scale"
  assert axes.get_xlabel() == "mutual information I(X; Z), U - S estimate [nats]"
  assert axes.get_ylabel() == "NLL [nats]"
  legend = axes.get_legend()
  assert legend.get_title().get_text() == "estimator, K, objective"
  assert [text.get_text() for text in legend.get_texts()] == [
      "dreg 1 renyi", "dreg 16 renyi", "optimum NLL 9.200 nats"]
  first, second, optimum = axes.get_lines()
  np.testing.assert_array_equal(first.get_xdata(), [0.0, 2.0, 4.0])
  np.testing.assert_array_equal(first.get_ydata(), [9.5, 10.0, 11.0])
  assert first.get_marker() == "o" and first.get_color() != second.get_color()
  np.testing.assert_array_equal(optimum.get_ydata(), [9.2, 9.2])
  assert optimum.get_linestyle() == "--"


def test_the_figure_is_written_as_png_and_svg(tmp_path):
  paths = plotting.save_figure(_front(), str(tmp_path / "sub" / "front"))
  assert paths == [str(tmp_path / "sub" / "front.png"), str(tmp_path / "sub" / "front.svg")]
  png = (tmp_path / "sub" / "front.png").read_bytes()
  assert tf.io.decode_png(png).shape == (480, 640, 4)
  svg = (tmp_path / "sub" / "front.svg").read_text()
  assert svg.lstrip().startswith("<?xml") and "dreg 16 renyi" in svg
  assert plotting.png_bytes(_front())[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sweep_labels_its_axes_per_token_for_ptb35():
  rows = [dict(series="dreg 16 kl", mi=0.1, nll=5.0, on_front=True)]
  axes = sweep.front_figure(rows, sweep.SweepSpec(task="ptb35", scale="cpu")).axes[0]
  assert axes.get_ylabel() == "NLL [nats per token]"
  assert axes.get_title() == "Pareto fronts: ptb35, cpu scale"
  assert len(axes.get_lines()) == 1  # No optimum known for PTB.


def test_a_table_shows_each_method_against_kl_and_mi_leaving_out_what_is_na():
  figure = plotting.trade_off_figure([("VAE", 102.6, 1.08, 0.8), ("FB", 101.0, 4.46, None)],
                                     title="ptb_classic, paper scale")
  by_kl, by_mi = figure.axes
  assert figure.get_suptitle() == "ptb_classic, paper scale"
  assert by_kl.get_xlabel() == "KL(q(z|x) || p(z)) [nats]"
  assert by_mi.get_xlabel() == "mutual information I(X; Z) [nats]"
  assert by_kl.get_ylabel() == "NLL [nats]"
  assert [text.get_text() for text in figure.legends[0].get_texts()] == ["VAE", "FB"]
  assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in by_kl.get_lines()] == [
      (1.08, 102.6), (4.46, 101.0)]
  assert [line.get_label() for line in by_mi.get_lines()] == ["VAE"]  # FB's MI is n/a.
  with pytest.raises(ValueError, match="at least one method"):
    plotting.trade_off_figure([], title="t")


@pytest.mark.parametrize("series, message", [
    ([], "1 to 10 series"),
    ([("a", [0.0], [np.nan])], "not finite"),
    ([("a", [], [])], "at least one point"),
])
def test_bad_series_are_refused(series, message):
  with pytest.raises(ValueError, match=message):
    plotting.front_figure(series, title="t")


def test_the_posterior_figure_keeps_each_points_colour_across_its_panels():
  rng = np.random.default_rng(0)
  true_means = rng.normal(size=(30, 2))
  rows = [("VAE", (true_means + 0.1, true_means, 0.2 * true_means, -true_means)),
          ("LiBI", (true_means, true_means, true_means, true_means))]
  figure = plotting.posterior_means_figure(rows, title="LinearJTEx: posterior means")
  panels = figure.axes[:8]
  assert [axes.get_title() for axes in panels[:4]] == [
      f"VAE: {name}" for name in plotting.POSTERIOR_PANELS]
  assert all(axes.get_xlabel() == "z1" and axes.get_ylabel() == "z2" for axes in panels)
  angle = np.arctan2(true_means[:, 1], true_means[:, 0])
  for axes, points in zip(panels[:4], rows[0][1]):
    collection = axes.collections[0]
    np.testing.assert_allclose(collection.get_offsets(), points)
    np.testing.assert_allclose(collection.get_array(), angle)
  assert figure.axes[-1].get_ylabel() == "angle of the true posterior mean [rad]"
  with pytest.raises(ValueError, match="needs 4 point sets"):
    plotting.posterior_means_figure([("VAE", (true_means,))], title="x")
  with pytest.raises(ValueError, match="shape"):
    plotting.posterior_means_figure([("VAE", (true_means, true_means, true_means[:3],
                                              true_means))], title="x")
