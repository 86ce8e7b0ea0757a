"""The launchers end to end, in subprocesses: train, TensorBoard, resume, evaluate, errors."""

import json
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests import launch_runs
from tests.launch_runs import ROOT
from tests.launch_runs import PICTURES
from tests.launch_runs import TINY
from tests.launch_runs import assert_tensorboard_scalars
from tests.launch_runs import env as _env
from tests.launch_runs import run as _run
from tests.launch_runs import scalar_values
from tfvae.training import loop


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("run")
  result = _run("launch.train", f"--model_dir={model_dir}", "--epochs=2",
                "--steps_per_epoch=6", *TINY, PICTURES)
  return model_dir, result


def test_train_prints_table_and_tensorboard_command(finished_run):
  model_dir, result = finished_run
  for label in ("NLL (IW)", "PPL", "KL", "MI (per batch)", "MI (whole set)", "AU", "MPD",
                "CE H(z|x)"):
    assert f"| {label} |" in result.stdout
  assert f"tensorboard --logdir {model_dir}" in result.stdout


def test_results_json_has_metrics_and_exact_config(finished_run):
  model_dir, _ = finished_run
  results = json.loads((model_dir / "results.json").read_text())
  assert results["config"]["dataset"] == "synthetic_mog"
  assert results["config"]["latent_dim"] == 2 and results["config"]["hidden_dim"] == 16
  assert results["step"] == 12
  for key in ("nll", "ppl", "kl", "mi_batch", "mi_aggregate", "au", "mpd", "conditional_entropy"):
    assert np.isfinite(results["test"][key])
  assert results["test"]["nll"] > 0 and results["test"]["ppl"] > 1
  oov = results["data"]["oov_rate"]
  assert oov.keys() == {"train", "valid", "test"} and oov["train"] == 0
  assert all(0 <= rate < 0.1 for rate in oov.values())


