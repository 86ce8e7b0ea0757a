"""The launchers' method options end to end, in subprocesses: remedy presets, Monte-Carlo
objectives, categorical latents, VQ-VAE and the sweep."""

import csv
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tests.launch_runs import TINY
from tests.launch_runs import events as _events
from tests.launch_runs import run as _run
from tests.launch_runs import scalar_values as _scalar_values
from tfvae import schedules


def test_li2019_preset_trains_both_stages_and_resumes(tmp_path):
  flags = ("--preset=li2019_pretrain_fb", f"--model_dir={tmp_path}", "--fb_lambda=2",
           "--epochs=2", "--pretrain_epochs=1", "--steps_per_epoch=3", *TINY)
  first = _run("launch.train", *flags)
  assert tf.train.latest_checkpoint(str(tmp_path / "pretrain")).endswith("ckpt-1")
  assert tf.train.latest_checkpoint(str(tmp_path / "fb")).endswith("ckpt-2")
  pretrain = json.loads((tmp_path / "pretrain" / "results.json").read_text())
  assert pretrain["config"]["objective"] == "autoencoder" and pretrain["test"] == {}
  results = json.loads((tmp_path / "fb" / "results.json").read_text())
  assert results["config"]["objective"] == "free_bits" and results["config"]["fb_lambda"] == 2
  assert results["config"]["init_encoder_from"] == str(tmp_path / "pretrain")
  assert np.isfinite(results["test"]["nll"]) and "| NLL (IW) |" in first.stdout
  again = _run("launch.train", *flags)
  assert json.loads((tmp_path / "fb" / "results.json").read_text())["step"] == results["step"]
  assert again.stdout.split("| NLL (IW) |")[1] == first.stdout.split("| NLL (IW) |")[1]
  # Stage 2 alone, from the stage-1 checkpoint.
  alone = tmp_path / "alone"
  _run("launch.train", f"--model_dir={alone}", "--objective=free_bits", "--fb_lambda=2",
       f"--init_encoder_from={tmp_path / 'pretrain'}", "--epochs=1", "--steps_per_epoch=2",
       *TINY)
  assert tf.train.latest_checkpoint(str(alone)).endswith("ckpt-1")


def test_annealing_preset_logs_a_rising_beta(tmp_path):
  _run("launch.train", "--preset=kl_anneal", f"--model_dir={tmp_path}", "--epochs=2",
       "--steps_per_epoch=6", "--anneal_epochs=2", "--log_every_steps=1", *TINY[:-3])
  betas = [value for _, value in _scalar_values(tmp_path, "train/batch_beta")]
  assert len(betas) >= 6, betas
  assert betas[0] == pytest.approx(0.1)  # schedule(0) = anneal_start, 1 at step 12
  assert all(b2 > b1 for b1, b2 in zip(betas, betas[1:]))
  assert betas[-1] <= 1.0


def test_savae_preset_trains_and_logs_the_refinement(tmp_path):
  _run("launch.train", "--preset=kim2018_savae", "--refine_steps=2", f"--model_dir={tmp_path}",
       "--epochs=1", "--steps_per_epoch=3", *TINY)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["model"] == "savae" and results["config"]["refine_steps"] == 2
  assert np.isfinite(results["test"]["nll"])
  # The refined posterior's ELBO is at least the encoder's: a gain >= 0 (up to noise).
  gains = [value for _, value in _scalar_values(tmp_path, "train/epoch_elbo_gain")]
  assert len(gains) == 1 and gains[0] > -0.05, gains
  assert _scalar_values(tmp_path, "train/epoch_kl_initial")


def test_mixture_prior_from_the_launcher_is_trained_and_checkpointed(tmp_path):
  _run("launch.train", "--prior=mog", "--prior_components=3", f"--model_dir={tmp_path}",
       "--epochs=1", "--steps_per_epoch=3", *TINY)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["prior"] == "mog" and np.isfinite(results["test"]["nll"])
  reader = tf.train.load_checkpoint(str(tmp_path))
  shapes = reader.get_variable_to_shape_map()
  for weight, shape in (("logits", [3]), ("means", [3, 2]), ("log_scales", [3, 2])):
    assert shapes[f"model/prior.S{weight}/.ATTRIBUTES/VARIABLE_VALUE"] == shape, sorted(shapes)
  refused = _run("launch.train", f"--model_dir={tmp_path}", "--epochs=2", *TINY, check=False)
  assert refused.returncode == 1 and "prior" in refused.stderr


