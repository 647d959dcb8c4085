"""``nn.RNN`` (tanh: the map h -> tanh(W h + b) and its ODE dh/dt = -h + tanh(W h + b)) and
``nn.LSTM`` (a map of its state (h, c) only) read by ``analyze_gru``, ``analyze_module`` and
``analyze --state-dict`` the way a GRU is, each reading labelled."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import gru_learn
from gru_learn.cli.analyze import main
from gru_learn.gru.rnn_cells import LSTMStateMap, TanhRNNCell


def test_the_cells_step_as_torch_does() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 6, 2)
    rnn, lstm = nn.RNN(2, 3, batch_first=True), nn.LSTM(2, 3, batch_first=True)
    out, _ = rnn(x)
    cell, h = TanhRNNCell.from_torch(rnn), torch.zeros(4, 3)
    for t in range(6):
        h = cell(x[:, t], h)
        assert torch.allclose(h, out[:, t], atol=1e-6)
    out, (_, c_last) = lstm(x)
    lmap, s = LSTMStateMap.from_torch(lstm), torch.zeros(4, 6)
    for t in range(6):
        s = lmap(x[:, t], s)
        assert torch.allclose(s[:, :3], out[:, t], atol=1e-6)
    assert torch.allclose(s[:, 3:], c_last[0], atol=1e-6)


def _bistable_rnn() -> nn.RNN:
    rnn = nn.RNN(1, 2, bias=False)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(2 * torch.eye(2))
        rnn.weight_ih_l0.zero_()
    return rnn


def test_an_rnn_is_read_as_its_map_and_ode() -> None:
    """W = 2 I: each unit has the fixed points 0 and +-x* with x* = tanh(2 x*), so the
    network has 9: 4 stable, 4 saddles, 1 source; at a stable one the ODE's Jacobian
    -I + diag(1 - x*^2) W has both eigenvalues -1 + 2 (1 - x*^2)."""
    x = 1.0
    for _ in range(200):  # x <- tanh(2x) converges to x* from 1
        x = math.tanh(2 * x)
    res = gru_learn.analyze_gru(_bistable_rnn())
    point = res.summary["inputs"][0]
    sig = point["signature"]
    assert (sig["stable_points"], sig["saddles"], sig["unstable_points"]) == (4, 4, 1)
    stable = [p for p in point["fixed_points"] if p["kind"].startswith("stable")]
    for p in stable:
        assert [abs(v) for v in p["h"]] == pytest.approx([x, x], abs=1e-8)
        assert [e[0] for e in p["eigenvalues"]] == pytest.approx([-1 + 2 * (1 - x * x)] * 2,
                                                                 abs=1e-8)
    net = res.summary["network"]
    assert net["architecture"] == "RNN (tanh)" and "not the GRU's" in net["reading"]
    assert "dh/dt = -h + tanh" in res.summary["read_as"]


def test_an_lstm_is_read_as_a_map_of_h_and_c_only() -> None:
    torch.manual_seed(3)
    lstm, head = nn.LSTM(2, 3), nn.Linear(3, 1)
    with torch.no_grad():
        lstm.weight_hh_l0.mul_(4)
    res = gru_learn.analyze_gru(lstm, readout=head, input=torch.tensor([0.5, -0.5]))
    point = res.summary["inputs"][0]
    assert point["fixed_points"] and point["limit_cycles"] == []
    x = torch.tensor([[[0.5, -0.5]]])
    for p in point["fixed_points"]:
        s = torch.tensor(p["h"], dtype=torch.float32)
        with torch.no_grad():  # torch's own LSTM leaves the point where it is
            out, (h, c) = lstm(x, (s[None, None, :3], s[None, None, 3:]))
        assert torch.allclose(torch.cat([h[0, 0], c[0, 0]]), s, atol=1e-5)
        assert p["obs"] == pytest.approx(head(s[:3]).tolist(), abs=1e-5)  # reads h only
        # the kind is the map's: stable iff every multiplier is inside the unit circle
        assert p["kind"].startswith("stable") == (p["map_spectral_radius"] < 1)
    net = res.summary["network"]
    assert net["architecture"] == "LSTM" and "no ODE is claimed" in res.summary["read_as"]
    assert net["hidden_size"] == 6


def test_state_dicts_and_layers_of_either(in_tmp: Path) -> None:
    tmp_path = in_tmp  # the target's data are cached in datasets/ under it
    torch.manual_seed(1)
    torch.save({"rnn": _bistable_rnn().state_dict()}, tmp_path / "rnn.pt")
    torch.save({"lstm": nn.LSTM(2, 3).state_dict(), "head": nn.Linear(3, 2).state_dict()},
               tmp_path / "lstm.pt")
    for name, arch, source in (("rnn", "RNN (tanh)", "nn.RNN, read with tanh state dict"),
                               ("lstm", "LSTM", "nn.LSTM state dict (3 units, 2 inputs, 2 "
                                                "outputs)")):
        assert main(["--state-dict", str(tmp_path / f"{name}.pt"), "--input", *(
            ["0"] if name == "rnn" else ["0", "0"]), "--out", str(tmp_path / name)]) == 0
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["network"]["architecture"] == arch
        assert source in summary["network"]["source"]
    assert len(summary["inputs"][0]["fixed_points"][0]["obs"]) == 2
    # beside a target system, read as its forecaster: w(0) in, then the map alone
    assert main(["--state-dict", str(tmp_path / "lstm.pt"), "--system", "vdp", "--n-initial",
                 "4", "--long-steps", "100", "--no-cycles", "--out", str(tmp_path / "vdp")]) == 0
    summary = json.loads((tmp_path / "vdp" / "summary.json").read_text())
    assert summary["learned"]["architecture"] == "LSTM" and summary["errors"] == {}
    deep = nn.Module()
    deep.lstm = nn.LSTM(2, 3, num_layers=2)
    res = gru_learn.analyze_module(deep, "lstm", layer="each", figures=False)
    assert [e["layer"] for e in res.summary["inputs"]] == [0, 1]
    assert [n["input_size"] for n in res.summary["network"]["layers"]] == [2, 3]


def test_a_gru_keeps_its_reading_labelled_as_its_own() -> None:
    res = gru_learn.analyze_gru(nn.GRU(2, 2), cycles=False)
    assert res.summary["network"]["architecture"] == "GRU"
    assert "GRU-specific" in res.summary["network"]["reading"]


def test_an_lstm_point_that_flips_is_unstable_as_the_map_says() -> None:
    """A 1-unit LSTM with a fixed point whose multiplier (from torch's own LSTM, by autograd)
    is about -2.1: the map leaves it, flipping sides each step, so it is a saddle; read as an
    ODE of F(s) - s it would be a stable node (lambda = mu - 1 < 0). No cycles of a flow are
    searched for a map."""
    torch.manual_seed(41)
    lstm = nn.LSTM(1, 1).double()
    with torch.no_grad():
        for p in lstm.parameters():
            p.mul_(6)
    point = gru_learn.analyze_gru(lstm).summary["inputs"][0]
    assert point["limit_cycle_search"] is None

    def step(s: torch.Tensor) -> torch.Tensor:
        _, (h, c) = lstm(torch.zeros(1, 1, 1, dtype=torch.float64),
                         (s[:1].reshape(1, 1, 1), s[1:].reshape(1, 1, 1)))
        return torch.cat([h.reshape(1), c.reshape(1)])

    flips = 0
    for p in point["fixed_points"]:
        mu = torch.linalg.eigvals(torch.autograd.functional.jacobian(
            step, torch.tensor(p["h"], dtype=torch.float64)))
        unstable = int((mu.abs() > 1).sum())
        assert p["n_unstable"] == unstable
        if (mu.real < 1).all() and unstable:
            flips += 1
            assert p["kind"] == "saddle" and p["map_spectral_radius"] > 2
    assert flips == 1
