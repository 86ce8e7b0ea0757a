"""The Pareto-front picture: ticks, where points and lines land, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import plotting


@pytest.mark.parametrize("low, high", [(0.0, 6.0), (9.1, 10.9), (9.16, 9.33), (-0.4, 0.3),
                                       (2.0, 2.0)])
def test_ticks_cover_the_range_with_round_steps(low, high):
  ticks = plotting.nice_ticks(low, high)
  assert ticks[0] <= low and ticks[-1] >= high and 2 <= len(ticks) <= 12
  steps = np.diff(ticks)
  np.testing.assert_allclose(steps, steps[0])
  mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
  assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


def _has_colour(pixels, colour):
  return np.all(pixels == np.array(colour, np.uint8), axis=-1)


def test_points_and_optimum_land_where_the_axes_say():
  png = plotting.front_png([([0.0, 2.0, 4.0], [9.5, 10.0, 11.0]), ([1.0], [9.3])], optimum=9.2,
                           width=400, height=300)
  pixels = tf.io.decode_png(png).numpy()
  assert pixels.shape == (300, 400, 3)
  blue = _has_colour(pixels, plotting.COLOURS[0])
  orange = _has_colour(pixels, plotting.COLOURS[1])
  grey = _has_colour(pixels, (150, 150, 150))
  assert blue.sum() > 50 and orange.sum() >= 40  # Squares of 7x7 (and blue's segments).
  # The lowest NLL is the orange point, the highest MI the blue one.
  assert np.argwhere(orange)[:, 0].max() > np.argwhere(blue)[:, 0].max()
  assert np.argwhere(blue)[:, 1].max() > np.argwhere(orange)[:, 1].max()
  # The optimum is one dashed row below (larger row index than) every point.
  rows = np.unique(np.argwhere(grey)[:, 0])
  assert len(rows) == 1 and rows[0] > np.argwhere(orange)[:, 0].max()
  assert 0.3 < grey[rows[0]].sum() / 400 < 0.6  # Dashed: about half of the width.


@pytest.mark.parametrize("series, message", [
    ([], "1 to 8 series"),
    ([([0.0], [np.nan])], "finite"),
    ([([], [])], "at least one point"),
])
def test_bad_series_are_refused(series, message):
  with pytest.raises(ValueError, match=message):
    plotting.front_png(series)
