"""Runs requests against an exported SavedModel the two ways a server can load it.

* `Tf2Runner`: `tf.saved_model.load` and the signature functions (what a TF2
  Python client or `tf.saved_model.load`-based server does);
* `SessionRunner`: the TF1 loader `tf.compat.v1.saved_model.loader.load`
  into a `tf.compat.v1.Session`, feeding and fetching the tensors named in
  the SignatureDefs (what TF Serving's C++ model server does).

`python -m export.replay --saved_model_dir=DIR [--session]` replays the
version's warm-up requests and prints each signature's output shapes: a
smoke test of an export before it is deployed. `in_fresh_process` answers
requests in a new interpreter, so nothing of the exporting process (the
Keras model, its variables, lookup tables) can stand in for a missing part
of the SavedModel.
"""

import os
import pathlib
import pickle
import subprocess
import sys
import tempfile

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from export import warmup

FLAGS = flags.FLAGS

flags.DEFINE_string("saved_model_dir", None, "A version directory of an export.")
flags.DEFINE_bool("session", False, "Use the TF1 session loader in graph mode (as TF Serving "
                  "does) instead of tf.saved_model.load.")
flags.DEFINE_string("jobs", None, "Internal (in_fresh_process): pickled requests to answer.")
flags.DEFINE_string("answers", None, "Internal (in_fresh_process): where to pickle the answers.")


class Tf2Runner:
  """Calls the signatures of a SavedModel loaded with `tf.saved_model.load`."""

  def __init__(self, saved_model_dir):
    self.model = tf.saved_model.load(saved_model_dir)

  @property
  def signature_names(self):
    return sorted(self.model.signatures)

  def run(self, signature_name, inputs):
    """{output name: numpy array} for {input name: array-like}."""
    function = self.model.signatures[signature_name]
    outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
    return {name: value.numpy() for name, value in outputs.items()}


class SessionRunner:
  """Runs SignatureDefs in a `tf.compat.v1.Session`, like the TF Serving model server."""

  def __init__(self, saved_model_dir):
    self.session = tf.compat.v1.Session(graph=tf.Graph())
    with self.session.graph.as_default():
      meta_graph = tf.compat.v1.saved_model.loader.load(
          self.session, [tf.saved_model.SERVING], saved_model_dir)
    self.signatures = {name: signature for name, signature in meta_graph.signature_def.items()
                       if not name.startswith("__")}

  @property
  def signature_names(self):
    return sorted(self.signatures)

  def run(self, signature_name, inputs):
    """{output name: numpy array} for {input name: array-like}."""
    signature = self.signatures[signature_name]
    unknown = sorted(set(inputs) - set(signature.inputs))
    if unknown:
      raise KeyError(f"Signature {signature_name} has no inputs {unknown}; "
                     f"its inputs are {sorted(signature.inputs)}.")
    feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
    fetches = {name: info.name for name, info in signature.outputs.items()}
    return self.session.run(fetches, feeds)


def make_runner(saved_model_dir, session):
  return (SessionRunner if session else Tf2Runner)(saved_model_dir)


def run_safely(runner, signature_name, inputs):
  """{"outputs": {...}} or, for a refused request, {"error": {"type", "message"}}.

  The errors are those a client of the loaded model sees: TensorFlow's
  `OpError`s (InvalidArgumentError for a failed check of the request) and
  the `ValueError`/`TypeError` of feeding a tensor of the wrong shape or type.
  """
  try:
    return {"outputs": runner.run(signature_name, inputs)}
  except (tf.errors.OpError, ValueError, TypeError, KeyError) as error:
    message = error.message if isinstance(error, tf.errors.OpError) else str(error)
    return {"error": {"type": type(error).__name__, "message": message}}


def replay_warmup(runner, saved_model_dir):
  """[(model name, signature, {output: shape})] for each warm-up request of a version."""
  results = []
  for request in warmup.read_warmup(saved_model_dir):
    outputs = runner.run(request.model_spec.signature_name, warmup.request_inputs(request))
    shapes = {name: tuple(np.shape(value)) for name, value in outputs.items()}
    results.append((request.model_spec.name, request.model_spec.signature_name, shapes))
  return results


def answer_jobs(jobs, session):
  """Answers [(saved model dir, {key: (signature, inputs)})], requests in order.

  Returns:
    one dict per job: `signatures` (sorted names), `answers` ({key:
    `run_safely` result}) and `warmup` (`replay_warmup` of the version).
  """
  results = []
  for saved_model_dir, requests in jobs:
    runner = make_runner(saved_model_dir, session)
    answers = {key: run_safely(runner, signature, inputs)
               for key, (signature, inputs) in requests.items()}
    results.append({"signatures": runner.signature_names, "answers": answers,
                    "warmup": replay_warmup(runner, saved_model_dir)})
  return results


def in_fresh_process(jobs, session=False, timeout=300):
  """`answer_jobs(jobs, session)` computed by `python -m export.replay` in a new process.

  Raises:
    RuntimeError: the process failed (its stderr's tail is in the message).
  """
  root = str(pathlib.Path(__file__).resolve().parents[1])
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
  with tempfile.TemporaryDirectory() as directory:
    jobs_file = os.path.join(directory, "jobs.pkl")
    answers_file = os.path.join(directory, "answers.pkl")
    with open(jobs_file, "wb") as f:
      pickle.dump(jobs, f)
    command = [sys.executable, "-m", "export.replay", f"--jobs={jobs_file}",
               f"--answers={answers_file}", f"--session={session}"]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
      raise RuntimeError(f"export.replay failed (exit {result.returncode}):\n"
                         f"{result.stderr[-5000:]}")
    with open(answers_file, "rb") as f:
      return pickle.load(f)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  if FLAGS.session:
    tf.compat.v1.disable_eager_execution()
  if FLAGS.jobs:
    with open(FLAGS.jobs, "rb") as f:
      jobs = pickle.load(f)
    with open(FLAGS.answers, "wb") as f:
      pickle.dump(answer_jobs(jobs, FLAGS.session), f)
    return
  if not FLAGS.saved_model_dir:
    raise app.UsageError("--saved_model_dir is required.")
  runner = make_runner(FLAGS.saved_model_dir, FLAGS.session)
  for model_name, signature, shapes in replay_warmup(runner, FLAGS.saved_model_dir):
    print(f"{model_name}/{signature}: {shapes}")


if __name__ == "__main__":
  app.run(main)
