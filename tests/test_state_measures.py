"""The Computation-through-Dynamics Benchmark's measures beside ours: state R^2 (target states
from an affine map of the hidden states) and cycle consistency (hidden states back through the
target's), each checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import gru_learn
from gru_learn.dynamics.metrics import cycle_consistency, state_r2
from gru_learn.errors import UserError


def _project(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y projected on the span of [x, 1] through an orthonormal basis (QR), not least squares."""
    q, _ = np.linalg.qr(np.hstack([x, np.ones((len(x), 1))]))
    return q @ (q.T @ y)


def _r2_by_dimension_sums(y: np.ndarray, pred: np.ndarray) -> float:
    res = sum(float(((y[:, j] - pred[:, j]) ** 2).sum()) for j in range(y.shape[1]))
    tot = sum(float(((y[:, j] - y[:, j].mean()) ** 2).sum()) for j in range(y.shape[1]))
    return 1 - res / tot


def _independent(h: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    z_hat = _project(h, z)
    b = np.hstack([z, np.ones((len(z), 1))])
    coef = np.linalg.solve(b.T @ b, b.T @ h)  # normal equations, z -> h
    h_back = np.hstack([z_hat, np.ones((len(z_hat), 1))]) @ coef
    return _r2_by_dimension_sums(z, z_hat), _r2_by_dimension_sums(h, h_back)


def test_the_measures_agree_with_an_independent_computation() -> None:
    rng = np.random.default_rng(0)
    h = rng.normal(size=(6, 50, 5))  # (N, T, d)
    z = np.tanh(h[..., :3] @ rng.normal(size=(3, 3))) + 0.3 * rng.normal(size=(6, 50, 3))
    want_r2, want_cycle = _independent(h.reshape(-1, 5), z.reshape(-1, 3))
    assert 0.3 < want_r2 < 0.99 and 0.1 < want_cycle < 0.99  # neither trivial
    assert state_r2(h, z) == pytest.approx(want_r2, abs=1e-10)
    assert cycle_consistency(torch.as_tensor(h), torch.as_tensor(z)) == pytest.approx(
        want_cycle, abs=1e-10)


def test_known_values_an_exact_map_and_an_extra_dimension() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20000, 2))
    h = np.hstack([z @ np.array([[2.0, 1.0], [0.0, -1.0]]) + 3.0, rng.normal(size=(20000, 2))])
    # the target is an affine image of the hidden states: R^2 = 1
    assert state_r2(h[:, :2], z) == pytest.approx(1.0, abs=1e-12)
    # two independent units beside the target's image cannot come back through the target's
    # states: cycle consistency is the share of the hidden variance that does
    var = h.var(0)
    assert cycle_consistency(h, z) == pytest.approx(var[:2].sum() / var.sum(), abs=2e-3)
    assert state_r2(h, z) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="pair up"):
        state_r2(h[:10], z[:9])


def test_analyze_module_pairs_hidden_states_with_the_targets() -> None:
    torch.manual_seed(0)
    model = nn.Module()
    model.rnn = nn.GRU(2, 3, batch_first=True)
    with torch.no_grad():
        hidden, _ = model.rnn(torch.randn(4, 30, 2))
    z = hidden[..., :2] @ torch.randn(2, 2) + 0.1 * torch.randn(4, 30, 2)
    res = gru_learn.analyze_module(model, "rnn", states=hidden, target=z, figures=False)
    comp = res.summary["comparison"]
    want = _independent(hidden.reshape(-1, 3).double().numpy(), z.reshape(-1, 2).double().numpy())
    assert (comp["state_r2"], comp["cycle_consistency"]) == pytest.approx(want, abs=1e-9)
    assert res.result.scalars()["state_r2"] == pytest.approx(want[0], abs=1e-9)
    with pytest.raises(UserError, match="pair sample by sample"):
        gru_learn.analyze_module(model, "rnn", states=hidden, target=z[:, :20], figures=False)
    with pytest.raises(UserError, match="need the network's hidden states"):
        gru_learn.analyze_module(model, "rnn", target=z, figures=False)


