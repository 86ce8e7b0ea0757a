"""--model=flow_prior: a RealNVP prior trained on Ding and Gimpel's (2021) eq. 7 (M12).

The prior defaults to --prior=flow (--flow_couplings couplings of --flow_hidden
units); the objective adds the --flow_samples-sample importance-weighted bound
to the sampled ELBO. --objective=free_bits (preset `flow_prior_fb`) clamps
the whole sampled KL at --fb_lambda ("FlowPrior + FB").
"""

import dataclasses

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require


def build(config, dataset):
  from tfvae import models
  config = dataclasses.replace(config, prior=config.prior or "flow")
  return models.FlowPriorVAE(num_samples=config.flow_samples, beta=config.beta,
                             objective=config.objective, free_bits=config.fb_lambda,
                             **models.model_arguments(config, dataset))


def validate(config):
  require(config.flow_samples >= 1,
          f"--flow_samples must be a positive integer, got {config.flow_samples}.")
  require(config.latent_type == "gaussian" and config.iaf_steps == 0,
          "--model=flow_prior learns a prior over Gaussian latents with a Gaussian posterior: "
          "use --latent_type=gaussian and --iaf_steps=0.")


METHOD = Method(
    name="flow_prior",
    summary="FlowPrior: a RealNVP prior and the importance-weighted bound plus the ELBO "
            "(Ding and Gimpel 2021; M12)",
    build=build,
    options=(
        Option("flow_samples", 5, "--model=flow_prior (M12): N, samples of q(z|x) per example "
               "in the importance-weighted part of the objective."),
    ),
    validate=validate,
    objectives=("elbo", "free_bits"),
    vamp_prior=True,
    free_bits_per_dimension=False,
    presets={
        "flow_prior": Preset("FlowPrior (Ding and Gimpel (2021), PTB table, row 'FlowPrior')",
                             {"model": "flow_prior", "prior": "flow"}),
        "flow_prior_fb": Preset("FlowPrior + FB, lambda = 7 unless --fb_lambda (Ding and Gimpel "
                                "(2021), PTB table, row 'FlowPrior + FB', whose KL is 7.21; our "
                                "sources do not give their lambda)",
                                {"model": "flow_prior", "prior": "flow",
                                 "objective": "free_bits", "fb_lambda": 7.0}),
    },
)
