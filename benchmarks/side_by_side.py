r"""The reference PyTorch harness and tfvae on the same work, one table of per-token ratios.

  python -m benchmarks.side_by_side --reference=../shared/anchors/lag
  python -m benchmarks.side_by_side --configs=he2019 --iw_configs= --train_steps=20
  python -m benchmarks.side_by_side --skip_reference          # tfvae alone

A development tool, not a test: it times He et al.'s (2019) own PyTorch code
(the harness of `--reference`, run by its `bench.py` and `matmul_peak.py` in a
subprocess with the interpreter of `--reference_python` and an environment of
its own) and tfvae (in this process, with the library's default LSTM) one
after the other on the same host, and prints one Markdown table:

  | work | reference tok/s | tfvae tok/s | tfvae / reference |

Rows, per network of --configs (`he2019`: embeddings 512, LSTMs of 1024, the
paper's net; `small`: the 256-unit net; latent size 32, batch 32):

  train <net>, fp32   one training step (SGD lr 1, gradient norm clipped at 5):
                      the reference's `bench.py --mode train --batching harness`
                      against tfvae's compiled Keras `train_step` in float32
                      (`train_speed`'s `keras` variant);
  train <net>, bf16   the same reference figure against tfvae under the
                      `mixed_bfloat16` policy (`train_speed`'s `bf16` variant);
                      the reference has no bfloat16 path;

and per network of --iw_configs:

  IW-NLL K=<K>, <net> the importance-weighted log-likelihood with K = --samples
                      samples in chunks of --chunk_size: the reference's
                      `nll_iw` one sentence at a time against
                      `tfvae.metrics.iw_log_likelihood` on length-sorted
                      batches of --iw_batch_size in one tf.function
                      (`eval_speed`'s `batched_tf_function` variant).

The work is the same on both sides, step for step. The training batches are the
ones `bench.py --batching harness` draws: the PTB training sentences grouped by
length and cut into batches of 32 (`create_data_batch`, so no padding; the last
batch of a length may be smaller), taken in the order of
`numpy.random.RandomState(--seed).permutation`; the first --warmup are untimed
and the next --train_steps timed. tfvae builds those batches itself from its
own encoding of the corpus (`tfvae.data.load("ptb")`), so every timed step has
the reference's shape [B, T]. The IW sentences are the harness's too: the test
sentences at the positions its permutation picks (the first --iw_warmup
untimed) in its length order. Where the harness's unstable sort orders two
sentences of one length differently, tfvae gets another sentence of the same
length: the same cost. tfvae also runs, untimed, one step per batch shape it
has not seen (tracing) before timing, as `train_speed` does.

How to read it. Each side counts tokens as the harness reports them (words +
`</s>` per sentence) and divides the tokens of its timed steps by their total
seconds; **tfvae / reference** is tfvae's tokens/s over the reference's, so
2.0 means tfvae did the same work in half the time. The line under the table
gives each side's fp32 matmul peak (the reference's torch and numpy 4096²
matmuls, best of 7; TensorFlow's fp32 and bf16 --peak_size² matmuls, best of
--peak_reps) and the ratio of the two fp32 peaks: a training ratio near the
peak ratio means the difference is the matmul library's, not the
implementation's. A host shared with other work moves every figure, and hosts
of one kind differ by up to ~4x in peak: the ratios compare only figures of one
run on one host. --out writes everything measured, both sides' raw figures and
a description of the host (CPU model, cores, TensorFlow and torch versions).

Without the reference's environment the tool stops (exit status 2) and says
what to run: `bash ../shared/anchors/lag/setup.sh /tmp/lag-venv`.

Flags shared with the other benchmarks: --data_dir (default $TFVAE_DATA_DIR;
both sides read ptb/ptb.{train,valid,test}.txt from it), --seed, --warmup,
--peak_size and --peak_reps. The other flags of `train_speed`, which this tool
imports (--steps, --variants, --lstm, --pipeline_steps), and --config and
--source are refused.
"""

