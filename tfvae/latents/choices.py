"""The names of latent types and priors and the limits of the Poincare ball, without
TensorFlow (the run config checks them)."""

# Gaussian latents (N(0, I) prior by default), categorical one-hot codes
# (uniform prior; Melis et al. (2022), M24) or unit vectors on the sphere
# (uniform prior; Xu and Durrett (2018), M15).
LATENT_TYPES = ("gaussian", "categorical", "spherical")
# `--prior`: N(0, I) and uniform (over codes, or on the sphere) are the families'
# own priors; learned: "mog" a mixture of Gaussians, "vamp" the VampPrior (M13)
# and "flow" a RealNVP flow (M12), over continuous latents.
PRIORS = ("standard_normal", "uniform", "mog", "vamp", "flow")

# The largest c * d the launchers accept for Poincare latents. A sample of the
# prior WN_c(0, I) is z = exp_0(v), v ~ N(0, I_d), with
# 1 - sqrt(c) ||z|| = 1 - tanh(sqrt(c) ||v||) ~ 2 exp(-2 sqrt(c d)): 7e-4 at
# c d = 16, but 2e-5 at c d = 32 (c = 1, d = 32), where a quarter of the
# prior's samples reach float32's BOUNDARY_MARGIN of `tfvae.latents.poincare` (1e-5) and are clipped.
MAX_CURVATURE_TIMES_DIM = 16.0


def default_curvature(latent_dim):
  """c = min(1, 8 / d): the prior's samples keep 1 - sqrt(c) ||z|| near 7e-3 or more."""
  return min(1.0, 8.0 / latent_dim)
