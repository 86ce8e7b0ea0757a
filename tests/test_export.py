"""SavedModel export of a text VAE for TF Serving (export/).

A tiny LSTM VAE is trained on the synthetic data set and exported twice
(once by the launcher, once from Python). The exports are then loaded in
fresh processes, both with `tf.saved_model.load` and with the TF1 session
loader TF Serving uses, and every signature is compared with the Keras model
of the run; bad requests, the warm-up file, `saved_model_cli` and the
launcher's error path are checked too.
"""

import hashlib
import os
import pathlib

from google.protobuf import text_format
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_serving.config import model_server_config_pb2

from export import exporter
from export import replay
from export import serving_config
from export import text_graph
from export import versions
from export import warmup
from export.errors import ExportError
from tfvae.data.vocabulary import Vocabulary
from tfvae.training import loop
from tests import launch_runs
from tests.export_answers import error as _error
from tests.export_answers import outputs as _outputs
from tfvae.training.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAME = "tiny"
MAX_WORDS = 12
MAX_GENERATE = 12
LATENT_DIM = 4
TINY = dict(embed_dim=8, hidden_dim=16, latent_dim=LATENT_DIM, epochs=1, steps_per_epoch=2,
            latent_pictures=0,
            eval_samples=2, eval_chunk_size=2, epoch_eval_batches=1, verbose=0)


def _run(module, *flags):
  """`python -m module flags`, as a process forked by tests/launch_server.py."""
  return launch_runs.run(module, *flags, check=False, TF_CPP_MIN_LOG_LEVEL="3")


def _digests(directory):
  return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(pathlib.Path(directory).rglob("*")) if p.is_file()}




# Fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("text_run")
  loop.train(Config(model_dir=str(model_dir), **TINY))
  return model_dir


@pytest.fixture(scope="module")
def keras_run(run_dir):
  """(config, dataset, model) of the run, for the reference outputs."""
  return loop.restore_run(str(run_dir))


@pytest.fixture(scope="module")
def exports(run_dir, tmp_path_factory):
  """Two exports into one base: version 1 by the launcher, version 2 from Python."""
  base = tmp_path_factory.mktemp("exports")
  launcher = _run("export.savedmodel", f"--model_dir={run_dir}",
                  f"--export_base={base}", f"--name={NAME}", f"--max_words={MAX_WORDS}",
                  f"--max_generate={MAX_GENERATE}")
  assert launcher.returncode == 0, launcher.stderr[-5000:]
  first = {half: _digests(base / f"{NAME}_{half}" / "1") for half in ("encoder", "decoder")}
  second = exporter.export_run(str(run_dir), str(base), NAME, max_words=MAX_WORDS,
                               max_generate=MAX_GENERATE)
  return {"base": base, "launcher": launcher, "first": first, "second": second}


def _sentences(vocab, dataset):
  """Request sentences: a corpus line, unknown words and markers, empty, overlong, odd spaces."""
  corpus_line = vocab.decode(dataset.batches("test", 1).take(1).get_single_element()[0])
  words = vocab.words[4:]
  return np.array([
      corpus_line,
      f"{words[0]} notaword <s> {words[1]} _UNK",
      "",
      " ".join(words[i % 30] for i in range(2 * MAX_WORDS)),
      f"  {words[2]}\t{words[3]}  {words[4]} ",
  ], dtype=object)


def _framed(vocab, sentences):
  """The batch the Keras model sees: `<s> w1..wn </s> <pad>...`, n <= MAX_WORDS."""
  rows = [vocab.encode(" ".join(s.split()[:MAX_WORDS]), add_markers=True) for s in sentences]
  padded = np.zeros([len(rows), max(map(len, rows))], np.int32)
  for i, row in enumerate(rows):
    padded[i, :len(row)] = row
  return padded


def _word_ids(vocab, sentences):
  """encode_ids inputs: untruncated word ids (no markers) and lengths."""
  rows = [vocab.encode(s) for s in sentences]
  ids = np.zeros([len(rows), max(map(len, rows))], np.int32)
  for i, row in enumerate(rows):
    ids[i, :len(row)] = row
  return ids, np.array([len(r) for r in rows], np.int32)


