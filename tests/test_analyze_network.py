"""The network read alone: fixed points of block-diagonal GRUs known by construction (products
of 1-D and 2-D pieces solved independently with scipy), in several dimensions and both
conventions; the evidence of the search in d > 3; sizes 1 to 128."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, root

import gru_learn
from gru_learn.gru.cell import GRUCell

F64 = torch.float64


def piece(u_h, u_r, u_z, b_h, b_z, reset: str) -> GRUCell:
    """A small GRU from the paper's named weights (no input)."""
    d = len(b_h)

    def m(a):
        return torch.tensor(a, dtype=F64).reshape(d, d)

    return GRUCell.from_weights(m(u_h), U_z=m(u_z), U_r=m(u_r), b_h=torch.tensor(b_h, dtype=F64),
                                b_z=torch.tensor(b_z, dtype=F64), reset=reset)


def bistable_1d(reset: str) -> GRUCell:  # three points: stable, unstable, stable
    return piece([3.0], [0.5], [0.3], [0.1], [0.2], reset)


def monostable_1d(reset: str) -> GRUCell:
    return piece([0.5], [0.2], [0.0], [0.3], [0.0], reset)


def three_points_2d(reset: str) -> GRUCell:  # two stable nodes and a saddle
    return piece([[2.2, 0.6], [0.4, 1.9]], [[0.3, 0.2], [0.1, -0.4]], [[0.2, 0], [0, 0.1]],
                 [0.1, -0.15], [0.1, -0.2], reset)


def focus_2d(reset: str) -> GRUCell:  # one stable focus
    return piece([[1.5, -1.2], [1.1, 1.4]], [[0.3, 0.2], [0.1, -0.4]], [[0.2, 0], [0, 0.1]],
                 [0.1, -0.15], [0.1, -0.2], reset)


def block_diagonal(pieces: list[GRUCell]) -> GRUCell:
    """One GRU whose gate matrices are block-diagonal in the pieces' (gates act per unit, so
    this is the product system: fixed points are tuples of the pieces' fixed points and the
    Jacobian is block-diagonal)."""
    d = sum(p.hidden_size for p in pieces)
    cell = GRUCell(0, d, reset=pieces[0].reset).to(F64)
    with torch.no_grad():
        cell.weight_hh.zero_()
        cell.bias_hh.zero_()
        for g in range(3):  # r, z, n
            start = 0
            for p in pieces:
                k = p.hidden_size
                rows = slice(g * d + start, g * d + start + k)
                cell.weight_hh[rows, start:start + k] = p.weight_hh[g * k:(g + 1) * k]
                cell.bias_ih[rows] = p.bias_ih[g * k:(g + 1) * k] + p.bias_hh[g * k:(g + 1) * k]
                start += k
    return cell


def reference_points(cell: GRUCell) -> list[tuple[np.ndarray, np.ndarray]]:
    """(point, eigenvalues) of a 1-D or 2-D piece, independently of the toolkit: brentq on sign
    changes (1-D) or scipy's hybrid root finder from a 25 x 25 grid (2-D); Jacobian by central
    differences."""
    d = cell.hidden_size

    def f(x):
        with torch.no_grad():
            return cell.vector_field(torch.tensor(np.atleast_1d(x), dtype=F64)).numpy()

    pts: list[np.ndarray] = []
    if d == 1:
        g = np.linspace(-1, 1, 4001)
        v = np.array([f(x)[0] for x in g])
        pts = [np.array([brentq(lambda x: f(x)[0], g[i], g[i + 1], xtol=1e-15)])
               for i in np.nonzero(v[:-1] * v[1:] < 0)[0]]
    else:
        for s in itertools.product(np.linspace(-0.99, 0.99, 25), repeat=d):
            sol = root(f, np.array(s), tol=1e-14)
            if sol.success and np.abs(f(sol.x)).max() < 1e-12 and np.all(np.abs(sol.x) < 1) \
                    and all(np.linalg.norm(sol.x - p) > 1e-7 for p in pts):
                pts.append(sol.x)
    out = []
    for p in pts:
        jac = np.stack([(f(p + e) - f(p - e)) / 2e-6 for e in 1e-6 * np.eye(d)], axis=1)
        out.append((p, np.linalg.eigvals(jac)))
    return out


def expected_kind(eig: np.ndarray) -> str:
    """The kind from the eigenvalues' signs (written out independently of the toolkit)."""
    n_unstable = int((eig.real > 0).sum())
    focus = bool((np.abs(eig.imag) > 1e-9).any())
    if n_unstable == 0:
        return "stable_focus" if focus else "stable_node"
    if n_unstable == len(eig):
        return "unstable_focus" if focus else "unstable_node"
    return "saddle"


