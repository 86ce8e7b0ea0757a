"""--model=p_vae: the Poincare VAE, latents in a hyperbolic ball (Mathieu et al. 2019).

P-VAE is the VAE of Kingma and Welling with z in the Poincare ball B_c^d of
curvature -c (`tfvae.latents.PoincareLatents`): the encoder gives a tangent
vector u at the origin and log-variances, q(z|x) is the wrapped normal
WN_c(exp_0(u), diag(sigma^2)) and p(z) = WN_c(0, I) (Mathieu et al. (2019);
Dai et al. (2021), eq. 7), and the decoder reads the gyroplane features of z
(Dai et al. (2021), eq. 8). The KL between two wrapped normals has no closed
form, so the ELBO's KL is the Monte-Carlo log q(z|x) - log p(z) at the
step's own reparameterised sample (`tfvae.divergences.kl`). --curvature sets
c for this method and for --model=apo_vae; by default c = min(1, 8 / d), and
c d above 16 is refused: the prior's samples would crowd float32's edge of
the ball (`tfvae.latents.choices.MAX_CURVATURE_TIMES_DIM`).
"""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def curvature(config):
  """--curvature, or the default c = min(1, 8 / d) of --latent_dim d when it is not given."""
  from tfvae.latents import choices
  if config.curvature is None:
    return choices.default_curvature(config.latent_dim)
  return config.curvature


def poincare_latents(config):
  """The family of both hyperbolic methods: --latent_dim latents in the ball of `curvature`."""
  from tfvae import latents
  return latents.PoincareLatents(config.latent_dim, curvature(config))


def build(config, dataset):
  from tfvae import models
  return models.VAE(beta=config.beta,
                    **models.model_arguments(config, dataset, poincare_latents(config)))


def validate_hyperbolic(config):
  """The checks shared by --model=p_vae and --model=apo_vae: c > 0 and a prior of the ball.

  Args:
    config: the run configuration.

  Raises:
    ConfigError: on a non-positive --curvature, one whose product with
      --latent_dim exceeds MAX_CURVATURE_TIMES_DIM, or a --prior other than
      the family's own (the wrapped normal at the origin) and the VampPrior.
  """
  from tfvae.latents import choices
  c = curvature(config)
  require(c > 0, f"--curvature must be positive (the ball has curvature -c), got {c}.")
  limit = choices.MAX_CURVATURE_TIMES_DIM
  require(c * config.latent_dim <= limit,
          f"--curvature={c} with --latent_dim={config.latent_dim}: c * d = "
          f"{c * config.latent_dim:g} exceeds {limit:g}, and the prior's samples would lie "
          f"closer to the ball's edge than float32 resolves. Use --curvature <= "
          f"{limit / config.latent_dim:g} (or leave it out: the default is "
          f"{choices.default_curvature(config.latent_dim):g}).")
  require(config.prior in (None, "standard_normal", "vamp"),
          f"--model={config.model} puts z in the Poincare ball: its priors are the wrapped "
          f"normal at the origin (the default) and --prior=vamp; drop --prior={config.prior}.")


METHOD = Method(
    name="p_vae",
    summary="P-VAE: z in the Poincare ball of curvature -c, wrapped-normal posterior and prior, "
            "gyroplane decoder input, Monte-Carlo KL (Mathieu et al. 2019)",
    build=build,
    options=(
        Option("curvature", None, "--model=p_vae and apo_vae: c > 0, the Poincare ball's "
               "curvature is -c; default min(1, 8 / latent_dim), at most 16 / latent_dim.",
               kind=float),
    ),
    validate=validate_hyperbolic,
    vamp_prior=True,
    presets={
        "p_vae": Preset("P-VAE (Dai et al. (2021), PTB table, row 'P-VAE')", {"model": "p_vae"}),
    },
)
