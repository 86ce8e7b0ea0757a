"""Installs tfvae; dependencies are pinned in requirements.txt."""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent


def _requirements():
  lines = (HERE / "requirements.txt").read_text().splitlines()
  return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setuptools.setup(
    name="tfvae",
    version="0.1.0",
    description="Variational autoencoders and remedies for posterior collapse "
                "(TensorFlow 2, Keras 3, TensorFlow Probability).",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["tfvae*", "launch", "export"]),
    install_requires=_requirements(),
)
