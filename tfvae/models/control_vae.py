"""ControlVAE: a VAE whose KL weight follows a PI controller (METHODS.md M11).

Shao et al. (2020), "ControlVAE: Controllable Variational Autoencoder",
Algorithm 1 (paper 000): after each step a non-linear PI controller compares
the observed KL(q(z|x)||p(z)) with a desired value and sets beta for the next
step. The model trains exactly like `VAE` (loss = recon + beta * KL); it only
adds the controller's settings and its state. The state lives in non-trainable
scalar weights, so checkpoints save it and a resumed run continues the same
beta trajectory; `tfvae.training.callbacks.KLController` advances it.
"""

import keras

from tfvae import schedules
from tfvae.models.vae import VAE

__all__ = ["ControlVAE"]


class ControlVAE(VAE):
  """A `VAE` that owns the state of the ControlVAE PI controller.

  Args:
    encoder, decoder, latent_dim: as for `VAE`.
    desired_kl: v_kl, the target KL in nats (15, 25 or 35 in the paper's text
      experiments; see `schedules.DESIRED_KL_PRESETS`).
    kp, ki: the controller gains K_p and K_i (paper, text: 0.01 and 0.0001).
    beta_min, beta_max: the clamps of beta (paper, text: 0 and 1).
    **kwargs: passed to `VAE` (seed, grad_clip_norm, name, ...); beta starts at
      the clamped beta(0) = beta_min and cannot be given.

  Attributes:
    controller_params: the `schedules.PIParams`.
    controller_integral: weight holding I(t), the integral term.
    controller_saturation: weight holding the sign of the last unclamped
      output's excursion: +1 above beta_max, -1 below beta_min, 0 inside (the
      anti-windup reads it).
  """

  def __init__(self, encoder, decoder, latent_dim, *, desired_kl, kp=0.01, ki=0.0001,
               beta_min=0.0, beta_max=1.0, **kwargs):
    if "beta" in kwargs:
      raise ValueError("ControlVAE sets beta itself; do not pass beta.")
    params = schedules.PIParams(desired_kl=desired_kl, kp=kp, ki=ki, beta_min=beta_min,
                                beta_max=beta_max)
    super().__init__(encoder, decoder, latent_dim, beta=params.beta_min, **kwargs)
    self.controller_params = params
    start = schedules.initial_state(params)
    self.controller_integral = self.add_state("controller_integral", float(start.integral))
    self.controller_saturation = self.add_state("controller_saturation",
                                                float(start.saturation))

  @property
  def controller_state(self):
    """The stored `schedules.PIState` as Python numbers."""
    return schedules.PIState(
        integral=float(keras.ops.convert_to_numpy(self.controller_integral)),
        saturation=round(float(keras.ops.convert_to_numpy(self.controller_saturation))))

  def set_controller_state(self, state):
    """Writes a `schedules.PIState` into the controller weights."""
    self.controller_integral.assign(state.integral)
    self.controller_saturation.assign(float(state.saturation))
