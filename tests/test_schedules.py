"""Beta schedules (M2-M4) and the ControlVAE PI controller (M11) against hand values.

The controller is checked against a plain transcription of Algorithm 1 of
Shao et al. (2020) written below, independent of tfvae.schedules.
"""

import math

import numpy as np
import pytest

from tfvae import schedules


# Schedules.
def test_constant():
  schedule = schedules.constant(0.4)
  assert [schedule(t) for t in (0, 1, 10**6)] == [0.4, 0.4, 0.4]
  with pytest.raises(ValueError, match="beta"):
    schedules.constant(-0.1)


def test_linear_anneal_he_et_al():
  schedule = schedules.linear_anneal(0.1, 10)  # 0.1 -> 1 over 10 steps.
  assert schedule(0) == pytest.approx(0.1)
  assert schedule(1) == pytest.approx(0.19)
  assert schedule(5) == pytest.approx(0.55)
  assert schedule(9) == pytest.approx(0.91)
  assert schedule(10) == 1.0
  assert schedule(11) == 1.0
  assert schedule(10**7) == 1.0


def test_linear_anneal_from_zero_and_custom_end():
  schedule = schedules.linear_anneal(0.0, 4, end=0.5)
  assert [schedule(t) for t in range(6)] == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.5])
  assert schedules.linear_anneal(0.0, 0)(0) == 1.0
  assert isinstance(schedule(2), float)


def test_linear_anneal_errors():
  with pytest.raises(ValueError, match="warmup_steps"):
    schedules.linear_anneal(0.0, -1)
  with pytest.raises(ValueError, match="warmup_steps"):
    schedules.linear_anneal(0.0, 2.5)
  with pytest.raises(ValueError, match="start"):
    schedules.linear_anneal(float("nan"), 10)
  with pytest.raises(ValueError, match=">= 0"):
    schedules.linear_anneal(-0.5, 10)
  with pytest.raises(ValueError, match="step"):
    schedules.linear_anneal(0.0, 10)(-1)
  with pytest.raises(ValueError, match="integer step"):
    schedules.linear_anneal(0.0, 10)(1.5)


def test_cyclical_values():
  # 100 steps, 4 cycles of 25 steps, ramp over the first 40% = 10 steps.
  schedule = schedules.cyclical(100, 4, 0.4)
  expected = {0: 0.0, 1: 0.1, 5: 0.5, 9: 0.9, 10: 1.0, 11: 1.0, 24: 1.0,
              25: 0.0, 30: 0.5, 35: 1.0, 49: 1.0, 50: 0.0, 74: 1.0, 75: 0.0, 84: 0.9,
              85: 1.0, 99: 1.0, 100: 1.0, 1000: 1.0}
  for step, beta in expected.items():
    assert schedule(step) == pytest.approx(beta, abs=1e-12), step


def test_cyclical_fractional_cycles_and_range():
  # 10 steps in 3 cycles of 10/3 steps each; full-length ramps (R = 1).
  schedule = schedules.cyclical(10, 3, 1.0)
  # tau(t) = (3 t mod 10) / 10.
  assert [schedule(t) for t in range(10)] == pytest.approx(
      [0.0, 0.3, 0.6, 0.9, 0.2, 0.5, 0.8, 0.1, 0.4, 0.7])
  ranged = schedules.cyclical(20, 2, 0.5, start=0.2, end=0.6)
  assert [ranged(t) for t in (0, 2, 5, 9, 10, 12)] == pytest.approx(
      [0.2, 0.36, 0.6, 0.6, 0.2, 0.36])


def test_cyclical_one_cycle_is_linear_annealing():
  one = schedules.cyclical(50, 1, 0.2)
  linear = schedules.linear_anneal(0.0, 10)
  assert [one(t) for t in range(60)] == pytest.approx([linear(t) for t in range(60)])