@pytest.fixture(scope="module")
def requests(keras_run):
  _, dataset, _ = keras_run
  vocab = dataset.vocab
  sentences = _sentences(vocab, dataset)
  token_ids, lengths = _word_ids(vocab, sentences)
  z = np.random.default_rng(0).normal(size=[len(sentences), LATENT_DIM]).astype(np.float32)
  seed = np.array([1, 2], np.int32)
  encode = ("serving_default", {"sentences": sentences})
  generate = ("generate", {"z": z[:3], "seed": seed})
  encoder = {
      "encode": encode,
      "encode_ids": ("encode_ids", {"token_ids": token_ids, "lengths": lengths}),
      "encode_prefix": ("serving_default", {"sentences": np.array(
          [" ".join(sentences[3].split()[:MAX_WORDS]), "<s> </s>"], object)}),
      "encode_many": ("serving_default", {"sentences": np.array([sentences[0]] * 300, object)}),
      "encode_empty": ("serving_default", {"sentences": np.array([], object)}),
      "encode_ids_empty": ("encode_ids", {"token_ids": np.zeros([0, 0], np.int32),
                                          "lengths": np.zeros([0], np.int32)}),
      "bad_dtype": ("serving_default", {"sentences": np.array([1, 2], np.int32)}),
      "bad_rank": ("serving_default", {"sentences": np.array([["a b"]], object)}),
      "bad_id": ("encode_ids", {"token_ids": np.array([[4, vocab.size + 5]], np.int32),
                                "lengths": np.array([2], np.int32)}),
      "bad_marker": ("encode_ids", {"token_ids": np.array([[Vocabulary.BOS_ID, 4]], np.int32),
                                    "lengths": np.array([2], np.int32)}),
      "bad_lengths": ("encode_ids", {"token_ids": np.array([[4, 5]], np.int32),
                                     "lengths": np.array([3], np.int32)}),
      "bad_batch": ("encode_ids", {"token_ids": np.array([[4, 5]], np.int32),
                                   "lengths": np.array([1, 1], np.int32)}),
      "after_bad": encode,
  }
  decoder = {
      "generate": generate,
      "generate_again": generate,
      "generate_other_seed": ("generate", {"z": z[:3], "seed": np.array([7, 8], np.int32)}),
      "serving_default": ("serving_default", generate[1]),
      "log_likelihood": ("log_likelihood", {"sentences": sentences, "z": z}),
      "generate_empty": ("generate", {"z": np.zeros([0, LATENT_DIM], np.float32), "seed": seed}),
      "log_likelihood_empty": ("log_likelihood", {"sentences": np.array([], object),
                                                  "z": np.zeros([0, LATENT_DIM], np.float32)}),
      "sample_prior": ("sample_prior", {"num_samples": np.array(4, np.int32), "seed": seed}),
      "bad_z_width": ("generate", {"z": np.zeros([2, LATENT_DIM + 1], np.float32),
                                   "seed": seed}),
      "bad_seed": ("generate", {"z": z[:2], "seed": np.array([1, 2, 3], np.int32)}),
      "bad_batch": ("log_likelihood", {"sentences": sentences[:2], "z": z[:3]}),
      "bad_dtype": ("log_likelihood", {"sentences": sentences[:2], "z": z[:2].astype(np.int32)}),
      "after_bad": generate,
  }
  return {"sentences": sentences, "z": z, "seed": seed, "encoder": encoder, "decoder": decoder}


@pytest.fixture(scope="module")
def served(exports, requests):
  """Answers of the version-2 encoder and decoder in fresh processes, per loader."""
  jobs = [(exports["second"].encoder, requests["encoder"]),
          (exports["second"].decoder, requests["decoder"])]
  answers = {}
  for mode in ("tf2", "session"):
    encoder, decoder = replay.in_fresh_process(jobs, session=mode == "session")
    answers[mode] = {"encoder": encoder, "decoder": decoder}
  return answers


