"""Posterior means for TensorBoard's projector: the files it reads, read back."""

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins import projector as projector_plugin

from tfvae import methods
from tfvae.training import loop
from tfvae.training import projector
from tfvae.training.config import Config


def test_the_means_and_sentences_of_the_first_examples_are_written(tmp_path):
  config = Config(dataset="synthetic_mog", embed_dim=8, hidden_dim=16, latent_dim=2,
                  data_options=dict(num_train=8, num_valid=4, num_test=7, length=5)).resolved()
  dataset = loop.load_data(config)
  model = methods.build(config, dataset)
  assert projector.write_projector(model, dataset, "test", 5, str(tmp_path)) == 5
  # The projector's configuration names the checkpointed tensor and the metadata.
  config_text = (tmp_path / "projector_config.pbtxt").read_text()
  parsed = text_format.Parse(config_text, projector_plugin.ProjectorConfig())
  (embedding,) = parsed.embeddings
  assert embedding.metadata_path == projector.METADATA_FILE
  saved = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path)))
  means = saved.get_tensor(embedding.tensor_name)
  x = next(iter(dataset.batches("test", 5)))
  np.testing.assert_allclose(means, model.posterior(x).mean().numpy(), rtol=1e-6)
  rows = (tmp_path / projector.METADATA_FILE).read_text().splitlines()
  assert rows == [" ".join(s.split()) or "(empty)" for s in dataset.sentences("test")[:5]]
