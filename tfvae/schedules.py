"""KL-weight (beta) schedules and the ControlVAE PI controller (METHODS.md M2-M4, M11).

Schedules map the global training step (0 for the first step, the value of
`optimizer.iterations` before the step runs) to a Python float beta:

  constant        beta-VAE (M2; Higgins et al. 2017): one fixed beta.
  linear_anneal   KL annealing (M3): beta rises linearly from `start` to `end`
                  over `warmup_steps`, then stays at `end` (Bowman et al. 2016
                  start from 0; He et al. 2019 anneal 0.1 -> 1 over 10 epochs).
  cyclical        cyclical annealing (M4; Fu et al. 2019, eq. 6): the run is cut
                  into equal cycles and beta ramps up inside each one.

The controller is the non-linear PI controller of ControlVAE (M11; Shao et al.
2020, Algorithm 1 "PI algorithm"): it feeds back the observed KL and steers
beta so that the KL settles at a desired value. Its state is two numbers
(`PIState`), kept explicit so that a model can store it in checkpointed
weights; `pi_step` is a pure function of (state, observed KL, params), and
`PIController` a small stateful wrapper around it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable, NamedTuple

__all__ = [
    "DESIRED_KL_PRESETS",
    "PIController",
    "PIParams",
    "PIState",
    "constant",
    "cyclical",
    "initial_state",
    "linear_anneal",
    "pi_step",
]

Schedule = Callable[[int], float]

# Desired KL values (nats) of the ControlVAE language-modelling experiments.
DESIRED_KL_PRESETS = (15.0, 25.0, 35.0)


# Schedules.
def _check_step(step) -> int:
  if not isinstance(step, numbers.Integral) or isinstance(step, bool):
    raise ValueError(f"A schedule takes an integer step, got {step!r}.")
  if step < 0:
    raise ValueError(f"The step must be >= 0, got {step}.")
  return int(step)


def _check_finite(name, value) -> float:
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise ValueError(f"{name} must be a real number, got {value!r}.")
  if not math.isfinite(value):
    raise ValueError(f"{name} must be finite, got {value}.")
  return float(value)


def _check_count(name, value, minimum) -> int:
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
  return int(value)


def constant(beta: float) -> Schedule:
  """beta-VAE (Higgins et al. 2017; METHODS.md M2): the same beta at every step."""
  beta = _check_finite("beta", beta)
  if beta < 0:
    raise ValueError(f"beta must be >= 0, got {beta}.")

  def schedule(step):
    _check_step(step)
    return beta

  return schedule


def linear_anneal(start: float, warmup_steps: int, end: float = 1.0) -> Schedule:
  """KL annealing (METHODS.md M3): a linear ramp from `start` to `end`, then flat.

  beta(t) = start + (end - start) * min(t / warmup_steps, 1), so beta(0) = start
  and beta(t) = end from t = warmup_steps on. Bowman et al. (2016) ramp from 0;
  He et al. (2019) from 0.1 to 1 over the first 10 epochs. warmup_steps = 0
  gives `end` at every step.
  """
  start = _check_finite("start", start)
  end = _check_finite("end", end)
  warmup_steps = _check_count("warmup_steps", warmup_steps, 0)
  if start < 0 or end < 0:
    raise ValueError(f"start and end must be >= 0, got start={start}, end={end}.")

  def schedule(step):
    step = _check_step(step)
    if step >= warmup_steps:
      return end
    return start + (end - start) * step / warmup_steps

  return schedule


def cyclical(total_steps: int, num_cycles: int, ramp_fraction: float, start: float = 0.0,
             end: float = 1.0) -> Schedule:
  """Cyclical annealing (Fu et al. 2019, eq. 6 with a linear f; METHODS.md M4).

  The `total_steps` steps are cut into `num_cycles` cycles of equal (possibly
  fractional) length L = total_steps / num_cycles. With tau(t) = (t mod L) / L
  the position of step t in its cycle, computed exactly as
  ((t * num_cycles) mod total_steps) / total_steps,

    beta(t) = start + (end - start) * min(tau(t) / ramp_fraction, 1),

  i.e. beta climbs linearly from `start` (0 in the paper) to `end` (1) over the
  first `ramp_fraction` (R) of every cycle and then stays at `end`. From
  `total_steps` on, beta stays at `end`.
  """
  total_steps = _check_count("total_steps", total_steps, 1)
  num_cycles = _check_count("num_cycles", num_cycles, 1)
  if num_cycles > total_steps:
    raise ValueError(f"num_cycles ({num_cycles}) cannot exceed total_steps ({total_steps}).")
  ramp_fraction = _check_finite("ramp_fraction", ramp_fraction)
  if not 0 < ramp_fraction <= 1:
    raise ValueError(f"ramp_fraction must lie in (0, 1], got {ramp_fraction}.")
  start = _check_finite("start", start)
  end = _check_finite("end", end)
  if start < 0 or end < 0:
    raise ValueError(f"start and end must be >= 0, got start={start}, end={end}.")

  def schedule(step):
    step = _check_step(step)
    if step >= total_steps:
      return end
    tau = (step * num_cycles % total_steps) / total_steps
    return start + (end - start) * min(tau / ramp_fraction, 1.0)

  return schedule


# The ControlVAE PI controller.
@dataclasses.dataclass(frozen=True)
class PIParams:
  """Settings of the ControlVAE PI controller (Shao et al. 2020, Algorithm 1).

  Attributes:
    desired_kl: v_kl, the KL (nats) the controller steers towards; the paper's
      language-modelling runs use 15, 25 or 35 (`DESIRED_KL_PRESETS`).
    kp: K_p, the gain of the sigmoid-shaped P term (paper: 0.01 for text).
    ki: K_i, the gain of the I term (paper: 0.0001 for text).
    beta_min, beta_max: the clamps of beta (paper: 0 and 1 for text).
  """
  desired_kl: float
  kp: float = 0.01
  ki: float = 0.0001
  beta_min: float = 0.0
  beta_max: float = 1.0

  def __post_init__(self):
    for name in ("desired_kl", "kp", "ki", "beta_min", "beta_max"):
      value = _check_finite(name, getattr(self, name))
      if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
      object.__setattr__(self, name, value)
    if self.beta_min > self.beta_max:
      raise ValueError(f"beta_min ({self.beta_min}) must not exceed beta_max ({self.beta_max}).")


class PIState(NamedTuple):
  """What the controller carries from one step to the next.

  Attributes:
    integral: I(t-1), the integral term.
    saturation: where the previous *unclamped* output u(t-1) = P(t-1) + I(t-1)
      + beta_min lay: +1 above beta_max, -1 below beta_min, 0 inside. The
      anti-windup needs only this sign. Storing the sign rather than u itself
      keeps the decision exact when the state lives in float32 weights (u =
      beta_min rounded to float32 can fall just below beta_min).
  """
  integral: float
  saturation: int


def initial_state(params: PIParams) -> PIState:
  """I(0) = 0, not saturated.

  Algorithm 1 starts from beta(0) = 0, i.e. beta_min for the paper's beta_min
  = 0; with P = I = 0 the unclamped output is beta_min, inside the range.
  """
  del params  # The start does not depend on the settings.
  return PIState(integral=0.0, saturation=0)


def _saturation(output: float, params: PIParams) -> int:
  if output > params.beta_max:
    return 1
  if output < params.beta_min:
    return -1
  return 0


def _proportional(kp: float, error: float) -> float:
  """P(t) = K_p / (1 + exp(e(t))), in a form whose exp never overflows."""
  if error >= 0:
    decay = math.exp(-error)  # In (0, 1]; underflows harmlessly to 0.
    return kp * decay / (1.0 + decay)
  return kp / (1.0 + math.exp(error))


def _integral_frozen(saturation: int, increment: float) -> bool:
  """Anti-windup: hold I while the last output was saturated in the increment's direction."""
  return (saturation > 0 and increment > 0) or (saturation < 0 and increment < 0)


