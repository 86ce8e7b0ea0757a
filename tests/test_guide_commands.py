"""Every `python -m ...` command of the README and docs/ parses its flags as written."""

import collections
import json
import subprocess
import sys

from tests import guide_commands
from tests import launch_runs

# Not ours: pytest's and venv's commands are CI's own (.ci/run runs them).
NOT_CHECKED = {"pytest", "venv"}
# A method from outside tfvae: tests/test_adding_a_method.py writes its module and
# runs the tutorial's command as written.
PLUGIN_VARIABLE = "TFVAE_METHODS"


def _check(commands):
  """The checker's failures for {module: [argv, ...]}."""
  result = subprocess.run([sys.executable, "-m", "tests.guide_commands"],
                          input=json.dumps(commands), capture_output=True, text=True,
                          cwd=guide_commands.ROOT, env=launch_runs.env(), timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.splitlines()[-1])


def test_the_guide_has_commands_for_every_launcher():
  modules = {module for _, _, module, _ in guide_commands.commands()}
  assert {"launch.train", "launch.evaluate", "launch.generate", "launch.reproduce",
          "launch.sweep", "export.savedmodel"} <= modules


# Wrong on purpose, checked in the same run: the checker must find exactly these.
WRONG = {"launch.train": [["--no_such_flag=1"], ["--model=vae", "extra"],
                          ["--beta_schedule=cyclical", "--cycles=0"]],
         "launch.sweep": [["--estimator=nope"]]}  # launch.sweep defines launch.train's flags too


def test_every_command_of_the_guide_parses_its_flags():
  by_module = collections.defaultdict(list)
  where = {}
  for place, environment, module, argv in guide_commands.commands():
    if module not in NOT_CHECKED and PLUGIN_VARIABLE not in environment:
      by_module[module].append(argv)
      where.setdefault((module, tuple(argv)), place)
  for module, argv_lists in WRONG.items():
    by_module[module] += argv_lists
  failures = _check(by_module)
  wrong = [(f["module"], f["argv"]) for f in failures if f["argv"] in WRONG.get(f["module"], [])]
  assert sorted(wrong) == sorted((module, argv) for module, lists in WRONG.items()
                                 for argv in lists)
  found = [f"{where[failure['module'], tuple(failure['argv'])]}: python -m "
           f"{failure['module']} {' '.join(failure['argv'])}: {failure['problem']}"
           for failure in failures if failure["argv"] not in WRONG.get(failure["module"], [])]
  assert not found, "\n".join(found)