@pytest.mark.parametrize("args, match", [
    ((0, 1, 0.5), "total_steps"),
    ((10, 0, 0.5), "num_cycles"),
    ((10, 11, 0.5), "cannot exceed"),
    ((10, 2, 0.0), "ramp_fraction"),
    ((10, 2, 1.5), "ramp_fraction"),
    ((10, 2.0, 0.5), "num_cycles"),
])
def test_cyclical_errors(args, match):
  with pytest.raises(ValueError, match=match):
    schedules.cyclical(*args)


# The PI controller: a plain transcription of Algorithm 1 (Shao et al. 2020).
def algorithm_1(kls, v_kl, kp, ki, beta_min, beta_max, anti_windup="directional"):
  """Betas of Algorithm 1 for a KL sequence.

  anti_windup: "directional" (the library's rule: hold I while the previous
  unclamped output was outside [beta_min, beta_max] and the update would push
  it further out), "saturated" (hold I whenever that output was outside), or
  "none" (the printed test on the clamped beta, which never holds I).
  Returns (betas, number of steps with I held).
  """
  integral = 0.0
  unclamped = beta_min  # P = I = 0 before step 1.
  betas, held = [], 0
  for kl in kls:
    e = v_kl - kl
    p = kp / (1.0 + math.exp(e))
    update = -ki * e
    outside = unclamped < beta_min or unclamped > beta_max
    if anti_windup == "directional":
      hold = (unclamped < beta_min and update < 0) or (unclamped > beta_max and update > 0)
    elif anti_windup == "saturated":
      hold = outside
    else:
      hold = False
    if hold:
      held += 1
    else:
      integral = integral - ki * e
    unclamped = p + integral + beta_min
    beta = unclamped
    if beta > beta_max:
      beta = beta_max
    if beta < beta_min:
      beta = beta_min
    betas.append(beta)
  return betas, held


def run_library(kls, params, state=None):
  state = schedules.initial_state(params) if state is None else state
  betas = []
  for kl in kls:
    state, beta = schedules.pi_step(state, kl, params)
    betas.append(beta)
  return betas, state


def test_pi_trajectory_matches_algorithm_1():
  # Large gains and tight clamps so that both clamps and the anti-windup act.
  params = schedules.PIParams(desired_kl=20.0, kp=0.3, ki=0.02, beta_min=0.1, beta_max=0.6)
  rng = np.random.RandomState(0)
  kls = np.concatenate([rng.uniform(0, 10, 40), rng.uniform(30, 60, 40),
                        rng.uniform(15, 25, 80), rng.uniform(0, 5, 30)])
  expected, held = algorithm_1(kls, 20.0, 0.3, 0.02, 0.1, 0.6)
  assert held > 10, "the sequence must exercise the anti-windup"
  assert min(expected) == 0.1 and max(expected) == 0.6, "both clamps must be reached"
  got, _ = run_library(kls, params)
  np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
  assert all(isinstance(b, float) for b in got)


def test_pi_paper_defaults_first_steps():
  params = schedules.PIParams(desired_kl=schedules.DESIRED_KL_PRESETS[0])
  assert (params.kp, params.ki, params.beta_min, params.beta_max) == (0.01, 0.0001, 0.0, 1.0)
  assert schedules.DESIRED_KL_PRESETS == (15.0, 25.0, 35.0)
  kls = [40.0, 30.0, 18.0, 15.0, 10.0, 2.0, 60.0]
  expected, _ = algorithm_1(kls, 15.0, 0.01, 0.0001, 0.0, 1.0)
  got, _ = run_library(kls, params)
  np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
  # Step 1 by hand: e = -25, P = 0.01 / (1 + e^-25), I = 0.0025.
  assert got[0] == pytest.approx(0.01 / (1 + math.exp(-25)) + 0.0025, rel=1e-12)