@pytest.fixture(scope="module")
def reference(keras_run, requests):
  """What the Keras model computes on the same inputs."""
  _, dataset, model = keras_run
  vocab = dataset.vocab
  x = _framed(vocab, requests["sentences"])
  posterior = model.posterior(x)
  z = tf.constant(requests["z"])
  greedy = tf.function(lambda z: model.decoder.generate(z, MAX_GENERATE, greedy=True))
  sampled = tf.function(lambda z, seed: model.decoder.generate(z, MAX_GENERATE, greedy=False,
                                                               seed=seed))
  return {
      "loc": posterior.mean().numpy(), "scale": posterior.stddev().numpy(),
      "kl": tfp.distributions.kl_divergence(posterior, model.prior).numpy(),
      "log_likelihood": model.likelihood(z, x).log_prob(x).numpy(),
      "greedy_ids": greedy(z[:3]).numpy(),
      "sampled_ids": sampled(z[:3], tf.constant(requests["seed"])).numpy(),
      "prior_sample": model.prior.sample(4, seed=tf.constant(requests["seed"])).numpy(),
      "vocab": vocab,
  }


# Versions, layout, config --------------------------------------------------------


def test_two_exports_make_versions_1_and_2_without_overwriting(exports):
  base = exports["base"]
  for half in ("encoder", "decoder"):
    model_dir = base / f"{NAME}_{half}"
    assert sorted(os.listdir(model_dir)) == ["1", "2"]
    assert _digests(model_dir / "1") == exports["first"][half]
    assert (model_dir / "2" / "saved_model.pb").is_file()
    assert (model_dir / "2" / "assets.extra" / "tf_serving_warmup_requests").is_file()
  assert exports["second"].version == 2
  assert exports["second"].encoder == str(base / f"{NAME}_encoder" / "2")
  assert not [e for e in os.listdir(base) if e.startswith(".")], "staging directories left"
  assert "Exported version 1" in exports["launcher"].stdout


def test_models_config_serves_both_models_by_absolute_path(exports):
  base = exports["base"]
  config = text_format.Parse((base / "models.config").read_text(),
                             model_server_config_pb2.ModelServerConfig())
  entries = {c.name: c for c in config.model_config_list.config}
  assert set(entries) == {f"{NAME}_encoder", f"{NAME}_decoder"}
  for name, entry in entries.items():
    assert os.path.isabs(entry.base_path)
    assert pathlib.Path(entry.base_path) == (base / name).resolve()
    assert entry.model_platform == "tensorflow"


def test_run_max_length_takes_precedence_over_max_words():
  assert exporter.text_limits(Config(max_length=20), 100, None) == (20, 21)
  assert exporter.text_limits(Config(), 100, None) == (100, exporter.DEFAULT_MAX_GENERATE)
  assert exporter.text_limits(Config(max_length=20), 100, 7) == (20, 7)


def test_versions_count_up_from_the_largest_and_refuse_junk(tmp_path):
  encoder, decoder = tmp_path / "m_encoder", tmp_path / "m_decoder"
  assert versions.next_version([encoder, decoder]) == 1
  for directory in (encoder / "1", encoder / "3", decoder / "2"):
    directory.mkdir(parents=True)
  assert versions.next_version([encoder, decoder]) == 4
  (decoder / "5").write_text("a file, not a version directory")
  with pytest.raises(ExportError, match=r"\['5'\]"):
    versions.next_version([encoder, decoder])
  (tmp_path / ".staging-x").mkdir()
  assert serving_config.served_models(tmp_path) == ["m_decoder", "m_encoder"]


def test_in_graph_tokenisation_and_detokenisation_match_the_vocabulary():
  vocab = Vocabulary.build(["the cat sat", "the dog", "The Cat"])
  sentences = ["the cat sat", " the\tdog\n ", "", "The cat ran", "<s> </s> <pad> <unk> _UNK <UNK>",
               "cat\x0bdog\x0cthe\r"]
  table = text_graph.VocabularyTable(vocab)
  ids = table.word_ids(tf.constant(sentences)).to_list()
  assert ids == [vocab.encode(s) for s in sentences]
  rows = np.array([[4, 5, 3, 6], [2, 4, 0, 5], [3, 4, 4, 4], [6, 6, 6, 6]], np.int32)
  texts = [t.decode() for t in table.text(tf.constant(rows)).numpy()]
  assert texts == [vocab.decode(row) for row in rows]
  framed = text_graph.frame(tf.ragged.constant([[4, 5, 6], []]), 2).numpy()
  np.testing.assert_array_equal(framed, [[2, 4, 5, 3], [2, 3, 0, 0]])


