"""`<export_base>/models.config`: a TF Serving `model_config_list` for one server.

Lists every served model directory under the export base (`<name>_encoder`,
`<name>_decoder`, and those of earlier exports with other names), each with
its absolute `base_path`, so one server started with
`--model_config_file=<export_base>/models.config` serves them all, each at
its latest version.
"""

import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

CONFIG_FILE = "models.config"


def served_models(export_base):
  """Sorted names of the subdirectories of `export_base` that hold a version directory."""
  names = []
  for entry in sorted(os.listdir(export_base)):
    path = os.path.join(export_base, entry)
    if entry.startswith(".") or not os.path.isdir(path):
      continue
    if any(child.isdigit() for child in os.listdir(path)):
      names.append(entry)
  return names


def model_config_list(export_base):
  """The `ModelServerConfig` serving every model of `served_models(export_base)`."""
  base = os.path.abspath(export_base)
  config = model_server_config_pb2.ModelServerConfig()
  for name in served_models(export_base):
    entry = config.model_config_list.config.add()
    entry.name = name
    entry.base_path = os.path.join(base, name)
    entry.model_platform = "tensorflow"
  return config


def write_models_config(export_base):
  """Writes `models.config` (text protobuf) into `export_base`; returns its path."""
  path = os.path.join(export_base, CONFIG_FILE)
  text = text_format.MessageToString(model_config_list(export_base))
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)
  return path
