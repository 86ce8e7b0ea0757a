"""Serving signatures of a text VAE (LSTM encoder and decoder).

Encoder (`<name>_encoder`):

* `serving_default(sentences: string [B])` -> `loc`, `scale`, `z` float32
  [B, d], `kl` float32 [B]: sentences tokenised in the graph (see
  `export.text_graph`);
* `encode_ids(token_ids: int32 [B, T], lengths: int32 [B])` -> the same, for
  clients that hold word ids (without `<s>`/`</s>`), `lengths[b]` words of
  row b used.

Decoder (`<name>_decoder`):

* `generate(z: float32 [B, d], seed: int32 [2])` -> `greedy_ids`,
  `sampled_ids` int32 [B, max_generate] (word ids, `</s>`, then `<pad>`) and
  `greedy_text`, `sampled_text` string [B] (words joined by spaces up to
  `</s>`); sampling is stateless, so the same z and seed give the same
  sentences. `serving_default` is this signature too;
* `log_likelihood(sentences: string [B], z: float32 [B, d])` ->
  `log_likelihood` float32 [B] = log p(x|z) of the framed sentence, as
  `model.likelihood(z, x).log_prob(x)` computes it (words and `</s>` scored);
* `sample_prior(num_samples: int32 [], seed: int32 [2])` -> `z` float32
  [num_samples, d] drawn from p(z) (`export.prior`).

Shapes are those of Gaussian latents; categorical latents and VQ-VAE codes
take and return one-hot z [B, n, C], and the encoder returns `probabilities`
[B, n, C], `z`, `kl`; for spherical latents it returns `mean_direction` [B, d],
`concentration` [B], `z`, `kl` (`export.posterior`).
"""

import keras
import numpy as np
import tensorflow as tf

from export import batching
from export import posterior
from export import prior
from export import servable
from export import text_graph
from tfvae.data.vocabulary import Vocabulary


def _latent_spec(model):
  return servable.spec([None, *posterior.latent_shape(model)], tf.float32, "z")


def _example_ids(vocab):
  """Three word ids for the warm-up requests (`<unk>` where the vocabulary is tiny)."""
  return [i if i < vocab.size else Vocabulary.UNK_ID for i in (4, 5, 6)]


def _example_sentences(vocab):
  """Two warm-up sentences: three words of the vocabulary, and the empty sentence."""
  words = [vocab.words[i] for i in _example_ids(vocab)]
  return np.array([" ".join(words), ""], dtype=object)


def build_encoder(model, vocab, max_words):
  """The encoder `Servable` of a text model; sentences keep at most `max_words` words."""
  table = text_graph.VocabularyTable(vocab)
  specs = posterior.posterior_specs(model)

  def encode(x):
    return batching.unless_empty(tf.shape(x)[0], lambda: posterior.posterior_outputs(model, x),
                                 specs)

  def serving_default(sentences):
    return encode(text_graph.frame(table.word_ids(sentences), max_words))

  def encode_ids(token_ids, lengths):
    words = text_graph.ragged_from_padded(token_ids, lengths, table.size)
    return encode(text_graph.frame(words, max_words))

  archive = keras.export.ExportArchive()
  for layer in model.serving_layers("encoder"):
    archive.track(layer)
  archive.track(table)
  archive.add_endpoint("serving_default", serving_default,
                       [servable.spec([None], tf.string, "sentences")])
  archive.add_endpoint("encode_ids", encode_ids,
                       [servable.spec([None, None], tf.int32, "token_ids"),
                        servable.spec([None], tf.int32, "lengths")])
  ids = _example_ids(vocab)
  examples = {
      "serving_default": {"sentences": _example_sentences(vocab)},
      "encode_ids": {"token_ids": np.array([ids, [ids[0], 0, 0]], np.int32),
                     "lengths": np.array([3, 1], np.int32)},
  }
  return servable.Servable(archive, examples)


def build_decoder(model, vocab, max_words, max_generate):
  """The decoder `Servable` of a text model; sentences decode to `max_generate` tokens."""
  table = text_graph.VocabularyTable(vocab)
  decoder = model.decoder

  # The decoder's step loop is a Python `for` over tf.range: these inner
  # tf.functions let AutoGraph turn it into a while loop (ExportArchive's
  # endpoints are traced without AutoGraph).
  @tf.function
  def greedy(z):
    return decoder.generate(model.decoder_input(z), max_generate, greedy=True)

  @tf.function
  def sampled(z, seed):
    return decoder.generate(model.decoder_input(z), max_generate, greedy=False, seed=seed)

  generate_specs = {
      "greedy_ids": tf.TensorSpec([None, max_generate], tf.int32),
      "greedy_text": tf.TensorSpec([None], tf.string),
      "sampled_ids": tf.TensorSpec([None, max_generate], tf.int32),
      "sampled_text": tf.TensorSpec([None], tf.string),
  }

  def generate(z, seed):
    def compute():
      greedy_ids = greedy(z)
      sampled_ids = sampled(z, seed)
      return {"greedy_ids": greedy_ids, "greedy_text": table.text(greedy_ids),
              "sampled_ids": sampled_ids, "sampled_text": table.text(sampled_ids)}
    return batching.unless_empty(tf.shape(z)[0], compute, generate_specs)

  def log_likelihood(sentences, z):
    return batching.log_likelihood(
        model, sentences, z, lambda s: text_graph.frame(table.word_ids(s), max_words),
        "sentences")

  archive = keras.export.ExportArchive()
  for layer in model.serving_layers("decoder"):
    archive.track(layer)
  archive.track(table)
  archive.add_endpoint("generate", generate,
                       [_latent_spec(model),
                        servable.spec([2], tf.int32, "seed")])
  archive.add_endpoint("log_likelihood", log_likelihood,
                       [servable.spec([None], tf.string, "sentences"),
                        _latent_spec(model)])
  prior.add_sample_prior(archive, model)
  z = posterior.latent_example(model)
  generate_example = {"z": z, "seed": servable.seed_example()}
  examples = {
      "generate": generate_example,
      "serving_default": generate_example,
      "log_likelihood": {"sentences": _example_sentences(vocab), "z": z},
      "sample_prior": prior.example(),
  }
  return servable.Servable(archive, examples)
