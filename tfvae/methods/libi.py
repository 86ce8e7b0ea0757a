"""--model=libi: likelihood before inference (Yacoby et al. 2020, eqs. 44-46; METHODS.md M21).

One run trains one phase of LiBI (`tfvae.models.LiBIVAE`): --libi_phase=likelihood
fits the decoder and a code network h(x) under the penalties of eq. 44
(--eps_hz, --eps_sigma, --eps_mu); --libi_phase=inference fits the inference
network to the fixed decoder by the ELBO (eqs. 45-46). The networks are those
of appendix E for the LiBI data sets (`--network=libi`: --dataset=libi_*),
the only data LiBI runs on here. The paper's defaults are in its grid
(appendix E): eps_Sigma, eps_mu in {0.2, 0.5}, eps_HZ in {0.001, 1, 10, 20}.
"""

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import require

PHASES = ("likelihood", "inference")


def build(config, dataset):
  from tfvae import models
  from tfvae import nets
  from tfvae.data import vectors
  arguments = models.model_arguments(config, dataset)
  code_encoder = nets.LiBIEncoder(vectors.libi_kind(dataset.name), arguments["latent_dim"],
                                  name="code_encoder")
  return models.LiBIVAE(code_encoder=code_encoder, phase=config.libi_phase, eps_hz=config.eps_hz,
                        eps_sigma=config.eps_sigma, eps_mu=config.eps_mu, beta=config.beta,
                        **arguments)


def validate(config):
  require(min(config.eps_hz, config.eps_sigma, config.eps_mu) > 0,
          f"--eps_hz, --eps_sigma and --eps_mu must be positive, got {config.eps_hz}, "
          f"{config.eps_sigma}, {config.eps_mu}.")
  require(config.network in (None, "libi"),
          f"--model=libi runs on the LiBI data sets with their networks (--dataset=libi_..., "
          f"--network=libi); drop --network={config.network}.")
  require(config.dataset.startswith("libi_"),
          f"--model=libi runs on the LiBI data sets (--dataset=libi_linear_jtex, "
          f"libi_cubic_jtex, libi_gaussian, libi_mobius), not --dataset={config.dataset}.")


METHOD = Method(
    name="libi",
    summary="LiBI: fit the likelihood with codes constrained to look like p(z), then the "
            "inference network to the fixed decoder (Yacoby et al. 2020)",
    build=build,
    options=(
        Option("libi_phase", "likelihood", "--model=libi: the phase this run trains: the "
               "likelihood with constrained codes (eq. 44) or the inference network (eq. 46).",
               choices=PHASES),
        Option("eps_hz", 1.0, "--model=libi: eps_HZ, the weight of exp(HZ(codes)) (eq. 44)."),
        Option("eps_sigma", 0.5, "--model=libi: eps_Sigma, exp(||Cov(codes) - I||^2 / "
               "eps_Sigma) (eq. 44)."),
        Option("eps_mu", 0.5, "--model=libi: eps_mu, exp(||mean(codes)||^2 / eps_mu) (eq. 44)."),
    ),
    validate=validate,
    beta_schedule=False,
)
