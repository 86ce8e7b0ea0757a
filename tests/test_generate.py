"""What a user sees of a trained text run.

launch.generate and tfvae.text_generation (prior samples, reconstructions,
interpolations), and launch.evaluate --projector.
"""


import numpy as np
import pytest

from tests import launch_runs
from tfvae import sample_quality
from tfvae import text_generation
from tfvae.training import checkpoints
from tfvae.training import loop
from tfvae.training.config import Config

TINY = dict(dataset="synthetic_mog", embed_dim=8, hidden_dim=16, latent_dim=2, epochs=1,
            steps_per_epoch=1, eval_samples=1, eval_chunk_size=1, epoch_eval_samples=1,
            epoch_eval_batches=1, verbose=0, latent_pictures=0,
            data_options=dict(num_train=8, num_valid=2, num_test=2, length=6))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("text_run")
  loop.train(Config(model_dir=str(model_dir), **TINY))
  _, dataset, model = loop.restore_run(str(model_dir))
  sentences = [dataset.vocab.decode(row) for row in
               next(iter(dataset.batches("test", 2))).numpy()]
  return model_dir, dataset.vocab, model, sentences


def _generate(*flags):
  return launch_runs.run("launch.generate", *flags, check=False)


def test_sampled_sentences_are_fixed_by_the_seed(text_run):
  _, vocab, model, _ = text_run

  def sample(seed):
    return sample_quality.sample_sentences(model, vocab, 6, greedy=False, seed=seed)
  assert sample(3) == sample(3)
  assert sample(3) != sample(4)


def test_the_ends_of_an_interpolation_are_the_reconstructions(text_run):
  _, vocab, model, (first, second) = text_run
  path = text_generation.interpolate(model, vocab, first, second, 5)
  assert [t for t, _ in path] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
  ends = text_generation.reconstruct(model, vocab, [first, second])
  assert [path[0][1], path[-1][1]] == ends
  # The centres are the posterior means of the data set's own framing of the sentences.
  x = text_generation.encode_sentences(vocab, [first, second])
  np.testing.assert_allclose(text_generation.posterior_centres(model, vocab, [first, second]),
                             model.posterior(x).mean(), rtol=1e-6)


def test_the_launcher_prints_samples_reconstructions_and_the_homotopy(text_run):
  model_dir, vocab, model, (first, second) = text_run
  result = _generate(f"--model_dir={model_dir}", "--num=3", "--decoding=sampled", "--seed=7",
                     f"--reconstruct={first}", f"--interpolate={first}",
                     f"--interpolate={second}", "--steps=3")
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  samples = sample_quality.sample_sentences(model, vocab, 3, greedy=False, seed=7)
  assert lines[:4] == ["Sentences from the prior (sampled decoding, seed 7):",
                       *[f"  {i}. {s}" for i, s in enumerate(samples, 1)]]
  assert lines[4] == "Reconstructions (sampled decoding from the posterior mean):"
  back = text_generation.reconstruct(model, vocab, [first], greedy=False, seed=(0, 7))[0]
  assert lines[5:7] == [f"  {first}", f"  -> {back}"]
  path = text_generation.interpolate(model, vocab, first, second, 3)
  assert lines[7:] == ["Interpolation in 3 steps (greedy decoding):",
                       *[f"  {t:.2f}  {s}" for t, s in path]]


def test_bad_requests_get_one_line_errors(text_run, tmp_path):
  model_dir = text_run[0]
  result = _generate(f"--model_dir={model_dir}", "--interpolate=only one sentence")
  assert result.returncode == 1
  assert "--interpolate needs exactly two sentences" in result.stderr
  assert "Traceback" not in result.stderr
  # An image run (config written, as launch.train does before its first step).
  image_run = tmp_path / "image_run"
  image_run.mkdir()
  checkpoints.check_run_config(str(image_run), Config(
      model_dir=str(image_run), dataset="array_file", network="mlp",
      data_options={"train": str(tmp_path / "train.npy")}))
  result = _generate(f"--model_dir={image_run}")
  assert result.returncode == 1
  assert "needs a text run" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_writes_the_projector_of_a_run(text_run):
  model_dir = text_run[0]
  result = launch_runs.run("launch.evaluate", f"--model_dir={model_dir}", "--eval_samples=1",
                           "--eval_chunk_size=1", "--projector=2", "--verbose=0")
  assert f"tensorboard --logdir {model_dir / 'projector'}" in result.stdout
  assert len((model_dir / "projector" / "metadata.tsv").read_text().splitlines()) == 2
  assert (model_dir / "projector" / "projector_config.pbtxt").exists()