# Outputs against the Keras model, on both loader paths ---------------------------------


def test_encoder_outputs_equal_the_keras_posterior(served, reference):
  for mode in ("tf2", "session"):
    out = _outputs(served[mode]["encoder"]["answers"]["encode"])
    for key in ("loc", "scale", "kl"):
      np.testing.assert_allclose(out[key], reference[key], rtol=1e-5, atol=1e-6,
                                 err_msg=f"{mode} {key}")
    assert out["z"].shape == reference["loc"].shape


def test_encode_ids_tokenises_like_the_vocabulary(served):
  """Same outputs from in-graph tokenisation and from Vocabulary.encode's ids."""
  for mode in ("tf2", "session"):
    answers = served[mode]["encoder"]["answers"]
    by_text, by_ids = _outputs(answers["encode"]), _outputs(answers["encode_ids"])
    for key in ("loc", "scale", "kl"):
      np.testing.assert_array_equal(by_text[key], by_ids[key], err_msg=f"{mode} {key}")


def test_z_is_a_fresh_sample_of_the_posterior(served):
  samples = []
  for mode in ("tf2", "session"):
    out = _outputs(served[mode]["encoder"]["answers"]["encode_many"])
    noise = (out["z"] - out["loc"]) / out["scale"]
    assert abs(noise.mean()) < 0.15 and 0.85 < noise.std() < 1.15, (mode, noise.mean(),
                                                                     noise.std())
    assert len(np.unique(out["z"][:, 0])) == len(out["z"])
    samples.append(out["z"])
  assert not np.allclose(samples[0], samples[1])


def test_generate_matches_keras_decoding(served, reference):
  vocab = reference["vocab"]
  for mode in ("tf2", "session"):
    answers = served[mode]["decoder"]["answers"]
    out = _outputs(answers["generate"])
    np.testing.assert_array_equal(out["greedy_ids"], reference["greedy_ids"])
    np.testing.assert_array_equal(out["sampled_ids"], reference["sampled_ids"])
    assert out["greedy_ids"].shape == (3, MAX_GENERATE)
    for kind in ("greedy", "sampled"):
      texts = [t.decode() for t in out[f"{kind}_text"]]
      assert texts == [vocab.decode(row) for row in out[f"{kind}_ids"]]
    again = _outputs(answers["generate_again"])
    np.testing.assert_array_equal(again["sampled_ids"], out["sampled_ids"])
    other = _outputs(answers["generate_other_seed"])
    assert not np.array_equal(other["sampled_ids"], out["sampled_ids"])
    np.testing.assert_array_equal(other["greedy_ids"], out["greedy_ids"])
    default = _outputs(answers["serving_default"])
    np.testing.assert_array_equal(default["sampled_ids"], out["sampled_ids"])


def test_sample_prior_equals_the_keras_prior_sample(served, reference):
  assert reference["prior_sample"].shape == (4, LATENT_DIM)
  for mode in ("tf2", "session"):
    z = _outputs(served[mode]["decoder"]["answers"]["sample_prior"])["z"]
    np.testing.assert_allclose(z, reference["prior_sample"], rtol=1e-6, err_msg=mode)


def test_sampled_words_are_spread_over_the_vocabulary(served):
  out = _outputs(served["tf2"]["decoder"]["answers"]["generate"])
  words = out["sampled_ids"][out["sampled_ids"] > Vocabulary.EOS_ID]
  # A barely trained model is close to uniform over about 1,000 words.
  assert len(words) > 0 and len(np.unique(words)) > len(words) // 2


def test_log_likelihood_equals_the_keras_likelihood(served, reference):
  for mode in ("tf2", "session"):
    out = _outputs(served[mode]["decoder"]["answers"]["log_likelihood"])
    np.testing.assert_allclose(out["log_likelihood"], reference["log_likelihood"], rtol=1e-5)
    assert np.all(out["log_likelihood"] < 0)


