"""Sentences from a trained text run: `python -m launch.generate --model_dir=RUN`.

Prints sentences decoded from z ~ p(z) (`--num`, `--decoding`, `--seed`),
reconstructions of given sentences (`--reconstruct "..."`, repeatable) and the
homotopy between two sentences (`--interpolate "a" --interpolate "b"
--steps=8`: greedy decodings of points on the line between their posterior
means). Without --reconstruct or --interpolate it samples from the prior.
"""

from absl import app
from absl import flags

from launch import common
from tfvae.errors import ConfigError

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by launch.train (a text run).")
flags.DEFINE_integer("num", 5, "Sentences sampled from the prior.", lower_bound=0)
flags.DEFINE_enum("decoding", "greedy", ["greedy", "sampled"],
                  "Decoding of prior samples and reconstructions: the most likely word at "
                  "each step, or words sampled with --seed.")
flags.DEFINE_integer("seed", 0, "Seed of the prior draws and of sampled decoding.")
flags.DEFINE_multi_string("reconstruct", [], "A sentence to encode and decode back "
                          "(repeat the flag for more).")
flags.DEFINE_multi_string("interpolate", [], "Give exactly two sentences (the flag twice): "
                          "decode points on the line between their posterior means.")
flags.DEFINE_integer("steps", 8, "Points of the interpolation, both ends included.",
                     lower_bound=2)
flags.DEFINE_integer("max_length", 50, "Most words decoded per sentence (then cut).",
                     lower_bound=1)
flags.mark_flag_as_required("model_dir")


def _check_flags():
  if FLAGS.interpolate and len(FLAGS.interpolate) != 2:
    raise ConfigError(f"--interpolate needs exactly two sentences (give the flag twice), got "
                      f"{len(FLAGS.interpolate)}.")


def generate(model_dir):
  """The lines to print for the run in `model_dir` and the flags."""
  from tfvae import sample_quality
  from tfvae import text_generation
  from tfvae.data import catalog
  from tfvae.training import checkpoints
  from tfvae.training import loop

  config = checkpoints.read_run_config(model_dir)
  kind = catalog.entry(config.dataset).kind
  if kind != "text":
    raise ConfigError(f"{model_dir} is a run on the {kind} data set {config.dataset!r}; "
                      "launch.generate decodes sentences and needs a text run.")
  _, dataset, model = loop.restore_run(model_dir)
  greedy = FLAGS.decoding == "greedy"
  lines = []
  if FLAGS["num"].present or not (FLAGS.reconstruct or FLAGS.interpolate):
    lines.append(f"Sentences from the prior ({FLAGS.decoding} decoding, seed {FLAGS.seed}):")
    sentences = sample_quality.sample_sentences(model, dataset.vocab, FLAGS.num, greedy=greedy,
                                                seed=FLAGS.seed, max_length=FLAGS.max_length)
    lines += [f"  {i}. {sentence}" for i, sentence in enumerate(sentences, 1)]
  if FLAGS.reconstruct:
    lines.append(f"Reconstructions ({FLAGS.decoding} decoding from the posterior mean):")
    decoded = text_generation.reconstruct(model, dataset.vocab, FLAGS.reconstruct, greedy=greedy,
                                          seed=(0, FLAGS.seed), max_length=FLAGS.max_length)
    for given, back in zip(FLAGS.reconstruct, decoded):
      lines += [f"  {given}", f"  -> {back}"]
  if FLAGS.interpolate:
    first, second = FLAGS.interpolate
    lines.append(f"Interpolation in {FLAGS.steps} steps (greedy decoding):")
    path = text_generation.interpolate(model, dataset.vocab, first, second, FLAGS.steps,
                                       max_length=FLAGS.max_length)
    lines += [f"  {t:.2f}  {sentence}" for t, sentence in path]
  return lines


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags "
                         "(quote sentences: --reconstruct \"a sentence\").")
  common.run_or_exit(_check_flags)  # Before TensorFlow is imported.
  print("\n".join(common.run_or_exit(generate, FLAGS.model_dir)))


if __name__ == "__main__":
  app.run(main)
