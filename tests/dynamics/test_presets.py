"""Presets: the 1-D topologies of Fig 1, parameter validation, and the Eq 8 / Eq 9 weights."""

import math

import pytest
import torch

from gru_learn.dynamics import classify_1d
from gru_learn.errors import UserError
from gru_learn.gru.presets import PRESETS, build_preset, half_stable_bias


@pytest.mark.parametrize("name,label,kinds", [
    ("fig1a", "A", ["stable"]),
    ("fig1b", "B", ["stable", "half_stable"]),
    ("fig1c", "C", ["stable", "unstable", "stable"]),
])
def test_one_d_presets_have_the_fig1_topologies(name, label, kinds):
    topo = classify_1d(build_preset(name).vector_field)
    assert topo.label == label and topo.kinds == kinds


def test_half_stable_node_sits_where_derived():
    topo = classify_1d(build_preset("fig1b").vector_field)
    assert abs(topo.roots[1] - math.sqrt(0.5)) < 1e-6  # h* = sqrt(1 - 1/a), a = 2
    # just past the tangency the half-stable node splits into two (C) or vanishes (A)
    b = half_stable_bias(4.0)
    assert classify_1d(build_preset("fig1b", {"b_h": b + 1e-3}).vector_field).label == "C"
    assert classify_1d(build_preset("fig1b", {"b_h": b - 1e-3}).vector_field).label == "A"


def test_presets_are_float64_paper_convention_cells():
    for name in PRESETS:
        cell = build_preset(name)
        assert cell.reset == "before" and cell.weight_hh.dtype == torch.float64


def test_eq8_vector_field_matches_its_closed_form():
    alpha, beta, s = 0.7, 2.5, 0.4
    h = torch.tensor([[0.3, -0.5], [0.9, 0.1]], dtype=torch.float64)
    c, si = math.cos(alpha), math.sin(alpha)
    u = beta / (1 + math.exp(-s)) * torch.tensor([[c, -si], [si, c]], dtype=torch.float64)
    expected = 0.5 * (torch.tanh(h @ u.T) - h)
    got = build_preset("hopf", {"alpha": alpha, "beta": beta, "s": s}).vector_field(h)
    assert torch.allclose(got.detach(), expected, atol=1e-15)


def test_unknown_preset_or_parameter_is_a_user_error():
    with pytest.raises(UserError):
        build_preset("nope")
    with pytest.raises(UserError):
        build_preset("hopf", {"gamma": 1.0})


def test_cluster_bias_gives_the_stated_separation():
    from scipy.optimize import brentq

    from gru_learn.gru.presets import B_CLUSTER, cluster_bias

    assert abs(cluster_bias(4.0, 1e-4) - B_CLUSTER) < 1e-15
    # the two roots of tanh(2 h + b) - h around sqrt(1/2), by scipy in float64
    g = lambda h: math.tanh(2 * h + B_CLUSTER) - h  # noqa: E731
    c = math.sqrt(0.5)  # the tangency point: g > 0 there, g < 0 a little either side
    lo = brentq(g, c - 1e-3, c, xtol=1e-15)
    hi = brentq(g, c, c + 1e-3, xtol=1e-15)
    assert abs((hi - lo) - 1e-4) < 1e-9


def test_decoupled_saddle_nodes_sit_where_derived():
    from gru_learn.dynamics import find_fixed_points
    from gru_learn.dynamics.stability import saddle_node_kind

    res = find_fixed_points(build_preset("fig3_saddle_nodes").vector_field, [(-1.0, 1.0)] * 2)
    sn = [(p.h.tolist(), saddle_node_kind(p.eigenvalues)) for p in res.fixed_points
          if saddle_node_kind(p.eigenvalues)]
    y_star = 0.9575040240772687  # tanh(2 y) = y, y > 0
    assert sorted(k for _, k in sn) == [1, 1, 2]
    for (x, y), kind in sn:
        assert abs(x - math.sqrt(0.5)) < 1e-6  # the half-stable root, closed form
        assert abs(abs(y) - (y_star if kind == 1 else 0.0)) < 1e-9
