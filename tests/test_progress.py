"""Progress of long commands: table rows and sweep points with the time left, evaluation batches."""

import io

import numpy as np

from tfvae import metrics
from tfvae.models.linear_gaussian import LinearGaussianModel
from tfvae.training.progress import ItemProgress


def test_items_are_counted_with_the_mean_time_per_item_and_what_is_left():
  now = [0.0]
  stream = io.StringIO()
  progress = ItemProgress("row", 3, stream=stream, clock=lambda: now[0])
  for name, seconds in (("vae", 30.0), ("beta_vae", 150.0), ("cyclical", 0.0)):
    progress.begin(name)
    now[0] += seconds
    progress.end()
  assert stream.getvalue().splitlines() == [
      "[row 1/3] vae",
      "[row 2/3] beta_vae (30 s per row so far, about 1.0 min left)",
      "[row 3/3] cyclical (1.5 min per row so far, about 1.5 min left)"]
  quiet = io.StringIO()
  silent = ItemProgress("point", 2, verbose=0, stream=quiet)
  silent.begin("a")
  assert quiet.getvalue() == ""


def test_evaluation_shows_its_batches_only_when_asked(capsys):
  rng = np.random.default_rng(0)
  model = LinearGaussianModel(rng.normal(size=(3, 2)), np.zeros(3), 0.5)
  batches = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(2)]
  metrics.evaluate(model, batches, num_samples=2, chunk_size=2)
  assert capsys.readouterr().out == ""
  metrics.evaluate(model, batches, num_samples=2, chunk_size=2, verbose=2)
  out = capsys.readouterr().out
  assert "2/2" in out and "examples: 8" in out