# Bad and unusual requests ---------------------------------------------------------------


def test_empty_string_and_overlong_sentences_have_the_documented_encoding(served, requests):
  """"" encodes `<s> </s>`; longer sentences keep their first max_words words."""
  sentences = requests["sentences"]
  assert sentences[2] == "" and len(sentences[3].split()) > MAX_WORDS
  # Both rows are also in the batch compared with the Keras model on the
  # framed, truncated rows (test_encoder_outputs_equal_the_keras_posterior).
  for mode in ("tf2", "session"):
    answers = served[mode]["encoder"]["answers"]
    batch, alone = _outputs(answers["encode"]), _outputs(answers["encode_prefix"])
    for key in ("loc", "scale", "kl"):
      # Row 0 of encode_prefix: the first MAX_WORDS words; row 1: literal
      # markers, which are words like any other, hence `<unk> <unk>`.
      np.testing.assert_allclose(alone[key][0], batch[key][3], rtol=1e-5, atol=1e-6)
      assert not np.allclose(alone[key][1], batch[key][2], rtol=1e-7, atol=0)


def test_empty_batches_give_empty_outputs(served):
  for mode in ("tf2", "session"):
    encoder, decoder = served[mode]["encoder"]["answers"], served[mode]["decoder"]["answers"]
    for key in ("encode_empty", "encode_ids_empty"):
      out = _outputs(encoder[key])
      assert out["loc"].shape == (0, LATENT_DIM) and out["kl"].shape == (0,)
    out = _outputs(decoder["generate_empty"])
    assert out["greedy_ids"].shape == (0, MAX_GENERATE) and out["sampled_text"].shape == (0,)
    assert _outputs(decoder["log_likelihood_empty"])["log_likelihood"].shape == (0,)


@pytest.mark.parametrize("key, fragment", [
    ("bad_id", "token_ids must be word ids"),
    ("bad_marker", "token_ids must be word ids"),
    ("bad_lengths", "lengths must be <= the number of columns"),
    ("bad_batch", "token_ids and lengths must have the same batch size"),
])
def test_bad_word_ids_are_refused_with_a_clear_message(served, key, fragment):
  for mode in ("tf2", "session"):
    error = _error(served[mode]["encoder"]["answers"][key])
    assert error["type"] == "InvalidArgumentError" and fragment in error["message"], error


def test_wrong_dtype_and_rank_are_refused(served):
  tf2 = served["tf2"]["encoder"]["answers"]
  error = _error(tf2["bad_dtype"])
  assert error["type"] == "InvalidArgumentError"
  assert "expected to be a string tensor but is a int32 tensor" in error["message"]
  error = _error(tf2["bad_rank"])
  assert error["type"] == "InvalidArgumentError" and "must be a vector" in error["message"]
  session = served["session"]["encoder"]["answers"]
  _error(session["bad_dtype"])
  assert "Cannot feed value of shape (1, 1)" in _error(session["bad_rank"])["message"]
  decoder = served["tf2"]["decoder"]["answers"]
  assert "expected to be a float tensor but is a int32 tensor" in _error(
      decoder["bad_dtype"])["message"]
  assert "Matrix size-incompatible" in _error(decoder["bad_z_width"])["message"]
  assert "seed must have shape [2], not [3]" in _error(decoder["bad_seed"])["message"]
  session = served["session"]["decoder"]["answers"]
  for key, shape in (("bad_z_width", f"(2, {LATENT_DIM + 1})"), ("bad_seed", "(3,)")):
    assert f"Cannot feed value of shape {shape}" in _error(session[key])["message"]
  assert "sentences and z must have the same batch size" in _error(
      decoder["bad_batch"])["message"]


def test_the_model_keeps_serving_after_bad_requests(served):
  for mode in ("tf2", "session"):
    encoder, decoder = served[mode]["encoder"]["answers"], served[mode]["decoder"]["answers"]
    before, after = _outputs(encoder["encode"]), _outputs(encoder["after_bad"])
    np.testing.assert_array_equal(before["loc"], after["loc"])
    before, after = _outputs(decoder["generate"]), _outputs(decoder["after_bad"])
    np.testing.assert_array_equal(before["sampled_ids"], after["sampled_ids"])