import dataclasses
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from benchmarks import cli
from benchmarks import common
from benchmarks import train_speed
from tfvae import metrics
from tfvae.nets import text as text_nets

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = "../shared/anchors/lag"
DEFAULT_REFERENCE_PYTHON = "/tmp/lag-venv/bin/python"
REFERENCE_SCRIPTS = ("bench.py", "matmul_peak.py")
NET_NAMES = {"he2019": "He et al. net", "small": "256-unit net", "tiny": "tiny net"}
POLICIES = {"fp32": "keras", "bf16": "bf16"}  # row suffix -> train_speed variant
# Flags this tool defines no use for: those of train_speed and two of benchmarks.cli.
REFUSED_FLAGS = {"steps": "--train_steps", "variants": None, "lstm": None,
                 "pipeline_steps": None, "config": "--configs", "source": None}

flags.DEFINE_string("reference", DEFAULT_REFERENCE,
                    "Folder of the reference harness (bench.py, matmul_peak.py); a relative "
                    "path is taken from the repository root.")
flags.DEFINE_string("reference_python", DEFAULT_REFERENCE_PYTHON,
                    "Python of the reference's environment (torch, numpy), made by the "
                    "harness's setup.sh.")
flags.DEFINE_bool("skip_reference", False, "Time tfvae alone (reference columns n/a).")
flags.DEFINE_list("configs", ["he2019", "small"],
                  f"Networks to train, among {sorted(common.CONFIGS)}.")
flags.DEFINE_list("iw_configs", ["he2019"], "Networks of the IW-NLL row (empty: none).")
flags.DEFINE_integer("train_steps", 40, "Timed training steps per network and side.")
flags.DEFINE_integer("iw_sentences", 16, "Timed IW-NLL sentences per side.")
flags.DEFINE_integer("iw_warmup", 1, "Untimed IW-NLL sentences of the reference (tfvae "
                     "traces on the shortest timed sentence instead).")
flags.DEFINE_integer("samples", 500, "Importance samples K per sentence.")
flags.DEFINE_integer("chunk_size", 100, "Samples per decoder chunk (the reference's ns).")
flags.DEFINE_integer("iw_batch_size", 8, "Sentences per tfvae IW-NLL batch (length-sorted).")
flags.DEFINE_string("out", None, "JSON file receiving everything measured and the host.")

FLAGS = cli.FLAGS


class ReferenceMissing(Exception):
  """The reference's Python or harness cannot be used; the message says what to run."""


class ReferenceFailed(Exception):
  """A reference script ended with an error; the message holds its command and stderr."""


@dataclasses.dataclass
class Row:
  """One row of the table: a piece of work and each side's tokens/s on it."""

  work: str
  reference: float | None
  tfvae: float | None

  @property
  def ratio(self):
    if self.reference is None or self.tfvae is None:
      return None
    return self.tfvae / self.reference


# ----------------------------------------------------------------------------- paths
def repo_path(path):
  """`path` as given if absolute, else taken from the repository root."""
  path = pathlib.Path(os.path.expanduser(path))
  return path if path.is_absolute() else (ROOT / path).resolve()


def shown(path):
  """`path` relative to the working directory when that is shorter (for messages)."""
  path = str(path)
  try:
    relative = os.path.relpath(path)
  except ValueError:
    return path
  return relative if len(relative) < len(path) else path


def missing_reference_message(reference, python, problem):
  """One paragraph: what is missing and the command that makes it."""
  python = pathlib.Path(python)
  venv = python.parent.parent if python.parent.name == "bin" else pathlib.Path("/tmp/lag-venv")
  setup = pathlib.Path(reference) / "setup.sh"
  return (f"side_by_side: the reference environment is missing: {problem}. Build it once "
          f"with `bash {shown(setup)} {venv}` (a venv with torch and numpy for CPUs, 1-3 "
          f"minutes) and run this command again, with --reference_python={venv}/bin/python "
          f"if that is not the default; --reference=DIR names the harness folder (the one "
          f"holding {' and '.join(REFERENCE_SCRIPTS)}), and --skip_reference times tfvae "
          "alone.")


