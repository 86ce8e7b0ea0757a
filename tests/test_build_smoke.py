"""Fast smoke test: the package imports (also under Bazel's runfiles layout)."""

import os

import pytest

import tfvae


def test_version_is_a_string():
  assert isinstance(tfvae.__version__, str)
  assert tfvae.__version__.count(".") >= 1


def test_imported_from_runfiles_under_bazel():
  srcdir = os.environ.get("TEST_SRCDIR")
  if not srcdir:
    pytest.skip("runs under `bazel test` only (.ci/run's Bazel step): no TEST_SRCDIR here")
  # Under `bazel test` the package must come from the runfiles tree,
  # not from the editable install in the venv.
  assert os.path.abspath(tfvae.__file__).startswith(os.path.abspath(srcdir))
