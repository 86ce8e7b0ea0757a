"""UserError: every error a user can fix derives from it, and the launchers catch it alone."""

import pytest

from export.errors import ExportError
from launch import common
from tfvae.data import DataError
from tfvae.errors import TrainingInterrupted
from tfvae.errors import UserError
from tfvae.errors import WorkerLostError
from tfvae.training.callbacks import TrainingDivergedError
from tfvae.training.checkpoints import CheckpointMismatchError
from tfvae.training.checkpoints import RunDirectoryError
from tfvae.training.config import ConfigError


@pytest.mark.parametrize("error, builtin", [
    (ConfigError, ValueError), (DataError, ValueError), (CheckpointMismatchError, ValueError),
    (RunDirectoryError, FileNotFoundError), (TrainingDivergedError, FloatingPointError),
    (ExportError, ValueError), (WorkerLostError, ConnectionError),
])
def test_user_errors_keep_their_builtin_base(error, builtin):
  assert issubclass(error, UserError) and issubclass(error, builtin)


def _fail(error):
  raise error


def test_run_or_exit_prints_a_user_error_and_exits_1(capsys):
  with pytest.raises(SystemExit) as exited:
    common.run_or_exit(_fail, DataError("no such corpus"))
  assert exited.value.code == 1
  assert capsys.readouterr().err == "error: no such corpus\n"


def test_run_or_exit_prints_an_interruption_and_exits_with_its_code(capsys):
  with pytest.raises(SystemExit) as exited:
    common.run_or_exit(_fail, TrainingInterrupted("saved in runs/x/ckpt-1-step-3"))
  assert exited.value.code == TrainingInterrupted.exit_code == 42
  assert capsys.readouterr().err == "stopped: saved in runs/x/ckpt-1-step-3\n"
  assert not issubclass(TrainingInterrupted, UserError)


def test_run_or_exit_lets_other_errors_through():
  with pytest.raises(KeyError):
    common.run_or_exit(_fail, KeyError("a bug, not the user's fault"))
  assert common.run_or_exit(lambda x: x + 1, 1) == 2