def _event_tags(directory):
  tags = set()
  for path in pathlib.Path(directory).glob("**/events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        tags.add(f"{path.parent.name}/{value.tag}")
  return tags


def test_tensorboard_event_files_hold_step_epoch_and_run_summaries(finished_run):
  model_dir, _ = finished_run
  # 6 steps per epoch, a multiple of --log_every_steps=2.
  assert_tensorboard_scalars(model_dir, epochs=2, steps_per_epoch=6, every_steps=2)
  tags = _event_tags(model_dir)
  for tag in ("run/config", "run/test/nll"):
    assert tag in tags, f"{tag} missing from {sorted(tags)}"
  assert any("hparams" in tag for tag in tags)
  validation_au = scalar_values(model_dir, "validation/epoch_au")
  assert all(value in (0, 1, 2) for _, value in validation_au)


def test_epoch_scalars_are_written_when_steps_per_epoch_is_not_a_multiple(tmp_path):
  """Keras's TensorBoard callback wrote no epoch scalar here (tensorflow#49109)."""
  result = _run("launch.train", f"--model_dir={tmp_path}", *TINY, PICTURES, "--epochs=3",
                "--steps_per_epoch=5", "--log_every_steps=3", "--epoch_eval_batches=1",
                "--evaluate_test=false")
  assert "the test split was not evaluated" in result.stdout and "| metric |" not in result.stdout
  assert_tensorboard_scalars(tmp_path, epochs=3, steps_per_epoch=5, every_steps=3)


def test_checkpoints_every_epoch(finished_run):
  model_dir, _ = finished_run
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-2")
  assert (model_dir / "ckpt-1.index").exists()


def test_evaluate_reproduces_final_metrics(finished_run):
  model_dir, _ = finished_run
  # One sample per decoder call (--eval_decode_budget=1): the same numbers as whole chunks.
  result = _run("launch.evaluate", f"--model_dir={model_dir}", "--eval_samples=8",
                "--eval_chunk_size=4", "--eval_decode_budget=1")
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
  process = launch_runs.Launch("launch.train", f"--model_dir={resumed}", *flags,
                               stdout=os.devnull, stderr=os.devnull)
  deadline = time.time() + 300
  while not (resumed / "ckpt-1.index").exists() and time.time() < deadline:
    time.sleep(0.05)
  process.kill()
  process.wait()
  assert process.returncode == -signal.SIGKILL, "the run must be killed mid-way"
  assert not (resumed / "ckpt-3.index").exists()
  _run("launch.train", f"--model_dir={resumed}", *flags)

  expected, got = launch_runs.checkpoint_weights(straight), launch_runs.checkpoint_weights(resumed)
  assert expected.keys() == got.keys() and len(expected) > 10
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


# 200 training sentences: a data epoch is 7 batches of 32 (the last one of 8).
SMALL_DATA = ["--data_option=num_train=200", "--deterministic", "--evaluate_test=false",
              "--epoch_eval_batches=1", *TINY]


@pytest.mark.parametrize("flags", [
    # Default epochs: one pass of 7 batches each, the last one partial.
    ("--epochs=3",),
    # Aggressive steps read 1 + 2..4 batches each: epoch 1 already runs past the data epoch.
    ("--epochs=2", "--steps_per_epoch=3", "--preset=he2019_aggressive", "--inner_cap=4",
     "--check_every=2"),
], ids=["one_pass_epochs", "aggressive"])
def test_resume_across_a_data_epoch_continues_like_an_uninterrupted_run(tmp_path, flags):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  _run("launch.train", f"--model_dir={straight}", *SMALL_DATA, *flags)
  _run("launch.train", f"--model_dir={resumed}", *SMALL_DATA, *flags, "--epochs=1")
  first = json.loads((resumed / "results.json").read_text())
  _run("launch.train", f"--model_dir={resumed}", *SMALL_DATA, *flags)
  expected, got = launch_runs.checkpoint_weights(straight), launch_runs.checkpoint_weights(resumed)
  assert expected.keys() == got.keys() and len(expected) > 10
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
  reader = tf.train.load_checkpoint(str(resumed / "ckpt-1"))
  batches_read = int(reader.get_tensor("batches_seen/.ATTRIBUTES/VARIABLE_VALUE"))
  assert first["step"] > 0 and batches_read >= 7, batches_read


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


@pytest.mark.parametrize("flag, message", [
    ("--latent_dim=0", "--latent_dim must be a positive integer"),
    ("--dataset=imagenet", "Unknown data set 'imagenet'"),
    ("--dataset=ptb --data_option=trian=x.txt", "does not take option(s) ['trian']"),
    ("--dataset=binarized_mnist --network=lstm", "--network=lstm cannot model image"),
    ("--data_option=train", "--data_option=train is not KEY=VALUE"),
])
def test_flags_are_checked_before_tensorflow_is_imported(flag, message):
  """A bad flag is reported at once, in one line: TensorFlow is imported only for a valid run."""
  code = (f"import sys; sys.argv = ['train', *{flag.split()!r}]; from absl import app; "
          "from launch import train; assert 'tensorflow' not in sys.modules; app.run(train.main)")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 1, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_unknown_flag_is_rejected(tmp_path):
  result = _run("launch.train", "--no_such_flag=1", check=False)
  assert result.returncode != 0 and "no_such_flag" in result.stderr


def test_mirrored_strategy_from_the_launcher_trains_like_one_device(tmp_path):
  # Global batches of 33 split 17/16 between the two replicas.
  flags = ["--epochs=2", "--steps_per_epoch=3", *TINY, "--batch_size=33", "--deterministic",
           "--learning_rate=0.05"]
  mirrored, one_device = tmp_path / "mirrored", tmp_path / "one_device"
  result = _run("launch.train", f"--model_dir={mirrored}", "--strategy=mirrored",
                "--num_cpu_devices=2", *flags, PICTURES)
  _run("launch.train", f"--model_dir={one_device}", *flags)
  assert "| NLL (IW) |" in result.stdout
  assert_tensorboard_scalars(mirrored, epochs=2, steps_per_epoch=3, every_steps=2)
  expected, got = launch_runs.checkpoint_weights(one_device), launch_runs.checkpoint_weights(mirrored)
  assert expected.keys() == got.keys() and len(expected) > 10
  # Summation order differs between one and two devices (see test_multi_worker.py).
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=2e-4, err_msg=name)
  assert json.loads((mirrored / "results.json").read_text())["step"] == 6


