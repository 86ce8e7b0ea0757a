"""The `python -m MODULE ...` commands of the README and docs/, and a checker of their flags.

`commands()` reads every such command out of the guide (fenced blocks, with
their line continuations, and inline code), with the environment variables
set in front of it. Run as a program,

    python -m tests.guide_commands < {"MODULE": [argv, ...], ...}.json

it imports each MODULE in turn, parses each argument list with the module's
own parser (absl flags; `argument_parser()` for argparse modules), then builds
what its main builds from them before any work starts (`config_from_flags`
and `check_stages` of launch.train, `spec_from_flags` of launch.sweep), and
prints one JSON list of the failures. absl flags are global, so a module's
flags are removed again before the next module defines its own.
"""

import importlib
import json
import pathlib
import re
import shlex
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUIDE = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Where a shell line stops being the command's arguments.
_SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "2>&1", "&"}
_COMMAND = re.compile(r"((?:[A-Z_]+=\S+ +)*)(?:\S*/)?python3? -m ([A-Za-z_][\w.]*)([^`\n]*)")
# What main() builds from the flags before it starts working, per module.
_BUILDERS = ("config_from_flags", "spec_from_flags")
# absl's help flags print and exit; a command may carry them.
_HELP_FLAGS = {"--help", "--helpfull", "--helpshort", "--helpxml", "-h", "-?"}


def commands():
  """[(where, environment, module, argv)] of every `python -m` command in the guide."""
  found = []
  for path in GUIDE:
    text = path.read_text().replace("\\\n", " ")
    for match in _COMMAND.finditer(text):
      argv = []
      for word in shlex.split(match.group(3), comments=True):
        if word in _SHELL_OPERATORS:
          break
        argv.append(word)
      line = text.count("\n", 0, match.start()) + 1
      environment = dict(pair.split("=", 1) for pair in match.group(1).split())
      found.append((f"{path.relative_to(ROOT)}:{line}", environment, match.group(2), argv))
  return found


def _check(module, argv):
  """None, or what is wrong with `argv` for `module`."""
  if hasattr(module, "argument_parser"):
    try:
      module.argument_parser().parse_args(argv)
    except SystemExit:
      return "argparse refused the arguments"
    return None
  from absl import flags
  flags.FLAGS.unparse_flags()
  try:
    extra = flags.FLAGS([module.__name__, *[a for a in argv if a not in _HELP_FLAGS]])[1:]
  except flags.Error as error:
    return f"flags: {error}"
  if extra:
    return f"positional arguments {extra} (every option is a --flag)"
  for name in _BUILDERS:
    if hasattr(module, name):
      try:
        built = getattr(module, name)()
        if name == "config_from_flags" and hasattr(module, "check_stages"):
          module.check_stages(built)
      except Exception as error:  # noqa: BLE001 - any failure is the finding
        return f"{name}: {type(error).__name__}: {error}"
  return None


def main():
  from absl import flags
  failures = []
  for module_name, argv_lists in json.load(sys.stdin).items():
    before = set(flags.FLAGS)
    module = importlib.import_module(module_name)
    for argv in argv_lists:
      problem = _check(module, argv)
      if problem:
        failures.append({"module": module_name, "argv": argv, "problem": problem})
    # Forget the module's flags, and the modules that defined them, so that the
    # next module's import defines its own (a shared flag module included).
    new = set(flags.FLAGS) - before
    for defining, defined in flags.FLAGS.flags_by_module_dict().items():
      if any(flag.name in new for flag in defined):
        sys.modules.pop(defining, None)
        package, _, name = defining.rpartition(".")
        if package in sys.modules:  # `from package import name` must import it anew too.
          vars(sys.modules[package]).pop(name, None)
    for flag in new:
      delattr(flags.FLAGS, flag)
  print(json.dumps(failures))


if __name__ == "__main__":
  main()