def test_pi_controller_wrapper_and_resume():
  params = schedules.PIParams(desired_kl=10.0, kp=0.2, ki=0.01)
  kls = [0.0, 3.0, 25.0, 12.0, 8.0, 40.0, 9.0]
  expected, _ = run_library(kls, params)
  controller = schedules.PIController(params)
  assert controller.beta == 0.0
  assert [controller(kl) for kl in kls] == expected
  assert controller.beta == expected[-1]
  # Resuming from a stored state continues the same trajectory.
  first = schedules.PIController(params)
  for kl in kls[:3]:
    first(kl)
  resumed = schedules.PIController(params, state=tuple(first.state))
  assert [resumed(kl) for kl in kls[3:]] == expected[3:]


def test_anti_windup_releases_beta_min_quickly():
  # 2000 steps with the KL far below the target (beta pinned at beta_min), then
  # the KL far above it. Without anti-windup the integral winds down to
  # -2000 * Ki * 15 = -3 and needs ~300 steps to unwind; with it beta moves at once.
  v_kl, kp, ki = 15.0, 0.01, 0.0001
  kls = [0.0] * 2000 + [115.0] * 1000
  params = schedules.PIParams(desired_kl=v_kl, kp=kp, ki=ki)
  got, state = run_library(kls, params)
  assert max(got[:2000]) <= 1e-12
  release = next(i for i, b in enumerate(got[2000:]) if b > 0.0)
  assert release < 3
  assert state.integral > -0.01
  windup, _ = algorithm_1(kls, v_kl, kp, ki, 0.0, 1.0, anti_windup="none")
  windup_release = next(i for i, b in enumerate(windup[2000:]) if b > 0.0)
  assert windup_release > 200, "the oracle without anti-windup must lag for this test to mean anything"


def test_anti_windup_never_locks_at_beta_max():
  # KL 10 nats above the target climbs I by 0.001 a step; near beta_max a KL
  # spike pushes I past beta_max - beta_min. Freezing on saturation alone then
  # holds beta at beta_max for ever, however low the KL falls; the library's
  # directional rule lets the integral unwind.
  v_kl, kp, ki = 15.0, 0.01, 0.0001
  kls = [25.0] * 985 + [215.0] + [0.0] * 300
  locked, _ = algorithm_1(kls, v_kl, kp, ki, 0.0, 1.0, anti_windup="saturated")
  assert locked[985] == 1.0 and all(b == 1.0 for b in locked[985:])
  got, _ = run_library(kls, schedules.PIParams(desired_kl=v_kl, kp=kp, ki=ki))
  assert got[985] == 1.0
  assert got[995] < 1.0
  assert got[-1] < 0.6


def test_pi_clamps_respected():
  params = schedules.PIParams(desired_kl=5.0, kp=2.0, ki=0.5, beta_min=0.2, beta_max=0.5)
  kls = np.random.RandomState(1).exponential(10.0, size=500)
  got, _ = run_library(kls, params)
  assert min(got) == 0.2 and max(got) == 0.5
  assert all(0.2 <= b <= 0.5 for b in got)


def test_pi_large_error_does_not_overflow():
  # e = 1e6 would overflow a naive exp(e); P must vanish smoothly.
  params = schedules.PIParams(desired_kl=1e6, kp=0.01, ki=0.0, beta_min=0.05)
  state, beta = schedules.pi_step(schedules.initial_state(params), 0.0, params)
  assert beta == 0.05 and state == (0.0, 0)
  # e = -1e9: P = Kp.
  params = schedules.PIParams(desired_kl=15.0, kp=0.01, ki=0.0)
  _, beta = schedules.pi_step(schedules.initial_state(params), 1e9, params)
  assert beta == pytest.approx(0.01, rel=1e-12)
  with pytest.raises(ValueError, match="finite"):
    schedules.pi_step(schedules.initial_state(params), float("nan"), params)


def test_pi_params_errors():
  with pytest.raises(ValueError, match="beta_min"):
    schedules.PIParams(desired_kl=15.0, beta_min=0.8, beta_max=0.5)
  with pytest.raises(ValueError, match="kp"):
    schedules.PIParams(desired_kl=15.0, kp=-0.01)
  with pytest.raises(ValueError, match="desired_kl"):
    schedules.PIParams(desired_kl=float("inf"))
