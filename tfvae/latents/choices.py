"""The names of latent types and priors, without TensorFlow (the run config checks them)."""

# Gaussian latents (N(0, I) prior by default), categorical one-hot codes
# (uniform prior; Melis et al. (2022), M24) or unit vectors on the sphere
# (uniform prior; Xu and Durrett (2018), M15).
LATENT_TYPES = ("gaussian", "categorical", "spherical")
# `--prior`: N(0, I) and uniform (over codes, or on the sphere) are the families'
# own priors; learned: "mog" a mixture of Gaussians, "vamp" the VampPrior (M13)
# and "flow" a RealNVP flow (M12), over continuous latents.
PRIORS = ("standard_normal", "uniform", "mog", "vamp", "flow")
