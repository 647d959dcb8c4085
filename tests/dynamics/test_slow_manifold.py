"""The slow manifold read whole, against fields whose answer is known in closed form
(tests/dynamics/ring_fields.py): a ring r = 1 with the flow eps sin(k theta) along it (2k fixed
points on it, ||phi||_inf = eps, capacity log2 k bits) in 2-D and embedded in 16 and 64
dimensions, a ring broken by fast stretches (two arcs, never closed), a line along a known
direction, and the memory error of the exact flow against its closed-form drift."""

import math

import pytest
import torch

from gru_learn.dynamics import find_continuous_attractors, find_fixed_points
from gru_learn.dynamics.integrate import integrate
from gru_learn.dynamics.memory import memory_errors, memory_time, variable_of
from tests.dynamics.ring_fields import (
    broken_ring,
    sine_ring,
    sine_ring_angle,
    sloped_line,
)

EPS, K = 0.01, 4


@pytest.mark.parametrize("d", [2, 16, 64])
def test_a_slow_ring_comes_out_whole_with_its_points_speed_and_capacity(d):
    f, q = sine_ring(EPS, K, d)
    box = [(-1.5, 1.5)] * d
    found = find_continuous_attractors(f, box)
    assert [m.kind for m in found] == ["ring"]
    (m,) = found
    assert m.closed and m.attracting
    assert abs(m.extent - 2 * math.pi) < 0.02 * 2 * math.pi
    x = m.points @ q
    assert float((x[:, :2].norm(dim=-1) - 1).abs().max()) < 1e-3
    along = m.along
    # ||phi||_inf = eps: the largest speed along the circle (r = 1)
    assert abs(along["phi_inf"] - EPS) < 0.03 * EPS
    # the flow along it has k stable and k unstable zeros, at theta = (2j+1) pi/k and 2j pi/k
    assert along["stable_along"] == K and along["unstable_along"] == K
    theta = [2 * math.pi * z["s"] for z in along["zeros"]]  # s in arc length of the spline
    pts = m.curve.spline([z["s"] for z in along["zeros"]])
    xy = torch.as_tensor(pts) @ q[:, :2]
    angles = torch.atan2(xy[:, 1], xy[:, 0]) % (2 * math.pi)
    for a, z in zip(angles.tolist(), along["zeros"], strict=True):
        j = a * K / math.pi  # even for unstable, odd for stable zeros
        assert abs(j - round(j)) < 0.05
        assert (round(j) % 2 == 1) == (z["kind_along"] == "stable")
    assert len(theta) == 2 * K
    # k equal basins: log2 k bits
    assert abs(along["capacity_bits"] - math.log2(K)) < 0.02
    # normally hyperbolic: transverse rate (-2 radial, -1 elsewhere) against |k eps| along
    nh = along["normal_hyperbolicity"]
    assert nh["normally_hyperbolic"] and nh["along_max"] < 2 * K * EPS
    assert abs(nh["transverse_max"] - (-2.0 if d == 2 else -1.0)) < 0.05


def test_fixed_points_on_the_ring_have_kinds_along_and_across():
    f, _ = sine_ring(EPS, K)
    box = [(-1.5, 1.5)] * 2
    fixed = find_fixed_points(f, box)
    (m,) = find_continuous_attractors(f, box, fixed=fixed)
    kinds = m.along["fixed_points"]
    assert len(kinds) == 2 * K  # every fixed point on the circle, not the source at 0
    for p in kinds:
        h = fixed.fixed_points[p["index"]].h
        theta = float(torch.atan2(h[1], h[0])) % (2 * math.pi)
        stable = round(theta * K / math.pi) % 2 == 1
        assert p["kind_along"] == ("stable" if stable else "unstable")
        assert p["kind_across"] == "attracting" and abs(p["rate_across"] + 2) < 1e-3
        assert abs(abs(p["rate_along"]) - K * EPS) < 1e-3  # d/dtheta eps sin(k theta) = +-k eps


def test_a_ring_broken_by_fast_stretches_is_two_arcs_not_a_ring():
    f, _ = broken_ring()
    found = find_continuous_attractors(f, [(-1.5, 1.5)] * 2)
    assert [m.kind for m in found] == ["line", "line"]
    assert not any(m.closed for m in found)
    for m in found:  # each arc lies around theta = +-pi/2, away from the fast stretches at 0, pi
        theta = torch.atan2(m.points[:, 1], m.points[:, 0])
        assert float(torch.cos(theta).abs().max()) < 0.9