def check_reference(reference, python):
  """Raises ReferenceMissing unless the harness's scripts and the Python exist."""
  for script in REFERENCE_SCRIPTS:
    if not (reference / script).is_file():
      raise ReferenceMissing(missing_reference_message(
          reference, python, f"the harness folder {shown(reference)} has no {script}"))
  if not (os.path.isfile(python) and os.access(python, os.X_OK)):
    raise ReferenceMissing(missing_reference_message(
        reference, python, f"{python} does not exist or is not executable"))


def check_data_dir(data_dir):
  """The data folder if it holds the three PTB files; else exits 2 saying what to run."""
  missing = [f"ptb/ptb.{s}.txt" for s in ("train", "valid", "test")
             if data_dir is None or not os.path.isfile(os.path.join(data_dir, "ptb",
                                                                    f"ptb.{s}.txt"))]
  if missing:
    where = data_dir or f"(neither --data_dir nor ${common.DATA_DIR_ENV} is set)"
    exit_with(f"side_by_side: both sides read PTB, and {where} lacks {', '.join(missing)}. "
              f"Pass --data_dir=DIR or export {common.DATA_DIR_ENV}=DIR (the shared corpora "
              "are in ../shared/data), or fetch PTB with `python -m tfvae.data.prepare_ptb "
              "--data_dir DIR`.")
  return os.path.abspath(data_dir)


def exit_with(message, status=2):
  print(message, file=sys.stderr)
  sys.exit(status)


# ----------------------------------------------------------------------------- same work
def harness_batches(lengths, batch_size):
  """Index arrays of the harness's `create_data_batch(batch_size)` over sentences of `lengths`.

  Sorted by length, each length's sentences cut into batches of `batch_size`
  (the last one of a length may be smaller), shortest length first. The sort is
  stable here; the harness's is not, which changes only which sentences of one
  length share a batch, never a batch's shape.
  """
  lengths = np.asarray(lengths)
  order = np.argsort(lengths, kind="stable")
  groups = np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1)
  return [g[i:i + batch_size] for g in groups for i in range(0, len(g), batch_size)]


def reference_permutation(count, seed):
  """The permutation bench.py draws over `count` batches or sentences (legacy RandomState)."""
  return np.random.RandomState(seed).permutation(count)


def train_work(rows, batch_size, seed, warmup, steps):
  """Index arrays of the `steps` batches bench.py --batching harness times (after `warmup`)."""
  batches = harness_batches([len(r) for r in rows], batch_size)
  if warmup + steps > len(batches):
    raise app.UsageError(f"--warmup + --train_steps = {warmup + steps}, but the training "
                         f"split has {len(batches)} harness batches of {batch_size}.")
  order = reference_permutation(len(batches), seed)
  return [batches[i] for i in order[warmup:warmup + steps]]


def iw_work(rows, seed, warmup, count):
  """Indices of the `count` test sentences bench.py --mode iw times (after `warmup`)."""
  by_length = harness_batches([len(r) for r in rows], 1)
  positions = reference_permutation(len(by_length), seed)[warmup:warmup + count]
  return [int(by_length[p][0]) for p in positions]


def tokens(rows):
  """Tokens as the harness counts them: words + `</s>` per framed row `<s> ... </s>`."""
  return int(sum(len(r) - 1 for r in rows))


# ----------------------------------------------------------------------------- reference
def reference_env(data_dir):
  """The reference subprocess's environment: ours without this checkout's Python paths."""
  env = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
  env["PYTHONDONTWRITEBYTECODE"] = "1"
  env[common.DATA_DIR_ENV] = data_dir
  return env


