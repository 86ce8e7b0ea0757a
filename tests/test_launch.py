"""The launchers end to end, in subprocesses: train, TensorBoard, resume, evaluate, errors."""

import csv
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfvae.training import loop

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--embed_dim=8", "--hidden_dim=16", "--batch_size=32", "--eval_samples=8",
        "--eval_chunk_size=4", "--log_every_steps=2", "--verbose=2"]


def _command(module, *flags):
  return [sys.executable, "-m", module, *flags]


def _env():
  env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("TF_CONFIG", None)
  return env


def _run(module, *flags, check=True):
  result = subprocess.run(_command(module, *flags), cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=600)
  if check and result.returncode != 0:
    raise AssertionError(f"{module} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
  return result


def _checkpoint_values(model_dir):
  reader = tf.train.load_checkpoint(str(model_dir))
  names = sorted(n for n in reader.get_variable_to_shape_map() if "model" in n)
  return {n: reader.get_tensor(n) for n in names}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("run")
  result = _run("launch.train", f"--model_dir={model_dir}", "--epochs=2",
                "--steps_per_epoch=6", *TINY)
  return model_dir, result


def test_train_prints_table_and_tensorboard_command(finished_run):
  model_dir, result = finished_run
  for label in ("NLL (IW)", "PPL", "KL", "MI (per batch)", "MI (whole set)", "AU"):
    assert f"| {label} |" in result.stdout
  assert f"tensorboard --logdir {model_dir}" in result.stdout


def test_results_json_has_metrics_and_exact_config(finished_run):
  model_dir, _ = finished_run
  results = json.loads((model_dir / "results.json").read_text())
  assert results["config"]["dataset"] == "synthetic_mog"
  assert results["config"]["latent_dim"] == 2 and results["config"]["hidden_dim"] == 16
  assert results["step"] == 12
  for key in ("nll", "ppl", "kl", "mi_batch", "mi_aggregate", "au"):
    assert np.isfinite(results["test"][key])
  assert results["test"]["nll"] > 0 and results["test"]["ppl"] > 1


def _event_tags(directory):
  tags = set()
  for path in pathlib.Path(directory).glob("**/events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        tags.add(f"{path.parent.name}/{value.tag}")
  return tags


def test_tensorboard_event_files_hold_step_epoch_and_run_summaries(finished_run):
  model_dir, _ = finished_run
  tags = _event_tags(model_dir)
  for tag in ("train/epoch_loss", "train/epoch_kl", "train/epoch_recon", "train/epoch_beta",
              "train/epoch_learning_rate", "validation/epoch_mi", "validation/epoch_au",
              "validation/epoch_nll", "train/batch_loss", "run/config", "run/test/nll"):
    assert tag in tags, f"{tag} missing from {sorted(tags)}"
  assert any("hparams" in tag for tag in tags)


def test_checkpoints_every_epoch(finished_run):
  model_dir, _ = finished_run
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-2")
  assert (model_dir / "ckpt-1.index").exists()


def test_evaluate_reproduces_final_metrics(finished_run):
  model_dir, _ = finished_run
  result = _run("launch.evaluate", f"--model_dir={model_dir}", "--eval_samples=8",
                "--eval_chunk_size=4")
  saved = json.loads((model_dir / "results.json").read_text())["test"]
  evaluated = json.loads((model_dir / "eval_test.json").read_text())
  assert "| NLL (IW) |" in result.stdout
  np.testing.assert_allclose(evaluated["nll"], saved["nll"], rtol=1e-5)
  np.testing.assert_allclose(evaluated["kl"], saved["kl"], rtol=1e-5)


def test_evaluating_in_length_order_estimates_the_same_metrics(finished_run):
  model_dir, _ = finished_run
  stored = loop.evaluate_run(str(model_dir), num_samples=8, chunk_size=4)
  by_length = loop.evaluate_run(str(model_dir), num_samples=8, chunk_size=4, sort_by_length=True)
  # Sums over the same examples: KL is analytic, AU a variance over all posteriors.
  np.testing.assert_allclose(by_length["kl"], stored["kl"], rtol=1e-5)
  assert by_length["au"] == stored["au"] and by_length["num_tokens"] == stored["num_tokens"]
  # Other importance samples: the NLL agrees up to Monte-Carlo noise.
  np.testing.assert_allclose(by_length["nll"], stored["nll"], rtol=0.02)


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
  flags = ["--epochs=3", "--steps_per_epoch=40", "--deterministic", *TINY]
  straight = tmp_path / "straight"
  _run("launch.train", f"--model_dir={straight}", *flags)

  resumed = tmp_path / "resumed"
  process = subprocess.Popen(_command("launch.train", f"--model_dir={resumed}", *flags),
                             cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not (resumed / "ckpt-1.index").exists() and time.time() < deadline:
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert process.returncode == -signal.SIGKILL, "the run must be killed mid-way"
  assert not (resumed / "ckpt-3.index").exists()
  _run("launch.train", f"--model_dir={resumed}", *flags)

  expected, got = _checkpoint_values(straight), _checkpoint_values(resumed)
  assert expected.keys() == got.keys() and len(expected) > 10
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_checkpoint_of_another_model_is_refused(finished_run):
  model_dir, _ = finished_run
  result = _run("launch.train", f"--model_dir={model_dir}", "--epochs=3", "--latent_dim=3",
                *TINY, check=False)
  assert result.returncode == 1
  assert "different model" in result.stderr and "latent_dim" in result.stderr
  assert "Traceback" not in result.stderr


def test_nan_loss_stops_with_step_and_checkpoint(tmp_path):
  result = _run("launch.train", f"--model_dir={tmp_path}", "--epochs=2", "--steps_per_epoch=5",
                "--learning_rate=1e30", *TINY, check=False)
  assert result.returncode == 1, result.stderr[-2000:]
  assert "The training loss became nan at step" in result.stderr
  assert "Last checkpoint:" in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag, message", [
    ("--latent_dim=-1", "--latent_dim must be a positive integer"),
    ("--dataset=imagenet", "synthetic_mog"),
    ("--strategy=tpu", "--tpu=ADDRESS"),
])
def test_bad_flags_give_clear_errors(tmp_path, flag, message):
  result = _run("launch.train", f"--model_dir={tmp_path}", flag, check=False)
  assert result.returncode == 1
  assert message in result.stderr
  assert "Traceback" not in result.stderr


def test_unknown_flag_is_rejected(tmp_path):
  result = _run("launch.train", "--no_such_flag=1", check=False)
  assert result.returncode != 0 and "no_such_flag" in result.stderr


def test_mirrored_strategy_from_the_launcher(tmp_path):
  result = _run("launch.train", f"--model_dir={tmp_path}", "--epochs=1", "--steps_per_epoch=3",
                "--strategy=mirrored", "--num_cpu_devices=2", *TINY)
  assert "| NLL (IW) |" in result.stdout


@pytest.mark.parametrize("flags", [
    ("--dataset=ptb", "--max_length=20"),
    ("--dataset=binarized_mnist", "--network=mlp"),
])
def test_real_data_sets_train_and_evaluate(tmp_path, flags):
  result = _run("launch.train", f"--model_dir={tmp_path}", "--epochs=1", "--steps_per_epoch=2",
                "--latent_dim=4", "--eval_samples=2", "--eval_chunk_size=2",
                "--epoch_eval_batches=1", *flags, *TINY)
  results = json.loads((tmp_path / "results.json").read_text())
  assert np.isfinite(results["test"]["nll"])
  expected_examples = 3761 if "ptb" in flags[0] else 10000
  assert results["test"]["num_examples"] == expected_examples
  assert "| NLL (IW) |" in result.stdout


def test_user_text_files_through_data_options(tmp_path):
  sentences = ["the cat sat", "a dog ran far", "the dog sat", "a cat ran"] * 20
  for split in ("train", "valid", "test"):
    (tmp_path / f"{split}.txt").write_text("\n".join(sentences) + "\n")
  model_dir = tmp_path / "run"
  result = _run("launch.train", f"--model_dir={model_dir}", "--dataset=text_file",
                f"--data_option=train={tmp_path / 'train.txt'}",
                f"--data_option=valid={tmp_path / 'valid.txt'}",
                f"--data_option=test={tmp_path / 'test.txt'}", "--latent_dim=2",
                "--epochs=1", *TINY)
  results = json.loads((model_dir / "results.json").read_text())
  assert results["test"]["num_examples"] == 80
  assert results["config"]["data_options"]["train"].endswith("train.txt")
  assert "| PPL |" in result.stdout


def test_malformed_data_option_is_a_usage_error(tmp_path):
  result = _run("launch.train", f"--model_dir={tmp_path}", "--data_option=novalue", check=False)
  assert result.returncode != 0 and "is not KEY=VALUE" in result.stderr


def _scalar_values(directory, tag):
  """(step, value) pairs of a scalar tag in the event files under `directory`."""
  values = []
  for path in pathlib.Path(directory).glob("**/events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if f"{path.parent.name}/{value.tag}" == tag:
          values.append((event.step, float(tf.make_ndarray(value.tensor))))
  return sorted(values)


def _events(directory):
  """Every event of the event files under `directory`."""
  return [event for path in pathlib.Path(directory).glob("**/events.out.tfevents.*")
          for event in tf.compat.v1.train.summary_iterator(str(path))]


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


def test_controlvae_preset_moves_beta_with_the_controller(tmp_path):
  _run("launch.train", "--preset=controlvae_kl15", f"--model_dir={tmp_path}", "--epochs=1",
       "--steps_per_epoch=6", "--kp=0.5", "--log_every_steps=1", *TINY[:-3])
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"]["model"] == "controlvae" and results["config"]["kp"] == 0.5
  betas = [value for _, value in _scalar_values(tmp_path, "train/batch_beta")]
  # KL far below 15 nats: e > 0, P = Kp / (1 + e^e) is tiny and beta stays near beta_min.
  assert betas and max(betas) < 0.01


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


def test_aggressive_preset_trains_two_optimisers_and_logs_the_phase(tmp_path):
  _run("launch.train", "--preset=he2019_aggressive", f"--model_dir={tmp_path}", "--epochs=2",
       "--steps_per_epoch=8", "--inner_cap=4", "--check_every=2", *TINY)
  reader = tf.train.load_checkpoint(str(tmp_path))
  names = reader.get_variable_to_shape_map()
  encoder_steps = reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
  decoder_steps = [reader.get_tensor(n) for n in names
                   if n.startswith("other_optimizers/decoder_optimizer/_iterations")]
  assert decoder_steps and 0 < decoder_steps[0] < encoder_steps
  phases = [value for _, value in _scalar_values(tmp_path, "train/epoch_aggressive")]
  assert len(phases) == 2 and phases[0] in (0.0, 1.0)


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
  flags = ("--samples=1,2", "--lambdas=0,0.5", "--learning_rates=0.01", "--steps=3",
           f"--out_dir={tmp_path}")
  first = _run("launch.sweep", *flags)
  assert "| dreg 2 renyi | renyi |" in first.stdout
  rows = list(csv.DictReader((tmp_path / "points.csv").open()))
  assert len(rows) == 4 and {row["series"] for row in rows} == {"dreg 1 renyi", "dreg 2 renyi"}
  assert all(math.isfinite(float(row["nll"])) for row in rows)
  assert (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  tags = {value.tag for event in _events(tmp_path / "summary") for value in event.summary.value}
  assert {"pareto_front", "optimum_nll"} <= tags
  # A rerun reads every point back instead of training it again.
  mtimes = {p: p.stat().st_mtime for p in tmp_path.glob("runs/*/sweep_point.json")}
  again = _run("launch.sweep", *flags)
  assert again.stdout == first.stdout
  assert mtimes == {p: p.stat().st_mtime for p in tmp_path.glob("runs/*/sweep_point.json")}
  bad = _run("launch.sweep", "--lambdas=0,high", f"--out_dir={tmp_path / 'bad'}", check=False)
  assert bad.returncode == 1 and "--lambdas takes a comma-separated list" in bad.stderr
