"""Reproduction tables: rows from presets, resumable runs, markdown/JSON/TensorBoard output."""

import json

import pytest
import tensorflow as tf

from tfvae.training import config as config_lib
from tfvae.training import loop
from tfvae.training import reproduce

TINY_SCALE = {
    "fields": dict(dataset="synthetic_mog", embed_dim=8, hidden_dim=16, latent_dim=4,
                   batch_size=64, epochs=1, steps_per_epoch=4, eval_samples=4,
                   eval_chunk_size=4, test_examples=20, generated_sentences=6,
                   epoch_eval_batches=1, verbose=0, latent_pictures=0),
    "per_preset": {"free_bits": {"steps_per_epoch": 3}},
}
ROWS = ["vae", "fb_lambda_3", "pre_train_fb_lambda_8"]


def test_row_configs_share_the_scale_and_keep_the_method():
  rows = {reproduce.row_name(row): row for row in reproduce.PTB_CLASSIC}
  assert set(ROWS) <= set(rows)
  configs = {name: reproduce.row_config(row, "cpu", "/runs") for name, row in rows.items()}
  architectures = {json.dumps(c.resolved().architecture() | {"model": None}, sort_keys=True)
                   for c in configs.values()}
  assert len(architectures) == 1, "every row must share one architecture"
  assert configs["fb_lambda_3"].fb_lambda == 3.0
  assert configs["pre_train_fb_lambda_8"].preset == "li2019_pretrain_fb"
  assert configs["vae"].model_dir == "/runs/vae"
  for config in configs.values():
    config.resolved().validate()


def test_table_runs_rows_then_reads_them_back(tmp_path, monkeypatch):
  monkeypatch.setitem(reproduce.SCALES, "tiny", TINY_SCALE)
  runs, results = tmp_path / "runs", tmp_path / "results"
  markdown = reproduce.run_table("ptb_classic", "tiny", str(runs), str(results), rows=ROWS)
  lines = [line for line in markdown.splitlines() if line.startswith("| ")]
  assert len(lines) == 1 + len(ROWS)
  assert "| FB (lambda=3) | `free_bits` |" in markdown
  assert "102.6 / 108.26" in markdown  # the published VAE row
  saved = json.loads((results / "ptb_classic_tiny.json").read_text())
  assert [entry["label"] for entry in saved] == ["VAE", "FB (lambda=3)",
                                                 "Pre-train + FB (lambda=8)"]
  for entry in saved:
    for key in ("nll", "ppl", "kl", "au", "sampled_dis1"):
      assert key in entry["test"], (entry["label"], key)
  assert (results / "ptb_classic_tiny.md").read_text().strip() == markdown.strip()
  svg = (results / "ptb_classic_tiny.svg").read_text()
  assert all(entry["label"] in svg for entry in saved)  # The figure's legend.
  assert (results / "ptb_classic_tiny.png").read_bytes()[:4] == b"\x89PNG"
  assert (runs / "pre_train_fb_lambda_8" / "pretrain" / "checkpoint").exists()
  assert tf.io.gfile.glob(str(runs / "table" / "events.out.tfevents.*"))

  def must_not_train(config):
    raise AssertionError(f"{config.model_dir} was trained again")

  monkeypatch.setattr(loop, "train", must_not_train)
  again = reproduce.run_table("ptb_classic", "tiny", str(runs), str(results), rows=ROWS)
  assert again.splitlines()[2:] == markdown.splitlines()[2:]


def test_unknown_table_scale_and_row_are_config_errors(tmp_path):
  with pytest.raises(config_lib.ConfigError, match="--table"):
    reproduce.run_table("yahoo", "cpu", str(tmp_path), str(tmp_path))
  with pytest.raises(config_lib.ConfigError, match="--scale"):
    reproduce.row_config(reproduce.PTB_CLASSIC[0], "tpu", str(tmp_path))
  with pytest.raises(config_lib.ConfigError, match="fb_lambda_3"):
    reproduce.run_table("ptb_classic", "cpu", str(tmp_path), str(tmp_path), rows=["fb3"])


