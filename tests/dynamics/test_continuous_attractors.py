"""Continuous attractors are found from the slow set, never declared: checked against the
analytic ring (radius 1) and line (x = 0), a ring embedded in 8-D, GRUs built to hold a line,
and a GRU with only isolated fixed points."""

import json
import math

import pytest
import torch

from gru_learn.dynamics import analyze_vector_field, find_continuous_attractors, find_fixed_points
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.presets import bistable_pair
from gru_learn.systems.registry import LineAttractor, RingAttractor

RING_BOX = [(-1.5, 1.5)] * 2
LINE_BOX = [(-1.0, 1.0)] * 2


def test_ring_attractor_is_found_at_radius_one():
    f = RingAttractor.vector_field()
    fixed = find_fixed_points(f, RING_BOX)
    found = find_continuous_attractors(f, RING_BOX, fixed=fixed)
    assert len(found) == 1
    (m,) = found
    assert m.kind == "ring" and m.closed and m.dimension == 1
    r = m.points.norm(dim=-1)
    assert float((r - 1).abs().max()) < 1e-6
    assert abs(m.extent - 2 * math.pi) < 0.02 * 2 * math.pi
    assert m.covered_fraction > 0.99
    # at r = 1, J = -2 x x^T: the transverse (radial) eigenvalue is -2, the tangent one 0
    assert m.attracting and abs(m.transverse_max_real + 2) < 1e-2
    assert m.max_speed < 1e-8  # a continuum of fixed points: no drift
    # every fixed point found on the circle lies on it; the unstable origin does not
    on_circle = [i for i, p in enumerate(fixed.fixed_points) if abs(float(p.h.norm()) - 1) < 1e-6]
    assert sorted(m.fixed_points) == on_circle
    # cross-check against the declared attractor: every declared point is near a found state
    declared = RingAttractor.continuous_attractor().points(360)
    assert float(torch.cdist(declared, m.points).amin(-1).max()) < m.link_radius
    json.dumps(m.to_json())


def test_line_attractor_is_found_at_x_zero():
    f = LineAttractor.vector_field()
    found = find_continuous_attractors(f, LINE_BOX)
    assert len(found) == 1
    (m,) = found
    assert m.kind == "line" and not m.closed and m.dimension == 1
    assert float(m.points[:, 0].abs().max()) < 1e-6
    assert abs(m.extent - 2.0) < 0.05  # the part of x = 0 inside the box
    assert m.attracting and abs(m.transverse_max_real + 1) < 1e-6
    declared = LineAttractor.continuous_attractor().points(2001)
    inside = declared[declared[:, 1].abs() <= 0.95]
    assert float(torch.cdist(inside, m.points).amin(-1).max()) < m.link_radius


def embedded_ring(d: int, seed: int = 1):
    """The ring system in the first two coordinates of a random orthonormal frame in d
    dimensions, every other direction contracting at rate 1."""
    q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(seed)))

    def f(h):
        x = h @ q
        r2 = (x[..., :2] ** 2).sum(-1, keepdim=True)
        return torch.cat([-(r2 - 1) * x[..., :2], -x[..., 2:]], -1) @ q.T

    return f, q


def test_ring_embedded_in_8d():
    f, q = embedded_ring(8)
    found = find_continuous_attractors(f, [(-1.5, 1.5)] * 8)
    assert [m.kind for m in found] == ["ring"]
    (m,) = found
    x = m.points @ q
    assert float((m.points.norm(dim=-1) - 1).abs().max()) < 1e-4
    assert float(x[:, 2:].abs().max()) < 1e-3
    assert abs(m.extent - 2 * math.pi) < 0.03 * 2 * math.pi
    assert m.covered_fraction > 0.99 and m.attracting
    # the transverse spectrum at r = 1 is {-2, -1 (x6)}: its largest real part is -1
    assert abs(m.transverse_max_real + 1) < 2e-2


SLOW_BIAS = 10.0


def line_gru(d: int, reset: str, seed: int = 0) -> GRUCell:
    """A random contracting GRU whose last unit has update gate sigma(10) ~ 1 and feeds nothing:
    dh_d/dt = -(1 - sigma(10)) h_d, so {other units at their fixed point} x [-1, 1] is an
    approximate line attractor along the last axis, with one isolated stable node on it."""
    g = torch.Generator().manual_seed(seed)
    cell = GRUCell(0, d, reset=reset).double()
    cell.reset_parameters(generator=g)
    with torch.no_grad():
        cell.weight_hh.mul_(0.5)
        cell.bias_ih.mul_(0.5)
        cell.bias_hh.zero_()
        cell.weight_hh[:, d - 1] = 0  # no unit reads the slow one
        cell.weight_hh[3 * d - 1, :] = 0
        cell.weight_hh[2 * d - 1, :] = 0
        cell.bias_ih[2 * d - 1] = SLOW_BIAS
        cell.bias_ih[3 * d - 1] = 0.0  # its candidate is tanh(0) = 0
    return cell