def run_reference(python, script, args, data_dir):
  """Runs the harness's `script args` with `python`; returns the JSON object it writes."""
  with tempfile.TemporaryDirectory(prefix="side_by_side_") as scratch:
    out = os.path.join(scratch, "out.json")
    command = [str(python), "-W", "ignore", str(script), *map(str, args)]
    command += [f"--out={out}"] if script.name == "bench.py" else [out]
    logging.info("reference: %s", " ".join(command))
    done = subprocess.run(command, cwd=scratch, env=reference_env(data_dir),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
      tail = done.stderr.strip()[-3000:]
      if "ModuleNotFoundError" in tail:
        last = tail.splitlines()[-1]
        raise ReferenceMissing(missing_reference_message(
            script.parent, python, f"{python} cannot import what the harness needs ({last})"))
      raise ReferenceFailed(f"side_by_side: the reference failed (exit {done.returncode}): "
                            f"{' '.join(command)}\n{tail}")
    with open(out, encoding="utf-8") as f:
      return json.load(f)


def reference_net_args(config):
  return ["--ni", config.embed_dim, "--nh", config.hidden_dim, "--nz", config.latent_dim,
          "--batch_size", config.batch_size, "--seed", FLAGS.seed, "--data_dir",
          FLAGS.data_dir]


def reference_train(python, reference, config):
  args = ["--mode", "train", *reference_net_args(config), "--batching", "harness",
          "--warmup", FLAGS.warmup, "--steps", FLAGS.train_steps]
  return run_reference(python, reference / "bench.py", args, FLAGS.data_dir)


def reference_iw(python, reference, config):
  args = ["--mode", "iw", *reference_net_args(config), "--n", FLAGS.iw_sentences,
          "--warmup", FLAGS.iw_warmup, "--iw_nsamples", FLAGS.samples, "--iw_ns",
          FLAGS.chunk_size]
  return run_reference(python, reference / "bench.py", args, FLAGS.data_dir)


# ----------------------------------------------------------------------------- tfvae
def tfvae_train(config, batches, policy, lstm):
  """train_speed's timing of one policy ("fp32", "bf16") on `batches`, as a dict."""
  timing, _ = train_speed.run_variant(POLICIES[policy], config, batches, FLAGS.seed,
                                      FLAGS.warmup, lstm=lstm)
  train_speed.release_memory()
  count = tokens(row for x in batches for row in common.strip_padding(x.numpy()))
  return {"policy": "mixed_bfloat16" if policy == "bf16" else "float32", "lstm": lstm,
          "steps": timing.steps, "total_s": timing.seconds,
          "s_per_step": timing.seconds_per_step, "sentences": timing.sentences,
          "tokens": count, "sent_per_s": timing.sentences_per_second,
          "tok_per_s": count / timing.seconds, "warmup_s": timing.warmup_seconds,
          "batch_shapes": [list(map(int, x.shape)) for x in batches]}


def iw_log_px_fn(model, num_samples, chunk_size):
  """tf.function (x [B, T] int32, seed [2] int32) -> [B] IW log p(x), traced once.

  `eval_speed`'s `batched_tf_function` variant with the library's decode budget.
  """
  signature = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([2], tf.int32)]

  @tf.function(input_signature=signature)
  def log_px(x, seed):
    return metrics.iw_log_likelihood(model, x, num_samples=num_samples, chunk_size=chunk_size,
                                     seed=seed, decode_budget=metrics.DECODE_BUDGET)

  return log_px


