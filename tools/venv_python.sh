#!/bin/sh
# Python interpreter for Bazel's py_runtime: execs the repository's own
# .venv/bin/python, wherever the repository was cloned.
#
# Bazel runs this file through a chain of symlinks (runfiles -> execroot ->
# source tree); `readlink -f` follows them back to tools/ in the checkout,
# so no absolute path needs to be written anywhere.
here=$(dirname "$(readlink -f "$0")")
py="$here/../.venv/bin/python"
if [ ! -x "$py" ]; then
  echo "tools/venv_python.sh: no interpreter at $py" >&2
  echo "  create the venv first (bash .ci/run does it, or: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt -r requirements-dev.txt -e .)" >&2
  exit 127
fi
exec "$py" "$@"
