"""benchmarks/side_by_side.py against a fake reference harness (functional only: no timings).

The fake harness is a folder holding a `bench.py` and a `matmul_peak.py` that
print fixed figures in the real scripts' JSON format, run by this interpreter;
the tfvae side runs for real on the `tiny` config and a 20-sentence corpus.
"""

import json
import math
import sys

import numpy as np
import pytest

from benchmarks import common
from tests import launch_runs

SENTENCES = [
    "the cat sat on the mat",
    "a <unk> of N shares",
    "the market fell",
    "prices rose sharply in the first quarter of the year",
    "he said",
] * 4
SEED = 7
FAKE_TRAIN_TOK_PER_S = 250.0
FAKE_IW_TOK_PER_S = 4.0
FAKE_TORCH_PEAK = 100.0

FAKE_BENCH = '''
import argparse, json, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--mode")
parser.add_argument("--out", default="")
args, _ = parser.parse_known_args()
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:],
                        "nobytecode": os.environ.get("PYTHONDONTWRITEBYTECODE"),
                        "pythonpath": os.environ.get("PYTHONPATH")}) + "\\n")
tok_per_s = {"train": %(train)r, "iw": %(iw)r}[args.mode]
times = [0.5, 0.5]
result = dict(n_timed=2, median_s=0.5, mean_s=0.5, p10_s=0.5, p90_s=0.5, min_s=0.5,
              max_s=0.5, total_s=1.0, sentences=8, tokens=int(tok_per_s), times_s=times,
              sent_per_s=8.0, tok_per_s=tok_per_s, desc="fake", mean_tensor_len=7.0)
if args.mode == "train":
    result.update(first_loss=9.0, last_loss=8.0, mean_batch=4.0)
else:
    result.update(iw_nll_per_sent_untrained=30.0, est_full_test_set_s=10.0,
                  est_full_test_set_s_from_mean=10.0, n_test_sentences=20)
info = dict(mode=args.mode, ni=16, nh=16, nz=4, batch_size=4, vocab=20, params=1000,
            torch="0.0+fake", numpy="0", python="3", torch_threads=2,
            torch_interop_threads=2, mkldnn_enabled=True, cpu_capability="fake",
            OMP_NUM_THREADS=None, result=result)
text = json.dumps(info, indent=1)
print(text)
if args.out:
    with open(args.out, "w") as f:
        f.write(text + "\\n")
''' % {"train": FAKE_TRAIN_TOK_PER_S, "iw": FAKE_IW_TOK_PER_S}

FAKE_PEAK = '''
import json, sys
res = {"torch_threads": 2, "OMP_NUM_THREADS": None, "torch_mm_s": [1.0],
       "torch_gflops_median": 90.0, "torch_gflops_best": %(peak)r, "numpy_matmul_s": [1.0],
       "numpy_gflops_median": 110.0, "numpy_gflops_best": 120.0, "numpy_blas": []}
print(json.dumps(res, indent=1))
if len(sys.argv) > 1:
    open(sys.argv[1], "w").write(json.dumps(res, indent=1) + "\\n")
''' % {"peak": FAKE_TORCH_PEAK}


@pytest.fixture(name="data_dir")
def fixture_data_dir(tmp_path):
  """A data directory whose three PTB files hold the same 20 sentences."""
  (tmp_path / "data" / "ptb").mkdir(parents=True)
  for split in ("train", "valid", "test"):
    (tmp_path / "data" / "ptb" / f"ptb.{split}.txt").write_text(
        "".join(f" {s} \n" for s in SENTENCES))
  return tmp_path / "data"


@pytest.fixture(name="fake_reference")
def fixture_fake_reference(tmp_path):
  folder = tmp_path / "fake_lag"
  folder.mkdir()
  (folder / "bench.py").write_text(FAKE_BENCH)
  (folder / "matmul_peak.py").write_text(FAKE_PEAK)
  return folder


def run_tool(*args, check=True):
  return launch_runs.run("benchmarks.side_by_side", *args, check=check)


def table_rows(output):
  """{first cell: other cells} of the Markdown table rows in `output`."""
  lines = [line for line in output.splitlines() if line.startswith("|")]
  rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
  return {row[0]: row[1:] for row in rows}


def harness_shapes(sentences, batch_size):
  """[B, T] of each batch of the harness's create_data_batch, written as the harness does."""
  sents_len = np.array([len(s.split()) for s in sentences])
  sort_idx = np.argsort(sents_len)
  sort_len = sents_len[sort_idx]
  change_loc = [i for i in range(1, len(sort_len)) if sort_len[i] != sort_len[i - 1]]
  change_loc.append(len(sort_len))
  shapes, curr = [], 0
  for idx in change_loc:
    while curr < idx:
      nxt = min(curr + batch_size, idx)
      shapes.append([nxt - curr, int(sort_len[curr]) + 2])
      curr = nxt
  return shapes


