"""NLL-against-MI pictures (METHODS.md E11) drawn with numpy and encoded with tf.io.encode_png.

The product has no plotting library, and a Pareto front needs only points,
segments, a dashed reference line and numbered axes, so this module draws
them on an RGB array itself: segments by sampling them at every pixel along
their longer side, digits from a 3x5 bitmap font. Series are told apart by
colour (`COLOURS`, in order); the caller states the legend in words next to
the picture (the README, the CSV, the TensorBoard text).
"""

import math

import numpy as np
import tensorflow as tf

COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (23, 190, 207))
_GREY = (150, 150, 150)
_BLACK = (0, 0, 0)
# 3 x 5 digits, one string of 15 pixels per glyph, row by row.
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
}
_SCALE = 2  # Each font pixel is a 2 x 2 block.
_MARGIN = dict(left=70, right=20, top=20, bottom=45)


def nice_ticks(low, high, count=6):
  """Round tick values from at most `low` to at least `high`, about `count` of them."""
  if not high > low:
    high = low + 1.0
  raw = (high - low) / max(count - 1, 1)
  magnitude = 10.0 ** math.floor(math.log10(raw))
  step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))
  first = math.floor(low / step + 1e-9) * step
  count = math.ceil((high - first) / step - 1e-9)
  return [round(first + i * step, 10) for i in range(count + 1)]


class _Canvas:
  """An RGB image with a data-to-pixel mapping for the plot area."""

  def __init__(self, width, height, x_range, y_range):
    self.pixels = np.full((height, width, 3), 255, np.uint8)
    self.width, self.height = width, height
    self.x_range, self.y_range = x_range, y_range
    self.left, self.right = _MARGIN["left"], width - _MARGIN["right"]
    self.top, self.bottom = _MARGIN["top"], height - _MARGIN["bottom"]

  def to_pixel(self, x, y):
    (x0, x1), (y0, y1) = self.x_range, self.y_range
    col = self.left + (x - x0) / (x1 - x0) * (self.right - self.left)
    row = self.bottom - (y - y0) / (y1 - y0) * (self.bottom - self.top)
    return int(round(row)), int(round(col))

  def dot(self, row, col, colour, radius=0):
    r0, r1 = max(row - radius, 0), min(row + radius + 1, self.height)
    c0, c1 = max(col - radius, 0), min(col + radius + 1, self.width)
    if r0 < r1 and c0 < c1:
      self.pixels[r0:r1, c0:c1] = colour

  def segment(self, start, end, colour, dash=0, width=0):
    (r0, c0), (r1, c1) = start, end
    steps = max(abs(r1 - r0), abs(c1 - c0), 1)
    for i in range(steps + 1):
      if dash and (i // dash) % 2:
        continue
      t = i / steps
      self.dot(int(round(r0 + t * (r1 - r0))), int(round(c0 + t * (c1 - c0))), colour, width)

  def text(self, row, col, string, colour=_BLACK):
    """Draws `string` (digits, '.', '-') with its top-left corner at (row, col)."""
    for k, char in enumerate(string):
      glyph = np.array([int(b) for b in _FONT[char]], bool).reshape(5, 3)
      block = np.kron(glyph, np.ones((_SCALE, _SCALE), bool))
      r, c = row, col + k * 4 * _SCALE
      region = self.pixels[r:r + block.shape[0], c:c + block.shape[1]]
      region[block[:region.shape[0], :region.shape[1]]] = colour

  def text_width(self, string):
    return len(string) * 4 * _SCALE - _SCALE


def _label(value):
  return f"{value:g}"


def front_png(series, *, optimum=None, width=640, height=480):
  """PNG bytes of NLL (y) against MI (x) for each series of points.

  Args:
    series: list of (mi, nll) pairs of equal-length sequences; series i is
      drawn in COLOURS[i] as squares joined in order of increasing MI.
    optimum: NLL of the best possible model, drawn as a dashed grey line.
    width, height: picture size in pixels.

  Returns:
    bytes of a PNG image.
  """
  if not series or len(series) > len(COLOURS):
    raise ValueError(f"front_png draws 1 to {len(COLOURS)} series, got {len(series)}.")
  mis = np.concatenate([np.asarray(mi, np.float64) for mi, _ in series])
  nlls = np.concatenate([np.asarray(nll, np.float64) for _, nll in series])
  if mis.size == 0 or not (np.all(np.isfinite(mis)) and np.all(np.isfinite(nlls))):
    raise ValueError("front_png needs at least one point and finite values.")
  y_values = np.append(nlls, optimum) if optimum is not None else nlls
  x_ticks = nice_ticks(min(0.0, mis.min()), max(mis.max(), 1.0))
  y_pad = max(0.05 * (y_values.max() - y_values.min()), 0.05)
  y_ticks = nice_ticks(y_values.min() - y_pad, y_values.max() + y_pad)
  canvas = _Canvas(width, height, (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1]))

  for tick in x_ticks:
    row, col = canvas.to_pixel(tick, y_ticks[0])
    canvas.segment((row, col), (row + 5, col), _BLACK)
    label = _label(tick)
    canvas.text(row + 10, col - canvas.text_width(label) // 2, label)
  for tick in y_ticks:
    row, col = canvas.to_pixel(x_ticks[0], tick)
    canvas.segment((row, col - 5), (row, col), _BLACK)
    label = _label(tick)
    canvas.text(row - 5, col - 10 - canvas.text_width(label), label)
  canvas.segment((canvas.top, canvas.left), (canvas.bottom, canvas.left), _BLACK)
  canvas.segment((canvas.bottom, canvas.left), (canvas.bottom, canvas.right), _BLACK)
  if optimum is not None:
    row, _ = canvas.to_pixel(x_ticks[0], optimum)
    canvas.segment((row, canvas.left), (row, canvas.right), _GREY, dash=6)

  for colour, (mi, nll) in zip(COLOURS, series):
    order = np.argsort(np.asarray(mi, np.float64), kind="stable")
    points = [canvas.to_pixel(float(mi[i]), float(nll[i])) for i in order]
    for start, end in zip(points, points[1:]):
      canvas.segment(start, end, colour)
    for row, col in points:
      canvas.dot(row, col, colour, radius=3)
  return tf.io.encode_png(canvas.pixels).numpy()
