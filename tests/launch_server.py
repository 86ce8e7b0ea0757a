"""Runs launcher commands in forked children of a process that imported TensorFlow once (test helper).

A `python -m launch.train ...` subprocess spends 8-11 s of a 2-core host
importing TensorFlow, Keras, TFP and tfvae before its first step; the suite
starts about a hundred of them. This server does those imports once, and
generates the default synthetic data set (pure numpy), but runs no
TensorFlow op: the runtime stays uninitialised, so each child still chooses
its own devices and strategy. It forks one child per command. The child is
an ordinary fresh launcher process from there on: its own flags,
environment, working directory, stdout and stderr files, and exit status;
it runs the module as `__main__` exactly as `python -m` does.

What a child cannot change is what was read while importing: environment
variables read at import time (TensorFlow's own, tfvae's TFVAE_METHODS) are
those of the server (`tests/launch_runs.env()`); commands that set them stay
real subprocesses.

Protocol (`python -m tests.launch_server`): one JSON request per line on
stdin, one JSON reply per line on stdout. {"op": "start", "module", "argv",
"cwd", "env", "stdout", "stderr"} forks a child and replies {"pid"};
{"op": "wait", "pid", "timeout"} replies {"returncode"} once the child has
ended, or {"returncode": null} after `timeout` seconds. The caller may signal
a child by its pid. EOF on stdin kills what is left and ends the server.
"""

import atexit
import importlib
import json
import os
import pkgutil
import random
import runpy
import signal
import sys
import tempfile
import time
import traceback

_POLL_SECONDS = 0.02


def _import_everything():
  """Imports TensorFlow, Keras, TFP and every tfvae module, generates the default
  synthetic data set; runs no TensorFlow op."""
  import keras  # noqa: F401
  import tensorflow  # noqa: F401
  import tensorflow_probability  # noqa: F401
  import tfvae
  for module in pkgutil.walk_packages(tfvae.__path__, prefix="tfvae."):
    importlib.import_module(module.name)
  importlib.import_module("launch.common")
  # The default synthetic data set is pure numpy and generated once per process.
  from tfvae.data import synthetic
  synthetic.generate_splits()
  from tensorflow.python.eager import context
  assert context.context()._context_handle is None, "an import initialised the TF runtime"


def _exit_status(code):
  """The process exit status `sys.exit(code)` gives."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code
  print(code, file=sys.stderr)
  return 1


def _run_child(request):
  """In the forked child: becomes `python -m module argv...` and never returns."""
  status = 1
  try:
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # Cached by an import; found again from the child's TMPDIR.
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
      target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
      os.dup2(target, fd)
      os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A fresh process draws its unseeded random state from the OS; so does each child.
    random.seed()
    import numpy as np
    np.random.seed()
    sys.argv = [request["module"], *request["argv"]]
    try:
      runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
      status = 0
    except SystemExit as exit_:
      status = _exit_status(exit_.code)
    except BaseException:  # noqa: BLE001 -- reported as the interpreter would, then exit 1.
      traceback.print_exc()
      status = 1
    atexit._run_exitfuncs()
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _wait(pid, timeout):
  """Child `pid`'s exit code, or None if it still runs after `timeout` seconds."""
  deadline = time.monotonic() + timeout
  while True:
    done, wait_status = os.waitpid(pid, os.WNOHANG)
    if done:
      return os.waitstatus_to_exitcode(wait_status)
    if time.monotonic() > deadline:
      return None
    time.sleep(_POLL_SECONDS)


def main():
  # Replies go to the original stdout; anything else the imports print goes to stderr.
  replies = os.fdopen(os.dup(1), "w")
  os.dup2(2, 1)
  _import_everything()
  running = set()
  for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "start":
      sys.stdout.flush()
      sys.stderr.flush()
      pid = os.fork()
      if pid == 0:
        replies.close()
        _run_child(request)
      running.add(pid)
      reply = {"pid": pid}
    else:
      returncode = _wait(request["pid"], request["timeout"])
      if returncode is not None:
        running.discard(request["pid"])
      reply = {"returncode": returncode}
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
  for pid in running:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


if __name__ == "__main__":
  main()
