"""Fixed points and their kinds against hand-derived values."""

import math

import pytest
import torch
from scipy.optimize import brentq

from gru_learn.dynamics import classify, find_fixed_points
from gru_learn.gru import GRUCell
from gru_learn.presets import bistable_pair, hopf

BOX = [(-1.0, 1.0), (-1.0, 1.0)]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_bistable_pair_has_nine_points_of_the_derived_kinds():
    cell = bistable_pair(gain=4.0)
    result = find_fixed_points(cell.vector_field, BOX, step=lambda h: cell(None, h))
    # each unit solves h = tanh(2 h): roots 0 and +-h_star
    h_star = brentq(lambda h: math.tanh(2 * h) - h, 0.5, 1.0, xtol=1e-15)
    expected = sorted((a, b) for a in (-h_star, 0.0, h_star) for b in (-h_star, 0.0, h_star))
    got = sorted(tuple(round(x, 12) for x in p.h.tolist()) for p in result.fixed_points)
    assert len(got) == 9
    for (a, b), (c, d) in zip(expected, got, strict=False):
        assert abs(a - c) < 1e-9 and abs(b - d) < 1e-9
    kinds = [p.kind for p in result.fixed_points]
    assert kinds.count("stable_node") == 4 and kinds.count("saddle") == 4
    assert kinds.count("unstable_node") == 1
    assert result.index_sum == 1 and result.notes == []
    assert all(p.residual < 1e-10 for p in result.fixed_points)
    assert not any(p.map_disagrees for p in result.fixed_points)


@pytest.mark.parametrize("beta,s", [(3.0, 0.0), (2.5, 0.5), (4.0, -1.0)])
def test_hopf_condition_in_closed_form(beta, s):
    # origin: J = (sigma(s) beta R(alpha) - I) / 2, so Re lambda = 0 at sigma(s) beta cos(alpha) = 1
    alpha_star = math.acos(1.0 / (sigmoid(s) * beta))
    for alpha, kind in ((alpha_star + 0.02, "stable_focus"), (alpha_star - 0.02, "unstable_focus")):
        cell = hopf(alpha=alpha, beta=beta, s=s)
        result = find_fixed_points(cell.vector_field, BOX)
        origin = [p for p in result.fixed_points if p.h.norm() < 1e-9]
        assert len(origin) == 1 and origin[0].kind == kind
        g = sigmoid(s) * beta
        lam = 0.5 * (g * complex(math.cos(alpha), math.sin(alpha)) - 1)
        eig = origin[0].eigenvalues
        assert abs(complex(eig[0]) - lam) < 1e-12 or abs(complex(eig[0]) - lam.conjugate()) < 1e-12
    at = classify(torch.func.jacrev(hopf(alpha=alpha_star, beta=beta, s=s).vector_field)(
        torch.zeros(2, dtype=torch.float64)))
    assert at.kind == "non_hyperbolic" and at.candidate == "hopf"


@pytest.mark.parametrize("reset", ["before", "after"])
def test_random_cells_of_both_conventions_give_true_roots(reset):
    torch.manual_seed(3)
    for _ in range(3):
        cell = GRUCell(0, 2, reset=reset).double()
        with torch.no_grad():
            cell.weight_hh.mul_(6.0)
        result = find_fixed_points(cell.vector_field, BOX)
        assert result.fixed_points
        for p in result.fixed_points:
            assert float(cell.vector_field(p.h).detach().norm()) < 1e-10
        assert result.index_sum == 1 or result.notes


def test_high_dimensional_search_from_starts():
    torch.manual_seed(0)
    cell = GRUCell(0, 16).double()
    with torch.no_grad():
        cell.weight_hh.mul_(4.0)
    starts = torch.rand(64, 16, dtype=torch.float64) * 2 - 1
    result = find_fixed_points(
        cell.vector_field, [(-1.0, 1.0)] * 16, starts=starts, n_starts=64
    )
    assert result.fixed_points
    pts = torch.stack([p.h for p in result.fixed_points])
    assert float(cell.vector_field(pts).detach().norm(dim=-1).max()) < 1e-10
    assert float(torch.cdist(pts, pts).add(torch.eye(len(pts)) * 9).min()) > 1e-6


def test_discrete_map_disagreement_is_flagged():
    def f(h):
        return -3.0 * h  # ODE: stable node; Euler map h -> -2 h: unstable

    result = find_fixed_points(f, BOX, step=lambda h: h + f(h))
    (p,) = result.fixed_points
    assert p.kind == "stable_node" and p.map_stable is False and p.map_disagrees
    assert any("disagree" in n for n in result.notes)


def test_slow_point_is_not_a_fixed_point():
    def f(h):
        return torch.stack([h[..., 0] ** 2 + 1e-4, -h[..., 1]], dim=-1)

    result = find_fixed_points(f, BOX)
    assert result.fixed_points == []
    assert len(result.slow_points) == 1
    assert float(result.slow_points[0].h.norm()) < 1e-4
    assert abs(result.slow_points[0].speed - 1e-4) < 1e-8
    assert any("index sum" in n for n in result.notes)


def test_missing_point_breaks_the_index_sum_and_says_so():
    cell = bistable_pair()
    result = find_fixed_points(cell.vector_field, [(-0.5, 1.0), (-1.0, 1.0)])
    assert len(result.fixed_points) == 6 and result.index_sum == 0
    assert any("index sum" in n for n in result.notes)


def test_bad_box_is_rejected():
    with pytest.raises(ValueError):
        find_fixed_points(bistable_pair().vector_field, [(1.0, -1.0), (0.0, 1.0)])