def test_learned_versus_target_reports_them_on_the_models_own_rollout() -> None:
    """h_k of the model's rollout (one GRU step from 0 at w(0), then the map) beside the clean
    target state at step k, k = 1..T, recomputed here by a hand-written loop."""
    from gru_learn.analysis import AnalysisConfig, LearnedModel, analyze
    from gru_learn.analysis.module_analysis import target_data
    from gru_learn.gru.cell import GRUCell

    torch.manual_seed(0)
    cell, readout = GRUCell(2, 4, reset="after").double(), nn.Linear(4, 2).double()
    data = target_data("vdp")
    data = type(data)(data.dt, data.test[:, :30], type(data.system)(
        data.system.name, data.system.system, data.system.params,
        {"test": data.system.clean["test"][:, :30]}))
    res = analyze(LearnedModel(cell, readout), data,
                  AnalysisConfig(n_initial=8, long_steps=100, cycles=False), figures=False)
    clean = data.system.clean["test"][:8]
    with torch.no_grad():
        h = cell(clean[:, 0], torch.zeros(8, 4, dtype=torch.float64))
        hs = [h]
        for _ in range(28):
            h = cell(None, h)
            hs.append(h)
    want = _independent(torch.stack(hs, 1).reshape(-1, 4).numpy(),
                        clean[:, 1:30].reshape(-1, 2).numpy())
    comp = res.summary["comparison"]
    assert (comp["state_r2"], comp["cycle_consistency"]) == pytest.approx(want, abs=1e-8)


def _havok_eigenvalues(x: np.ndarray, n_delays: int, rank: int) -> np.ndarray:
    """Eigenvalues of the rank-``rank`` HAVOK DMD of trials x (K, T, n), written out: delay
    vectors [x_t, x_(t-1), ...], their right singular vectors V (samples pooled), and the
    least-squares map from V at t to V at t + 1 within each trial."""
    k, t, _ = x.shape
    windows = np.stack([np.concatenate([x[:, s - j] for j in range(n_delays)], -1)
                        for s in range(n_delays - 1, t)], 1)
    _, _, vh = np.linalg.svd(windows.reshape(-1, windows.shape[-1]).T, full_matrices=False)
    v = vh.T.reshape(k, -1, vh.shape[0])[..., :rank]
    now, nxt = v[:, :-1].reshape(-1, rank), v[:, 1:].reshape(-1, rank)
    return np.linalg.eigvals(np.linalg.lstsq(now, nxt, rcond=None)[0].T)


def test_dsa_is_the_transport_cost_between_dmd_eigenvalues() -> None:
    pytest.importorskip("DSA", reason="DSA is an optional extra (pip install dsa-metric)")
    from scipy.optimize import linear_sum_assignment

    from gru_learn.dynamics.metrics import DSA_SETTINGS, dsa_distance

    rng = np.random.default_rng(2)

    def trials(theta: float, decay: float, dim: int) -> np.ndarray:
        rot = decay * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        x = [rng.normal(size=(6, 2))]
        for _ in range(39):
            x.append(x[-1] @ rot.T)
        out = np.stack(x, 1)
        return out @ rng.normal(size=(2, dim)) + 0.01 * rng.normal(size=(6, 40, dim))

    x, y = trials(0.3, 0.98, 3), trials(0.5, 0.95, 2)
    a = _havok_eigenvalues(x, DSA_SETTINGS["n_delays"], DSA_SETTINGS["rank"])
    b = _havok_eigenvalues(y, DSA_SETTINGS["n_delays"], DSA_SETTINGS["rank"])
    cost = np.abs(a[:, None] - b[None, :]) ** 2
    rows, cols = linear_sum_assignment(cost)
    want = cost[rows, cols].mean()
    assert want > 1e-3
    assert dsa_distance(x, y) == pytest.approx(want, rel=1e-3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # the same dynamics in rotated coordinates
    assert dsa_distance(x, x @ q) < 1e-6


def test_without_dsa_the_comparison_leaves_it_out(monkeypatch) -> None:
    from gru_learn.analysis import module_analysis
    from gru_learn.dynamics import metrics

    monkeypatch.setattr(metrics, "dsa_available", lambda: False)
    model = nn.Module()
    model.rnn = nn.GRU(2, 3, batch_first=True)
    with torch.no_grad():
        hidden, _ = model.rnn(torch.randn(4, 30, 2))
    res = module_analysis.analyze_layers([(0, gru_learn.analysis.load.network_from_module(
        model.rnn))], states=hidden, target=hidden[..., :2], figures=False)
    assert "dsa" not in res.summary["comparison"] and res.summary["comparison"]["state_r2"] > 0.9
    assert np.isnan(res.result.scalars()["dsa"])
