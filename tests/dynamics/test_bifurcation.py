"""Bifurcation values against closed forms and an independent scipy reference."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from gru_learn.dynamics.bifurcation import find_bifurcations, locate_homoclinic
from gru_learn.gru.presets import build_preset, half_stable_bias


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("beta,s", [(3.0, 0.0), (2.0, 1.0)])
def test_hopf_angle_matches_closed_form(beta, s):
    def family(alpha):
        return build_preset("hopf", {"alpha": alpha, "beta": beta, "s": s}).vector_field

    alpha_star = math.acos(1.0 / (sigmoid(s) * beta))
    values = [alpha_star - 0.13, alpha_star - 0.03, alpha_star + 0.07]
    result = find_bifurcations(family, "alpha", values, [(-1, 1), (-1, 1)], homoclinic=False)
    hopfs = [b for b in result.bifurcations if b.kind == "hopf"]
    assert len(hopfs) == 1
    assert abs(hopfs[0].value - alpha_star) < 1e-9
    assert abs(hopfs[0].value - alpha_star) <= hopfs[0].error + 1e-12


def test_one_d_saddle_nodes_at_the_tangency_bias():
    def family(b):
        return build_preset("fig1c", {"b_h": b}).vector_field

    b_star = half_stable_bias(4.0)  # tanh(2 h + b) touches h: closed form
    result = find_bifurcations(family, "b_h", [-0.8, -0.3, 0.3, 0.8], [(-1.0, 1.0)])
    found = sorted(b.value for b in result.bifurcations if b.kind == "saddle_node")
    assert len(found) == 2
    assert abs(found[0] + abs(b_star)) < 1e-6 and abs(found[1] - abs(b_star)) < 1e-6


def _reference_splitting(gamma: float) -> float:
    """Eq 9 written in numpy, integrated by DOP853 at rtol 1e-12: the u-component of the -u
    branch's closest point during its first return into the 0.2-ball around the saddle."""
    c, s = math.cos(math.pi / 20), math.sin(math.pi / 20)
    u_h = 3 * np.array([[c, s], [-s, c]])
    b = np.array([0.32, gamma])

    def f(_t, h):
        return 0.5 * (np.tanh(0.5 * u_h @ h + b) - h)

    def jac(h):
        return 0.5 * ((1 - np.tanh(0.5 * u_h @ h + b) ** 2)[:, None] * 0.5 * u_h - np.eye(2))

    hs = np.array([-0.317, -0.7613])
    for _ in range(50):
        hs = hs - np.linalg.solve(jac(hs), f(0, hs))
    lam, vec = np.linalg.eig(jac(hs))
    k = int(np.argmax(lam.real))
    u = vec[:, k].real / np.linalg.norm(vec[:, k].real)
    left = np.linalg.inv(vec.real)[k] * np.linalg.norm(vec[:, k].real)
    sol = solve_ivp(f, (0, 250), hs - 1e-6 * u, method="DOP853", rtol=1e-12, atol=1e-14,
                    dense_output=True)
    pts = sol.sol(np.linspace(0, sol.t[-1], 200001)).T
    d = np.linalg.norm(pts - hs, axis=1)
    out = int(np.argmax(d > 0.2))
    back = out + int(np.argmax(d[out:] < 0.2))
    rest = d[back:] > 0.2
    leave = back + (int(np.argmax(rest)) if rest.any() else len(rest))
    i = back + int(np.argmin(d[back:leave]))
    return float(left @ (pts[i] - hs))


@pytest.mark.slow
def test_homoclinic_gamma_matches_scipy_reference():
    def family(g):
        return build_preset("homoclinic", {"gamma": g}).vector_field

    import torch

    saddle = torch.tensor([-0.317, -0.7613], dtype=torch.float64)
    value, bracket, _ = locate_homoclinic(family, 0.0541, 0.0542, saddle, 1, dt=0.1, t_max=250)
    reference = brentq(_reference_splitting, 0.0541, 0.0542, xtol=1e-12)
    assert abs(value - reference) < 1e-8
    assert abs(value - 0.054085) < 2e-4  # the paper quotes 0.054085
