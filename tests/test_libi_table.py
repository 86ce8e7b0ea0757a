"""--table=libi (Yacoby et al. (2020), table 1): grids, selection by the validation objective,
the truth's rows against scipy, a tiny table end to end and read back, and the launcher."""

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats

from tests import launch_runs
from tfvae.data import libi
from tfvae.training import libi_table
from tfvae.training import loop
from tfvae.training.config import ConfigError

TINY = dataclasses.replace(
    libi_table.SCALES["cpu"],
    fields=dict(libi_table.SCALES["cpu"].fields, epochs=1, steps_per_epoch=10, eval_samples=20,
                eval_chunk_size=20),
    replicates=1, restarts=2, knn_repetitions=20, per_method={},
    grids={**libi_table.SCALES["cpu"].grids,
           "libi": {"*": [{"eps_hz": 1.0, "eps_sigma": 0.5, "eps_mu": 0.5,
                           "libi_repetitions": 1}]}})


@pytest.mark.parametrize("scale", list(libi_table.SCALES))
def test_every_run_of_both_scales_is_a_valid_config(scale, tmp_path):
  spec = libi_table.SCALES[scale]
  for method in libi_table.METHODS:
    for kind in libi_table.KINDS:
      points = libi_table.grid_points(spec, method, kind)
      assert points and len({libi_table.point_name(p) for p in points}) == len(points)
      for point in points:
        config = libi_table.run_config(spec, method, kind, point, 4, 1, str(tmp_path))
        config.resolved().validate()
        assert config.dataset == f"libi_{kind}" and config.data_options == {"replicate": 4}
        assert config.seed == 1 and config.evaluate_valid and config.batch_size == 500


def test_the_paper_scale_has_appendix_e_grids():
  paper = libi_table.SCALES["paper"]
  assert [p["lag_segments"] for p in libi_table.grid_points(paper, "lagging", "gaussian")] == [
      5, 10, 15, 20]
  libi_points = libi_table.grid_points(paper, "libi", "linear_jtex")
  assert len(libi_points) == 4 * 2 * 2 * 2
  assert {p["eps_hz"] for p in libi_table.grid_points(paper, "libi", "mobius")} == {1, 10, 20}
  assert paper.restarts == 10 and paper.knn_repetitions == 20000


def test_each_method_is_chosen_by_its_own_validation_objective():
  def results(model, beta, recon, kl, nll):
    return {"config": {"model": model, "beta": beta},
            "valid": {"recon": recon, "kl": kl, "nll": nll}}
  # beta-VAE (0.5): recon + 0.5 KL, not the NLL, decides.
  assert libi_table.validation_objective(results("vae", 0.5, 2.0, 4.0, 9.0)) == 4.0
  # LiBI: its validation likelihood.
  assert libi_table.validation_objective(results("libi", 1.0, 2.0, 4.0, 3.5)) == 3.5


def test_the_truths_rows_are_its_exact_likelihood_and_a_null_s_knn():
  scale = dataclasses.replace(TINY, replicates=2, knn_repetitions=200)
  test_ll, sknn = libi_table.true_rows("linear_jtex", scale)
  for replicate in range(2):
    x = libi.generate("linear_jtex", replicate)["test"][0]
    a = np.array([[0.75, 0.25], [1.5, -1.0]])  # Yacoby et al. (2020), appendix E
    exact = stats.multivariate_normal(np.zeros(2), a @ a.T + 0.01 * np.eye(2)).logpdf(x).mean()
    assert test_ll[replicate] == pytest.approx(exact, abs=1e-9)
  # Two samples of one distribution: mean 0, standard error 1/sqrt(200) = 0.07.
  assert all(abs(value) < 0.3 for value in sknn), sknn
  assert libi_table.true_rows("mobius", dataclasses.replace(TINY, knn_repetitions=2))[0] is None


