"""Property tests on random GRUs of both conventions (2-D and 8-D): every reported fixed point
is a root, the 2-D search finds every root that an independent dense search finds (scipy's
hybrid Powell method from the centre of every cell of a 30 x 30 grid), and the index sum is 1
whenever every point is hyperbolic (a GRU's states stay in (-1, 1)^d, so the box [-1, 1]^2
holds every fixed point and the whole invariant region)."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import root

from gru_learn.dynamics import find_fixed_points
from gru_learn.dynamics.fixed_points import deduplicate
from gru_learn.gru.cell import GRUCell

TOL = 1e-10


def random_cell(d: int, seed: int, scale: float, reset: str, boost: float = 0.0) -> GRUCell:
    """torch.nn.GRU's initialisation with U scaled by ``scale``, input biases by scale / 2, and
    ``boost`` I added to U_h (self-excitation: up to 3^d fixed points, many close together)."""
    g = torch.Generator().manual_seed(seed)
    cell = GRUCell(0, d, reset=reset).double()
    cell.reset_parameters(generator=g)
    with torch.no_grad():
        cell.weight_hh.mul_(scale)
        cell.bias_ih.mul_(scale / 2)
        cell.weight_hh[2 * d:] += boost * torch.eye(d, dtype=torch.float64)
    return cell


def numpy_field(cell: GRUCell):
    """The GRU's zero-input vector field re-implemented in numpy from its weights (an
    independent implementation for the reference search)."""
    d = cell.hidden_size
    w = cell.weight_hh.detach().numpy()
    bi, bh = cell.bias_ih.detach().numpy(), cell.bias_hh.detach().numpy()
    u_r, u_z, u_n = w[:d], w[d:2 * d], w[2 * d:]

    def sig(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    def f(h: np.ndarray) -> np.ndarray:
        r = sig(u_r @ h + bi[:d] + bh[:d])
        z = sig(u_z @ h + bi[d:2 * d] + bh[d:2 * d])
        if cell.reset == "before":
            n = np.tanh(u_n @ (r * h) + bi[2 * d:] + bh[2 * d:])
        else:
            n = np.tanh(bi[2 * d:] + r * (u_n @ h + bh[2 * d:]))
        return (1 - z) * (n - h)

    return f


def dense_reference(cell: GRUCell, cells: int = 30) -> torch.Tensor:
    """Roots from scipy.optimize.root (hybrid Powell, finite-difference Jacobian) on the numpy
    field, started at the centre of every cell of a cells x cells grid on [-1, 1]^2,
    deduplicated at 1e-7."""
    f = numpy_field(cell)
    centres = (np.arange(cells) + 0.5) / cells * 2 - 1
    found = []
    for x in centres:
        for y in centres:
            sol = root(f, np.array([x, y]), method="hybr", tol=1e-14)
            if np.abs(sol.x).max() < 1 and np.linalg.norm(f(sol.x)) < TOL:
                found.append(sol.x)
    if not found:
        return torch.zeros(0, 2, dtype=torch.float64)
    pts = torch.tensor(np.array(found))
    return pts[deduplicate(pts, torch.zeros(len(pts)), 1e-7)]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.5, 8.0),
       reset=st.sampled_from(["before", "after"]), boost=st.sampled_from([0.0, 3.0, 5.0]))
def test_random_2d_gru_fixed_points_are_complete(seed, scale, reset, boost):
    cell = random_cell(2, seed, scale, reset, boost)
    result = find_fixed_points(cell.vector_field, [(-1.0, 1.0), (-1.0, 1.0)], tol=TOL)
    assert result.fixed_points  # a GRU always has one: f points inward on the box
    ours = torch.stack([p.h for p in result.fixed_points])
    for p in result.fixed_points:
        assert p.residual < TOL
        assert float(cell.vector_field(p.h).detach().norm()) < TOL
        assert ((p.h > -1) & (p.h < 1)).all()
    reference = dense_reference(cell)
    assert len(reference)  # the reference search works at all
    for r in reference:  # every root the dense search finds, we find
        assert float((ours - r).norm(dim=-1).min()) < 1e-7, (r, ours)
    if all(p.kind != "non_hyperbolic" for p in result.fixed_points):
        assert result.index_sum == 1


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.5, 6.0),
       reset=st.sampled_from(["before", "after"]))
def test_random_8d_gru_fixed_points_are_roots_of_the_reported_kind(seed, scale, reset):
    cell = random_cell(8, seed, scale, reset)
    result = find_fixed_points(cell.vector_field, [(-1.0, 1.0)] * 8, tol=TOL, n_starts=256,
                               generator=torch.Generator().manual_seed(seed))
    assert result.fixed_points
    for p in result.fixed_points:
        assert float(cell.vector_field(p.h).detach().norm()) < TOL
        jac = torch.func.jacrev(cell.vector_field)(p.h).detach()
        re = torch.linalg.eigvals(jac).real
        if p.kind in ("stable_node", "stable_focus"):
            assert bool((re < 0).all())
        elif p.kind in ("unstable_node", "unstable_focus"):
            assert bool((re > 0).all())
        elif p.kind == "saddle":
            assert int((re > 0).sum()) == p.n_unstable and 0 < p.n_unstable < 8
    # distinct: no two closer than their own merge radii (at least 1e-9 apart)
    pts = torch.stack([p.h for p in result.fixed_points])
    if len(pts) > 1:
        dist = torch.cdist(pts, pts) + torch.eye(len(pts))
        assert float(dist.min()) > 1e-9
