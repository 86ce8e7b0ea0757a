"""Running the launchers and reading their event files (test helpers)."""

import atexit
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import tensorflow as tf

from tfvae import methods

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


class _LaunchServer:
  """One `tests.launch_server` process per test process, started on first use."""

  def __init__(self):
    self._process = None
    self._lock = threading.Lock()
    self._log = None
    atexit.register(self.close)

  def request(self, **request):
    with self._lock:
      if self._process is None or self._process.poll() is not None:
        if self._log is not None:
          self._log.close()
        self._log = tempfile.NamedTemporaryFile("w+", prefix="tfvae_launch_server_", suffix=".log")
        self._process = subprocess.Popen(command("tests.launch_server"), cwd=ROOT, env=env(),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._log, text=True)
      self._process.stdin.write(json.dumps(request) + "\n")
      self._process.stdin.flush()
      reply = self._process.stdout.readline()
      if not reply:
        self._log.seek(0)
        raise RuntimeError(f"tests.launch_server died:\n{self._log.read()[-5000:]}")
      return json.loads(reply)

  def close(self):
    if self._process is not None and self._process.poll() is None:
      self._process.stdin.close()
      self._process.wait(timeout=60)
    if self._log is not None:
      self._log.close()


_SERVER = _LaunchServer()


class Launch:
  """A launcher process forked by tests/launch_server.py; used like `subprocess.Popen`."""

  def __init__(self, module, *flags, stdout, stderr, **variables):
    """Starts `python -m module flags` with `variables` added to tests/launch_runs.env().

    Not for variables read at import time, which are the server's (see
    tests/launch_server.py). stdout and stderr are file paths.
    """
    if methods.PLUGINS_VARIABLE in variables:
      raise ValueError(f"{methods.PLUGINS_VARIABLE} is read at import time: run a real "
                       "subprocess to set it")
    self.args = command(module, *flags)
    self.returncode = None
    self.pid = _SERVER.request(op="start", module=module, argv=list(flags), cwd=str(ROOT),
                               env=dict(env(), **variables), stdout=str(stdout),
                               stderr=str(stderr))["pid"]

  def wait(self, timeout=600):
    """The exit code (negative: killed by that signal); TimeoutExpired after `timeout` s."""
    if self.returncode is None:
      self.returncode = _SERVER.request(op="wait", pid=self.pid, timeout=timeout)["returncode"]
      if self.returncode is None:
        raise subprocess.TimeoutExpired(self.args, timeout)
    return self.returncode

  def poll(self):
    try:
      return self.wait(timeout=0)
    except subprocess.TimeoutExpired:
      return None

  def send_signal(self, number):
    os.kill(self.pid, number)

  def kill(self):
    self.send_signal(signal.SIGKILL)


def run(module, *flags, check=True, timeout=600, **variables):
  """`python -m module flags` from the repository root, as a `Launch`; kills it after
  `timeout` s. With `check`, fails on a non-zero exit. Returns a CompletedProcess.
  """
  with tempfile.TemporaryDirectory(prefix="tfvae_launch_") as scratch:
    out, err = pathlib.Path(scratch, "stdout"), pathlib.Path(scratch, "stderr")
    process = Launch(module, *flags, stdout=out, stderr=err, **variables)
    try:
      process.wait(timeout)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
      raise subprocess.TimeoutExpired(process.args, timeout, out.read_text(), err.read_text())
    stdout, stderr = out.read_text(), err.read_text()
  if check and process.returncode != 0:
    raise AssertionError(f"{module} failed:\n{stdout[-3000:]}\n{stderr[-5000:]}")
  return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def free_loopback_ports(count):
  """`count` distinct ports on 127.0.0.1 that were free a moment ago."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def start_workers(model_dir, scratch, *flags, workers=(("launch.train", {}),) * 2):
  """Starts a `--strategy=multi_worker` cluster on loopback ports, one process per worker.

  `workers` gives each worker's module and extra environment variables, chief
  (worker 0) first. `scratch` holds their logs and is their TMPDIR (where
  non-chief workers put their throw-away checkpoints). Returns
  [(Launch, stdout path, stderr path)] in the same order.
  """
  ports = free_loopback_ports(len(workers))
  cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
  (scratch / "tmp").mkdir(parents=True, exist_ok=True)
  started = []
  for index, (module, variables) in enumerate(workers):
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    stdout = scratch / f"worker{index}.{ports[0]}.out"
    stderr = scratch / f"worker{index}.{ports[0]}.err"
    process = Launch(module, "--strategy=multi_worker", f"--model_dir={model_dir}", *flags,
                     stdout=stdout, stderr=stderr, TF_CONFIG=tf_config,
                     TMPDIR=str(scratch / "tmp"), **variables)
    started.append((process, stdout, stderr))
  return started


def wait_all(processes, timeout):
  """Waits up to `timeout` s in all for every `Launch` in `processes`, then kills the rest.

  Returns their exit codes (negative: killed by that signal).
  """
  deadline = time.time() + timeout
  try:
    for process in processes:
      process.wait(timeout=max(1.0, deadline - time.time()))
  except subprocess.TimeoutExpired:
    pass
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
  return [process.returncode for process in processes]


def checkpoint_weights(path):
  """The model's weights in a checkpoint (its prefix, or a run directory's latest), by name."""
  reader = tf.train.load_checkpoint(str(path))
  names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("model/"))
  return {n: reader.get_tensor(n) for n in names}


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
