"""The speed benchmarks run end to end on a tiny config (functional only: no timing checks)."""

import math
import os

import numpy as np
import pytest

from benchmarks import common
from tests import launch_runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCES = [
    "the cat sat on the mat",
    "a <unk> of N shares",
    "the market fell",
    "prices rose sharply in the first quarter of the year",
    "he said",
] * 4


@pytest.fixture(name="data_dir")
def fixture_data_dir(tmp_path):
  """A data directory holding a 20-sentence ptb/ptb.train.txt."""
  (tmp_path / "ptb").mkdir()
  (tmp_path / "ptb" / "ptb.train.txt").write_text("".join(f" {s} \n" for s in SENTENCES))
  return tmp_path


def run_script(module, *args):
  """Runs `python -m module args` from the repository root; returns its stdout."""
  return launch_runs.run(module, *args).stdout


def table_rows(output):
  """{first cell: other cells} of the Markdown table rows in `output` (header and rule dropped)."""
  lines = [line for line in output.splitlines() if line.startswith("|")]
  rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
  return {row[0]: row[1:] for row in rows}


def assert_positive_finite(cells):
  for cell in cells:
    value = float(cell)
    assert math.isfinite(value) and value > 0, cells


def test_train_speed_prints_every_variant(data_dir):
  # One LSTM implementation (keras): the fused one's variants are the same code paths.
  output = run_script("benchmarks.train_speed", "--config=tiny", "--steps=1", "--warmup=1",
                      "--source=synthetic", "--lstm=keras",
                      f"--data_dir={data_dir}", "--peak_size=256", "--peak_reps=2")
  rows = table_rows(output)
  assert set(rows) == {"eager", "keras", "xla", "bf16"}
  for cells in rows.values():
    assert_positive_finite(cells)
  assert rows["eager"][2] == "1.00"  # the ratio column of the baseline
  assert "recurrent matmul of one LSTM step" in output and "bf16 matmul peak" in output
  assert "wait" in output and "GFLOP/s" in output


def test_eval_speed_prints_every_variant_with_flops_and_memory(data_dir):
  output = run_script("benchmarks.eval_speed", "--config=tiny", "--sentences=3", "--samples=20",
                      "--chunk_size=10", "--batch_size=2", "--source=synthetic",
                      f"--data_dir={data_dir}", "--peak_size=256", "--peak_reps=2")
  rows = table_rows(output)
  assert set(rows) == {"per_sentence_eager", "batched_per_row", "batched_tf_function", "evaluate"}
  for cells in rows.values():
    assert_positive_finite(cells)
  assert rows["per_sentence_eager"][3] == "1.00"
  # Same samples with the words projected per row or once: the same mean -log p(x).
  assert rows["batched_per_row"][6] == rows["batched_tf_function"][6]
  assert "FLOP floor at that peak" in output and "peak resident memory" in output


def test_eval_speed_whole_split_longest_first_with_a_shorter_baseline(data_dir):
  output = run_script("benchmarks.eval_speed", "--config=tiny", "--sentences=0",
                      "--baseline_sentences=2", "--variants=per_sentence_eager,evaluate",
                      "--samples=10", "--chunk_size=10", "--batch_size=4", "--sort_by_length",
                      "--longest", "--decode_budget=30", "--source=synthetic",
                      f"--data_dir={data_dir}", "--peak_size=256", "--peak_reps=2")
  rows = table_rows(output)
  assert set(rows) == {"per_sentence_eager", "evaluate"}
  assert rows["evaluate"][0] == str(len(SENTENCES))
  # The baseline takes the first two of the rows, which --longest puts first.
  assert rows["per_sentence_eager"][0] == "2"
  longest_two = sorted(len(s.split()) for s in SENTENCES)[-2:]
  assert f"baseline on the first 2 ({sum(longest_two) / 2:.1f} words on average)" in output
  assert "longest first" in output and "decode budget 30" in output


def test_iw_log_likelihood_flops_count_the_encoder_and_the_words_once_the_rest_per_sample():
  config = common.CONFIGS["small"]
  one = common.iw_log_likelihood_flops(config, 12, 1)
  assert one == common.forward_flops(config, 1, 12)
  per_sample = common.decoder_flops(config, 12) - common.word_projection_flops(config, 12)
  assert common.iw_log_likelihood_flops(config, 12, 5) - one == 4 * per_sample
  assert common.word_projection_flops(config, 12) == 2 * 11 * 4 * 256 * 256


def test_bf16_curve_prints_both_policies_and_the_deviation(data_dir):
  output = run_script("benchmarks.bf16_curve", "--config=tiny", "--steps=8", "--window=3",
                      "--skip=2", "--source=synthetic", f"--data_dir={data_dir}")
  rows = table_rows(output)
  assert set(rows) == {"float32", "mixed_bfloat16"}
  for cells in rows.values():
    assert_positive_finite(cells)
  # Same initial weights and first batch: the first losses agree to bfloat16 precision.
  assert float(rows["mixed_bfloat16"][1]) == pytest.approx(float(rows["float32"][1]), rel=0.02)
  assert "max relative deviation" in output and "speed ratio" in output


def test_read_ptb_rows_frames_and_caps_the_vocabulary(data_dir):
  rows = common.read_ptb_rows(str(data_dir / "ptb" / "ptb.train.txt"), vocab_size=6)
  assert len(rows) == len(SENTENCES)
  first = rows[0]  # "the cat sat on the mat": "the" is the most frequent word (id 4)
  assert first[0] == common.BOS_ID and first[-1] == common.EOS_ID and len(first) == 8
  assert first[1] == 4 and first[5] == 4
  assert np.all(np.concatenate(rows) < 6)
  assert rows[1][2] == common.UNK_ID  # "<unk>" is never a word of its own


def test_bucketed_batches_are_full_and_length_sorted_within_pools():
  rows = common.fallback_rows(vocab_size=30, count=500, seed=1)
  batches = common.bucketed_batches(rows, batch_size=4, num_batches=30, seed=2)
  assert len(batches) == 30 and all(len(b) == 4 for b in batches)
  spreads = [np.ptp([len(rows[i]) for i in b]) for b in batches]
  assert np.mean(spreads) < 3  # pools of 200 sentences sorted by length: near-equal lengths


def test_step_flops_follow_the_formula():
  config = common.BenchConfig("x", vocab_size=7, embed_dim=2, hidden_dim=3, latent_dim=1,
                              batch_size=5)
  encoder = 4 * 4 * 3 * (2 + 3) + 3 * 2 * 1
  decoder = 1 * 3 + 3 * (4 * 3 * (2 + 1 + 3) + 3 * 7)
  assert common.train_step_flops(config, (5, 4)) == 3 * 2 * 5 * (encoder + decoder)


def test_format_table_and_fmt():
  assert common.fmt(1234.5) == "1234" and common.fmt(0.012345) == "0.0123"
  assert common.fmt(float("nan")) == "n/a" and common.fmt(0.0) == "0"
  table = common.format_table(["a", "bb"], [["x", 1.5]])
  assert table.splitlines()[0] == "| a |  bb |" and table.splitlines()[2] == "| x | 1.5 |"
