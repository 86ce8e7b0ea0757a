"""The names of the objectives and estimators: the one list each, read without TensorFlow.

The run configuration, the method registry and the flags check names against
these before TensorFlow is imported; the objective modules take theirs from
here.
"""

# Objectives of `models.VAE` (METHODS.md M1-M6).
VAE_OBJECTIVES = ("elbo", "free_bits", "autoencoder")
# Melis et al. (2022): the KL (eq. 11), Renyi (eq. 15) and power (eq. 18) objectives.
MI_OBJECTIVES = ("kl", "renyi", "power")
# Base estimators of ln p(x) and its gradient (METHODS.md M23).
REPARAMETERISED_ESTIMATORS = ("elbo", "iwae", "stl", "dreg")
SCORE_FUNCTION_ESTIMATORS = ("reinforce", "vimco")
ESTIMATORS = REPARAMETERISED_ESTIMATORS + SCORE_FUNCTION_ESTIMATORS
