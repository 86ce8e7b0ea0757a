"""What the launchers share: method flags from the registry; errors and interruptions on one line."""

import sys

from absl import flags

from tfvae import methods
from tfvae.errors import TrainingInterrupted
from tfvae.errors import UserError

_DEFINE_BY_KIND = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
                   str: flags.DEFINE_string}


def define_method_flags():
  """One flag per option of every method of `tfvae.methods` (enum flags for choices)."""
  for option in methods.options():
    if option.choices is not None:
      flags.DEFINE_enum(option.name, option.default, option.choices, option.help)
    else:
      _DEFINE_BY_KIND[option.value_type](option.name, option.default, option.help)


def run_or_exit(function, *args, **kwargs):
  """Calls function; on a `UserError` prints `error: ...` and exits with status 1.

  On `TrainingInterrupted` (training saved a checkpoint and stopped on a
  signal) prints `stopped: ...` and exits with its `exit_code`.
  """
  try:
    return function(*args, **kwargs)
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
  except TrainingInterrupted as stop:
    print(f"stopped: {stop}", file=sys.stderr)
    sys.exit(stop.exit_code)