def test_fake_reference_gives_one_table_of_per_token_ratios(data_dir, fake_reference, tmp_path):
  out = tmp_path / "side_by_side.json"
  result = run_tool("--configs=tiny", "--iw_configs=tiny", "--train_steps=2", "--warmup=1",
                    "--iw_sentences=3", "--iw_warmup=1", "--samples=10", "--chunk_size=5",
                    "--iw_batch_size=2", f"--seed={SEED}", "--peak_size=64", "--peak_reps=1",
                    f"--reference={fake_reference}",
                    f"--reference_python={sys.executable}",
                    f"--data_dir={data_dir}", f"--out={out}")
  output = result.stdout
  rows = table_rows(output)
  assert list(rows) == ["train tiny net, fp32", "train tiny net, bf16", "IW-NLL K=10, tiny net"]
  measured = json.loads(out.read_text())

  # The table is the JSON's rows, and each ratio is tfvae's tokens/s over the fake's.
  tfvae = {"train tiny net, fp32": measured["train"]["tiny"]["tfvae"]["fp32"]["tok_per_s"],
           "train tiny net, bf16": measured["train"]["tiny"]["tfvae"]["bf16"]["tok_per_s"],
           "IW-NLL K=10, tiny net": measured["iw"]["tiny"]["tfvae"]["tok_per_s"]}
  reference = {"train tiny net, fp32": FAKE_TRAIN_TOK_PER_S,
               "train tiny net, bf16": FAKE_TRAIN_TOK_PER_S,
               "IW-NLL K=10, tiny net": FAKE_IW_TOK_PER_S}
  for record in measured["rows"]:
    work = record["work"]
    assert math.isfinite(tfvae[work]) and tfvae[work] > 0
    assert record["reference_tok_per_s"] == reference[work]
    assert record["tfvae_tok_per_s"] == tfvae[work]
    assert record["ratio_tfvae_over_reference"] == pytest.approx(tfvae[work] / reference[work])
    assert rows[work] == [common.fmt(reference[work]), common.fmt(tfvae[work]),
                          common.fmt(tfvae[work] / reference[work])]

  # The peaks and their ratio.
  peak = measured["tfvae"]["matmul_peak"]
  assert peak["fp32_gflops_best"] > 0 and peak["bf16_gflops_best"] > 0
  assert measured["reference"]["matmul_peak"]["torch_gflops_best"] == FAKE_TORCH_PEAK
  assert (f"fp32 peak ratio tfvae / reference (TensorFlow / torch) "
          f"{common.fmt(peak['fp32_gflops_best'] / FAKE_TORCH_PEAK)}") in output
  assert "Ratios compare only within one run on one host." in output
  # The fake's token counts are not the work tfvae timed: said under the table.
  assert "note: train tiny net: the reference timed 250 tokens" in output

  # The host and the versions.
  host = measured["host"]
  assert host["cpu"] and host["cores"] >= 1 and host["tensorflow"] and host["torch"] == "0.0+fake"
  assert set(measured["train"]["tiny"]["tfvae"]["bf16"]) >= {
      "policy", "steps", "sentences", "tokens", "sent_per_s", "tok_per_s", "total_s"}

  # The same work: the harness's batch shapes in its permutation's order, after the warm-up,
  # and its IW sentences (their lengths) after its warm-up sentence.
  shapes = harness_shapes(SENTENCES, 4)
  order = np.random.RandomState(SEED).permutation(len(shapes))
  assert measured["train"]["tiny"]["tfvae"]["fp32"]["batch_shapes"] == [
      shapes[i] for i in order[1:3]]
  words = sorted(len(s.split()) for s in SENTENCES)
  picked = np.random.RandomState(SEED).permutation(len(SENTENCES))[1:4]
  assert measured["iw"]["tiny"]["tfvae"]["words"] == [words[i] for i in picked]

  # The reference ran in its own environment with the same work's flags.
  calls = [json.loads(line) for line in (fake_reference / "calls.jsonl").read_text().splitlines()]
  assert [c["argv"][:2] for c in calls] == [["--mode", "train"], ["--mode", "iw"]]
  for call in calls:
    assert call["nobytecode"] == "1" and call["pythonpath"] is None
    flags = " ".join(call["argv"])
    assert "--ni 16 --nh 16 --nz 4 --batch_size 4" in flags and f"--seed {SEED}" in flags
  assert "--batching harness --warmup 1 --steps 2" in " ".join(calls[0]["argv"])
  assert "--n 3 --warmup 1 --iw_nsamples 10 --iw_ns 5" in " ".join(calls[1]["argv"])


@pytest.mark.parametrize("missing", ["python", "harness"])
def test_missing_reference_exits_2_saying_to_run_setup_sh(data_dir, fake_reference, tmp_path,
                                                          missing):
  python = tmp_path / "no-venv" / "bin" / "python"
  args = [f"--reference_python={python}", f"--reference={fake_reference}"]
  if missing == "harness":
    args = [f"--reference_python={sys.executable}",
            f"--reference={tmp_path / 'nowhere'}"]
  result = run_tool("--configs=tiny", "--iw_configs=", f"--data_dir={data_dir}", *args,
                    check=False)
  assert result.returncode == 2, result.stderr[-2000:]
  assert "setup.sh" in result.stderr and "bash " in result.stderr
  assert "Traceback" not in result.stderr and result.stdout == ""
  if missing == "python":
    assert f"setup.sh {tmp_path / 'no-venv'}`" in result.stderr
