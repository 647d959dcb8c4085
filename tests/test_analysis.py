"""Learned-versus-target analysis: metrics against slow references, behaviour classification,
a hand-built GRU with a known cycle, robustness, the callback and the analyze CLI."""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.ndimage import gaussian_filter1d

import gru_learn.dynamics.analyze as dynamics_analyze
from gru_learn.analysis import (
    AnalysisConfig,
    closed_loop_behaviour,
    signature,
    topology_match,
)
from gru_learn.dynamics.metrics import (
    coverage,
    hausdorff,
    power_spectrum_distance,
    state_space_divergence,
)
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.presets import hopf
from gru_learn.training.checkpoint import analyze_trained, data_source
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.module import GRUForecaster
from tests.conftest import run_cli


# --- metrics --------------------------------------------------------------------------------
def kl_reference(t: np.ndarray, g: np.ndarray, bins: int = 30, alpha: float = 1e-5) -> float:
    """The d_stsp definition with explicit loops over cells (slow, independent)."""
    lo, hi, sd = t.min(0), t.max(0), t.std(0)
    a, b = lo - 0.1 * sd, hi + 0.1 * sd
    width = (b - a) / bins

    def counts(x: np.ndarray) -> dict[tuple, int]:
        out: dict[tuple, int] = {}
        for row in x:
            k = np.floor((row - a) / width).astype(int)
            k = np.where(row == b, bins - 1, k)
            if np.all((k >= 0) & (k < bins)):
                out[tuple(k)] = out.get(tuple(k), 0) + 1
        return out

    ct, cg = counts(t), counts(g)
    total = bins ** t.shape[1]
    kl = 0.0
    for cell in product(range(bins), repeat=t.shape[1]):
        p = (ct.get(cell, 0) + alpha) / (len(t) + alpha * total)
        q = (cg.get(cell, 0) + alpha) / (len(g) + alpha * total)
        kl += p * math.log(p / q)
    return kl


def test_state_space_divergence_matches_reference() -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(size=(3000, 2))
    g = rng.normal(loc=0.3, scale=1.2, size=(2500, 2))
    assert state_space_divergence(t, g) == pytest.approx(kl_reference(t, g), rel=1e-9)
    assert state_space_divergence(t, t) == pytest.approx(0.0, abs=1e-12)
    assert state_space_divergence(t, g + 5) > state_space_divergence(t, g) > 0


def test_power_spectrum_distance_matches_scipy_smoothing() -> None:
    n = np.arange(2000)
    rng = np.random.default_rng(1)
    t = np.sin(2 * np.pi * n / 50)[None, :, None] + 0.1 * rng.normal(size=(3, 2000, 1))
    g = np.sin(2 * np.pi * n / 17)[None, :, None] + 0.1 * rng.normal(size=(3, 2000, 1))

    def spectrum(x: np.ndarray) -> np.ndarray:
        z = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
        p = gaussian_filter1d((np.abs(np.fft.rfft(z, axis=-1)) ** 2).mean(0), 20.0)
        return p / p.sum()

    p, q = spectrum(t[..., 0]), spectrum(g[..., 0])
    expected = math.sqrt(1 - np.sum(np.sqrt(p * q)))
    assert power_spectrum_distance(t, g) == pytest.approx(expected, rel=1e-9)
    assert power_spectrum_distance(t, t) == pytest.approx(0.0, abs=1e-7)
    assert power_spectrum_distance(np.ones((2, 100, 1)), np.ones((2, 100, 1))) is None


def test_hausdorff_and_coverage_on_circles() -> None:
    th = np.linspace(0, 2 * np.pi, 721)[:-1]
    c1 = np.stack([np.cos(th), np.sin(th)], 1)
    assert hausdorff(c1, 1.5 * c1) == pytest.approx(0.5, abs=1e-12)
    half = c1[c1[:, 1] > 0]
    assert coverage(c1, half, radius=0.01) == pytest.approx(0.5, abs=0.01)
    assert coverage(c1, np.empty((0, 2)), 1.0) == 0.0