def pi_step(state: PIState, observed_kl: float, params: PIParams) -> tuple[PIState, float]:
  """One step of the ControlVAE PI controller (Shao et al. 2020, Algorithm 1).

  With the observed KL v_hat(t):

    e(t)    = v_kl - v_hat(t)
    P(t)    = K_p / (1 + exp(e(t)))
    I(t)    = I(t-1) - K_i e(t)        (held at I(t-1) by the anti-windup)
    beta(t) = clamp(P(t) + I(t) + beta_min, beta_min, beta_max)

  A KL above the target (e < 0) raises P and I, so beta grows and squeezes the
  KL; a KL below it lowers beta and lets the KL grow.

  Anti-windup, a deliberate deviation from the printed algorithm. Algorithm 1
  freezes I unless beta_min <= beta(t-1) <= beta_max, but tests the *clamped*
  beta(t-1), which always lies in that range, so as printed the integral is
  never frozen (the authors' released code tests a condition that can never
  hold, so it never freezes either). The intent is the usual one: stop the
  integral winding up while the actuator is saturated. Here saturation is
  judged on the previous *unclamped* output u(t-1) = P(t-1) + I(t-1) + beta_min
  (its side is `state.saturation`), and I is held only when the update would
  push u further out: u(t-1) > beta_max with -K_i e(t) > 0, or u(t-1) < beta_min
  with -K_i e(t) < 0. Updates that pull u back towards the range still apply.
  Freezing on saturation alone, whatever the sign of e, can lock beta at a
  clamp for good: P lies in (0, K_p), so once a last update has left I below
  -K_p (or above beta_max - beta_min), no later P can bring u back into range
  and the frozen integral is never released.

  Args:
    state: the `PIState` after step t-1 (`initial_state(params)` before step 1).
    observed_kl: v_hat(t), the KL measured at step t (a finite float).
    params: a `PIParams`.

  Returns:
    (the `PIState` after step t, beta(t) as a Python float).

  Raises:
    ValueError: if observed_kl is not finite (it would corrupt the stored state).
  """
  observed_kl = float(observed_kl)
  if not math.isfinite(observed_kl):
    raise ValueError(f"The observed KL must be finite, got {observed_kl}.")
  error = params.desired_kl - observed_kl
  proportional = _proportional(params.kp, error)
  increment = -params.ki * error
  integral = state.integral
  if not _integral_frozen(int(state.saturation), increment):
    integral += increment
  output = proportional + integral + params.beta_min
  beta = min(max(output, params.beta_min), params.beta_max)
  return PIState(integral=integral, saturation=_saturation(output, params)), beta


class PIController:
  """Stateful wrapper of `pi_step`: call it with each step's KL to get the next beta.

  Args:
    params: a `PIParams`.
    state: the `PIState` to resume from (default `initial_state(params)`).
  """

  def __init__(self, params: PIParams, state: PIState | None = None):
    self.params = params
    self.state = initial_state(params) if state is None else PIState(*state)
    self.beta = params.beta_min if state is None else None  # beta(0); unknown on resume.

  def __call__(self, observed_kl: float) -> float:
    """Advances one step on the observed KL; returns beta(t)."""
    self.state, self.beta = pi_step(self.state, observed_kl, self.params)
    return self.beta
