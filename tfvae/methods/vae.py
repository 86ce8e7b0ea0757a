"""--model=vae: the VAE (Kingma and Welling 2014) and the remedies that only change its training.

beta-VAE (M2), KL annealing (M3), cyclical annealing (M4), free bits (M5) and
AE pre-training followed by free bits (Li et al. 2019; M6) are this model
with another --objective, --beta or --beta_schedule; their table rows are
its presets.
"""

import dataclasses
import os

from tfvae.methods.spec import Method
from tfvae.methods.spec import Option
from tfvae.methods.spec import Preset
from tfvae.methods.spec import require
from tfvae.objectives.choices import VAE_OBJECTIVES

PRETRAIN_DIR = "pretrain"
FREE_BITS_DIR = "fb"


def build(config, dataset):
  from tfvae import models
  return models.VAE(beta=config.beta, objective=config.objective, free_bits=config.fb_lambda,
                    **models.model_arguments(config, dataset))


def validate(config):
  require(config.pretrain_epochs is None or config.pretrain_epochs > 0,
          f"--pretrain_epochs must be a positive integer, got {config.pretrain_epochs}.")


def li2019_stages(config):
  """AE pre-training, then free bits from its encoder (Li et al. 2019).

  The stages live in `<model_dir>/pretrain` and `<model_dir>/fb`; the second
  starts from the first's encoder (`init_encoder_from`), with a decoder
  initialised afresh, and trains with free bits (and the preset's KL
  warm-up). `pretrain_epochs` (default: `epochs`) sets the length of the
  first. Rerunning the command resumes whichever stage was interrupted.
  """
  require(config.model_dir, "--preset=li2019_pretrain_fb needs --model_dir: its two stages are "
          f"written to MODEL_DIR/{PRETRAIN_DIR} and MODEL_DIR/{FREE_BITS_DIR}.")
  require(config.objective == "free_bits" and config.model == "vae",
          "--preset=li2019_pretrain_fb trains --model=vae with --objective=free_bits in its "
          "second stage; drop the other values.")
  pretrain_dir = os.path.join(config.model_dir, PRETRAIN_DIR)
  pretrain = dataclasses.replace(
      config, objective="autoencoder", fb_lambda=None, beta_schedule="constant",
      model_dir=pretrain_dir, epochs=config.pretrain_epochs or config.epochs,
      evaluate_test=False, generated_sentences=0, init_encoder_from=None)
  free_bits = dataclasses.replace(config, model_dir=os.path.join(config.model_dir, FREE_BITS_DIR),
                                  init_encoder_from=pretrain_dir)
  return [pretrain, free_bits]


METHOD = Method(
    name="vae",
    summary="VAE (Kingma and Welling 2014) with the beta, annealing, cyclical, free-bits and "
            "AE pre-training remedies (M1-M6)",
    build=build,
    options=(
        Option("pretrain_epochs", None, "--preset=li2019_pretrain_fb: epochs of the autoencoder "
               "stage (default --epochs).", kind=int),
    ),
    validate=validate,
    flow_posteriors=True,
    objectives=VAE_OBJECTIVES,
    # Spherical latents (M15) train with --objective=elbo (the config refuses the others).
    latent_types=("gaussian", "spherical"),
    vamp_prior=True,
    presets={
        "vae": Preset("VAE (Fang et al. (2019), PTB/Yahoo tables, row 'VAE')", {}),
        "mog_vae": Preset("a VAE with a learned mixture-of-Gaussians prior of 10 components "
                          "(Ding and Gimpel (2021), PTB table, row 'MoG-VAE')",
                          {"prior": "mog", "prior_components": 10}),
        "vamp_vae": Preset("a VAE with the VampPrior over 10 pseudo-inputs (Tomczak and Welling "
                           "2018; Ding and Gimpel (2021), PTB table, row 'Vamp-VAE')",
                           {"prior": "vamp", "prior_components": 10}),
        "beta_vae": Preset("beta-VAE, beta = 0.5 (Fang et al. (2019), PTB table, row "
                           "'beta(0.5)-VAE')",
                           {"beta": 0.5}),
        "kl_anneal": Preset("KL annealing 0.1 -> 1 over 10 epochs (He et al. 2019 settings; "
                            "Li et al. (2019), Yahoo table, row '+ anneal')",
                            {"beta_schedule": "linear", "anneal_start": 0.1,
                             "anneal_epochs": 10.0}),
        "cyclical": Preset("cyclical annealing, 4 cycles, ramp 0.5 (Fu et al. 2019; "
                           "Fang et al. (2019), PTB table, row 'Cyc-VAE')",
                           {"beta_schedule": "cyclical", "cycles": 4, "cycle_ramp": 0.5}),
        "free_bits": Preset("free bits, lambda = 5 unless --fb_lambda (Li et al. (2019), "
                            "Yahoo table, rows 'FBP (lambda)'; FlowPrior table, row 'VAE+FB')",
                            {"objective": "free_bits", "fb_lambda": 5.0}),
        "iaf_fb": Preset("IAF+FB: two IAF steps, free bits of 0.25 nats per dimension on the "
                         "KL of z_T for d = 32 (Shen et al. (2021), table 1, row 'IAF+FB', Yelp)",
                         {"iaf_steps": 2, "objective": "free_bits", "fb_lambda": 8.0}),
        "li2019_pretrain_fb": Preset(
            "AE pre-training, then free bits (lambda = 8 unless --fb_lambda) with the KL term "
            "warmed up from 0 over 10 epochs (Li et al. (2019) and its Yahoo table, row 'Ours "
            "(lambda=8)'; FlowPrior table, row 'Pre-VAE+FB')",
            {"objective": "free_bits", "fb_lambda": 8.0, "beta_schedule": "linear",
             "anneal_start": 0.0, "anneal_epochs": 10.0},
            stages=li2019_stages),
    },
)
