"""GRUCell: one discrete step is one Euler step of its vector field; torch.nn.GRU loads exactly."""

from __future__ import annotations

import pytest
import torch
from torchdiffeq import odeint

from gru_learn import GRUCell

F64 = torch.float64


def reference_step(cell: GRUCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The paper's Eqs 2-4 (or torch's GRU equations) written out from the named weights."""
    d = cell.hidden_size
    W_r, W_z, W_h = cell.weight_ih.split(d)
    U_r, U_z, U_h = cell.weight_hh.split(d)
    b_ir, b_iz, b_in = cell.bias_ih.split(d)
    b_hr, b_hz, b_hn = cell.bias_hh.split(d)
    r = torch.sigmoid(x @ W_r.T + b_ir + h @ U_r.T + b_hr)
    z = torch.sigmoid(x @ W_z.T + b_iz + h @ U_z.T + b_hz)
    if cell.reset == "before":
        n = torch.tanh(x @ W_h.T + b_in + (r * h) @ U_h.T + b_hn)
    else:
        n = torch.tanh(x @ W_h.T + b_in + r * (h @ U_h.T + b_hn))
    return (1 - z) * n + z * h


@pytest.mark.parametrize("reset", ["before", "after"])
def test_step_is_euler_step_of_vector_field(reset: str) -> None:
    torch.manual_seed(0)
    cell = GRUCell(3, 4, reset=reset).to(F64)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(4)  # leave the near-linear regime
    x, h = torch.randn(16, 3, dtype=F64), torch.rand(16, 4, dtype=F64) * 2 - 1
    step = cell(x, h)
    torch.testing.assert_close(step, h + cell.vector_field(h, x), rtol=0, atol=1e-14)
    torch.testing.assert_close(step, reference_step(cell, x, h), rtol=0, atol=1e-14)
    zero = torch.zeros_like(x)
    torch.testing.assert_close(cell(None, h), cell(zero, h), rtol=0, atol=1e-15)
    torch.testing.assert_close(cell.autonomous_map()(h), cell(zero, h), rtol=0, atol=1e-14)


@pytest.mark.parametrize("reset", ["before", "after"])
def test_autonomous_map_is_the_cells_step_bit_for_bit(reset: str) -> None:
    """The hoisted map and the general step are one formula: equal to the last bit, in
    float64 and float32 (where a second copy of the step would differ by rounding)."""
    torch.manual_seed(5)
    for dtype in (F64, torch.float32):
        cell = GRUCell(2, 6, reset=reset).to(dtype)
        with torch.no_grad():
            for p in cell.parameters():
                p.mul_(3)
        step = cell.autonomous_map()
        h = torch.rand(32, 6, dtype=dtype) * 2 - 1
        for _ in range(50):
            a, b = step(h), cell(None, h)
            assert torch.equal(a, b)
            torch.testing.assert_close(a, reference_step(cell, torch.zeros(32, 2, dtype=dtype),
                                                         h), rtol=0, atol=1e-5)
            h = a


@pytest.mark.parametrize("reset", ["before", "after"])
def test_step_broadcasts_leading_shapes(reset: str) -> None:
    """x (..., p) and h (..., d) broadcast like the elementwise equations; a single state or
    input works too."""
    torch.manual_seed(6)
    cell = GRUCell(3, 4, reset=reset).to(F64)
    x, h = torch.randn(5, 1, 3, dtype=F64), torch.rand(7, 4, dtype=F64)
    out = cell(x, h)
    assert out.shape == (5, 7, 4)
    ref = reference_step(cell, x.expand(5, 7, 3), h.expand(5, 7, 4))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(cell.vector_field(h[0], x[0, 0]), ref[0, 0] - h[0], rtol=0,
                               atol=1e-14)
    one = cell(None, h[:1])
    torch.testing.assert_close(cell(None, h[:1].expand(3, 2, 4)), one.expand(3, 2, 4), rtol=0,
                               atol=1e-15)
    torch.testing.assert_close(cell(None, h[0]), one[0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("reset", ["before", "after"])
def test_closed_form_jacobian_equals_autograd(reset: str) -> None:
    from gru_learn.dynamics import gru_jacobian, jacobian

    torch.manual_seed(7)
    cell = GRUCell(0, 5, reset=reset).to(F64)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(3)
    h = torch.rand(9, 5, dtype=F64) * 2 - 1
    torch.testing.assert_close(gru_jacobian(cell)(h), jacobian(cell.vector_field, h),
                               rtol=0, atol=1e-13)


def test_conventions_differ() -> None:
    torch.manual_seed(1)
    a = GRUCell(0, 3, reset="before").to(F64)
    b = GRUCell(0, 3, reset="after").to(F64)
    b.load_state_dict(a.state_dict())
    h = torch.rand(8, 3, dtype=F64)
    assert (a.vector_field(h) - b.vector_field(h)).abs().max() > 1e-3


def test_euler_step_one_with_torchdiffeq_is_the_map() -> None:
    torch.manual_seed(2)
    cell = GRUCell(2, 3).to(F64)
    h0 = torch.rand(5, 3, dtype=F64)
    traj = odeint(cell.ode(), h0, torch.arange(4, dtype=F64), method="euler",
                  options={"step_size": 1.0})
    h = h0
    for k in range(1, 4):
        h = cell(None, h)
        torch.testing.assert_close(traj[k], h, rtol=0, atol=1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_gru_reproduces_outputs(bias: bool) -> None:
    torch.manual_seed(3)
    gru = torch.nn.GRU(3, 5, batch_first=True, bias=bias).double()
    with torch.no_grad():  # weights that float32 cannot hold: the copy must stay float64
        for p in gru.parameters():
            p.add_(torch.randn_like(p) * 1e-6)
    x = torch.randn(4, 12, 3, dtype=F64)
    h0 = torch.randn(1, 4, 5, dtype=F64) * 0.5
    out, _ = gru(x, h0)
    cell = GRUCell.from_torch_gru(gru)
    assert cell.reset == "after"
    h, steps = h0[0], []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h)
        steps.append(h)
    torch.testing.assert_close(torch.stack(steps, 1), out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_every_loader_gives_the_same_cell(bias: bool) -> None:
    """nn.GRU, nn.GRUCell, their state dicts and the notebook entry point all go through
    ``GRUCell.from_torch_weights``: the same float64 parameters, exactly."""
    from gru_learn.analysis.load import network_from_module, network_from_state_dict

    torch.manual_seed(4)
    gru = torch.nn.GRU(3, 4, bias=bias).double()
    with torch.no_grad():
        for p in gru.parameters():
            p.add_(torch.randn_like(p) * 1e-6)
    gc = torch.nn.GRUCell(3, 4, bias=bias).double()
    gc.load_state_dict({k.removesuffix("_l0"): v for k, v in gru.state_dict().items()})
    cells = [GRUCell.from_torch_gru(gru), GRUCell.from_torch_gru_cell(gc),
             network_from_module(gru).cell, network_from_module(gc).cell,
             network_from_state_dict(gru.state_dict()).cell,
             network_from_state_dict({"rnn": gc.state_dict()}).cell]
    want = dict(gru.named_parameters())
    for cell in cells:
        assert cell.reset == "after" and cell.weight_hh.dtype == F64
        for name, p in cell.named_parameters():
            ref = want.get(f"{name}_l0")
            assert torch.equal(p, ref if ref is not None else torch.zeros_like(p)), name


def test_from_torch_gru_rejects_stacked() -> None:
    with pytest.raises(ValueError, match="single-layer"):
        GRUCell.from_torch_gru(torch.nn.GRU(2, 2, num_layers=2))


def test_from_weights_places_the_papers_matrices() -> None:
    U_h = torch.tensor([[1.0, -2.0], [2.0, 1.0]], dtype=F64)
    cell = GRUCell.from_weights(U_h, b_r=0.5, b_h=torch.tensor([0.3, -0.1]))
    h = torch.tensor([[0.2, -0.4]], dtype=F64)
    r = torch.sigmoid(torch.tensor(0.5, dtype=F64))
    expected = 0.5 * (torch.tanh((r * h) @ U_h.T + torch.tensor([0.3, -0.1])) - h)
    torch.testing.assert_close(cell.vector_field(h), expected, rtol=0, atol=1e-15)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reset"):
        GRUCell(1, 2, reset="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden_size"):
        GRUCell(1, 0)
