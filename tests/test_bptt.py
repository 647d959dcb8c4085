"""The hand-written rollout and backpropagation through time (gru_learn.gru.bptt) against GRUCell
stepped one step at a time and against autograd's own derivatives."""

from __future__ import annotations

import pytest
import torch

from gru_learn.gru.bptt import stacked_forecast, stacked_rollout
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.rollout import rollout_hidden
from gru_learn.training.module import GRUForecaster

M, D, P, N, T = 3, 4, 2, 5, 7


def random_args(seed: int, readout: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(N, P), (M, 3 * D, P), (M, 3 * D, D), (M, 3 * D), (M, 3 * D)]
    if readout:
        shapes += [(M, P, D), (M, P)]
    return [torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_() for s in shapes]


def reference_states(args: list[torch.Tensor], reset: str) -> torch.Tensor:
    """Member by member with GRUCell: h_1 = cell(x0, 0), h_k = cell(None, h_{k-1})."""
    x0, w_ih, w_hh, b_ih, b_hh = args[:5]
    members = []
    for m in range(M):
        cell = GRUCell(P, D, reset=reset).double()
        with torch.no_grad():
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                   (w_ih, w_hh, b_ih, b_hh), strict=True):
                getattr(cell, name).copy_(value[m])
        h, hs = cell(x0, x0.new_zeros(N, D)), []
        for _ in range(T):
            hs.append(h)
            h = cell(None, h)
        members.append(torch.stack(hs))  # (T, N, D)
    return torch.stack(members, dim=1).mT  # (T, M, D, N)


@pytest.mark.parametrize("reset", ["before", "after"])
def test_states_and_predictions_equal_the_cell_stepped_by_hand(reset: str) -> None:
    args = random_args(0, readout=True)
    expected = reference_states(args, reset).detach()
    states = stacked_rollout(*args[:5], T, reset)
    torch.testing.assert_close(states, expected, rtol=0, atol=1e-14)
    C, c = args[5:]
    pred = stacked_forecast(*args, T, reset)
    torch.testing.assert_close(pred, C @ expected + c[:, :, None], rtol=0, atol=1e-13)


@pytest.mark.parametrize("reset", ["before", "after"])
@pytest.mark.parametrize("readout", [False, True])
def test_gradients_match_finite_differences(reset: str, readout: bool) -> None:
    args = random_args(1, readout)
    fn = stacked_forecast if readout else stacked_rollout
    assert torch.autograd.gradcheck(lambda *a: fn(*a, T, reset), args)


@pytest.mark.parametrize("reset", ["before", "after"])
def test_forecaster_gradient_equals_autograd_through_the_cell(reset: str) -> None:
    torch.manual_seed(2)
    model = GRUForecaster(hidden_size=3, reset=reset).double()
    batch = torch.randn(11, 9, 2, dtype=torch.float64)
    fast = torch.autograd.grad(model.loss(batch), list(model.parameters()))
    # the slow path: autograd through GRUCell steps (the analysis rollout) and nn.Linear
    pred = model.readout(rollout_hidden(model.cell, batch[:, 0], 8))
    slow = torch.autograd.grad(torch.nn.functional.mse_loss(pred, batch[:, 1:]),
                               list(model.parameters()))
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_reused_buffers_never_alias_results_and_a_stale_graph_refuses() -> None:
    args = random_args(3)
    with torch.no_grad():
        first = stacked_rollout(*args[:5], T)
        kept = first.clone()
        stacked_rollout(*[a * 1.5 for a in args[:5]], T)  # same shape: reuses the workspace
    torch.testing.assert_close(first, kept, rtol=0, atol=0)
    # backward twice on one graph (retain_graph) gives the same gradients
    out = stacked_rollout(*args[:5], T)
    (g1,) = torch.autograd.grad(out.sum(), args[2], retain_graph=True)
    (g2,) = torch.autograd.grad(out.sum(), args[2], retain_graph=True)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    # once a later forward has taken its workspace, the old graph refuses instead of giving
    # wrong gradients
    stacked_rollout(*args[:5], T).sum().backward()
    with pytest.raises(RuntimeError, match="reused by a later forward"):
        out.sum().backward()


def test_workspaces_of_a_growing_horizon_do_not_pile_up() -> None:
    """A curriculum trains each epoch at another horizon: the pool keeps a few shapes, not one
    workspace per horizon (ten thousand steps of a 16-unit curriculum once took 12 GB)."""
    from gru_learn.gru import bptt

    model = GRUForecaster(hidden_size=3)
    batch = torch.randn(5, 40, 2)
    for steps in range(2, 39, 3):  # 13 horizons
        model.loss(batch[:, : steps + 1]).backward()
    assert 1 <= len(bptt._POOL) <= bptt.POOL_SHAPES < 13
    kept = next(iter(bptt._POOL.values()))[0]
    model.loss(batch[:, : kept.key[0] + 1]).backward()  # a kept shape is reused, not rebuilt
    assert next(w for ws in bptt._POOL.values() for w in ws if w.key == kept.key) is kept