def test_cyclical_preset_follows_the_schedule_over_the_whole_run(tmp_path):
  """The launcher's cyclical branch: cycles span epochs x steps_per_epoch steps."""
  _run("launch.train", "--preset=cyclical", "--cycles=2", "--cycle_ramp=0.5",
       f"--model_dir={tmp_path}", "--epochs=2", "--steps_per_epoch=4", "--log_every_steps=1",
       "--evaluate_test=false", *TINY[:-3])
  betas = [value for _, value in _scalar_values(tmp_path, "train/batch_beta")]
  # Step t (logged at t + 1) trains with beta(t): 0, 1/2, 1, 1 in each cycle of 4 steps.
  assert betas == pytest.approx([schedules.cyclical(8, 2, 0.5)(t) for t in range(8)])
  assert betas == pytest.approx([0.0, 0.5, 1.0, 1.0] * 2)


def test_controlvae_preset_steers_the_kl_to_its_target(tmp_path):
  # A target the tiny model reaches within its first 60 steps. The same run at beta = 0
  # (no controller) ends its third epoch at a validation KL of 15 nats (measured).
  _run("launch.train", "--preset=controlvae_kl15", "--desired_kl=1", "--kp=0.5", "--ki=0.01",
       f"--model_dir={tmp_path}", "--epochs=3", "--steps_per_epoch=30", "--log_every_steps=1",
       "--epoch_eval_batches=1", "--evaluate_test=false", *TINY[:-3])
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["model"] == "controlvae" and results["config"]["desired_kl"] == 1
  betas = [value for _, value in _scalar_values(tmp_path, "train/batch_beta")]
  assert len(betas) == 90
  # KL below the target at first: beta falls to beta_min; once KL passes it, beta rises.
  assert min(betas[:30]) == 0.0 and max(betas[-30:]) > 0.2, betas
  kl = [value for _, value in _scalar_values(tmp_path, "validation/epoch_kl")]
  assert abs(kl[-1] - 1.0) < 1.0, kl


@pytest.mark.parametrize("flags, message", [
    (("--objective=free_bits",), "--fb_lambda"),
    (("--preset=li2019_pretrain_fb",), "--model_dir"),
    (("--preset=controlvae_kl15", "--beta_schedule=linear"), "controller"),
    (("--init_encoder_from=/nonexistent/run",), "config.json"),
])
def test_remedy_flag_errors(tmp_path, flags, message):
  if "--preset=li2019_pretrain_fb" not in flags:
    flags = (*flags, f"--model_dir={tmp_path}")
  result = _run("launch.train", *flags, check=False)
  assert result.returncode == 1, result.stderr[-2000:]
  assert message in result.stderr and "Traceback" not in result.stderr


