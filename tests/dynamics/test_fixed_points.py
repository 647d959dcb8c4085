"""Fixed points and their kinds against hand-derived values."""

import math

import pytest
import torch
from scipy.optimize import brentq

from gru_learn.dynamics import classify, find_fixed_points
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.presets import bistable_pair, hopf

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


# --- scale-aware classification, map threshold, deduplication (issue 10) -------------------
def test_ode_stable_point_whose_map_is_unstable():
    """1-D unit with U_h = -2.1 and b_z = -10: at h = 0, f' = (1 - sigma(-10)) (-1.05 - 1)
    ~ -2.05 (ODE stable) while the map's derivative 1 + f' ~ -1.05 (unstable); a unit with
    U_h = -1.9 gives 1 + f' ~ -0.95 (both stable)."""
    for u, map_stable in ((-2.1, False), (-1.9, True)):
        cell = GRUCell.from_weights(
            U_h=torch.diag(torch.tensor([u, 0.5], dtype=torch.float64)),
            b_z=torch.tensor([-10.0, 0.0], dtype=torch.float64))
        result = find_fixed_points(cell.vector_field, BOX, step=lambda h, c=cell: c(None, h))
        origin = [p for p in result.fixed_points if p.h.norm() < 1e-9]
        assert len(origin) == 1 and origin[0].kind == "stable_node"
        lam = (1 - sigmoid(-10.0)) * (u / 2 - 1)
        assert abs(float(origin[0].eigenvalues.real.min()) - lam) < 1e-12
        assert origin[0].map_stable is map_stable
        assert origin[0].map_disagrees is (not map_stable)


def fold_cell(delta: float) -> GRUCell:
    """Unit 1: dh/dt = (tanh(2 h + b* + delta) - h) / 2 with b* the half-stable bias (a double
    root at h* = 1/sqrt(2)); unit 2 a stable unit. For small delta > 0 the double root splits
    into a saddle and a node about 2 sqrt(0.354 delta) apart."""
    from gru_learn.gru.presets import half_stable_bias

    b = half_stable_bias(4.0) + delta
    return GRUCell.from_weights(U_h=torch.diag(torch.tensor([4.0, 0.5], dtype=torch.float64)),
                                b_h=torch.tensor([b, 0.0], dtype=torch.float64))


def test_distinct_fixed_points_closer_than_1e4_stay_distinct():
    cell = fold_cell(1.77e-9)
    b = cell.bias_ih[4].item()
    pair = sorted(brentq(lambda h: math.tanh(2 * h + b) - h, lo, hi, xtol=1e-15)
                  for lo, hi in ((0.69, 1 / math.sqrt(2)), (1 / math.sqrt(2), 0.72)))
    assert 4e-5 < pair[1] - pair[0] < 1e-4
    result = find_fixed_points(cell.vector_field, BOX)
    near = sorted(float(p.h[0]) for p in result.fixed_points if abs(float(p.h[0]) - 0.707) < 0.01)
    assert len(near) == 2
    assert abs(near[0] - pair[0]) < 1e-9 and abs(near[1] - pair[1]) < 1e-9
    kinds = sorted(p.kind for p in result.fixed_points)
    assert kinds == ["saddle", "stable_node", "stable_node"] and result.index_sum == 1


def test_copies_of_a_tangential_root_merge():
    """At delta = 0 the seeds reach the double root only to ~sqrt(tol): scattered copies that
    must merge into one non-hyperbolic (saddle-node) point."""
    result = find_fixed_points(fold_cell(0.0).vector_field, BOX)
    near = [p for p in result.fixed_points if abs(float(p.h[0]) - 1 / math.sqrt(2)) < 1e-3]
    assert len(near) == 1 and len(result.fixed_points) == 2
    assert near[0].kind == "non_hyperbolic" and near[0].candidate == "saddle_node"


def test_repeated_real_eigenvalue_is_a_node_not_a_focus():
    q, _ = torch.linalg.qr(torch.randn(2, 2, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(0)))
    for a, kind in ((-0.3, "stable_node"), (-1.0, "stable_node"), (0.7, "unstable_node")):
        jordan = q @ torch.tensor([[a, 1.0], [0.0, a]], dtype=torch.float64) @ q.T
        assert classify(jordan).kind == kind
    # a real rotation of the same size is still a focus
    assert classify(torch.tensor([[-0.3, -1e-4], [1e-4, -0.3]], dtype=torch.float64)).kind == \
        "stable_focus"


def test_hyperbolicity_is_relative_to_the_jacobian_scale():
    for scale in (1e-9, 1.0, 1e6):
        jac = scale * torch.tensor([[-1.0, 0.3], [0.0, -2.0]], dtype=torch.float64)
        assert classify(jac).kind == "stable_node"
        saddle = scale * torch.tensor([[1e-3, 0.0], [0.0, -2.0]], dtype=torch.float64)
        assert classify(saddle).kind == "saddle"
        flat = scale * torch.tensor([[1e-12, 0.0], [0.0, -2.0]], dtype=torch.float64)
        assert classify(flat).kind == "non_hyperbolic"
