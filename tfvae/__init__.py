"""tfvae: variational autoencoders and remedies for posterior collapse.

TensorFlow 2 / Keras 3 / TensorFlow Probability. See docs/api.md for the map
of the package and the model contract.
"""

__version__ = "0.1.0"
