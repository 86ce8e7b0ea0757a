"""Presets: the configurations of the papers' table rows, by name.

Each method declares its presets (`tfvae.methods`); a preset fills in the
fields that make a table row (objective, schedule, controller, model), and
anything given explicitly wins. Most presets are one training run; a preset
with `stages` is several, e.g. `li2019_pretrain_fb`: an autoencoder, then a
free-bits VAE that starts from its encoder with a fresh decoder, or `libi`:
R repetitions of LiBI's two phases, of which the best is kept.

  python -m launch.train --dataset=ptb --preset=kl_anneal
  python -m launch.train --dataset=ptb --preset=li2019_pretrain_fb --fb_lambda=8
"""

from tfvae import methods
from tfvae.training.config import Config
from tfvae.training.config import ConfigError

PRESETS = methods.presets()


def describe():
  """One line per preset: `name: description`."""
  return "\n".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())


def make_config(preset=None, **fields):
  """The Config of `preset` with `fields` (given explicitly) taking precedence.

  Raises:
    ConfigError: unknown preset or field.
  """
  values = {}
  if preset is not None:
    if preset not in PRESETS:
      raise ConfigError(f"--preset={preset!r} is not one of {', '.join(PRESETS)}.")
    values.update(PRESETS[preset].fields)
  values.update(fields)
  values["preset"] = preset
  return Config.from_dict(values)


def stages(config):
  """The training runs that make up `config`: its preset's stages, or `config` alone."""
  preset = PRESETS.get(config.preset)
  if preset is None or preset.stages is None:
    return [config]
  return preset.stages(config)


def combine(config, stage_results):
  """The results of `config` from its stages' results dicts: its preset's `combine`, or the last."""
  preset = PRESETS.get(config.preset)
  if preset is None or preset.combine is None:
    return stage_results[-1]
  return preset.combine(config, stage_results)