PRODUCTS = {
    "1+2 (3-D)": (bistable_1d, three_points_2d),
    "1+1+2 (4-D)": (bistable_1d, bistable_1d, focus_2d),
    "1+2+2 (5-D)": (bistable_1d, three_points_2d, focus_2d),
    "1+1+1+1+2 (6-D)": (bistable_1d, monostable_1d, bistable_1d, bistable_1d, focus_2d),
}


@pytest.mark.parametrize("reset", ["before", "after"])
@pytest.mark.parametrize("name", list(PRODUCTS))
def test_block_diagonal_products_found_and_classified(name: str, reset: str) -> None:
    pieces = [make(reset) for make in PRODUCTS[name]]
    refs = [reference_points(p) for p in pieces]
    expected = [(np.concatenate([r[0] for r in combo]), np.concatenate([r[1] for r in combo]))
                for combo in itertools.product(*refs)]
    cell = block_diagonal(pieces)
    res = gru_learn.analyze_gru(cell, cycles=False)
    assert res.summary["errors"] == {}
    found = res.fixed_points
    assert len(found) == len(expected), (name, [p.kind for p in found])
    for point, eig in expected:
        (match,) = [p for p in found if np.linalg.norm(p.h.numpy() - point) < 1e-7]
        assert match.kind == expected_kind(eig)
        assert match.map_stable == bool(np.abs(1 + eig).max() < 1)
        assert np.sort_complex(match.eigenvalues.numpy()) == pytest.approx(
            np.sort_complex(eig), abs=1e-5)
    search = res.summary["inputs"][0]["search"]
    if cell.hidden_size > 3:
        assert search["n_starts"] == 512
        assert len(search["hits_per_point"]) == len(expected)
        assert min(search["hits_per_point"]) >= 1
        assert search["recall_estimate"] == pytest.approx(1.0, abs=0.1)


def test_the_product_really_differs_between_conventions() -> None:
    # the 2-D piece's points move with the convention, so both conventions are exercised
    a = reference_points(three_points_2d("before"))
    b = reference_points(three_points_2d("after"))
    assert min(np.linalg.norm(p - q) for p, _ in a for q, _ in b) > 1e-2


def test_recall_estimate_drops_when_starts_are_scarce() -> None:
    cell = block_diagonal([bistable_1d("after")] * 4 + [focus_2d("after")])  # 81 points in 6-D
    res = gru_learn.analyze_gru(cell, cycles=False, n_starts=40)
    search = res.summary["inputs"][0]["search"]
    assert len(res.fixed_points) < 81
    assert search["recall_estimate"] < 0.9
    assert search["estimated_total"] > len(res.fixed_points)


@pytest.mark.parametrize("d", [1, 2, 3, 16, 64])
def test_sizes_and_dtypes(d: int) -> None:
    torch.manual_seed(d)
    rnn = torch.nn.GRU(3, d)  # float32, as users train it
    head = torch.nn.Linear(d, 2)
    res = gru_learn.analyze_gru(rnn, input=torch.tensor([0.5, 0.0, 1.0]), readout=head,
                                cycles=d <= 16)
    s = res.to_json()
    assert s["errors"] == {} and s["network"]["hidden_size"] == d
    (entry,) = s["inputs"]
    assert entry["fixed_points"], "a GRU at a constant input has at least one fixed point"
    cell = GRUCell.from_torch_gru(rnn).double()
    x = torch.tensor([0.5, 0.0, 1.0], dtype=F64)
    for p in entry["fixed_points"]:
        h = torch.tensor(p["h"], dtype=F64)
        assert cell.vector_field(h, x).norm() < 1e-9  # a root of f at that input
        assert p["obs"] == pytest.approx(head.double()(h).tolist(), abs=1e-9)
    assert all(isinstance(v, float) for v in np.ravel(entry["fixed_points"][0]["h"]))


@pytest.mark.slow
def test_128_units() -> None:
    torch.manual_seed(0)
    rnn = torch.nn.GRU(2, 128)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(4.0)  # several fixed points
    res = gru_learn.analyze_gru(rnn, cycles=False)
    assert res.summary["errors"] == {}
    cell = GRUCell.from_torch_gru(rnn).double()
    assert len(res.fixed_points) >= 2
    for p in res.fixed_points:
        assert cell.vector_field(p.h).norm() < 1e-9
    assert res.summary["inputs"][0]["search"]["n_starts"] == 256