def test_a_tiny_table_runs_draws_its_figure_and_reads_itself_back(tmp_path, monkeypatch):
  runs, results = tmp_path / "runs", tmp_path / "results"
  markdown = libi_table.run_table("tiny", str(runs), str(results), methods=["vae", "libi"],
                                  kinds=("linear_jtex",), verbose=0, scale=TINY)
  rows = [line for line in markdown.splitlines() if line.startswith("| ")]
  assert rows[0].startswith("| method | LinearJTEx Test-LL | LinearJTEx S-kNN")
  assert [row.split(" | ")[0] for row in rows[1:4]] == ["| true model", "| VAE", "| LiBI"]
  assert "-2.99 ± 0.03 / 0.06 ± 0.05" in markdown  # LiBI's published LinearJTEx cell
  saved = json.loads((results / "libi_tiny.json").read_text())
  for method in ("vae", "libi"):
    entry = saved["methods"][method]["linear_jtex"]
    point = libi_table.grid_points(TINY, method, "linear_jtex")[0]
    # Read back (trained above): the kept restart is the one its objective prefers.
    candidates = [loop.read_or_train_stages(libi_table.run_config(
        TINY, method, "linear_jtex", point, 0, restart, str(runs)))[0] for restart in range(2)]
    kept_expected = min(candidates, key=libi_table.validation_objective)
    kept = entry["model_dirs"][0]
    assert kept == kept_expected["config"]["model_dir"]
    assert entry["test_ll"] == [-kept_expected["test"]["nll"]]
    assert np.isfinite(entry["sknn"][0])
  assert (results / "libi_posteriors_tiny.png").read_bytes()[:4] == b"\x89PNG"
  svg = (results / "libi_posteriors_tiny.svg").read_text()
  assert "posterior means of the learned decoder" in svg and "z1" in svg

  def must_not_train(config):
    raise AssertionError(f"{config.model_dir} was trained again")

  monkeypatch.setattr(loop, "train", must_not_train)
  again = libi_table.run_table("tiny", str(runs), str(results), methods=["vae", "libi"],
                               kinds=("linear_jtex",), verbose=0, scale=TINY)
  assert again.splitlines()[1:] == markdown.splitlines()[1:]
  assert libi_table.replot("tiny", str(results))[0].endswith("libi_posteriors_tiny.png")


def test_unknown_rows_and_scales_are_config_errors(tmp_path):
  with pytest.raises(ConfigError, match="beta_vae_anneal"):
    libi_table.run_table("cpu", str(tmp_path), str(tmp_path), methods=["vea"])
  with pytest.raises(ConfigError, match="--scale"):
    libi_table.run_table("huge", str(tmp_path), str(tmp_path))
  with pytest.raises(ConfigError, match="reproduce the table first"):
    libi_table.replot("cpu", str(tmp_path))


def test_the_launcher_refuses_unknown_rows_and_a_data_half():
  bad_row = launch_runs.run("launch.reproduce", "--table=libi", "--rows=vea", check=False)
  assert bad_row.returncode != 0 and "Unknown rows or kinds ['vea']" in bad_row.stderr
  assert "Traceback" not in bad_row.stderr
  half = launch_runs.run("launch.reproduce", "--table=libi", "--data=yelp", check=False)
  assert half.returncode != 0 and "--data applies to --table=du_vae" in half.stderr


def test_bad_evaluation_and_study_inputs_are_one_line_errors():
  from tfvae.training.config import Config
  with pytest.raises(ConfigError, match="eval_proposal_variance .* must be positive"):
    Config(eval_proposal_variance=0.0).resolved().validate()
  assert Config(dataset="libi_gaussian").resolved().eval_proposal_variance == 2.0
  assert Config().resolved().eval_proposal_variance == 1.0
  bad_seeds = launch_runs.run("launch.libi_step3", "--seeds=0,one", check=False)
  assert bad_seeds.returncode != 0 and "--seeds takes integers" in bad_seeds.stderr
  assert "Traceback" not in bad_seeds.stderr
