"""docs/adding_a_method.md, run as written: its files, its command, the flags it promises."""

import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "adding_a_method.md"


def _blocks(language):
  return re.findall(rf"```{language}\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def _write_files(directory):
  """Writes every python block that starts with `# file: PATH` under `directory`."""
  written = []
  for block in _blocks("python"):
    first, _, body = block.partition("\n")
    if first.startswith("# file: "):
      path = directory / first[len("# file: "):].strip()
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_text(body)
      written.append(path.relative_to(directory).as_posix())
  return written


def _shell(command, cwd):
  env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}"
             f"{os.environ['PATH']}", TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=600)


def test_the_tutorial_method_trains_as_written(tmp_path):
  assert _write_files(tmp_path) == ["my_lab/capacity_model.py", "my_lab/capacity_method.py"]
  (command,) = _blocks("sh")
  result = _shell(command, tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads((tmp_path / "runs" / "capacity" / "results.json").read_text())
  assert results["config"]["model"] == "capacity_vae"
  assert results["config"]["capacity"] == 5.0 and results["config"]["capacity_gamma"] == 10.0
  # The KL is pulled from about 0.03 nats (the plain VAE on this set) towards C = 5.
  assert 3.0 < results["test"]["kl"] < 7.0, results["test"]


def test_the_tutorial_method_gets_its_flags_checks_and_preset(tmp_path):
  _write_files(tmp_path)
  plugin = "PYTHONPATH=. TFVAE_METHODS=my_lab.capacity_method python"
  refused = _shell(f"{plugin} -m launch.train --model=capacity_vae --capacity=-1", tmp_path)
  assert refused.returncode == 1
  assert refused.stderr.strip() == "error: --capacity must be >= 0 nats, got -1.0."
  listed = _shell(f"{plugin} -c 'from tfvae.training import presets; print(presets.describe())'",
                  tmp_path)
  assert "burgess2018_c5: capacity 5 nats" in listed.stdout, listed.stderr[-2000:]
  unregistered = _shell("python -m launch.train --model=capacity_vae", tmp_path)
  assert unregistered.returncode != 0 and "capacity_vae" in unregistered.stderr