@pytest.mark.parametrize("flags", [
    # A 2,000-word vocabulary keeps the [rows, T, V] logits of the test split small.
    ("--dataset=ptb", "--max_length=20", "--vocab_size=2000"),
    ("--dataset=binarized_mnist", "--network=mlp"),
])
def test_real_data_sets_train_and_evaluate(tmp_path, flags):
  # Flags given later override TINY's.
  result = _run("launch.train", f"--model_dir={tmp_path}", *TINY, "--epochs=1",
                "--steps_per_epoch=2", "--latent_dim=4", "--eval_samples=2",
                "--eval_chunk_size=2", "--epoch_eval_batches=1", *flags)
  results = json.loads((tmp_path / "results.json").read_text())
  test = results["test"]
  assert "| NLL (IW) |" in result.stdout
  np.testing.assert_allclose(test["neg_elbo"], test["recon"] + test["kl"], rtol=1e-5)
  assert test["au"] <= 4 and np.isfinite(test["nll"])
  if "ptb" in flags[0]:
    # Every test sentence, truncated to 20 words, plus </s>: counted from the file.
    data_dir = pathlib.Path(os.environ["TFVAE_DATA_DIR"])
    lines = (data_dir / "ptb" / "ptb.test.txt").read_text().splitlines()
    sentences = [line.split() for line in lines if line.strip()]
    assert test["num_examples"] == len(sentences) == 3761
    assert test["num_tokens"] == sum(min(len(words), 20) + 1 for words in sentences)
    np.testing.assert_allclose(
        test["ppl"], np.exp(test["nll"] * test["num_examples"] / test["num_tokens"]), rtol=1e-5)
    # A 2,000-word cap sends more of the test words to <unk> than PTB's own 6.1%.
    assert 0.061 < results["data"]["oov_rate"]["test"] < 0.5
  else:
    assert test["num_examples"] == 10000 and "ppl" not in test
    assert results["data"]["examples"] == {"train": 50000, "valid": 10000, "test": 10000}


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


def _guide_block(language, containing):
  """The fenced `language` block of the data guide (docs/data.md) that contains `containing`."""
  text = (ROOT / "docs" / "data.md").read_text()
  blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)
  matches = [block for block in blocks if containing in block]
  assert len(matches) == 1, f"{len(matches)} {language} blocks contain {containing!r}"
  return matches[0]


def test_data_guide_array_file_example_runs_as_written(tmp_path):
  """The data guide's array_file example: its arrays, then its command (shorter training)."""
  subprocess.run([sys.executable, "-c", _guide_block("python", "my_images_train.npy")],
                 cwd=tmp_path, check=True, timeout=120)
  command = shlex.split(_guide_block("sh", "--dataset=array_file").replace("\\\n", " "))
  flags = command[command.index("launch.train") + 1:]
  # The relative file names are found in --data_dir after the working directory.
  _run("launch.train", *flags, f"--data_dir={tmp_path}", f"--model_dir={tmp_path / 'run'}",
       "--epochs=1", "--steps_per_epoch=2", "--hidden_dim=16", "--latent_dim=2",
       "--eval_samples=2", "--eval_chunk_size=2", "--epoch_eval_batches=1")
  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results["data"]["examples"] == {"train": 2000, "valid": 200, "test": 200}
  assert np.isfinite(results["test"]["nll"])
