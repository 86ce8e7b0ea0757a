"""What the launchers share: user errors become one-line messages, not tracebacks."""

import sys

from tfvae.data import DataError
from tfvae.training.callbacks import TrainingDivergedError
from tfvae.training.checkpoints import CheckpointMismatchError
from tfvae.training.checkpoints import RunDirectoryError
from tfvae.training.config import ConfigError

USER_ERRORS = (ConfigError, DataError, CheckpointMismatchError, RunDirectoryError,
               TrainingDivergedError)


def run_or_exit(function, *args, **kwargs):
  """Calls function; on a user error prints `error: ...` and exits with status 1."""
  try:
    return function(*args, **kwargs)
  except USER_ERRORS as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
