"""ControlVAE: a VAE whose KL weight follows a PI controller (METHODS.md M11).

Shao et al. (2020), "ControlVAE: Controllable Variational Autoencoder",
Algorithm 1: after each step a non-linear PI controller compares the observed
KL(q(z|x)||p(z)) with a desired value and sets beta for the next step. The
model trains exactly like `VAE` (loss = recon + beta * KL); it only adds the
controller's settings and its state. The state lives in non-trainable scalar
weights, so checkpoints save it and a resumed run continues the same beta
trajectory; the `KLController` callback advances it.
"""

import math

import keras

from tfvae import schedules
from tfvae.errors import TrainingDivergedError
from tfvae.models.vae import VAE

__all__ = ["ControlVAE", "KLController"]


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


class KLController(keras.callbacks.Callback):
  """Drives beta of a `ControlVAE` with the PI controller (Shao et al. 2020, Alg. 1; M11).

  After every training step it reads the step's global-batch mean KL
  (`model.batch_kl`), advances `schedules.pi_step` from the state held in the
  model's controller weights, writes the new state back and assigns beta(t) to
  `model.beta`. Because state and beta live in model weights, checkpoints carry
  them and a resumed run continues the same trajectory.

  One-step lag: in Algorithm 1 beta(t) weights the KL of the same step t whose
  KL it was computed from; a Keras callback runs between steps, so here beta(t)
  computed from step t's KL weights the loss of step t+1 (step 1 uses the
  initial beta_min). The trajectory is Algorithm 1's, shifted by one step.

  Args:
    params: the `schedules.PIParams`; default: the model's `controller_params`.
  """

  def __init__(self, params=None):
    super().__init__()
    self.controller_params = params  # Not `params`: Keras sets that to the fit settings.

  def on_train_batch_end(self, batch, logs=None):
    model = self.model
    params = self.controller_params or model.controller_params
    observed_kl = float(keras.ops.convert_to_numpy(model.batch_kl))
    if not math.isfinite(observed_kl):
      step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
      raise TrainingDivergedError(
          f"The KL became {observed_kl} at step {step}; the KL controller cannot continue. "
          "Lower --learning_rate or set --grad_clip_norm.")
    state, beta = schedules.pi_step(model.controller_state, observed_kl, params)
    model.set_controller_state(state)
    model.beta.assign(beta)