@pytest.mark.parametrize("reset", ["before", "after"])
@pytest.mark.parametrize("d", [2, 16])
def test_gru_with_an_approximate_line_attractor(d, reset):
    cell = line_gru(d, reset)
    f = cell.vector_field
    box = [(-1.0, 1.0)] * d
    fixed = find_fixed_points(f, box, generator=torch.Generator().manual_seed(0))
    assert len(fixed.fixed_points) == 1  # only one isolated fixed point ...
    found = find_continuous_attractors(f, box, fixed=fixed)
    assert [m.kind for m in found] == ["line"]  # ... yet a line is found
    (m,) = found
    spread = m.points.amax(0) - m.points.amin(0)
    assert float(spread[:-1].max()) < 1e-3 and float(spread[-1]) > 1.8
    assert m.fixed_points == [0] and m.attracting
    # speed along it is (1 - sigma(10)) |h_d|: compare the largest one and the drift time
    rate = 1.0 / (1.0 + math.exp(SLOW_BIAS))
    expected = rate * float(m.points[:, -1].abs().max())
    assert abs(m.max_speed - expected) < 0.05 * expected
    assert abs(m.drift_time - m.extent / expected) < 0.05 * m.drift_time


def test_gru_line_attractor_in_64d():
    cell = line_gru(64, "after")
    found = find_continuous_attractors(cell.vector_field, [(-1.0, 1.0)] * 64)
    assert [m.kind for m in found] == ["line"]
    spread = found[0].points.amax(0) - found[0].points.amin(0)
    assert float(spread[:-1].max()) < 1e-3 and float(spread[-1]) > 1.8


def test_isolated_fixed_points_give_no_manifold():
    cell = bistable_pair(gain=4.0)
    f = cell.vector_field
    fixed = find_fixed_points(f, LINE_BOX)
    assert len(fixed.fixed_points) == 9
    # even with a generous threshold the slow states near each node are a blob, not a manifold
    for speed_tol in (None, 0.1):
        assert find_continuous_attractors(f, LINE_BOX, fixed=fixed, speed_tol=speed_tol) == []


def test_observation_units_scale_extent_and_speed():
    cell = line_gru(2, "before")
    f = cell.vector_field
    found = find_continuous_attractors(f, LINE_BOX, observe=lambda h: 3.0 * h)
    (m,) = found
    assert abs(m.extent_observed - 3 * m.extent) < 0.02 * 3 * m.extent
    assert abs(m.max_speed_observed - 3 * m.max_speed) < 1e-9 * m.max_speed + 1e-15
    assert abs(m.drift_time_observed - m.drift_time) < 0.02 * m.drift_time


def test_analyze_vector_field_reports_the_ring():
    res = analyze_vector_field(RingAttractor.vector_field(), RING_BOX, cycles=False)
    assert [m.kind for m in res.continuous_attractors] == ["ring"]
    out = json.loads(json.dumps(res.to_json()))
    assert out["continuous_attractors"][0]["kind"] == "ring"
    assert res.to_json()["continuous_attractors"][0]["drift_time"] is None or \
        res.continuous_attractors[0].drift_time > 1e6


def test_neighbour_graph_built_in_blocks_is_the_dense_one(monkeypatch):
    """The radius graph is built a few rows at a time (a dense n x n x d difference of a 64-unit
    network's slow set ran out of memory); blocks of 7 rows must give the dense answer."""
    import numpy as np

    from gru_learn.dynamics import continuous_attractors as ca

    gen = torch.Generator().manual_seed(0)
    pts = torch.rand(300, 3, generator=gen, dtype=torch.float64).numpy()
    pts[7] = pts[3]  # a duplicate: distance 0, no edge
    diff = pts[:, None, :] - pts[None, :, :]
    dist = np.sqrt((diff * diff).sum(-1))
    want = np.where((dist < 0.3) & (dist > 0), dist, 0.0)
    monkeypatch.setattr(ca, "GRAPH_BLOCK", 7 * 300)
    got = ca._graph(pts, 0.3).toarray()
    assert got.shape == want.shape and (got > 0).sum() > 1000
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_a_saturated_gru_costs_a_bounded_number_of_evaluations():
    """A random 2-unit GRU's weights x1e4: flat almost everywhere (the median Jacobian norm
    kappa ~ 0), a step at its switching lines (max ||J|| ~ 1e4, so dt ~ 5e-5). The first
    relaxation was 20 / kappa time units at that step: billions of RK4 steps, an analysis
    that never ended. Capped at 400 steps like the search's other phases, the whole search
    takes a few thousand evaluations of f."""
    from gru_learn.analysis.network import visited_states

    torch.manual_seed(1)
    gru = torch.nn.GRU(2, 2)
    with torch.no_grad():
        for p in gru.parameters():
            p.mul_(1e4)
    cell = GRUCell.from_torch_gru(gru).double()
    x = torch.zeros(2, dtype=torch.float64)
    states = visited_states(cell, x, generator=torch.Generator().manual_seed(0)).reshape(-1, 2)
    calls = 0

    class TooMany(Exception):
        pass

    def f(h):
        nonlocal calls
        calls += 1
        if calls > 50_000:
            raise TooMany
        return cell.vector_field(h, x)

    find_continuous_attractors(f, ((-1.0, 1.0), (-1.0, 1.0)), starts=states)
    assert calls < 50_000