def tfvae_iw(config, rows, lstm):
  """IW-NLL of `rows` in length-sorted batches of --iw_batch_size, timed, as a dict."""
  keras.utils.set_random_seed(FLAGS.seed)
  model = common.build_vae(config, FLAGS.seed, lstm=lstm)
  ordered = sorted(rows, key=len)
  batches = [tf.constant(common.pad_rows(ordered[i:i + FLAGS.iw_batch_size]))
             for i in range(0, len(ordered), FLAGS.iw_batch_size)]
  model(batches[0])
  log_px = iw_log_px_fn(model, FLAGS.samples, FLAGS.chunk_size)
  seed = metrics.stateless_seed(FLAGS.seed)
  _, warmup = common.timed(lambda: log_px(tf.constant(ordered[0][np.newaxis]), seed).numpy())

  def run():
    return np.concatenate([
        log_px(b, tf.random.experimental.stateless_fold_in(seed, i)).numpy()
        for i, b in enumerate(batches)])

  log_p, seconds = common.timed(run)
  train_speed.release_memory()
  count = tokens(rows)
  return {"lstm": lstm, "sentences": len(rows), "tokens": count, "batches": len(batches),
          "batch_size": FLAGS.iw_batch_size, "total_s": seconds,
          "s_per_sentence": seconds / len(rows), "sent_per_s": len(rows) / seconds,
          "tok_per_s": count / seconds, "warmup_s": warmup,
          "iw_nll_per_sent_untrained": float(-np.mean(log_p)),
          "words": [len(r) - 2 for r in rows]}


def tfvae_peaks():
  """TensorFlow's fp32 and bf16 matmul peaks (GFLOP/s), as train_speed measures them."""
  return {"size": FLAGS.peak_size, "reps": FLAGS.peak_reps,
          "fp32_gflops_best": common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps),
          "bf16_gflops_best": common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps,
                                                 tf.bfloat16)}


# ----------------------------------------------------------------------------- report
def host_description():
  """CPU model and features, cores, library versions (torch comes from the reference)."""
  model, features = platform.processor() or "unknown", []
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      info = f.read()
    for line in info.splitlines():
      key, _, value = line.partition(":")
      if key.strip() == "model name":
        model = value.strip()
      elif key.strip() == "flags":
        present = set(value.split())
        features = [x for x in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if x in present]
        break
  except OSError:
    pass
  usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return {"cpu": model, "cpu_features": features, "cores": os.cpu_count(),
          "usable_cores": usable, "platform": platform.platform(),
          "python": platform.python_version(), "tensorflow": tf.__version__,
          "keras": keras.__version__, "numpy": np.__version__, "torch": None}


def net_name(config_name):
  return NET_NAMES.get(config_name, config_name)


def table_rows(results):
  """The table's rows from the measurements (see `measure`)."""
  rows = []
  for name, sides in results["train"].items():
    reference = sides.get("reference")
    for policy in POLICIES:
      rows.append(Row(f"train {net_name(name)}, {policy}",
                      reference["result"]["tok_per_s"] if reference else None,
                      sides["tfvae"][policy]["tok_per_s"]))
  for name, sides in results["iw"].items():
    reference = sides.get("reference")
    rows.append(Row(f"IW-NLL K={FLAGS.samples}, {net_name(name)}",
                    reference["result"]["tok_per_s"] if reference else None,
                    sides["tfvae"]["tok_per_s"]))
  return rows


def peak_line(results):
  """Each side's matmul peak and the ratio of the fp32 peaks."""
  ours = results["tfvae"]["matmul_peak"]
  line = (f"matmul peak: tfvae (TensorFlow, {ours['size']}², best of {ours['reps']}) fp32 "
          f"{common.fmt(ours['fp32_gflops_best'])}, bf16 {common.fmt(ours['bf16_gflops_best'])}"
          " GFLOP/s")
  theirs = results["reference"].get("matmul_peak")
  if theirs is None:
    return line + "; reference not run"
  ratio = ours["fp32_gflops_best"] / theirs["torch_gflops_best"]
  return (f"{line}; reference (torch 4096², best of 7) fp32 "
          f"{common.fmt(theirs['torch_gflops_best'])} GFLOP/s (numpy "
          f"{common.fmt(theirs['numpy_gflops_best'])}); fp32 peak ratio tfvae / reference "
          f"(TensorFlow / torch) {common.fmt(ratio)}")


