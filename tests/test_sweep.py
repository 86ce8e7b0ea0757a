"""The sweep's grid and fronts (E11); the end-to-end command is in test_launch_methods.py."""

import math

import pytest

from tfvae.training import config as config_lib
from tfvae.training import sweep


def test_grid_has_one_run_per_point_and_series(tmp_path):
  spec = sweep.SweepSpec(samples=(1, 16), objectives=("kl", "renyi", "power"),
                         lambdas=(0.0, 0.5), learning_rates=(1e-3, 3e-3), alphas=(0.5, 2.0))
  points = sweep.point_configs(spec, str(tmp_path))
  per_series = {}
  for label, config in points:
    per_series.setdefault(label, []).append(config)
    assert config.model == "monte_carlo" and config.dataset == "uniform10k"
    assert config.data_options == {"num_symbols": 1000} and config.adam_beta1 == 0.0
    assert config.model_dir.startswith(str(tmp_path / "runs"))
  # kl: lambda x lr (alpha unused); renyi: lambda x alpha x lr; power: alpha x lr.
  assert {label: len(configs) for label, configs in per_series.items()} == {
      "dreg 1 kl": 4, "dreg 16 kl": 4, "dreg 1 renyi": 8, "dreg 16 renyi": 8,
      "dreg 1 power": 4, "dreg 16 power": 4}
  assert len({config.model_dir for _, config in points}) == len(points)
  assert {c.mi_lambda for c in per_series["dreg 16 power"]} == {0.0}


def test_categorical_series_use_eight_latents_and_check_the_estimator(tmp_path):
  spec = sweep.SweepSpec(estimator="vimco", latent_type="categorical", lambdas=(0.5,),
                         learning_rates=(1e-3,))
  (label, config), = sweep.point_configs(spec, str(tmp_path))
  assert label == "vimco 16 renyi" and config.latent_dim == 8 and config.num_categories == 10
  spec = sweep.SweepSpec(estimator="vimco", latent_type="categorical", samples=(1, 16),
                         lambdas=(0.5,), learning_rates=(1e-3,))
  assert [(label, config.estimator) for label, config in sweep.point_configs(spec, "d")] == [
      ("reinforce 1 renyi", "reinforce"), ("vimco 16 renyi", "vimco")]  # Melis et al. (2022), Fig. 6.
  with pytest.raises(config_lib.ConfigError, match="reinforce or vimco"):
    sweep.point_configs(sweep.SweepSpec(latent_type="categorical"), str(tmp_path))


def test_ptb35_points_use_004s_text_networks_and_the_scale_grid(tmp_path):
  spec = sweep.SweepSpec(task="ptb35", estimator="vimco", latent_type="categorical")
  points = sweep.point_configs(spec, str(tmp_path))
  assert [config.mi_lambda for _, config in points] == [0.0, 0.5, 0.9]
  for _, config in points:
    assert (config.dataset, config.max_length, config.network) == ("ptb", 35, "bilstm")
    assert config.share_dropout_masks and config.vocab_size == 5000 and config.batch_size == 16
    assert config.latent_dim == 8 and config.steps_per_epoch == 250
  assert sweep.optimum_nll(spec) is None
  assert sweep.optimum_nll(sweep.SweepSpec(scale="paper")) == pytest.approx(9.2103, abs=1e-4)


def test_vq_vae_series_sweeps_latents_and_codes(tmp_path):
  spec = sweep.SweepSpec(estimator="vqvae", vq_shapes=((1, 10), (2, 32)), learning_rates=(1e-3,))
  points = sweep.point_configs(spec, str(tmp_path))
  assert [(label, c.model, c.latent_dim, c.num_categories) for label, c in points] == [
      ("vqvae", "vqvae", 1, 10), ("vqvae", "vqvae", 2, 32)]


def test_asymmetric_sample_counts_name_the_series():
  assert sweep.series_label("dreg", 16, "kl", num_marginal=16, num_kl=1) == "dreg 16/1 kl"
  assert sweep.series_label("vimco", 16, "renyi") == "vimco 16 renyi"


def test_fronts_are_per_series_and_skip_diverged_points():
  rows = [dict(series="a", nll=9.3, mi=0.0), dict(series="a", nll=9.5, mi=1.0),
          dict(series="a", nll=9.6, mi=0.5), dict(series="a", nll=math.nan, mi=math.nan),
          dict(series="b", nll=9.2, mi=0.1)]
  marked = [row["on_front"] for row in sweep.mark_fronts(rows)]
  assert marked == [True, True, False, False, True]


@pytest.mark.parametrize("fields, message", [
    (dict(task="ptb"), "--task"),
    (dict(scale="huge"), "--scale"),
    (dict(lambdas=()), "--lambdas needs at least one value"),
    (dict(task="ptb35", scale="tiny"), "--scale"),
    (dict(samples=(1, 2, 4, 8), objectives=("kl", "renyi", "power")), "At most 10 series"),
])
def test_bad_specs_are_explained(fields, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    sweep.SweepSpec(**fields).check()