# --- classification ---------------------------------------------------------------------------
def test_closed_loop_behaviour() -> None:
    k = torch.arange(2000, dtype=torch.float64)
    sine = torch.stack([torch.sin(2 * math.pi * k / 40), torch.cos(2 * math.pi * k / 40)], -1)
    out = closed_loop_behaviour(sine[None].repeat(3, 1, 1), dt=0.5)
    assert out["behaviour"] == "oscillates" and out["period"] == pytest.approx(20.0, rel=1e-3)
    decay = torch.exp(-k / 50)[:, None].repeat(1, 2)
    assert closed_loop_behaviour(decay[None], dt=1.0)["behaviour"] == "settles"
    walk = torch.cumsum(torch.randn(2, 2000, 2, generator=torch.Generator().manual_seed(0),
                                    dtype=torch.float64), 1)
    assert closed_loop_behaviour(walk, dt=1.0)["behaviour"] == "drifts"


def test_topology_match_reasons() -> None:
    a = {"stable_points": 0, "unstable_points": 1, "saddles": 0, "non_hyperbolic": 0,
         "stable_cycles": 1, "unstable_cycles": 0, "continuous_attractors": 0}
    ok, reason = topology_match(a, dict(a))
    assert ok and reason.startswith("same counts")
    ok, reason = topology_match({**a, "stable_cycles": 0, "stable_points": 1}, a)
    assert not ok and "stable cycles: learned 0, target 1" in reason
    assert signature(None) == {**{k: 0 for k in a}, "ring_attractors": 0, "line_attractors": 0,
                               "plane_attractors": 0}


# --- a GRU with a known cycle against a target with a known cycle ----------------------------
def hopf_forecaster(alpha: float = 0.7) -> GRUForecaster:
    """A 2-D GRU whose continuous counterpart is Eq 8 (beta = 3, s = 0); identity readout."""
    model = GRUForecaster(hidden_size=2, obs_dim=2, dt=0.25, system="vdp").double()
    cell = hopf(alpha=alpha, beta=3.0, s=0.0)
    with torch.no_grad():
        model.cell.weight_hh.copy_(cell.weight_hh)
        model.cell.bias_ih.copy_(cell.bias_ih)
        model.cell.bias_hh.copy_(cell.bias_hh)
        model.cell.weight_ih.zero_()
        model.cell.weight_ih[4:].copy_(0.3 * torch.eye(2))  # w(0) nudges the candidate state
        model.readout.weight.copy_(torch.eye(2))
        model.readout.bias.zero_()
    return model


def scipy_period(f, x0, t_end: float = 400.0) -> float:
    """Period of the attracting cycle of dx/dt = f(x), from scipy's adaptive integrator."""
    sol = solve_ivp(f, [0, t_end], x0, rtol=1e-10, atol=1e-12, dense_output=True)
    t = np.linspace(t_end / 2, t_end, 200_001)
    x = sol.sol(t)[0]
    x = x - x.mean()
    up = t[1:][(x[:-1] < 0) & (x[1:] >= 0)]
    return float(np.diff(up).mean())


def test_known_cycles_learned_and_target(in_tmp: Path) -> None:
    model = hopf_forecaster()
    dm = TrajectoryDataModule("vdp", n_train=8, n_val=4, n_test=8)
    a = analyze_trained(model, dm, AnalysisConfig(n_initial=8, long_steps=400), figures=False)
    s = a.summary
    assert s["errors"] == {}
    cell = hopf(alpha=0.7, beta=3.0, s=0.0)

    def gru_f(t, x):
        with torch.no_grad():
            return cell.vector_field(torch.tensor(x, dtype=torch.float64)).numpy()

    def vdp_f(t, x):
        return [x[1], (1 - x[0] ** 2) * x[1] - x[0]]

    gru_period = scipy_period(gru_f, [0.1, 0.0])  # in GRU steps
    vdp_period = scipy_period(vdp_f, [1.0, 0.0])
    (cyc,) = s["learned"]["limit_cycles"]
    assert cyc["stable"] and cyc["period_steps"] == pytest.approx(gru_period, rel=1e-3)
    assert cyc["period"] == pytest.approx(gru_period * 0.25, rel=1e-3)  # target units
    assert s["comparison"]["ode_period_rel_error"] == pytest.approx(
        abs(gru_period * 0.25 - vdp_period) / vdp_period, rel=1e-2)
    (tcyc,) = s["target"]["limit_cycles"]
    assert tcyc["period"] == pytest.approx(vdp_period, rel=1e-3)
    assert s["learned"]["signature"]["unstable_points"] == 1
    assert s["target"]["signature"]["unstable_points"] == 1
    assert s["comparison"]["topology_match"] is True
    assert s["learned"]["closed_loop"]["behaviour"] == "oscillates"
    for key in ("d_stsp", "d_h", "test_mse", "cycle_hausdorff"):
        assert s["comparison"][key] is not None
    fp = s["learned"]["fixed_points"][0]
    assert fp["obs"] == pytest.approx(fp["h"])  # identity readout


