"""The prior layer named by `--prior`, for a latent family (the names: `tfvae.latents.choices`)."""

from tfvae.latents.choices import PRIORS
from tfvae.latents.families import GaussianLatents
from tfvae.latents.families import PoincareLatents
from tfvae.latents.flow_prior import RealNVPPrior
from tfvae.latents.priors import FixedPrior
from tfvae.latents.priors import MixtureOfGaussiansPrior
from tfvae.latents.vamp_prior import VampPrior


def default_prior_name(latent_family):
  """The family's own prior: "standard_normal" for Gaussian latents (N(0, I)) and Poincare
  ones (the wrapped normal at the origin), else uniform (codes, the sphere)."""
  continuous = isinstance(latent_family, (GaussianLatents, PoincareLatents))
  return "standard_normal" if continuous else "uniform"


def learned_priors(latent_family):
  """The learned priors that fit `latent_family`: all three over Euclidean latents, the
  VampPrior (a mixture of the family's own posteriors) over Poincare ones, none otherwise."""
  if isinstance(latent_family, GaussianLatents):
    return ("mog", "vamp", "flow")
  return ("vamp",) if isinstance(latent_family, PoincareLatents) else ()


def make_prior(name, latent_family, num_components=10, *, flow_couplings=4, flow_hidden=64,
               pseudo_input_shape=None, pseudo_input_mean=0.0):
  """The prior layer `name` (one of PRIORS; None: the family's own) for `latent_family`.

  Args:
    name: the prior.
    latent_family: the latents it is a prior of.
    num_components: K of "mog" (components) and "vamp" (pseudo-inputs).
    flow_couplings, flow_hidden: the couplings of "flow" and their width.
    pseudo_input_shape: the shape of one pseudo-input of "vamp", as the
      encoder's `encode_continuous` takes it; pseudo_input_mean their
      initial mean. The model holding a VampPrior attaches its encoder.

  Raises:
    ValueError: an unknown name, a prior that does not fit the latents (the
      learned ones for one-hot codes or spherical latents, uniform for
      Gaussian latents), or "vamp" without a pseudo-input shape.
  """
  if name not in (None, *PRIORS):
    raise ValueError(f"Unknown prior {name!r}; choose one of {', '.join(PRIORS)}.")
  own = default_prior_name(latent_family)
  if name is None or name == own:
    return FixedPrior(latent_family, name="prior")
  learned = learned_priors(latent_family)
  if name not in learned:
    raise ValueError(f"prior={name!r} does not fit {type(latent_family).__name__}: its priors "
                     f"are {', '.join(repr(n) for n in (own, *learned))}.")
  if name == "mog":
    return MixtureOfGaussiansPrior(latent_family.latent_dim, num_components, name="prior")
  if name == "flow":
    return RealNVPPrior(latent_family.latent_dim, flow_couplings, flow_hidden, name="prior")
  if pseudo_input_shape is None:
    raise ValueError("prior='vamp' needs the shape of the encoder's continuous input "
                     "(pseudo_input_shape).")
  return VampPrior(pseudo_input_shape, num_components, initial_mean=pseudo_input_mean,
                   name="prior")