def work_notes(results):
  """Lines for work whose timed tokens differ between the sides (should be none)."""
  notes = []
  for kind, results_of_kind in (("train", results["train"]), ("IW-NLL", results["iw"])):
    for name, sides in results_of_kind.items():
      reference = sides.get("reference")
      if reference is None:
        continue
      ours = sides["tfvae"]["fp32"] if kind == "train" else sides["tfvae"]
      if reference["result"]["tokens"] != ours["tokens"]:
        notes.append(f"note: {kind} {net_name(name)}: the reference timed "
                     f"{reference['result']['tokens']} tokens, tfvae {ours['tokens']}: not "
                     "the same work; the per-token ratio still compares rates.")
  return notes


def work_line():
  """What each side timed, in words."""
  parts = []
  if FLAGS.configs:
    parts.append(f"{FLAGS.train_steps} timed training steps after {FLAGS.warmup} untimed "
                 f"(the harness's batches, seed {FLAGS.seed})")
  if FLAGS.iw_configs:
    parts.append(f"IW-NLL on {FLAGS.iw_sentences} test sentences after {FLAGS.iw_warmup} "
                 f"untimed, K = {FLAGS.samples} in chunks of {FLAGS.chunk_size} (reference: "
                 f"one at a time; tfvae: length-sorted batches of {FLAGS.iw_batch_size})")
  return "work: " + "; ".join(parts)


def report(results):
  """The printed report: header, table, peak line, caveat."""
  host = results["host"]
  rows = table_rows(results)
  table = common.format_table(
      ["work", "reference tok/s", "tfvae tok/s", "tfvae / reference"],
      [[r.work, common.fmt(r.reference), common.fmt(r.tfvae), common.fmt(r.ratio)]
       for r in rows])
  nets = "; ".join(results["nets"][name] for name in results["nets"])
  lines = [
      f"side_by_side: host {host['cpu']} ({host['usable_cores']} of {host['cores']} cores "
      f"usable; {', '.join(host['cpu_features']) or 'no AVX2'}), TensorFlow "
      f"{host['tensorflow']}, torch {host['torch'] or 'not run'}",
      f"nets: {nets}; tfvae LSTM {results['tfvae']['lstm']}",
      work_line(),
      "",
      table,
      "",
      peak_line(results),
      *work_notes(results),
      "Tokens are words + </s>; tfvae / reference is tfvae's tokens/s over the reference's "
      "(bf16 rows: over the reference's fp32). Ratios compare only within one run on one "
      "host.",
  ]
  return "\n".join(lines)


def row_records(results):
  return [{"work": r.work, "reference_tok_per_s": r.reference, "tfvae_tok_per_s": r.tfvae,
           "ratio_tfvae_over_reference": r.ratio} for r in table_rows(results)]


# ----------------------------------------------------------------------------- main
def check_flags():
  for name, instead in REFUSED_FLAGS.items():
    if FLAGS[name].present:
      hint = f"; use {instead}" if instead else ""
      raise app.UsageError(f"--{name} is not used by side_by_side{hint}.")
  unknown = sorted(set(FLAGS.configs + FLAGS.iw_configs) - set(common.CONFIGS))
  if unknown:
    raise app.UsageError(f"--configs/--iw_configs: unknown {unknown}; choose among "
                         f"{sorted(common.CONFIGS)}.")
  if not FLAGS.configs and not FLAGS.iw_configs:
    raise app.UsageError("Nothing to run: --configs and --iw_configs are both empty.")
  if FLAGS.train_steps < 1 or FLAGS.warmup < 0 or FLAGS.iw_warmup < 0:
    raise app.UsageError("--train_steps must be >= 1, --warmup and --iw_warmup >= 0.")
  if min(FLAGS.iw_sentences, FLAGS.samples, FLAGS.chunk_size, FLAGS.iw_batch_size) < 1:
    raise app.UsageError("--iw_sentences, --samples, --chunk_size, --iw_batch_size must be "
                         ">= 1.")


