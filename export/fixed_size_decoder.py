"""The decoder `Servable` of a model whose examples have a fixed shape (images, real vectors).

Both kinds serve the same three signatures, differing only in the input's
name, the name of E[x|z] in `generate`'s output and how an input is checked
(`export.image_signatures`, `export.vector_signatures` document them):

* `generate(z, seed)` -> E[x|z] under `mean_name` and `sampled`, a draw of
  p(x|z) with the stateless `seed`; `serving_default` is this signature too;
* `log_likelihood(<input_name>, z)` -> `log_likelihood` [B];
* `sample_prior(num_samples, seed)` -> `z` (`export.prior`).
"""

import keras
import tensorflow as tf

from export import batching
from export import posterior
from export import prior
from export import servable


def build(model, event_shape, *, input_name, mean_name, check_input, input_example):
  """The decoder `Servable` of `model` for examples of `event_shape`.

  Args:
    model: the trained model.
    event_shape: the shape of one example.
    input_name: the name of the examples' input ("images", "vectors").
    mean_name: the name of E[x|z] in `generate`'s output ("probabilities", "mean").
    check_input: (x, signature name) -> x with its values checked in the graph.
    input_example: a float32 [2, *event_shape] example input.
  """
  example_spec = tf.TensorSpec([None, *event_shape], tf.float32)
  latent_spec = servable.spec([None, *posterior.latent_shape(model)], tf.float32, "z")

  def generate(z, seed):
    def compute():
      likelihood = model.likelihood(z, None, training=False)
      return {mean_name: likelihood.mean(), "sampled": likelihood.sample(seed=seed)}
    return batching.unless_empty(tf.shape(z)[0], compute,
                                 {mean_name: example_spec, "sampled": example_spec})

  def log_likelihood(examples, z):
    return batching.log_likelihood(model, examples, z,
                                   lambda x: check_input(x, "log_likelihood"), input_name)

  archive = keras.export.ExportArchive()
  for layer in model.serving_layers("decoder"):
    archive.track(layer)
  archive.add_endpoint("generate", generate,
                       [latent_spec, servable.spec([2], tf.int32, "seed")])
  archive.add_endpoint("log_likelihood", log_likelihood,
                       [servable.spec([None, *event_shape], tf.float32, input_name), latent_spec])
  prior.add_sample_prior(archive, model)
  z = posterior.latent_example(model)
  generate_example = {"z": z, "seed": servable.seed_example()}
  examples = {"generate": generate_example, "serving_default": generate_example,
              "log_likelihood": {input_name: input_example, "z": z},
              "sample_prior": prior.example()}
  return servable.Servable(archive, examples)
