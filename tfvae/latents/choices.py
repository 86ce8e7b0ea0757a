"""The names of latent types and priors, without TensorFlow (the run config checks them)."""

# Gaussian latents (N(0, I) prior by default) or categorical one-hot codes
# (uniform prior; Melis et al. (2022), M24).
LATENT_TYPES = ("gaussian", "categorical")
# `--prior`: N(0, I) and uniform are the families' own priors; "mog" a learned
# mixture of Gaussians over Gaussian latents (METHODS.md M13).
PRIORS = ("standard_normal", "uniform", "mog")
