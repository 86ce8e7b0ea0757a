"""What a signature builder hands to the exporter: an archive plus warm-up inputs."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class Servable:
  """One model to serve (the encoder or the decoder of a run).

  Attributes:
    archive: a `keras.export.ExportArchive` with every endpoint added.
    examples: signature name -> {input name: numpy array}, one small valid
      request per signature (written as the TF Serving warm-up requests).
  """

  archive: keras.export.ExportArchive
  examples: dict

  def write(self, directory):
    """Writes the SavedModel (no printing)."""
    self.archive.write_out(directory, verbose=False)


def spec(shape, dtype, name):
  """A `tf.TensorSpec` whose name is also the signature's input name."""
  return tf.TensorSpec(shape, dtype, name=name)


def seed_example():
  """The stateless seed of the warm-up requests (int32 [2])."""
  return np.array([0, 0], np.int32)