def test_a_failing_piece_is_recorded_and_the_rest_written(in_tmp: Path, monkeypatch) -> None:
    def broken(*args, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(dynamics_analyze, "fixed_point_search", broken)
    dm = TrajectoryDataModule("vdp", n_train=8, n_val=4, n_test=8)
    a = analyze_trained(hopf_forecaster(), dm, AnalysisConfig(n_initial=4, long_steps=200,
                                                      cycles=False))
    assert a.failed
    path = a.save(in_tmp / "out")
    s = json.loads(path.read_text())
    assert "boom" in s["errors"]["fixed_points"]
    assert s["comparison"]["d_stsp"] is not None and s["target"]["fixed_points"]
    assert {p.name for p in (in_tmp / "out").glob("*.png")} == {
        "phase_portrait.png", "comparison.png", "timeseries.png"}


# --- as users run it ---------------------------------------------------------------------------
def test_fit_writes_analysis_and_tensorboard(in_tmp: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gru_learn.cli.fit import main as fit_main

    assert fit_main(["fit", "--trainer.max_epochs=4", "--data.n_train=16", "--data.n_val=4",
                     "--data.n_test=4", "--trainer.enable_progress_bar=false",
                     "--analysis.long_steps=200", "--analysis.every_n_epochs=2",
                     "--analysis.timeline=full", "--analysis.cycles=false"]) == 0
    run = in_tmp / "logs/fhn/version_0"
    s = json.loads((run / "analysis/summary.json").read_text())
    assert set(s) >= {"learned", "target", "comparison"}
    assert s["target"]["signature"]["stable_cycles"] == 0  # cycles=false: searched for none
    for name in ("phase_portrait", "comparison", "timeseries"):
        assert (run / f"analysis/{name}.png").stat().st_size > 10_000
    acc = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    tags = set(acc.Tags()["scalars"])
    # full mode: the comparison's numbers are curves over training, not one-point charts
    assert {"timeline/d_stsp", "timeline/topology_match", "timeline/stable_cycles"} <= tags
    assert not any(t.startswith("dynamics/") for t in tags)
    assert {"analysis/comparison", "analysis/timeline"} <= set(acc.Tags()["images"])
    d_stsp = acc.Scalars("timeline/d_stsp")
    assert [e.step for e in d_stsp] == [0, 2, 4]  # start, epoch 2 and the end analysis
    assert d_stsp[-1].value == pytest.approx(s["comparison"]["d_stsp"], rel=1e-6)
    assert acc.Scalars("results/d_stsp")[-1].value == pytest.approx(d_stsp[-1].value)
    # the timeline: full snapshots at epochs 0 and 2, the end analysis as the last one
    line = s["timeline"]
    assert [x["epoch"] for x in line["snapshots"]] == [0, 2, 4]
    assert [x["mode"] for x in line["snapshots"]] == ["full", "full", "full"]
    assert line["snapshots"][-1]["signature"] == s["learned"]["signature"]
    assert len(acc.Scalars("timeline/stable_points")) == 3
    text = EventAccumulator(str(run), size_guidance={"tensors": 0}).Reload()
    assert "analysis/summary/text_summary" in text.Tags()["tensors"]


def test_analyze_cli_on_a_torch_gru(in_tmp: Path) -> None:
    torch.manual_seed(0)
    gru, lin = torch.nn.GRU(2, 3, batch_first=True), torch.nn.Linear(3, 2)
    torch.save({"gru": gru.state_dict(), "readout": lin.state_dict()}, in_tmp / "net.pt")
    r = run_cli("analyze", "--state-dict", "net.pt", "--system", "ring", "--long-steps", "200",
                "--no-cycles", "--json", "s.json", cwd=in_tmp)
    assert r.returncode == 0, r.stderr
    s = json.loads((in_tmp / "s.json").read_text())
    assert s["learned"]["reset"] == "after" and s["learned"]["hidden_size"] == 3
    # the target's ring is found, not declared: the declaration is only a cross-check
    (ring,) = s["target"]["continuous_attractors"]
    assert ring["kind"] == "ring" and ring["closed"] and ring["attracting"]
    assert s["target"]["declared_attractor"]["max_distance_to_declared"] < 0.01
    assert "coverage" in s["comparison"]["continuous_attractor"]
    assert (in_tmp / "net_analysis/comparison.png").is_file()
    bad = run_cli("analyze", "--state-dict", "net.pt", "--system", "fhn", "--dt", "0",
                  cwd=in_tmp)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "dt must be" in bad.stderr
    torch.save({"weight": torch.zeros(2, 2)}, in_tmp / "junk.pt")
    bad = run_cli("analyze", "--state-dict", "junk.pt", "--system", "fhn", cwd=in_tmp)
    assert bad.returncode == 2 and "weight_ih_l0" in bad.stderr


def test_an_ode_trained_model_is_read_through_its_own_rollout(in_tmp: Path) -> None:
    """Eq 8's GRU: its map (step-1 Euler) cycles with a period of 17 steps, its flow with
    ~15 (scipy). A model trained with --model.rollout ode predicts with the flow, so its
    closed loop, period and errors must come from the flow; the map is reported apart."""
    cell = hopf(alpha=0.7, beta=3.0, s=0.0)

    def gru_f(t, x):
        with torch.no_grad():
            return cell.vector_field(torch.tensor(x, dtype=torch.float64)).numpy()

    flow_period = scipy_period(gru_f, [0.1, 0.0])  # in GRU steps
    dm = TrajectoryDataModule("vdp", n_train=8, n_val=4, n_test=8)
    out = {}
    for mode in ("discrete", "ode"):
        model = hopf_forecaster()
        model.hparams.update(rollout=mode, ode_method="rk4", ode_step=0.25)
        out[mode] = analyze_trained(model, dm, AnalysisConfig(n_initial=8, long_steps=400),
                            figures=False).summary
    ode, disc = out["ode"], out["discrete"]
    assert ode["learned"]["rollout"] == {"mode": "ode", "method": "rk4", "step": 0.25,
                                         "read_as": ode["learned"]["rollout"]["read_as"]}
    assert ode["comparison"]["rollout"] == "ode" and disc["comparison"]["rollout"] == "discrete"
    ode_loop, map_loop = ode["learned"]["closed_loop"], ode["learned"]["closed_loop_map"]
    assert ode_loop["period_steps"] == pytest.approx(flow_period, rel=0.04)
    assert map_loop["period_steps"] == pytest.approx(disc["learned"]["closed_loop"]
                                                     ["period_steps"], rel=1e-9)
    assert abs(map_loop["period_steps"] - flow_period) / flow_period > 0.1  # map != flow
    assert "closed_loop_map" not in disc["learned"]
    # the ODE's own cycle is the same object either way; the predictions are not
    assert ode["comparison"]["ode_period_rel_error"] == disc["comparison"]["ode_period_rel_error"]
    assert ode["comparison"]["period_rel_error"] != disc["comparison"]["period_rel_error"]
    assert ode["comparison"]["test_mse"]["mean"] != disc["comparison"]["test_mse"]["mean"]


# --- graded topology verdicts: continuous attractors found on both sides ---------------------
def test_analytic_targets_ring_and_line_are_found_not_declared(in_tmp: Path) -> None:
    from gru_learn.analysis.core import Recorder
    from gru_learn.analysis.target import manifold_points, target_side

    for system in ("ring", "line"):
        dm = TrajectoryDataModule(system, n_train=8, n_val=4, n_test=8)
        dm.setup()
        rec = Recorder()
        side = target_side(data_source(dm), AnalysisConfig(cycles=False), rec)
        assert rec.errors == {}
        (m,) = side.manifolds
        pts = manifold_points(m)
        assert m.kind == system and m.attracting
        if system == "ring":  # radius 1, all the way round
            assert m.closed and pts.norm(dim=-1).sub(1).abs().max() < 0.01
            assert side.summary["signature"]["ring_attractors"] == 1
            assert side.summary["signature"]["unstable_points"] == 1  # the origin
        else:  # the line x = 0 over the data's range of y
            assert not m.closed and pts[:, 0].abs().max() < 0.01
            y = dm.blob["test_clean"][..., 1]
            assert pts[:, 1].min() < y.min() + 0.05 and pts[:, 1].max() > y.max() - 0.05
            assert side.summary["signature"]["line_attractors"] == 1
        # the declaration is a cross-check only, and agrees
        assert side.summary["declared_attractor"]["max_distance_to_declared"] < 0.01


def line_forecaster(slow_bias: float = 9.0, u_slow: float = 1.0) -> GRUForecaster:
    """A 2-D GRU holding a slow line: unit 1 nearly frozen (update gate bias ``slow_bias``,
    1 - z = 1.2e-4 at 9) with n = tanh(u_slow h1), unit 2 fast (1 - z = 0.95) toward 0.
    The readout maps h1 to the target's y (x 1.3) and h2 to x; w(0) writes y into h1."""
    model = GRUForecaster(hidden_size=2, obs_dim=2, dt=0.1, system="line").double()
    cell = GRUCell.from_weights(torch.diag(torch.tensor([u_slow, 0.0], dtype=torch.float64)),
                                b_z=torch.tensor([slow_bias, -3.0], dtype=torch.float64))
    with torch.no_grad():
        model.cell.weight_hh.copy_(cell.weight_hh)
        model.cell.bias_ih.copy_(cell.bias_ih)
        model.cell.bias_hh.zero_()
        model.cell.weight_ih.zero_()
        model.cell.weight_ih[4, 1] = 1.0
        model.cell.weight_ih[5, 0] = 1.0
        model.readout.weight.copy_(torch.tensor([[0.0, 1.0], [1.3, 0.0]]))
        model.readout.bias.zero_()
    return model


def test_a_learned_approximate_line_matches_and_a_discrete_one_does_not(in_tmp: Path) -> None:
    dm = TrajectoryDataModule("line", n_train=8, n_val=4, n_test=8)
    cfg = AnalysisConfig(n_initial=8, long_steps=400, cycles=False)
    s = analyze_trained(line_forecaster(), dm, cfg, figures=False).summary
    comp = s["comparison"]
    assert s["errors"] == {}
    assert comp["topology_match"] is True and comp["topology_verdict"] == "approximate"
    (line,) = comp["continuous_attractors"]
    assert line["kind"] == "line" and line["coverage_of_target"] > 0.9
    # the slow unit drifts at most (1 - z) max|tanh(h) - h| = 1.2e-4 * 0.24 per step, so
    # crossing the line's length (~1.8) takes over 6e4 steps = 6e3 target time units
    assert line["drift_time"] > 2e3
    assert s["learned"]["signature"]["line_attractors"] == 1
    assert s["learned"]["signature"]["stable_points"] == 0  # the point on it is folded in
    # the same network with a fast first unit holds no line: one stable point
    fast = analyze_trained(line_forecaster(slow_bias=2.0), dm, cfg,
                           figures=False).summary["comparison"]
    assert fast["topology_match"] is False and fast["topology_verdict"] == "mismatch"
    # (its slow set is a short line: it loses the position within one training horizon)
    assert "drifts by" in fast["topology_reason"] and "over one training horizon" in \
        fast["topology_reason"]
    assert fast["memory"]["median_drift"][0] > fast["memory"]["threshold"]
    assert s["comparison"]["memory"]["median_drift"][0] < s["comparison"]["memory"]["threshold"]
    # and bistable (two discrete attractors and a saddle where the line should be)
    two = analyze_trained(line_forecaster(slow_bias=0.0, u_slow=3.0), dm, cfg,
                  figures=False).summary["comparison"]
    assert two["topology_match"] is False
    assert "stable points: learned 2, target 0" in two["topology_reason"]


def test_a_limit_cycle_is_not_a_ring(in_tmp: Path) -> None:
    dm = TrajectoryDataModule("ring", n_train=8, n_val=4, n_test=8)
    s = analyze_trained(hopf_forecaster(), dm, AnalysisConfig(n_initial=8, long_steps=300),
                figures=False).summary
    comp = s["comparison"]
    assert comp["topology_match"] is False
    assert "ring attractors: learned 0, target 1" in comp["topology_reason"]
    assert "stable cycles: learned 1, target 0" in comp["topology_reason"]


def test_verdict_grades_coverage_and_drift() -> None:
    from gru_learn.analysis.topology import topology_verdict
    from gru_learn.dynamics import SlowManifold

    def manifold(points, drift=math.inf, speed=0.0):
        return SlowManifold("line", 1, False, 2.0, 1.0, speed, speed, drift, True, -1.0, 1.0,
                            [], points, 0.05, 1e-3)

    y = torch.linspace(-1, 1, 41, dtype=torch.float64)
    target = manifold(torch.stack([torch.zeros_like(y), y], -1))
    sig = {"line_attractors": 1}
    ident = lambda h: h  # noqa: E731
    exact = topology_verdict(sig, sig, [target], [target], ident, 0.05, 30, 0.1)
    assert exact["verdict"] == "exact" and exact["topology_match"] is True
    half = manifold(torch.stack([torch.zeros(15, dtype=torch.float64), y[:15]], -1), 500.0,
                    1e-3)
    v = topology_verdict(sig, sig, [half], [target], ident, 0.05, 30, 0.1)
    assert v["verdict"] == "mismatch" and "covers" in v["reason"]
    drifty = manifold(target.points, drift=10.0, speed=0.2)
    v = topology_verdict(sig, sig, [drifty], [target], ident, 0.05, 30, 0.1)
    assert v["verdict"] == "mismatch" and "drifts along it in 1 <" in v["reason"]
    slow = manifold(target.points, drift=1e4, speed=2e-4)
    v = topology_verdict(sig, sig, [slow], [target], ident, 0.05, 30, 0.1)
    assert v["verdict"] == "approximate" and v["topology_match"] is True
    assert v["continuous_attractors"][0]["drift_time"] == pytest.approx(1e3)


def test_learned_panel_pushes_the_field_through_the_readout(in_tmp: Path) -> None:
    """comparison.png's learned panel: arrows C f(h) at C h + b on a grid of the hidden square
    (compared with the field computed here), the ODE's and the closed loop's own cycles and
    the target's cycle, each with a legend entry."""
    from matplotlib.quiver import Quiver

    model = hopf_forecaster()
    c = torch.tensor([[0.8, -0.3], [0.2, 1.1]], dtype=torch.float64)
    b = torch.tensor([0.1, -0.2], dtype=torch.float64)
    with torch.no_grad():
        model.readout.weight.copy_(c)
        model.readout.bias.copy_(b)
    dm = TrajectoryDataModule("vdp", n_train=8, n_val=4, n_test=8)
    a = analyze_trained(model, dm, AnalysisConfig(n_initial=8, long_steps=400))
    ax = a.figures["comparison"].axes[1]
    (q,) = [x for x in ax.collections if isinstance(x, Quiver)]
    g = torch.linspace(-0.95, 0.95, 15, dtype=torch.float64)
    h = torch.cartesian_prod(g, g)
    with torch.no_grad():
        v = model.cell.vector_field(h) @ c.T
    np.testing.assert_allclose(q.get_offsets(), (h @ c.T + b).numpy(), atol=1e-12)
    np.testing.assert_allclose(np.stack([q.U, q.V], -1), v.numpy(), atol=1e-12)
    labels = set(ax.get_legend_handles_labels()[1])
    assert {"stable cycle of the learned ODE", "long-run orbit of the map (closed loop)",
            "target's cycle (reference)"} <= labels, labels
    a.close()


def test_topology_match_counts_points_by_unstable_directions() -> None:
    """A 2-D target's unstable focus is, in a 16-unit network whose other directions contract,
    a point with 2 unstable directions: a saddle by kind, a match by index; a real saddle
    (1 unstable direction) is not."""
    from types import SimpleNamespace

    from gru_learn.dynamics import FixedPoint

    def point(kind: str, n_unstable: int, d: int) -> FixedPoint:
        return FixedPoint(h=torch.zeros(d, dtype=torch.float64), kind=kind,
                          eigenvalues=torch.zeros(d, dtype=torch.complex128), residual=0.0,
                          n_unstable=n_unstable)

    cycle = SimpleNamespace(stable=True)

    def result(*points: FixedPoint) -> SimpleNamespace:
        return SimpleNamespace(fixed_points=list(points), limit_cycles=[cycle])

    target = signature(result(point("unstable_focus", 2, 2)))
    assert target["points_unstable_dims_2"] == 1
    like = signature(result(point("saddle", 2, 16)))
    assert like["saddles"] == 1 and topology_match(like, target)[0]
    unlike = signature(result(point("saddle", 1, 16)))
    ok, reason = topology_match(unlike, target)
    assert not ok and "points with 1 unstable direction: learned 1, target 0" in reason


def test_data_from_a_file_gets_every_comparison_number(tmp_path: Path) -> None:
    """Without a simulator (FileDataModule) the spectra compare the test series with the
    rollout over the same steps; d_h used to fail in every such analysis (spectra of 31 and
    of ~1000 steps)."""
    from gru_learn.training.data import FileDataModule

    t = np.arange(60) * 0.5
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(12, 1))
    x = np.stack([np.cos(t + phase), np.sin(t + phase)], axis=-1).astype(np.float32)
    np.savez(tmp_path / "d.npz", trajectories=x)
    dm = FileDataModule(str(tmp_path / "d.npz"), horizon=20, val_fraction=0.2,
                        test_fraction=0.2)
    torch.manual_seed(0)
    s = analyze_trained(GRUForecaster(hidden_size=2, obs_dim=2), dm,
                AnalysisConfig(n_initial=4, long_steps=200), figures=False).summary
    assert "d_h" not in s["errors"], s["errors"]
    assert math.isfinite(s["comparison"]["d_h"]) and 0 <= s["comparison"]["d_h"] <= 1
    assert math.isfinite(s["comparison"]["d_stsp"])


def test_a_trained_ring_networks_memory_stays_within_its_bound(in_tmp: Path) -> None:
    """A 4-unit GRU trained briefly on the ring: its closed loop, started at 72 angles on the
    target's found ring, loses the angle no faster than the flow along its learned manifold
    allows (max error at step k <= max error after one horizon T + (k - T) ||phi||_inf, until
    the bound reaches pi); the target's own flow keeps it (errors ~0, ||phi||_inf ~0)."""
    from gru_learn.training.loop import train_forecaster

    torch.manual_seed(0)
    dm = TrajectoryDataModule("ring", n_train=64, n_val=8, n_test=16)
    dm.setup()
    model = GRUForecaster(hidden_size=4, obs_dim=2, dt=dm.dt, system="ring", lr=0.01)
    train_forecaster(model, dm.splits["train"], 300)
    s = analyze_trained(model, dm, AnalysisConfig(n_initial=8, long_steps=300, cycles=False),
                        figures=False).summary
    m = s["comparison"]["memory"]
    assert s["errors"] == {}
    assert m["variable"] == "angle" and m["horizons"] == [29, 290, 2900]
    assert m["manifold"] is not None and m["phi_inf"] > 0
    curve, horizon = m["curve"], m["horizons"][0]
    phi_step = m["phi_inf_per_step"]
    e_t = curve["max_error"][curve["steps"].index(horizon)]
    checked = 0
    for k, e in zip(curve["steps"], curve["max_error"], strict=True):
        bound = e_t + (k - horizon) * phi_step
        if horizon < k and bound < math.pi:
            assert e <= bound + 1e-9, (k, e, bound)
            checked += 1
    assert checked >= 3  # the bound is checked where it says something
    assert 0 < m["median_error"][1] < math.pi and m["median_error"][2] >= m["median_error"][0]
    target = m["target"]
    assert max(target["max_error"]) < 1e-3 and target["phi_inf"] < 1e-3
    # the target's exponent is ~0: no relative error, the absolute difference instead
    comp = s["comparison"]
    assert comp["lyapunov_rel_error"] is None
    assert comp["lyapunov_abs_error"] == pytest.approx(
        abs(s["learned"]["lyapunov_max"] - s["target"]["lyapunov_max"]))
