"""`UserError`: the base class of every error that the user of tfvae can fix.

Bad flags or configs, missing or malformed data files, a run directory without
a checkpoint or with another model's, a loss that became NaN, a worker of a
multi-worker run that stopped answering: each module raises its own subclass
with a message that says what was wrong and what to do. The launchers catch
`UserError` alone, print the message on one line and exit with status 1.

`TrainingInterrupted` is no error: training stopped on a signal after saving a
checkpoint, and the same command resumes it. The launchers print its message
on one line and exit with its `exit_code`.

This module imports nothing, so a launcher can check its flags and report a
bad one before it imports TensorFlow.
"""


class UserError(Exception):
  """A problem in the user's input; the message says what was wrong and how to fix it."""


class ConfigError(UserError, ValueError):
  """A configuration value is invalid; the message names the flag and the fix."""


class TrainingDivergedError(UserError, FloatingPointError):
  """The training loss became NaN or infinite."""


class WorkerLostError(UserError, ConnectionError):
  """A worker of a multi-worker run died or stopped answering during training."""


class TrainingInterrupted(Exception):
  """Training stopped at a step boundary on SIGTERM or SIGINT, after saving a checkpoint.

  The launchers exit with `exit_code`, the restart code of TensorFlow's
  PreemptionCheckpointHandler on Borg, so that a job scheduler or a shell loop
  can tell "rerun me" from a failure.
  """

  exit_code = 42