def test_float32_cell_from_torch_gru_in_the_toolkit() -> None:
    from gru_learn.dynamics import find_fixed_points

    torch.manual_seed(0)
    gru = torch.nn.GRU(2, 2)
    cell32 = GRUCell.from_torch_gru(gru)
    assert cell32.weight_hh.dtype == torch.float32
    a = find_fixed_points(cell32.vector_field, [(-1, 1), (-1, 1)])  # no dtype error
    b = find_fixed_points(cell32.double().vector_field, [(-1, 1), (-1, 1)])
    assert len(a.fixed_points) == len(b.fixed_points) >= 1
    for p, q in zip(a.fixed_points, b.fixed_points, strict=True):
        assert p.h.dtype == F64 and torch.allclose(p.h, q.h, atol=1e-12)
    gc = torch.nn.GRUCell(2, 3)
    cell = GRUCell.from_torch_gru_cell(gc)
    x, h = torch.randn(4, 2), torch.randn(4, 3)
    assert torch.allclose(cell(x, h), gc(x, h), atol=1e-6)


def test_inputs_move_the_fixed_points_and_states_seed_the_search() -> None:
    cell = GRUCell(1, 1, reset="after").double()
    with torch.no_grad():
        cell.weight_hh.zero_()
        cell.weight_hh[2, 0] = 6.0  # with r = 1/2 (after): n = tanh(3h + x)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        cell.weight_ih.zero_()
        cell.weight_ih[2, 0] = 1.0  # the input shifts the candidate state
    xs = torch.tensor([[0.0], [0.5], [2.0]])
    res = gru_learn.analyze_gru(cell, input=xs, states=torch.zeros(10, 1), cycles=False)
    counts = [len(e["fixed_points"]) for e in res.summary["inputs"]]
    # h = tanh(3h + x): three roots for |x| < atanh(sqrt(2/3)) - 3 sqrt(2/3) = 1.30, else one
    assert counts == [3, 3, 1]
    figs = res.plot()
    assert {"fixed_points_vs_input", "portrait_input0", "spectra_input2"} <= set(figs)
    res.close()


def test_bad_modules_are_one_line_user_errors() -> None:
    from gru_learn.errors import UserError

    with pytest.raises(UserError, match="num_layers=2"):
        gru_learn.analyze_gru(torch.nn.GRU(2, 3, num_layers=2))
    with pytest.raises(UserError, match="only tanh RNNs"):
        gru_learn.analyze_gru(torch.nn.RNN(2, 3, nonlinearity="relu"))
    with pytest.raises(UserError, match="cannot read a Linear"):
        gru_learn.analyze_gru(torch.nn.Linear(2, 3))
    with pytest.raises(UserError, match="3 entries per row"):
        gru_learn.analyze_gru(torch.nn.GRU(3, 2), input=[1.0, 2.0])
    with pytest.raises(UserError, match=r"\(\.\.\., 2\)"):
        gru_learn.analyze_gru(torch.nn.GRU(3, 2), states=np.zeros((5, 3)))
    with pytest.raises(UserError, match="readout takes 4"):
        gru_learn.analyze_gru(torch.nn.GRU(3, 2), readout=torch.nn.Linear(4, 1))


@pytest.mark.parametrize("reset", ["before", "after"])
def test_a_constant_input_is_a_bias_shift(reset: str) -> None:
    from gru_learn.analysis.network import _jacobian, autonomous_at
    from gru_learn.dynamics import jacobian

    torch.manual_seed(0)
    cell = GRUCell.from_torch_gru(torch.nn.GRU(3, 5)).double()
    cell.reset = reset
    x = torch.randn(3, dtype=F64)
    h = 2 * torch.rand(7, 5, dtype=F64) - 1
    assert torch.allclose(autonomous_at(cell, x).vector_field(h), cell.vector_field(h, x),
                          atol=1e-15)
    assert torch.allclose(_jacobian(cell, x)(h), jacobian(lambda y: cell.vector_field(y, x), h),
                          atol=1e-13)


def test_any_dtype_read_in_float64() -> None:
    torch.manual_seed(0)
    rnn = torch.nn.GRU(2, 3)
    ref = gru_learn.analyze_gru(rnn, cycles=False)
    for dtype in (torch.bfloat16, torch.float16, torch.float64):
        low = torch.nn.GRU(2, 3).to(dtype)
        low.load_state_dict({k: v.to(dtype) for k, v in rnn.state_dict().items()})
        res = gru_learn.analyze_gru(low, input=np.zeros(2, dtype=np.float32),
                                    states=torch.zeros(4, 3, dtype=dtype), cycles=False)
        assert res.fixed_points[0].h.dtype == F64
        # the same weights up to the dtype's rounding: the same fixed points, nearly
        tol = 1e-12 if dtype == torch.float64 else 5e-2
        assert len(res.fixed_points) == len(ref.fixed_points)
        for p, q in zip(res.fixed_points, ref.fixed_points, strict=True):
            assert torch.allclose(p.h, q.h, atol=tol) and p.kind == q.kind