def test_du_vae_rows_are_valid_at_both_scales_and_share_an_architecture():
  for table in reproduce.table_names("du_vae"):
    configs = [reproduce.row_config(row, scale, "/runs", table)
               for row in reproduce.TABLES[table].rows for scale in ("cpu", "paper")]
    for config in configs:
      config.resolved().validate()
    cpu = [c for c in configs if c.steps_per_epoch is not None]
    encoders = {json.dumps({k: v for k, v in c.resolved().architecture().items()
                            if k not in ("model", "iaf_steps", "iaf_width")}, sort_keys=True)
                for c in cpu}
    assert len(encoders) == 1, encoders
  assert reproduce.table_names("du_vae", "mnist") == ["du_vae_mnist"]
  with pytest.raises(config_lib.ConfigError, match="has the halves yelp, mnist"):
    reproduce.table_names("du_vae", "omniglot")
  with pytest.raises(config_lib.ConfigError, match="--data applies to --table=du_vae"):
    reproduce.table_names("ptb_classic", "yelp")


def test_a_probed_table_has_mpd_and_probe_columns(tmp_path, monkeypatch):
  """A tiny du_vae-like table on D4 (which has labels): MPD and the probe's accuracies."""
  table = reproduce.Table(reproduce.DU_VAE[:1] + reproduce.DU_VAE[5:6], {"tiny": TINY_SCALE},
                          reproduce.TABLES["du_vae_yelp"].columns, probe_labels=(20, 50))
  monkeypatch.setitem(reproduce.TABLES, "tiny_du", table)
  markdown = reproduce.run_table("tiny_du", "tiny", str(tmp_path / "runs"),
                                 str(tmp_path / "results"))
  assert "| MPD | probe 20 (%) | probe 50 (%) |" in markdown
  saved = json.loads((tmp_path / "results" / "tiny_du_tiny.json").read_text())
  for entry in saved:
    assert 0.0 <= entry["test"]["probe_20"] <= 1.0 and entry["test"]["mpd"] >= 0.0
  probed = json.loads((tmp_path / "runs" / "vae" / "probe.json").read_text())
  assert probed["label_counts"] == [20, 50]


def test_ptb_implicit_rows_are_valid_at_both_scales_and_share_an_encoder_and_decoder():
  configs = [reproduce.row_config(row, scale, "/runs", "ptb_implicit")
             for row in reproduce.PTB_IMPLICIT for scale in ("cpu", "paper")]
  for config in configs:
    config.resolved().validate()
  cpu = [c.resolved() for c in configs if c.steps_per_epoch is not None]
  shared = ("dataset", "embed_dim", "hidden_dim", "latent_dim", "network")
  assert len({tuple(getattr(c, name) for name in shared) for c in cpu}) == 1
  assert {c.model for c in cpu} == {"vae", "flow_prior", "ivae", "p_vae", "apo_vae"}
  assert {c.prior for c in cpu} == {None, "mog", "vamp", "flow"}


def test_the_implicit_table_reports_the_critics_kl(tmp_path, monkeypatch):
  """The iVAE row of ptb_implicit on D4: the critic's KL and an NLL beside the published row."""
  monkeypatch.setitem(reproduce.PTB_IMPLICIT_SCALES, "tiny", TINY_SCALE)
  markdown = reproduce.run_table("ptb_implicit", "tiny", str(tmp_path / "runs"),
                                 str(tmp_path / "results"), rows=["ivae"])
  assert "| -ELBO | NLL | PPL | Recon | KL | MI | MI (set) | KL (critic) | AU |" in markdown
  assert "87.6 / 54.46 / 6.32 / 3.5 / 32" in markdown
  saved = json.loads((tmp_path / "results" / "ptb_implicit_tiny.json").read_text())
  assert saved[0]["test"]["dual_kl"] is not None and saved[0]["test"]["nll"] is not None
