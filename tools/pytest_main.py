"""Bazel py_test entry point: runs pytest on the test files given as arguments.

Each ``py_test`` in //:BUILD uses this file as ``main`` and passes its own
``tests/test_*.py`` file as an argument.
"""

import sys

import pytest

if __name__ == "__main__":
  # The cache plugin would write .pytest_cache into the runfiles tree.
  sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