def split_rows(dataset, split):
  """Every framed row of `split` in stored order (the file's order)."""
  rows = []
  for batch in dataset.batches(split, 4096):
    rows.extend(common.strip_padding(batch.numpy()))
  return rows


def measure(reference, python):
  """Runs both sides, work by work; returns everything measured (the --out JSON)."""
  host = host_description()
  lstm = text_nets.resolve_lstm(text_nets.DEFAULT_LSTM)
  results = {"host": host, "flags": {k: FLAGS[k].value for k in (
      "reference", "reference_python", "skip_reference", "data_dir", "configs", "iw_configs",
      "train_steps", "warmup", "iw_sentences", "iw_warmup", "samples", "chunk_size",
      "iw_batch_size", "seed", "peak_size", "peak_reps")},
             "nets": {}, "reference": {}, "tfvae": {"lstm": lstm}, "train": {}, "iw": {}}
  run_ref = not FLAGS.skip_reference
  if run_ref:
    logging.info("reference: matmul peak")
    results["reference"]["matmul_peak"] = run_reference(
        python, reference / "matmul_peak.py", [], FLAGS.data_dir)
  logging.info("tfvae: matmul peaks")
  peaks = tfvae_peaks()
  dataset = common.load_ptb(FLAGS.data_dir)
  train_rows = split_rows(dataset, "train") if FLAGS.configs else []
  for name in FLAGS.configs:
    config = dataclasses.replace(common.CONFIGS[name], vocab_size=dataset.vocab.size)
    results["nets"][name] = config.describe()
    sides = results["train"][name] = {"tfvae": {}}
    indices = train_work(train_rows, config.batch_size, FLAGS.seed, FLAGS.warmup,
                         FLAGS.train_steps)
    batches = [tf.constant(common.pad_rows([train_rows[i] for i in b])) for b in indices]
    if run_ref:
      logging.info("reference: train %s", name)
      sides["reference"] = reference_train(python, reference, config)
      host["torch"] = sides["reference"].get("torch")
    for policy in POLICIES:
      logging.info("tfvae: train %s, %s", name, policy)
      sides["tfvae"][policy] = tfvae_train(config, batches, policy, lstm)
  if FLAGS.iw_configs:
    test_rows = split_rows(dataset, "test")
    chosen = [test_rows[i] for i in iw_work(test_rows, FLAGS.seed, FLAGS.iw_warmup,
                                            FLAGS.iw_sentences)]
  for name in FLAGS.iw_configs:
    config = dataclasses.replace(common.CONFIGS[name], vocab_size=dataset.vocab.size)
    results["nets"][name] = config.describe()
    sides = results["iw"][name] = {}
    if run_ref:
      logging.info("reference: IW-NLL %s", name)
      sides["reference"] = reference_iw(python, reference, config)
      host["torch"] = sides["reference"].get("torch")
    logging.info("tfvae: IW-NLL %s", name)
    sides["tfvae"] = tfvae_iw(config, chosen, lstm)
  # A second fp32 measurement: a peak taken while the host was briefly busy is too low.
  peaks["fp32_gflops_best"] = max(peaks["fp32_gflops_best"],
                                  common.matmul_peak(FLAGS.peak_size, FLAGS.peak_reps))
  results["tfvae"]["matmul_peak"] = peaks
  results["rows"] = row_records(results)
  return results


def main(argv):
  del argv
  check_flags()
  reference = repo_path(FLAGS.reference)
  python = os.path.abspath(os.path.expanduser(FLAGS.reference_python))
  try:
    if not FLAGS.skip_reference:
      check_reference(reference, python)
    FLAGS.data_dir = check_data_dir(common.resolve_data_dir(FLAGS.data_dir))
    results = measure(reference, python)
  except ReferenceMissing as e:
    exit_with(str(e))
  except ReferenceFailed as e:
    exit_with(str(e), status=1)
  text = report(results)
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=1)
      f.write("\n")
  print(text)


if __name__ == "__main__":
  app.run(main)
