"""The 2-d latent study (Shen et al. (2021), figure 1): its numbers, its figure, a tiny run."""

import json

import numpy as np

from tests import launch_runs
from tfvae import plotting
from tfvae.training import latent_study


def test_the_cluster_share_is_one_for_separated_classes_and_zero_for_mixed_ones():
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(5), 200)
  centres = rng.normal(scale=10.0, size=[5, 2])
  separated = centres[labels] + rng.normal(scale=0.01, size=[1000, 2])
  assert latent_study.cluster_share(separated, labels) > 0.999
  mixed = rng.normal(size=[1000, 2])
  assert latent_study.cluster_share(mixed, labels) < 0.02
  # Against the textbook decomposition: between = total - within.
  points = centres[labels] + rng.normal(scale=3.0, size=[1000, 2])
  within = sum(np.sum((points[labels == k] - points[labels == k].mean(0))**2) for k in range(5))
  total = np.sum((points - points.mean(0))**2)
  np.testing.assert_allclose(latent_study.cluster_share(points, labels), 1 - within / total)
  assert latent_study.cluster_share(np.zeros([4, 2]), np.arange(4)) == 0.0


def test_panels_are_drawn_side_by_side_with_their_titles_and_classes():
  panels = [{"label": name, "points": np.random.default_rng(k).normal(size=[30, 2]),
             "classes": np.arange(30) % 3} for k, name in enumerate(["VAE", "DU-VAE"])]
  figure = plotting.latent_panels_figure(panels, title="study")
  axes = figure.get_axes()
  assert [a.get_title() for a in axes] == ["VAE", "DU-VAE"]
  assert [a.get_xlabel() for a in axes] == ["z1", "z1"]
  assert [t.get_text() for t in axes[1].get_legend().get_texts()] == [
      "class 0", "class 1", "class 2"]
  assert figure.get_suptitle() == "study"


def test_a_tiny_study_trains_every_model_and_writes_the_figure(tmp_path, monkeypatch):
  monkeypatch.setitem(latent_study.SCALES, "tiny", dict(
      embed_dim=8, hidden_dim=16, epochs=1, steps_per_epoch=2, eval_samples=2,
      eval_chunk_size=2, test_examples=10, latent_pictures=0, verbose=0,
      data_options={"num_train": 64, "num_valid": 16, "num_test": 40}))
  monkeypatch.setattr(latent_study, "NUM_POINTS", 40)
  monkeypatch.setattr(latent_study, "ROWS", latent_study.ROWS[::2])  # VAE, DU-VAE: quicker.
  paths = latent_study.run_study("tiny", str(tmp_path / "runs"), str(tmp_path / "results"),
                                 verbose=0)
  assert paths[-1].endswith("latent_study_tiny.json")
  measured = json.loads((tmp_path / "results" / "latent_study_tiny.json").read_text())
  assert [entry["label"] for entry in measured] == [row.label for row in latent_study.ROWS]
  for entry in measured:
    assert np.isfinite(entry["test"]["nll"]) and entry["spread"] >= 0
    assert 0.0 <= entry["cluster_share"] <= 1.0
  assert (tmp_path / "results" / "latent_study_tiny.png").read_bytes()[:4] == b"\x89PNG"
  images = [value for event in launch_runs.events(tmp_path / "runs" / "study")
            for value in event.summary.value if value.tag == "latent_study_tiny"]
  assert len(images) == 1
  # A second call reads the finished runs back instead of training them again.
  before = (tmp_path / "runs" / "vae" / "results.json").stat().st_mtime
  latent_study.run_study("tiny", str(tmp_path / "runs"), str(tmp_path / "results"), verbose=0)
  assert (tmp_path / "runs" / "vae" / "results.json").stat().st_mtime == before


def test_the_launcher_refuses_an_unknown_scale():
  result = launch_runs.run("launch.latent_study", "--scale=huge", check=False)
  assert result.returncode != 0 and "--scale" in result.stderr