def test_a_line_along_a_known_direction():
    slope, drift = 0.5, 0.01
    f, direction = sloped_line(slope, drift, d=16)
    (m,) = find_continuous_attractors(f, [(-1.0, 1.0)] * 16)
    assert m.kind == "line" and not m.closed
    ends = m.points[[0, -1]]
    chord = (ends[1] - ends[0]) / (ends[1] - ends[0]).norm()
    assert abs(abs(float(chord @ direction)) - 1) < 1e-3  # along (1, slope) in its plane
    # speed along it is drift * |s|: the largest at the end farthest from 0
    s_max = float((m.points @ direction).abs().max())
    assert abs(m.along["phi_inf"] - drift * s_max) < 0.05 * drift * s_max
    assert m.along["stable_along"] == 0 and m.along["unstable_along"] == 1  # s = 0 repels


def test_memory_error_of_the_sine_ring_matches_its_closed_form():
    f, _ = sine_ring(EPS, K)
    (m,) = find_continuous_attractors(f, [(-1.5, 1.5)] * 2)
    curve = m.curve
    steps = [10, 100, 1000]
    dt = 0.1

    def run(w0, k):
        _, path = integrate(f, w0, k * dt, dt / 4, save_every=4)
        return path[1:].transpose(0, 1)

    got = memory_errors(run, curve, steps, n_starts=72)
    # the same starts, moved by the closed form
    s0 = torch.arange(72, dtype=torch.float64) / 72
    w0 = torch.as_tensor(curve.spline(s0.numpy()))
    theta0 = torch.atan2(w0[:, 1], w0[:, 0])
    for i, k in enumerate(steps):
        drift = (sine_ring_angle(theta0, EPS, K, k * dt) - theta0).abs()
        assert abs(got["median_error"][i] - float(drift.median())) < 0.01
        assert abs(got["max_error"][i] - float(drift.max())) < 0.01
        assert got["max_error"][i] <= EPS * k * dt + 0.01  # the bound t ||phi||_inf
    assert got["median_error"][-1] > 0.3  # after 100 time units the angle is lost
    # the variable of a state on the curve is its angle (up to the spline's start)
    v = variable_of(curve, w0)
    assert float(((v - 2 * math.pi * s0 + math.pi) % (2 * math.pi) - math.pi).abs().max()) < 0.01
    assert memory_time(steps, got["median_error"], 0.1) == steps[-1]
    # the hold from the value at step 100, against the closed form moved from there
    hold = memory_errors(run, curve, steps, n_starts=72, settled=100)["median_hold"]
    at = {k: sine_ring_angle(theta0, EPS, K, k * dt) for k in (100, 1000)}
    d = (at[1000] - at[100]).abs()
    assert hold[0] == hold[1] == 0.0 and abs(hold[2] - float(d.median())) < 0.01
    assert hold[2] > 0.1  # the flow moves it: the test can tell a hold from none


def test_memory_time_reads_the_hold_not_the_encoding_error():
    """A network that writes the start in 0.2 rad off and moves 0.15 rad in its first steps
    onto its manifold, but then holds it, has no memory time within the run (held); one whose
    value drifts from its value at one horizon past 0.1 rad at step 300 has 300."""
    from gru_learn.analysis.memory import _summary

    class Ring:
        closed, length = True, 2 * math.pi

    steps = [1, 5, 29, 100, 290, 300, 2900]
    offset = {"steps": steps, "median_error": [0.2] * 7, "max_error": [0.3] * 7,
              "median_drift": [0.0, 0.15, 0.15, 0.15, 0.16, 0.16, 0.17], "max_drift": [0.2] * 7,
              "median_hold": [0.0, 0.0, 0.0, 0.01, 0.02, 0.02, 0.05]}
    assert _summary(offset, Ring(), 29, 1.0)["memory_time"] is None
    assert _summary(offset, Ring(), 29, 1.0)["error_time"] == 1  # the error's reading
    drifting = {**offset, "median_error": [0.01] * 7,
                "median_hold": [0.0, 0.0, 0.0, 0.05, 0.09, 0.12, 0.5]}
    assert _summary(drifting, Ring(), 29, 1.0)["memory_time"] == 300
