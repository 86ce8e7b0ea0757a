"""Package attributes imported when first used (PEP 562).

`tfvae.data` and `tfvae.latents` re-export names from their modules lazily,
so that their TensorFlow-free modules (the data catalogue, the latent and
prior names) can be imported by the run config before TensorFlow is.
"""

import importlib


def exports(package, names_to_modules):
  """(__getattr__, __dir__, __all__) for `package`: each name imported from its module on first use.

  Args:
    package: the package's `__name__`.
    names_to_modules: exported name -> the module that defines it.
  """
  namespace = importlib.import_module(package).__dict__

  def getattr_(name):
    if name not in names_to_modules:
      raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(names_to_modules[name]), name)
    namespace[name] = value
    return value

  def dir_():
    return sorted(set(namespace) | set(names_to_modules))

  return getattr_, dir_, sorted(names_to_modules)
