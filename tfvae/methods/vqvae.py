"""--model=vqvae: the VQ-VAE baseline of Melis et al. (2022), appendix A (van den Oord et al. 2017; M25)."""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import latents
  from tfvae import models
  # --latent_dim latents, each quantised to one of --num_categories codes of size --embed_dim.
  family = latents.VectorQuantizedLatents(config.latent_dim, config.num_categories,
                                          config.embed_dim)
  arguments = models.model_arguments(config, dataset, family)
  del arguments["latent_dim"]  # VQVAE makes the same family from its three sizes.
  return models.VQVAE(num_latents=config.latent_dim, num_categories=config.num_categories,
                      code_dim=config.embed_dim, commitment=config.vq_commitment,
                      decay=config.vq_decay, **arguments)


def validate(config):
  require(0.0 < config.vq_decay < 1.0 and config.vq_commitment >= 0,
          f"Need 0 < --vq_decay < 1 and --vq_commitment >= 0, got {config.vq_decay}, "
          f"{config.vq_commitment}.")


METHOD = Method(
    name="vqvae",
    summary="VQ-VAE: --latent_dim latents quantised to --num_categories codes of size "
            "--embed_dim (van den Oord et al. 2017; M25)",
    build=build,
    options=(
        Option("vq_commitment", 0.25, "--model=vqvae (M25): weight beta of the commitment "
               "term."),
        Option("vq_decay", 0.99, "--model=vqvae: decay of the codebooks' moving averages."),
    ),
    validate=validate,
    beta_schedule=False,
    discrete_latents=True,
)
