"""--model=p_vae: the Poincare VAE, latents in a hyperbolic ball (Mathieu et al. 2019).

P-VAE is the VAE of Kingma and Welling with z in the Poincare ball B_c^d of
curvature -c (`tfvae.latents.PoincareLatents`): the encoder gives a tangent
vector u at the origin and log-variances, q(z|x) is the wrapped normal
WN_c(exp_0(u), diag(sigma^2)) and p(z) = WN_c(0, I) (Mathieu et al. (2019);
Dai et al. (2021), eq. 7), and the decoder reads the gyroplane features of z
(Dai et al. (2021), eq. 8). The KL between two wrapped normals has no closed
form, so the ELBO's KL is the Monte-Carlo log q(z|x) - log p(z) at the
step's own reparameterised sample (`tfvae.divergences.kl`). --curvature sets
c for this method and for --model=apo_vae.
"""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def poincare_latents(config):
  """The family of both hyperbolic methods: --latent_dim latents in the ball of --curvature."""
  from tfvae import latents
  return latents.PoincareLatents(config.latent_dim, config.curvature)


def build(config, dataset):
  from tfvae import models
  return models.VAE(beta=config.beta,
                    **models.model_arguments(config, dataset, poincare_latents(config)))


def validate_hyperbolic(config):
  """The checks shared by --model=p_vae and --model=apo_vae: c > 0 and a prior of the ball.

  Args:
    config: the run configuration.

  Raises:
    ConfigError: on a non-positive --curvature or a --prior other than the
      family's own (the wrapped normal at the origin) and the VampPrior.
  """
  require(config.curvature > 0,
          f"--curvature must be positive (the ball has curvature -c), got {config.curvature}.")
  require(config.prior in (None, "standard_normal", "vamp"),
          f"--model={config.model} puts z in the Poincare ball: its priors are the wrapped "
          f"normal at the origin (the default) and --prior=vamp; drop --prior={config.prior}.")


METHOD = Method(
    name="p_vae",
    summary="P-VAE: z in the Poincare ball of curvature -c, wrapped-normal posterior and prior, "
            "gyroplane decoder input, Monte-Carlo KL (Mathieu et al. 2019)",
    build=build,
    options=(
        Option("curvature", 1.0, "--model=p_vae and apo_vae: c > 0, the Poincare ball's "
               "curvature is -c."),
    ),
    validate=validate_hyperbolic,
    vamp_prior=True,
    presets={
        "p_vae": Preset("P-VAE (Dai et al. (2021), PTB table, row 'P-VAE')", {"model": "p_vae"}),
    },
)
