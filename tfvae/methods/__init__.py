"""The method registry: every value of --model, with its options, checks, build and presets.

Each method declares one `spec.Method`, named METHOD, in a module: those of
this package are listed in `_MODULES`; methods kept outside tfvae are named by
the environment variable TFVAE_METHODS (module names, comma-separated, e.g.
`TFVAE_METHODS=my_lab.capacity_method`; see docs/adding_a_method.md).
Everything else is generated from them: the run configuration's
method fields (`options`), the launcher's flags, the choices of --model
(`names`), the presets (`presets`), the model (`build`), and its callbacks
(`callbacks`). Nothing
here imports TensorFlow until a model is built.
"""

import importlib
import os

from tfvae.errors import ConfigError

# The modules that declare a method, in the order of --model's choices.
_MODULES = ("vae", "controlvae", "aggressive", "savae", "monte_carlo", "vqvae", "bn_vae", "du_vae",
            "delta_vae", "mae", "ivae", "flow_prior", "p_vae", "apo_vae", "libi")
PLUGINS_VARIABLE = "TFVAE_METHODS"


def _declared_methods():
  """name -> Method of every module of _MODULES and of $TFVAE_METHODS."""
  declared = {}
  plugins = [name.strip() for name in os.environ.get(PLUGINS_VARIABLE, "").split(",")
             if name.strip()]
  for module_name in [f"tfvae.methods.{name}" for name in _MODULES] + plugins:
    try:
      method = importlib.import_module(module_name).METHOD
    except (ImportError, AttributeError) as error:
      if module_name not in plugins:
        raise
      raise ImportError(f"{PLUGINS_VARIABLE} names {module_name!r}, which does not declare a "
                        f"method (a module with METHOD = tfvae.methods.spec.Method(...)): "
                        f"{error}") from error
    if method.name in declared:
      raise ValueError(f"Two modules declare --model={method.name}; rename one.")
    declared[method.name] = method
  return declared


METHODS = _declared_methods()


def names():
  """The --model choices."""
  return tuple(METHODS)


def get(name):
  """The `Method` called `name`; ConfigError naming the choices otherwise."""
  if name not in METHODS:
    raise ConfigError(f"--model={name!r} is not one of {', '.join(METHODS)}.")
  return METHODS[name]


def options():
  """Every method's `Option`s; ValueError if two methods declare one name."""
  declared = {}
  for method in METHODS.values():
    for option in method.options:
      if option.name in declared:
        raise ValueError(f"Option {option.name!r} is declared by both --model="
                         f"{declared[option.name]} and --model={method.name}.")
      declared[option.name] = method.name
  return tuple(option for method in METHODS.values() for option in method.options)


def presets():
  """Every method's presets: name -> `spec.Preset`."""
  return {name: preset for method in METHODS.values() for name, preset in method.presets.items()}


def initialise(config, model):
  """Runs the method's `initialise` on a freshly started run's `model` (`config` resolved)."""
  get(config.model).initialise(model, config)


def build(config, dataset):
  """The model of `config` (its method's `build`), not yet compiled."""
  config = config.resolved()
  return get(config.model).build(config, dataset)


def callbacks(config, steps_per_epoch):
  """The callbacks `config`'s method needs after the epoch metrics."""
  return get(config.model).callbacks(config, steps_per_epoch)
