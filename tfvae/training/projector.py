"""Posterior means for TensorBoard's embedding projector, with the examples as metadata.

`write_projector` encodes the first N examples of a split, saves their
posterior means as a checkpointed variable in `<log_dir>`, writes one
metadata row per example (the sentence for text, the class or the index for
images) and the projector configuration, so that `tensorboard --logdir
<log_dir>` shows the latent space in its Projector tab, searchable by sentence.
"""

import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

from tfvae import metrics
from tfvae.data.errors import DataError

__all__ = ["write_projector"]

METADATA_FILE = "metadata.tsv"
_BATCH = 256


def _means(model, batches):
  rows = []
  for x in batches:
    means, _ = metrics.posterior_means(model.posterior(x, training=False),
                                       tf.constant([0, 0], tf.int32))
    rows.append(means.numpy())
  return np.concatenate(rows)


def _metadata(dataset, split, count):
  """One row of text per example: its sentence, its class, or its index."""
  if dataset.kind == "text":
    return [" ".join(sentence.split()) or "(empty)"
            for sentence in dataset.sentences(split)[:count]]
  try:
    return [f"class {label}" for label in np.asarray(dataset.labels(split))[:count]]
  except DataError:
    return [f"example {index}" for index in range(count)]


def write_projector(model, dataset, split, num_examples, log_dir):
  """Writes the projector files for the first `num_examples` of `split`; returns their count."""
  if num_examples < 1:
    raise ValueError(f"The projector needs at least one example, got {num_examples}.")
  batches = dataset.batches(split, min(_BATCH, num_examples)).take(
      -(-num_examples // min(_BATCH, num_examples)))
  means = _means(model, batches)[:num_examples]
  tf.io.gfile.makedirs(log_dir)
  with tf.io.gfile.GFile(os.path.join(log_dir, METADATA_FILE), "w") as f:
    f.write("".join(f"{row}\n" for row in _metadata(dataset, split, len(means))))
  checkpoint = tf.train.Checkpoint(embedding=tf.Variable(means, name="posterior_means"))
  checkpoint.save(os.path.join(log_dir, "embedding.ckpt"))
  config = projector.ProjectorConfig()
  embedding = config.embeddings.add()
  embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
  embedding.metadata_path = METADATA_FILE
  projector.visualize_embeddings(log_dir, config)
  return len(means)
