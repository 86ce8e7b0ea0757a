"""The data sets tfvae knows, described without importing TensorFlow.

Each entry names the module and function that load it, its kind, the options
it takes and whether it reads a data directory. `check_request` validates a
name, its options and `max_length` against this table; `registry.load` and the
launchers' flag check (before TensorFlow is imported, so a typo is reported in
a fraction of a second) both go through it.
"""

from __future__ import annotations

import dataclasses

from tfvae.data.errors import DataError
from tfvae.data.errors import known_list

DEFAULT = "synthetic_mog"
# The network families (`--network`) that can model each kind of data.
NETWORKS_BY_KIND = {"text": ("lstm", "bilstm"), "symbols": ("symbol",), "image": ("mlp", "conv"),
                    "vectors": ("libi",)}
# `--lstm`, the LSTM layer of the text networks: "fused" (`tfvae.nets.fused_lstm`,
# the fastest on CPU), "keras" (`keras.layers.LSTM`, which runs cuDNN's kernel on
# a GPU) or "auto": "keras" when TensorFlow sees a GPU, "fused" otherwise.
LSTM_IMPLEMENTATIONS = ("auto", "fused", "keras")
_TEXT_OPTIONS = ("vocab_size", "min_count", "vocab")
_LIBI_OPTIONS = ("replicate", "num_per_split")
_LIBI_SOURCE = "Yacoby et al. (2020), appendix E (D3), generated"

# How a loader takes the data directory.
DATA_DIR_REQUIRED = "required"   # resolved from the argument or $TFVAE_DATA_DIR
DATA_DIR_OPTIONAL = "optional"   # passed through (relative user paths), may be None
DATA_DIR_UNUSED = "unused"       # generated data: the loader takes options only


@dataclasses.dataclass(frozen=True)
class Entry:
  """One data set: `module.function(data_dir?, **options)` loads it."""

  module: str
  function: str
  kind: str
  options: tuple[str, ...]
  data_dir: str
  summary: str


CATALOG: dict[str, Entry] = {
  "synthetic_mog": Entry(
    "tfvae.data.synthetic", "load_synthetic_mog", "text",
    ("num_train", "num_valid", "num_test", "vocab_size", "length", "seed"), DATA_DIR_UNUSED,
    "2-d MoG latent + random LSTM text (D4), generated"),
  "uniform10k": Entry(
    "tfvae.data.symbols", "load_uniform_symbols", "symbols",
    ("num_symbols", "num_train", "num_valid", "num_test", "seed"), DATA_DIR_UNUSED,
    "single symbols uniform over 10000, optimum NLL ln 10000 (D2), generated"),
  "ptb": Entry("tfvae.data.text", "load_ptb", "text", _TEXT_OPTIONS, DATA_DIR_REQUIRED,
               "Penn Treebank, Mikolov (D1)"),
  "yahoo": Entry("tfvae.data.text", "load_yahoo", "text", _TEXT_OPTIONS, DATA_DIR_REQUIRED,
                 "Yahoo Answers (D6)"),
  "yelp": Entry("tfvae.data.text", "load_yelp", "text", _TEXT_OPTIONS, DATA_DIR_REQUIRED,
                "Yelp sentiment (D6)"),
  "text_file": Entry(
    "tfvae.data.text", "load_text_file", "text", ("train", "valid", "test", *_TEXT_OPTIONS),
    DATA_DIR_OPTIONAL, "your text files, one sentence per line"),
  "binarized_mnist": Entry("tfvae.data.images", "load_binarized_mnist", "image", (),
                           DATA_DIR_REQUIRED, "binarized MNIST 50k/10k/10k (D5)"),
  "omniglot": Entry("tfvae.data.images", "load_omniglot", "image", (), DATA_DIR_REQUIRED,
                    "OMNIGLOT 28x28 (D5)"),
  "array_file": Entry(
    "tfvae.data.images", "load_array_file", "image", ("train", "valid", "test", "key"),
    DATA_DIR_OPTIONAL, "your .npy/.npz image arrays"),
  "libi_linear_jtex": Entry(
    "tfvae.data.vectors", "load_libi_linear_jtex", "vectors", _LIBI_OPTIONS, DATA_DIR_UNUSED,
    f"Linear JTEx, x = Cholesky(A A^T + B) z + eps in R^2, {_LIBI_SOURCE}"),
  "libi_cubic_jtex": Entry(
    "tfvae.data.vectors", "load_libi_cubic_jtex", "vectors", _LIBI_OPTIONS, DATA_DIR_UNUSED,
    f"Cubic JTEx, x = (Cholesky(A A^T + B) z)^3 + eps in R^2, {_LIBI_SOURCE}"),
  "libi_gaussian": Entry(
    "tfvae.data.vectors", "load_libi_gaussian", "vectors", _LIBI_OPTIONS, DATA_DIR_UNUSED,
    f"Gaussian, x = z^T A + eps in R^4, {_LIBI_SOURCE}"),
  "libi_mobius": Entry(
    "tfvae.data.vectors", "load_libi_mobius", "vectors", (*_LIBI_OPTIONS, "generator"),
    DATA_DIR_UNUSED,
    f"Mobius, x = f(z) + eps in R^2, f a network fitted to a Mobius transform (generator="
    f"network) or the transform itself (generator=exact), {_LIBI_SOURCE}"),
}


def available() -> list[str]:
  """Sorted names of the data sets `load` knows."""
  return sorted(CATALOG)


def entry(name: str) -> Entry:
  """The catalogue entry of `name`; DataError listing the known names otherwise."""
  try:
    return CATALOG[name]
  except (KeyError, TypeError):
    raise DataError(
      f"Unknown data set {name!r}; known data sets: {known_list(CATALOG)}."
    ) from None


def describe(name: str) -> str:
  """One line about a data set: kind, options, summary."""
  found = entry(name)
  opts = ", ".join(found.options) or "none"
  return f"{name} ({found.kind}): {found.summary}; options: {opts}"


def check_request(name: str, options, max_length=None) -> Entry:
  """Validates a data set name, its option names and `max_length`; returns the entry.

  Raises:
    DataError: an unknown name or option, or `max_length` for a data set
      that is not text or that is not a positive integer.
  """
  found = entry(name)
  unknown = sorted(set(options) - set(found.options))
  if unknown:
    valid = known_list(found.options) if found.options else "none"
    raise DataError(
      f"Data set {name!r} does not take option(s) {unknown}; its options are: {valid}"
      + (" (and max_length)." if found.kind == "text" else ".")
    )
  if max_length is not None:
    if found.kind != "text":
      raise DataError(f"max_length applies to text data sets; {name!r} holds {found.kind} data.")
    if isinstance(max_length, bool) or int(max_length) != max_length or max_length < 1:
      raise DataError(f"max_length must be a positive integer or None, got {max_length!r}.")
  return found
