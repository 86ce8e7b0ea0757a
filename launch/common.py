"""What the launchers share: user errors become one-line messages, not tracebacks."""

import sys

from tfvae.errors import UserError


def run_or_exit(function, *args, **kwargs):
  """Calls function; on a `UserError` prints `error: ...` and exits with status 1."""
  try:
    return function(*args, **kwargs)
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
