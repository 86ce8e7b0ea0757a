"""Running the launchers in subprocesses and reading their event files (test helpers)."""

import os
import pathlib
import subprocess
import sys

import tensorflow as tf

ROOT = pathlib.Path(__file__).resolve().parents[1]
# A model small enough that a launcher run takes seconds; no latent pictures
# (about a second per epoch), which the runs that check them turn on with PICTURES.
TINY = ["--latent_pictures=0", "--embed_dim=8", "--hidden_dim=16", "--batch_size=32",
        "--eval_samples=8", "--eval_chunk_size=4", "--log_every_steps=2", "--verbose=2"]
PICTURES = "--latent_pictures=16"


def command(module, *flags):
  return [sys.executable, "-m", module, *flags]


def env():
  """The environment of a launcher subprocess: this checkout first, no TF_CONFIG."""
  variables = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
  variables.pop("TF_CONFIG", None)
  return variables


def run(module, *flags, check=True):
  """`python -m module flags` from the repository root; with `check`, fails on a non-zero exit."""
  result = subprocess.run(command(module, *flags), cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=600)
  if check and result.returncode != 0:
    raise AssertionError(f"{module} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
  return result


def events(directory):
  """Every event of the event files under `directory`."""
  return [event for path in pathlib.Path(directory).glob("**/events.out.tfevents.*")
          for event in tf.compat.v1.train.summary_iterator(str(path))]


def scalar_values(directory, tag):
  """(step, value) pairs of a scalar tag ("<run folder>/<tag>") in the events under `directory`."""
  values = []
  for path in pathlib.Path(directory).glob("**/events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if f"{path.parent.name}/{value.tag}" == tag:
          values.append((event.step, float(tf.make_ndarray(value.tensor))))
  return sorted(values)


STEP_SCALARS = ("loss", "recon", "kl", "elbo", "beta")
EPOCH_SCALARS = {"train": STEP_SCALARS + ("learning_rate",),
                 "validation": ("loss", "recon", "kl", "elbo", "mi", "au", "nll", "ppl")}


def assert_tensorboard_scalars(directory, *, epochs, steps_per_epoch, every_steps,
                               latent_pictures=True):
  """Asserts the scalars docs/training.md lists, each at the steps it must be written at.

  Epoch scalars once per epoch at steps 0..epochs-1; step scalars at every
  multiple of `every_steps` up to the run's last step; with `latent_pictures`
  (a run with --latent_pictures > 0) the picture once per epoch, and
  latents.png at the end.
  """
  last_step = epochs * steps_per_epoch
  for name in STEP_SCALARS:
    steps = [step for step, _ in scalar_values(directory, f"train/batch_{name}")]
    assert steps == list(range(every_steps, last_step + 1, every_steps)), (name, steps)
  for folder, names in EPOCH_SCALARS.items():
    for name in names:
      values = scalar_values(directory, f"{folder}/epoch_{name}")
      assert [step for step, _ in values] == list(range(epochs)), (folder, name, values)
  if not latent_pictures:
    return
  # The picture of the latents (tfvae/training/latent_pictures.py) after every epoch.
  pictures = sorted(event.step for event in events(pathlib.Path(directory) / "validation")
                    for value in event.summary.value if value.tag == "latent_means")
  assert pictures == list(range(epochs)), pictures
  assert (pathlib.Path(directory) / "latents.png").exists()
