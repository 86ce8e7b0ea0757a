"""What a method declares: its options, checks, how it is built, callbacks, presets, stages.

A method (one value of `--model`) lives in a module of its own under
`tfvae.methods` and declares one `Method`. The registry (`tfvae.methods`)
collects them; the run configuration gets its fields and the launcher its
flags from the methods' `Option`s, `--model` its choices from their names,
`presets` their table rows. Declarations import no TensorFlow: the `build`
and `callbacks` functions import the models when they run.
"""

import dataclasses
from typing import Callable

from tfvae.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Option:
  """One config field of a method, and the flag of the same name.

  Attributes:
    name: the field and flag name (unique over all methods).
    default: its default value.
    help: the flag's help text.
    kind: int, float, bool or str; None: the type of `default`.
    choices: the allowed values of a str option (an enum flag).
  """

  name: str
  default: object
  help: str
  kind: type | None = None
  choices: tuple | None = None

  @property
  def value_type(self):
    return self.kind or type(self.default)


@dataclasses.dataclass(frozen=True)
class Preset:
  """A paper's table row: what it reproduces and the config fields it sets.

  `stages(config)` returns the training runs the row is made of (each a
  Config); None: the config itself, one run. `combine(config, results)`
  makes the row's results from the stages' results dicts, in order (e.g. the
  best of several repetitions); None: the last stage's.
  """

  description: str
  fields: dict
  stages: Callable | None = None
  combine: Callable | None = None


def no_checks(config):
  """The `validate` of a method whose options need no checks beyond their types."""
  del config


def no_callbacks(config, steps_per_epoch):
  """The `callbacks` of a method that needs none."""
  del config, steps_per_epoch
  return []


def no_initialisation(model, config):
  """The `initialise` of a method that starts from the weights as built (or restored)."""
  del model, config


@dataclasses.dataclass(frozen=True)
class Method:
  """A method of the registry.

  Attributes:
    name: its `--model` value.
    summary: one line: what it is, with the paper.
    build: (config, dataset) -> the model, not compiled; `config` resolved.
    options: its `Option`s.
    validate: config -> None; raises ConfigError for a bad combination.
    callbacks: (config, steps_per_epoch) -> the Keras callbacks it needs
      after the epoch metrics (e.g. a controller, a phase switch).
    initialise: (model, config) -> None, once when a run starts without a
      checkpoint of its own, after --init_encoder_from / --init_weights_from
      (e.g. LiBI's step 3, which sets one network from another).
    presets: preset name -> `Preset`.
    objectives: the values of --objective it trains (METHODS.md M1-M6).
    beta_schedule: whether --beta_schedule applies (it sets beta otherwise).
    latent_types: the values of --latent_type it can learn.
    flow_posteriors: whether it trains an IAF posterior (--iaf_steps > 0).
    discrete_latents: whether its latents are discrete whatever --latent_type
      (VQ-VAE's codes), so that their prior is uniform.
    vamp_prior: whether q(z|x) is the family's posterior of the encoder's
      output as it stands, so that a VampPrior can be made of it.
    free_bits_per_dimension: whether --objective=free_bits clamps the KL per
      dimension (which needs a prior that factorises over dimensions).
  """

  name: str
  summary: str
  build: Callable
  options: tuple = ()
  validate: Callable = no_checks
  callbacks: Callable = no_callbacks
  initialise: Callable = no_initialisation
  presets: dict = dataclasses.field(default_factory=dict)
  objectives: tuple = ("elbo",)
  beta_schedule: bool = True
  latent_types: tuple = ("gaussian",)
  flow_posteriors: bool = False
  discrete_latents: bool = False
  vamp_prior: bool = False
  free_bits_per_dimension: bool = True


def require(condition, message):
  """Raises ConfigError(message) unless `condition`."""
  if not condition:
    raise ConfigError(message)