def _optimiser_steps(checkpoint):
  """(encoder updates, decoder updates) stored in an AggressiveVAE checkpoint."""
  reader = tf.train.load_checkpoint(str(checkpoint))
  decoder = [reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
             if name.startswith("other_optimizers/decoder_optimizer/_iterations")]
  assert len(decoder) == 1
  return int(reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")), int(decoder[0])


def test_aggressive_phase_ends_when_validation_mi_falls_then_trains_plainly(tmp_path):
  # At learning rate 0.01 validation MI falls within three epochs on seeds 0, 1 and 2
  # (measured; at 1e-3 it rises for four epochs and the phase never ends).
  steps, check_every = 8, 2
  _run("launch.train", "--preset=he2019_aggressive", f"--model_dir={tmp_path}", "--epochs=3",
       f"--steps_per_epoch={steps}", "--inner_cap=4", f"--check_every={check_every}",
       "--learning_rate=0.01", "--evaluate_test=false", *TINY)
  phases = [value for _, value in _scalar_values(tmp_path, "train/epoch_aggressive")]
  mi = [value for _, value in _scalar_values(tmp_path, "validation/epoch_mi")]
  # He et al.'s rule on the logged MI: the phase goes on while MI does not fall
  # (the first epoch compared with 0), and never comes back.
  expected, previous, going_on = [], 0.0, True
  for value in mi:
    going_on = going_on and value >= previous
    previous = value if going_on else previous
    expected.append(float(going_on))
  assert phases == expected, (phases, mi)
  assert phases[0] == 1.0 and phases[-1] == 0.0, (phases, mi)
  # A step of the phase: one decoder update after at least `check_every` encoder
  # updates; after it both networks take one update per step.
  counts = [(0, 0)] + [_optimiser_steps(tmp_path / f"ckpt-{epoch}") for epoch in (1, 2, 3)]
  for epoch, aggressive in enumerate(phases):
    encoder = counts[epoch + 1][0] - counts[epoch][0]
    decoder = counts[epoch + 1][1] - counts[epoch][1]
    assert decoder == steps, counts
    # The epoch whose MI ended the phase was itself trained aggressively.
    trained_aggressively = epoch == 0 or phases[epoch - 1] == 1.0
    if trained_aggressively:
      assert encoder >= check_every * steps, counts
    else:
      assert encoder == steps, counts


def test_monte_carlo_model_trains_from_the_launcher(tmp_path):
  _run("launch.train", "--model=monte_carlo", "--estimator=dreg", "--num_samples=4",
       "--mi_objective=renyi", "--mi_lambda=0.5", "--renyi_alpha=0.5", "--num_kl=2",
       f"--model_dir={tmp_path}", "--epochs=1", "--steps_per_epoch=4", "--log_every_steps=1",
       *TINY[:-3])
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["estimator"] == "dreg" and results["config"]["num_kl"] == 2
  assert len(_scalar_values(tmp_path, "train/batch_true_kl")) >= 4
  result = _run("launch.train", "--model=monte_carlo", "--estimator=vimco", "--num_samples=1",
                f"--model_dir={tmp_path / 'bad'}", check=False)
  assert result.returncode == 1 and "--num_samples >= 2" in result.stderr
  assert "Traceback" not in result.stderr


def test_categorical_latents_train_with_vimco_on_uniform_symbols(tmp_path):
  symbols = ("--dataset=uniform10k", "--data_option=num_symbols=50", "--data_option=num_train=200",
             "--data_option=num_valid=64", "--data_option=num_test=64")
  _run("launch.train", "--model=monte_carlo", "--latent_type=categorical", "--latent_dim=2",
       "--num_categories=3", "--estimator=vimco", "--num_samples=4", "--mi_lambda=0.5",
       f"--model_dir={tmp_path}", "--epochs=1", "--steps_per_epoch=3", "--eval_samples=10",
       *symbols)
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["latent_type"] == "categorical"
  assert math.isfinite(results["test"]["nll"])
  result = _run("launch.train", "--model=monte_carlo", "--latent_type=categorical",
                "--estimator=dreg", f"--model_dir={tmp_path / 'bad'}", *symbols, check=False)
  assert result.returncode == 1 and "--estimator=reinforce or vimco" in result.stderr
  assert "Traceback" not in result.stderr


def test_vq_vae_trains_from_the_launcher(tmp_path):
  _run("launch.train", "--model=vqvae", "--dataset=uniform10k", "--data_option=num_symbols=20",
       "--data_option=num_train=200", "--data_option=num_valid=64", "--data_option=num_test=64",
       "--latent_dim=2", "--num_categories=5", "--embed_dim=8", "--hidden_dim=8",
       f"--model_dir={tmp_path}", "--epochs=1", "--steps_per_epoch=3", "--eval_samples=4")
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["test"]["kl"] == pytest.approx(2 * math.log(5), rel=1e-5)  # n ln C.
  result = _run("launch.train", "--model=vqvae", "--objective=free_bits", "--fb_lambda=1",
                f"--model_dir={tmp_path / 'bad'}", check=False)
  assert result.returncode == 1 and "--model=vqvae" in result.stderr


def test_sweep_writes_the_front_and_resumes(tmp_path):
  flags = ("--samples=1,2", "--lambdas=0.5", "--learning_rates=0.01", "--steps=3",
           f"--out_dir={tmp_path}")
  first = _run("launch.sweep", *flags)
  assert "| dreg 2 renyi | renyi |" in first.stdout
  rows = list(csv.DictReader((tmp_path / "points.csv").open()))
  assert len(rows) == 2 and {row["series"] for row in rows} == {"dreg 1 renyi", "dreg 2 renyi"}
  assert all(math.isfinite(float(row["nll"])) for row in rows)
  assert (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "dreg 2 renyi" in (tmp_path / "front.svg").read_text()  # The legend.
  tags = {value.tag for event in _events(tmp_path / "summary") for value in event.summary.value}
  assert {"pareto_front", "optimum_nll"} <= tags
  # A rerun reads every point back instead of training it again.
  mtimes = {p: p.stat().st_mtime for p in tmp_path.glob("runs/*/sweep_point.json")}
  again = _run("launch.sweep", *flags)

  def table(stdout):  # Without the progress lines, whose times differ.
    return [line for line in stdout.splitlines() if not line.startswith("[point ")]

  assert table(again.stdout) == table(first.stdout)
  assert first.stdout.startswith("[point 1/2] ") and "\n[point 2/2] " in first.stdout
  assert mtimes == {p: p.stat().st_mtime for p in tmp_path.glob("runs/*/sweep_point.json")}
  bad = _run("launch.sweep", "--lambdas=0,high", f"--out_dir={tmp_path / 'bad'}", check=False)
  assert bad.returncode == 1 and "--lambdas takes a comma-separated list" in bad.stderr
