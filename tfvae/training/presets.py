"""Presets: the configurations of the papers' table rows, by name.

A preset fills in the fields that make a method (objective, schedule,
controller, model); anything given explicitly wins. Most presets are one
training run; `li2019_pretrain_fb` is two (`stages`): an autoencoder, then a
free-bits VAE that starts from its encoder with a fresh decoder.

  python -m launch.train --dataset=ptb --preset=kl_anneal
  python -m launch.train --dataset=ptb --preset=li2019_pretrain_fb --fb_lambda=8
"""

import dataclasses
import os

from tfvae.training.config import Config
from tfvae.training.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Preset:
  """A table row: what it reproduces and the config fields it sets."""

  description: str
  fields: dict


PRESETS = {
    "vae": Preset("VAE (000 PTB/Yahoo tables, row 'VAE')", {}),
    "beta_vae": Preset("beta-VAE, beta = 0.5 (000 PTB table, row 'beta(0.5)-VAE')",
                       {"beta": 0.5}),
    "kl_anneal": Preset("KL annealing 0.1 -> 1 over 10 epochs (He et al. 2019 settings; "
                        "000 Yahoo table, row '+ anneal')",
                        {"beta_schedule": "linear", "anneal_start": 0.1,
                         "anneal_epochs": 10.0}),
    "cyclical": Preset("cyclical annealing, 4 cycles, ramp 0.5 (Fu et al. 2019; 000 PTB "
                       "table, row 'Cyc-VAE')",
                       {"beta_schedule": "cyclical", "cycles": 4, "cycle_ramp": 0.5}),
    "free_bits": Preset("free bits, lambda = 5 unless --fb_lambda (000 Yahoo table, rows "
                        "'FBP (lambda)'; FlowPrior table, row 'VAE+FB')",
                        {"objective": "free_bits", "fb_lambda": 5.0}),
    "li2019_pretrain_fb": Preset("AE pre-training, then free bits (lambda = 8 unless "
                                 "--fb_lambda) with the KL term warmed up from 0 over 10 "
                                 "epochs (Li et al. 2019; 000 Yahoo table, row 'Ours "
                                 "(lambda=8)'; FlowPrior table, row 'Pre-VAE+FB')",
                                 {"objective": "free_bits", "fb_lambda": 8.0,
                                  "beta_schedule": "linear", "anneal_start": 0.0,
                                  "anneal_epochs": 10.0}),
    "he2019_aggressive": Preset("aggressive inference-network training (He et al. 2019; "
                                "000 Yahoo table, row '+ aggressive')",
                                {"model": "aggressive"}),
    "kim2018_savae": Preset("semi-amortised VAE: 20 refinement steps, size 1 on the batch "
                            "mean (1/32 per example), momentum 0.5 (Kim et al. 2018; 000 PTB "
                            "table, row 'SA-VAE')",
                            {"model": "savae", "refine_steps": 20, "refine_step_size": 1 / 32,
                             "refine_momentum": 0.5}),
    **{f"controlvae_kl{kl}": Preset(
        f"ControlVAE with desired KL {kl} (Shao et al. 2020; 000 ControlVAE table, row "
        f"'ControlVAE-KL-{kl}')", {"model": "controlvae", "desired_kl": float(kl)})
       for kl in (15, 25, 35)},
}

PRETRAIN_DIR = "pretrain"
FREE_BITS_DIR = "fb"


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
  """The training runs that make up `config`: itself, or AE then FB for li2019.

  The li2019 stages live in `<model_dir>/pretrain` and `<model_dir>/fb`; the
  second starts from the first's encoder (`init_encoder_from`), with a decoder
  initialised afresh, and trains with free bits (and the preset's KL warm-up). `pretrain_epochs` (default:
  `epochs`) sets the length of the first. Rerunning the command resumes
  whichever stage was interrupted.
  """
  if config.preset != "li2019_pretrain_fb":
    return [config]
  if not config.model_dir:
    raise ConfigError("--preset=li2019_pretrain_fb needs --model_dir: its two stages are "
                      f"written to MODEL_DIR/{PRETRAIN_DIR} and MODEL_DIR/{FREE_BITS_DIR}.")
  if config.objective != "free_bits" or config.model != "vae":
    raise ConfigError("--preset=li2019_pretrain_fb trains --model=vae with "
                      "--objective=free_bits in its second stage; drop the other values.")
  pretrain_dir = os.path.join(config.model_dir, PRETRAIN_DIR)
  pretrain = dataclasses.replace(
      config, objective="autoencoder", fb_lambda=None, beta_schedule="constant",
      model_dir=pretrain_dir,
      epochs=config.pretrain_epochs or config.epochs, evaluate_test=False,
      generated_sentences=0, init_encoder_from=None)
  free_bits = dataclasses.replace(config, model_dir=os.path.join(config.model_dir,
                                                                 FREE_BITS_DIR),
                                  init_encoder_from=pretrain_dir)
  return [pretrain, free_bits]
