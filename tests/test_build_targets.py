"""The BUILD file lists every test file (and only existing ones) as a py_test."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _listed_test_files():
  build = (ROOT / "BUILD").read_text()
  match = re.search(r"^_TEST_FILES = (\[.*?^\])", build, flags=re.MULTILINE | re.DOTALL)
  assert match, "BUILD has no _TEST_FILES list"
  return ast.literal_eval(match.group(1))


def test_every_test_file_has_a_bazel_target():
  on_disk = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("**/test_*.py"))
  listed = _listed_test_files()
  assert listed == sorted(listed), "keep _TEST_FILES sorted"
  assert set(on_disk) - set(listed) == set(), "add these to _TEST_FILES in BUILD"
  assert set(listed) - set(on_disk) == set(), "remove these from _TEST_FILES in BUILD"
