"""Limit cycles against a normal-form oscillator of known period, amplitude and multipliers."""

import math

import torch

from gru_learn.dynamics import find_limit_cycles, integrate, integrate_adaptive
from gru_learn.gru.presets import hopf

MU, OMEGA = 0.5, 2.0


def normal_form(mu: float):
    """dx = mu x - w y - x r^2, dy = w x + mu y - y r^2: a cycle r = sqrt(mu), period 2 pi / w,
    nontrivial Floquet multiplier exp(-2 mu T)."""

    def f(h):
        x, y = h[..., 0], h[..., 1]
        r2 = x * x + y * y
        return torch.stack([mu * x - OMEGA * y - x * r2, OMEGA * x + mu * y - y * r2], dim=-1)

    return f


def test_normal_form_cycle_period_amplitude_and_multipliers():
    starts = torch.tensor([[0.1, 0.0], [1.5, 1.5], [-1.0, 0.3]], dtype=torch.float64)
    cycles = find_limit_cycles(normal_form(MU), starts, dt=0.02, t_transient=30, t_window=10)
    assert len(cycles) == 1
    (c,) = cycles
    period = 2 * math.pi / OMEGA
    assert abs(c.period - period) < 1e-6
    assert abs(c.amplitude - math.sqrt(MU)) < 1e-3
    assert abs(complex(c.floquet_multipliers[0]) - 1) < 1e-6
    assert abs(complex(c.floquet_multipliers[1]) - math.exp(-2 * MU * period)) < 1e-6
    assert c.stable and c.residual < 1e-8


def test_slowly_converging_focus_is_not_a_cycle():
    starts = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    assert find_limit_cycles(normal_form(-0.01), starts, dt=0.05, t_transient=20, t_window=40) == []


def test_rk4_agrees_with_adaptive_solver_on_the_hopf_preset():
    f = hopf(alpha=0.7).vector_field
    h0 = torch.tensor([[0.3, -0.2], [0.01, 0.0]], dtype=torch.float64)
    t, path = integrate(f, h0, 30.0, 0.05, save_every=100)
    ref = integrate_adaptive(f, h0, t)
    assert float((path - ref).abs().max()) < 1e-6


def test_hopf_preset_cycle_appears_below_the_hopf_angle():
    starts = torch.tensor([[0.01, 0.0], [0.9, 0.9]], dtype=torch.float64)
    below = find_limit_cycles(hopf(alpha=0.7).vector_field, starts, dt=0.1,
                              t_transient=150, t_window=80)
    above = find_limit_cycles(hopf(alpha=math.pi / 3).vector_field, starts, dt=0.1,
                              t_transient=150, t_window=80)
    assert len(below) == 1 and below[0].stable and above == []


def test_analysis_of_a_non_gru_field_outside_the_unit_box():
    """FitzHugh-Nagumo (a=0.7, b=0.8, tau=12.5, I=0.5): one unstable fixed point, found by
    the cubic for v, inside a stable relaxation cycle; the box must reach beyond (-1, 1)."""
    from scipy.optimize import brentq

    from gru_learn.dynamics import analyze_vector_field

    a, b, tau, current = 0.7, 0.8, 12.5, 0.5

    def f(h):
        v, w = h[..., 0], h[..., 1]
        return torch.stack([v - v**3 / 3 - w + current, (v + a - b * w) / tau], dim=-1)

    v_star = brentq(lambda v: v - v**3 / 3 - (v + a) / b + current, -3, 3)
    result = analyze_vector_field(f, [(-3.0, 3.0), (-2.0, 3.0)], dt=0.1, t_transient=100,
                                  t_window=120)
    (fp,) = result.fixed_points
    assert abs(float(fp.h[0]) - v_star) < 1e-9 and fp.kind == "unstable_focus"
    (cycle,) = result.limit_cycles
    assert cycle.stable and 30 < cycle.period < 45 and cycle.amplitude > 1.5
    assert result.to_json()["index_sum"] == 1


def van_der_pol(mu: float = 1.0):
    def f(h):
        x, y = h[..., 0], h[..., 1]
        return torch.stack([y, mu * (1 - x * x) * y - x], dim=-1)

    return f


def scipy_vdp_period_and_divergence(mu: float = 1.0) -> tuple[float, float]:
    """Independent reference: DOP853 (rtol 1e-12) from (2, 0), period between the later upward
    crossings of x = 0, and the integral of div f = mu (1 - x^2) over that period."""
    import numpy as np
    from scipy.integrate import solve_ivp

    def rhs(_t, s):
        x, y, _ = s
        return [y, mu * (1 - x * x) * y - x, mu * (1 - x * x)]

    up = lambda _t, s: s[0]  # noqa: E731
    up.direction = 1
    sol = solve_ivp(rhs, (0, 200), [2.0, 0.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-12,
                    events=up, dense_output=True)
    t = sol.t_events[0]
    period = float(t[-1] - t[-2])
    div = float(np.diff(sol.sol(np.array([t[-2], t[-1]]))[2])[0])
    return period, div


def test_van_der_pol_period_and_floquet_multipliers_against_scipy():
    period, div = scipy_vdp_period_and_divergence()
    starts = torch.tensor([[0.1, 0.0], [3.0, 3.0]], dtype=torch.float64)
    cycles = find_limit_cycles(van_der_pol(), starts, dt=0.01, t_transient=40, t_window=20)
    assert len(cycles) == 1 and cycles.candidates == []
    (c,) = cycles
    assert c.converged and c.residual <= 1e-6 * c.amplitude
    assert abs(c.period - period) < 1e-6 * period
    # trivial multiplier 1 (autograd monodromy of the RK4 flow; RK4 error O(dt^4))
    assert abs(complex(c.floquet_multipliers[0]) - 1) < 1e-6
    # Liouville: the product of the multipliers is exp(integral of div f over a period)
    product = complex(c.floquet_multipliers[0] * c.floquet_multipliers[1])
    assert abs(product - math.exp(div)) < 1e-6 * math.exp(div)
    assert c.stable


def test_hopf_preset_trivial_multiplier_through_the_gru():
    starts = torch.tensor([[0.01, 0.0]], dtype=torch.float64)
    (c,) = find_limit_cycles(hopf(alpha=0.7).vector_field, starts, dt=0.05,
                             t_transient=150, t_window=80)
    assert abs(complex(c.floquet_multipliers[0]) - 1) < 1e-6 and c.converged


def test_an_orbit_that_never_closes_is_only_a_candidate():
    """dr/dt = eps, dtheta/dt = 1: every orbit returns eps 2 pi further out, so shooting cannot
    close it: after any time T the radius has grown by eps T, so the residual is >= eps T."""
    eps = 1e-4

    def f(h):
        r = h.norm(dim=-1, keepdim=True)
        rot = torch.stack([-h[..., 1], h[..., 0]], dim=-1)
        return eps * h / r + rot

    starts = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    cycles = find_limit_cycles(f, starts, dt=0.02, t_transient=20, t_window=20)
    assert list(cycles) == []
    (cand,) = cycles.candidates
    assert not cand.converged
    assert cand.residual >= 0.999 * eps * cand.period > 1e-6 * cand.amplitude