# Warm-up requests, saved_model_cli -----------------------------------------------------


def test_warmup_file_has_one_request_per_signature(exports, served):
  for half in ("encoder", "decoder"):
    path = getattr(exports["second"], half)
    requests = warmup.read_warmup(path)
    signatures = served["tf2"][half]["signatures"]
    assert sorted(r.model_spec.signature_name for r in requests) == signatures
    assert {r.model_spec.name for r in requests} == {f"{NAME}_{half}"}
    for mode in ("tf2", "session"):
      replayed = served[mode][half]["warmup"]
      assert [signature for _, signature, _ in replayed] == signatures
      assert all(shapes for _, _, shapes in replayed)


def test_signatures_are_the_documented_ones(served):
  assert served["tf2"]["encoder"]["signatures"] == ["encode_ids", "serving_default"]
  assert served["tf2"]["decoder"]["signatures"] == ["generate", "log_likelihood",
                                                     "sample_prior", "serving_default"]
  assert served["session"]["decoder"]["signatures"] == served["tf2"]["decoder"]["signatures"]


def _cli_signatures(path):
  """{signature: (inputs text block)} from `saved_model_cli show --all`."""
  result = _run("tensorflow.python.tools.saved_model_cli", "show", "--all", "--dir", path)
  assert result.returncode == 0, result.stderr[-3000:]
  blocks = result.stdout.split("signature_def['")[1:]
  return {block.split("'")[0]: block for block in blocks}


def test_saved_model_cli_lists_every_signature_and_input(exports):
  encoder = _cli_signatures(exports["second"].encoder)
  assert "inputs['sentences']" in encoder["serving_default"]
  assert "DT_STRING" in encoder["serving_default"]
  for name in ("token_ids", "lengths"):
    assert f"inputs['{name}']" in encoder["encode_ids"]
  for name in ("loc", "scale", "z", "kl"):
    assert f"outputs['{name}']" in encoder["serving_default"]
  decoder = _cli_signatures(exports["second"].decoder)
  assert {"generate", "log_likelihood", "serving_default"} <= set(decoder)
  for name in ("z", "seed"):
    assert f"inputs['{name}']" in decoder["generate"]
  for name in ("greedy_ids", "greedy_text", "sampled_ids", "sampled_text"):
    assert f"outputs['{name}']" in decoder["generate"]
  for name in ("sentences", "z"):
    assert f"inputs['{name}']" in decoder["log_likelihood"]
  for name in ("num_samples", "seed"):
    assert f"inputs['{name}']" in decoder["sample_prior"]


# Launcher errors -----------------------------------------------------------------------


def test_launcher_refuses_a_run_without_checkpoint(run_dir, tmp_path):
  empty_run = tmp_path / "run"
  empty_run.mkdir()
  (empty_run / "config.json").write_text((run_dir / "config.json").read_text())
  result = _run("export.savedmodel", f"--model_dir={empty_run}",
                f"--export_base={tmp_path / 'exports'}", f"--name={NAME}")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith("error: No checkpoint in")
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "exports" / f"{NAME}_encoder").exists()


def test_launcher_refuses_junk_in_a_version_directory(run_dir, tmp_path):
  (tmp_path / "exports" / f"{NAME}_decoder" / "latest").mkdir(parents=True)
  result = _run("export.savedmodel", f"--model_dir={run_dir}",
                f"--export_base={tmp_path / 'exports'}", f"--name={NAME}")
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "'latest'" in last and "not integer version" in last
  assert "Traceback" not in result.stderr


def test_export_run_refuses_a_missing_run_directory_and_bad_names(tmp_path):
  with pytest.raises(ExportError, match="does not exist"):
    exporter.export_run(str(tmp_path / "nope"), str(tmp_path / "exports"), NAME)
  with pytest.raises(ExportError, match="--name"):
    exporter.export_run(str(tmp_path), str(tmp_path / "exports"), "a/b")
