"""compare --analyze read dynamically: per (system, size) aggregation of the analyses' graded
topology verdicts, coverage, drift time, d_stsp and d_h over seeds, with failed and missing
analyses counted; the figure's panels; analyses in a worker pool; one real tiny grid. A model
trained as the map is compared with a flow by its map's unstable directions (Lorenz-63's C+-)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from gru_learn.analysis.core import signature
from gru_learn.analysis.figures.grid import fig12
from gru_learn.analysis.network import as_map
from gru_learn.cli.compare import main as compare_main
from gru_learn.dynamics import find_fixed_points, gru_jacobian
from gru_learn.dynamics.analyze import DynamicsResult
from gru_learn.dynamics.fixed_points import FixedPointResult
from gru_learn.experiments import grid as sweep
from gru_learn.experiments.grid import Grid, TrainSettings
from gru_learn.experiments.grid.report import (
    aggregate_dynamics,
    run_dynamics,
    summarize,
    with_dynamics,
)
from gru_learn.experiments.grid.tables import format_table
from gru_learn.gru.cell import GRUCell
from gru_learn.training.checkpoint import analyze_trained
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.module import GRUForecaster

TINY = ["--n-train", "16", "--n-val", "4", "--n-test", "4", "--horizon", "6"]


def analysis(verdict: str, slow_cov: float, rows: list[tuple[float, float | None]],
             d_stsp: float | None, d_h: float | None = 0.1) -> dict:
    """An analysis.json as gru_learn.analysis writes it, for a target with a ring: rows are
    (coverage_of_target, drift_time) of the learned rings; the network also has a plane."""
    return {"learned": {"signature": {"stable_points": 1, "continuous_attractors": len(rows) + 1,
                                      "ring_attractors": len(rows), "line_attractors": 0,
                                      "plane_attractors": 1}},
            "comparison": {
        "topology_match": verdict != "mismatch", "topology_verdict": verdict,
        "topology_reason": "synthetic",
        "continuous_attractors": [{"kind": "ring", "coverage_of_target": c, "drift_time": t}
                                  for c, t in rows],
        "continuous_attractor": {"kind": "ring", "coverage": slow_cov,
                                 "coverage_task": min(1.0, 2 * slow_cov)},
        "d_stsp": d_stsp, "d_h": d_h}}


def run(system: str, d: int, seed: int, a: dict | None, loss: float = 0.5) -> dict:
    r = {"system": system, "hidden_size": d, "seed": seed, "final_train_loss": loss,
         "final_val_loss": loss, "final_test_loss": loss,
         "curve": {"epoch": [0, 10, 20], "train_loss": [1.0, 0.7, loss],
                   "val_loss": [1.0, 0.7, loss]}}
    if a is not None:
        r["analysis"] = a
    return r


RUNS = [
    # 2 units: a mismatch (no learned ring), an approximate match, one failed analysis
    run("ring", 2, 0, analysis("mismatch", 0.10, [], 5.0)),
    run("ring", 2, 1, analysis("approximate", 0.30, [(0.2, 3.0), (0.25, 7.0)], 7.0)),
    run("ring", 2, 2, {"error": "RuntimeError: boom"}),
    # 4 units: an exact match (no drift: inf), two approximate ones
    run("ring", 4, 0, analysis("exact", 1.0, [(1.0, None)], 1.0, None)),
    run("ring", 4, 1, analysis("approximate", 0.9, [(0.9, 40.0)], 2.0)),
    run("ring", 4, 2, analysis("approximate", 0.8, [(0.8, 20.0)], None)),
    # FHN: no continuous attractor in the target, one run not analysed
    run("fhn", 2, 0, {"comparison": {"topology_match": True, "topology_verdict": "exact",
                                     "d_stsp": 0.5, "d_h": 0.2, "period_rel_error": -0.05}}),
    run("fhn", 2, 1, None),
]
GRID = Grid(("ring", "fhn"), (2, 4), (0, 1, 2), TrainSettings())


def test_run_dynamics_reads_the_analysis_schema() -> None:
    assert run_dynamics(RUNS[0]) == {
        "status": "analysed", "verdict": "mismatch", "topology_match": False, "d_stsp": 5.0,
        "d_h": 0.1, "period_rel_error": None, "slow_coverage": 0.1, "task_coverage": 0.2,
        "ca_coverage": 0.0, "drift_time": None, "learned_kinds": {"plane": 1},
        "memory": None}
    best = run_dynamics(RUNS[1])  # the learned ring covering most of the target's
    assert (best["ca_coverage"], best["drift_time"]) == (0.25, 7.0)
    assert best["learned_kinds"] == {"ring": 2, "plane": 1}
    assert run_dynamics(RUNS[3])["drift_time"] == math.inf  # drift_time None: it never drifts
    assert run_dynamics(RUNS[2]) == {"status": "failed", "error": "RuntimeError: boom"}
    assert run_dynamics(RUNS[7]) == {"status": "not_analysed"}
    fhn = run_dynamics(RUNS[6])  # no target attractor: coverage and drift not applicable
    assert fhn["slow_coverage"] is None and fhn["ca_coverage"] is None


def test_aggregate_over_seeds_against_numpy() -> None:
    g2 = aggregate_dynamics(RUNS[0:3])
    assert (g2["analysed"], g2["failed"], g2["not_analysed"]) == (2, 1, 0)
    assert g2["verdicts"] == {"exact": 0, "approximate": 1, "mismatch": 1}
    assert g2["topology_match_rate"] == 0.5  # over the 2 analysed runs, not the 3
    assert g2["slow_coverage"]["mean"] == pytest.approx(np.mean([0.1, 0.3]))
    assert g2["slow_coverage"]["std"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert g2["drift_time"] == {"n": 1, "missing": 1, "median": 7.0, "min": 7.0, "max": 7.0}
    assert g2["task_coverage"]["mean"] == pytest.approx(np.mean([0.2, 0.6]))
    assert g2["learned_kinds"] == {"plane": 2, "ring": 2}

    g4 = aggregate_dynamics(RUNS[3:6])
    assert g4["verdicts"] == {"exact": 1, "approximate": 2, "mismatch": 0}
    assert g4["topology_match_rate"] == 1.0
    assert g4["ca_coverage"]["mean"] == pytest.approx(np.mean([1.0, 0.9, 0.8]))
    assert g4["drift_time"]["median"] == np.median([np.inf, 40.0, 20.0]) == 40.0
    assert g4["drift_time"]["max"] == math.inf
    assert g4["d_stsp"] == pytest.approx({"n": 2, "missing": 1, "mean": 1.5,
                                          "std": np.std([1.0, 2.0], ddof=1)})
    assert g4["d_h"]["n"] == 2 and g4["d_h"]["missing"] == 1

    fhn = aggregate_dynamics(RUNS[6:8])
    assert (fhn["analysed"], fhn["not_analysed"]) == (1, 1)
    assert fhn["period_rel_error"] == {"n": 1, "missing": 0, "mean": -0.05, "std": 0.0}
    assert fhn["slow_coverage"]["n"] == 0 and fhn["drift_time"]["median"] is None
    assert aggregate_dynamics([RUNS[7]]) is None  # nothing analysed: no dynamics block


def test_summary_and_printed_table_carry_the_dynamics() -> None:
    summary = summarize(GRID, RUNS)
    rows = {(r["system"], r["hidden_size"]): r for r in summary["table"]}
    assert rows["ring", 4]["topology_match_rate"] == 1.0
    assert rows["ring", 2]["dynamics"]["failed"] == 1
    json.dumps(summary, allow_nan=True)  # inf drift times serialise (as Infinity)
    text = format_table(summary)
    lines = {tuple(line.split()[:2]): line for line in text.splitlines() if line[:1] in "rf"}
    assert "0/1/1" in lines["ring", "2"] and "(1 failed)" in lines["ring", "2"]
    assert "1/2/0" in lines["ring", "4"] and "40 [20, inf]" in lines["ring", "4"]
    assert "(1 not analysed)" in lines["fhn", "2"]


def test_figure_panels_follow_the_data() -> None:
    import matplotlib.pyplot as plt

    runs = with_dynamics(RUNS)
    ring = fig12("ring", runs, (2, 4))  # loss, verdicts, coverage, drift time, d_stsp
    fhn = fig12("fhn", runs, (2, 4))  # loss, verdicts, period error, d_stsp: no attractor
    bare = fig12("ring", with_dynamics([{k: v for k, v in r.items() if k != "analysis"}
                                        for r in RUNS]), (2, 4))
    assert [len(f.axes) for f in (ring, fhn, bare)] == [5, 4, 1]
    bars = ring.axes[1].patches  # exact, approximate, mismatch x size, stacked
    assert [p.get_height() for p in bars] == pytest.approx([0, 1 / 3, 1 / 2, 2 / 3, 1 / 2, 0])
    assert [p.get_y() for p in bars[4:]] == pytest.approx([1 / 2, 1])
    for f in (ring, fhn, bare):
        plt.close(f)


def fake_analysis(path: str, out_dir: str) -> dict:
    if "seed1" in path:
        raise ValueError("no slow set\nsecond line")
    return analysis("approximate", 0.5, [(0.5, 10.0)], 1.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_analyses_in_the_worker_pool_and_failures_counted(workers: int, in_tmp: Path,
                                                         monkeypatch, capsys) -> None:
    monkeypatch.setattr(sweep.analyze, "analysis_hook", lambda: fake_analysis)
    args = ["--systems", "ring", "--hidden-sizes", "2", "--seeds", "0", "1", "--epochs", "3",
            "--out", "out", "--workers", str(workers), *TINY]
    assert compare_main([*args, "--analyze"]) == 0
    failed = json.loads((in_tmp / "out/ring/h2/seed1/analysis.json").read_text())
    assert failed == {"error": "ValueError: no slow set"}
    row = json.loads((in_tmp / "out/summary.json").read_text())["table"][0]
    assert (row["dynamics"]["analysed"], row["dynamics"]["failed"]) == (1, 1)
    assert "analysed 2 run(s)" in capsys.readouterr().out
    assert compare_main([*args, "--analyze"]) == 0  # resumed: nothing analysed again
    assert "analysed" not in capsys.readouterr().out.split("dynamics over seeds")[0]


def test_real_tiny_grid_with_analysis(in_tmp: Path, capsys) -> None:
    """gru_learn.analysis on a real 2-unit ring network (30 epochs; 7 s here): the row has a
    verdict and a slow-set coverage in [0, 1] (the target's attractor is found by the
    toolkit)."""
    args = ["--systems", "ring", "--hidden-sizes", "2", "--seeds", "0", "--epochs", "30",
            "--out", "out", "--analyze", *TINY]
    assert compare_main(args) == 0
    summary = json.loads((in_tmp / "out/summary.json").read_text())
    g = summary["table"][0]["dynamics"]
    assert g["analysed"] == 1 and sum(g["verdicts"].values()) == 1
    assert 0.0 <= g["slow_coverage"]["mean"] <= 1.0
    assert (in_tmp / "out/fig12_ring.png").stat().st_size > 10_000



# --- a model trained as the map is read as the map: Lorenz-63's saddle-foci ---------------------
SIGMA, RHO, BETA, LORENZ_DT = 10.0, 28.0, 8.0 / 3.0, 0.05
C_LORENZ = math.sqrt(BETA * (RHO - 1))
LORENZ_POINTS = {"C+": np.array([C_LORENZ, C_LORENZ, RHO - 1]),
                 "C-": np.array([-C_LORENZ, -C_LORENZ, RHO - 1]), "origin": np.zeros(3)}


def lorenz_jacobian(x: np.ndarray) -> np.ndarray:
    """The Lorenz-63 Jacobian at x, written out by hand (independent of gru_learn.systems)."""
    return np.array([[-SIGMA, SIGMA, 0.0],
                     [RHO - x[2], -1.0, -x[0]],
                     [x[1], x[0], -BETA]])


def gru_with_map_jacobian(m: np.ndarray, input_size: int = 0) -> GRUCell:
    """A GRU (input weights zero) with a fixed point at h = 0 whose map h -> h + f(h) has
    Jacobian m there: r = sigmoid(40) ~ 1, z = sigmoid(-40) ~ 0, n = tanh(W_hn (r h)), so the
    map's Jacobian z I + (1 - z) r W_hn is W_hn = m to 1e-17."""
    d = len(m)
    w_hh = torch.zeros(3 * d, d, dtype=torch.float64)
    w_hh[2 * d:] = torch.as_tensor(m)
    b_hh = torch.cat([torch.full((d,), 40.0), torch.full((d,), -40.0), torch.zeros(d)]).double()
    return GRUCell.from_torch_weights(torch.zeros(3 * d, input_size, dtype=torch.float64), w_hh,
                                      None, b_hh, reset="before")


def lorenz_map_gru(point: str, input_size: int = 0) -> tuple[GRUCell, int]:
    """The GRU whose step is the time-dt map of Lorenz-63 linearised at ``point``
    (expm(dt A)), and the flow's number of unstable directions there (numpy: Re eig(A) > 0)."""
    a = lorenz_jacobian(LORENZ_POINTS[point])
    return (gru_with_map_jacobian(expm(LORENZ_DT * a), input_size),
            int((np.linalg.eigvals(a).real > 0).sum()))


@pytest.mark.parametrize("point", ["C+", "C-", "origin"])
def test_a_map_of_lorenz_has_the_flows_unstable_directions(point: str) -> None:
    """Read as the map (``as_map``: what the comparison uses for a discrete model), a GRU whose
    step is exactly the time-dt map of Lorenz-63 linearised at a fixed point has as many
    unstable directions there as the flow: C+- = (+-sqrt(b(r-1)), +-sqrt(b(r-1)), r-1) 2 (a
    pair 0.094 +- 10.19i), the origin 1; and ln|mu| / dt = Re lambda. The ODE reading
    dh/dt = f(h) calls C+- stable: Re(exp(dt lambda) - 1) = -0.12 < 0."""
    cell, n_flow = lorenz_map_gru(point)
    assert n_flow == (1 if point == "origin" else 2)
    fixed = find_fixed_points(cell.vector_field, [(-1.0, 1.0)] * 3, jac=gru_jacobian(cell),
                              step=lambda h: cell(None, h))
    at_zero = [p for p in fixed.fixed_points if float(p.h.norm()) < 1e-8]
    assert len(at_zero) == 1
    result = DynamicsResult(fixed=FixedPointResult(at_zero, []), limit_cycles=[],
                            box=((-1.0, 1.0),) * 3)
    assert as_map(result).fixed_points[0].n_unstable == n_flow
    assert signature(as_map(result)).get(f"points_unstable_dims_{n_flow}") == 1
    lam = np.linalg.eigvals(lorenz_jacobian(LORENZ_POINTS[point]))
    mu = 1 + at_zero[0].eigenvalues.numpy()
    np.testing.assert_allclose(np.sort(np.log(np.abs(mu)) / LORENZ_DT), np.sort(lam.real),
                               atol=1e-8)
    assert at_zero[0].n_unstable == (1 if point == "origin" else 0)  # the ODE reading


def test_the_comparison_reads_a_discrete_model_as_its_map(tmp_path: Path) -> None:
    """``analyze`` of a discrete-rollout model on Lorenz-63 whose map at its one fixed point
    is the flow's time-dt map at C+: the verdict counts it as a point with 2 unstable
    directions (as the target's C+-, found by the toolkit and checked against numpy's
    count), not as a stable point (the ODE reading, which is kept in ``signature``)."""
    cell, n_flow = lorenz_map_gru("C+", input_size=3)
    model = GRUForecaster(hidden_size=3, obs_dim=3, dt=LORENZ_DT, system="lorenz").double()
    model.cell.load_state_dict(cell.state_dict())
    with torch.no_grad():
        model.readout.weight.copy_(torch.eye(3))
        model.readout.bias.zero_()
    dm = TrajectoryDataModule(system="lorenz", n_train=4, n_val=2, n_test=4, horizon=29,
                              cache_dir=str(tmp_path))
    s = analyze_trained(model, dm, figures=False).summary
    target = s["target"]["signature"]  # C+- (the origin is outside this small data's box)
    assert target.get(f"points_unstable_dims_{n_flow}") == 2
    assert target.get("points_unstable_dims_0", 0) == 0
    assert s["learned"]["signature_map"] == {**s["learned"]["signature_map"],
                                             "points_unstable_dims_2": 1, "stable_points": 0}
    assert s["learned"]["signature"]["stable_points"] == 1  # the ODE reading, kept apart
    reason = s["comparison"]["topology_reason"]
    assert "points with 2 unstable directions: learned 1, target 2" in reason
    assert "stable points" not in reason


def test_memory_is_aggregated_per_size_and_printed() -> None:
    """comparison.memory of each seed -> median [min, max] per (system, size), in the table."""
    def with_memory(seed: int, errors: list[float], phi: float | None) -> dict:
        a = analysis("mismatch", 0.1, [], 5.0)
        a["comparison"]["memory"] = {
            "variable": "angle", "unit": "rad", "horizons": [29, 290, 2900],
            "horizon_multiples": [1, 10, 100], "median_error": errors,
            "max_error": [2 * e for e in errors], "phi_inf": phi, "memory_time": 90 + seed}
        return run("ring", 16, seed, a)

    runs = [with_memory(0, [0.05, 0.2, 0.5], 0.01), with_memory(1, [0.07, 0.4, 1.0], 0.03),
            with_memory(2, [0.06, 0.3, 0.8], None)]
    g = aggregate_dynamics(runs)["memory"]
    assert g["variable"] == "angle" and g["unit"] == "rad"
    assert g["error_10h"]["median"] == 0.3 and (g["error_10h"]["min"], g["error_10h"]["max"]) \
        == (0.2, 0.4)
    assert g["error_100h"]["median"] == 0.8
    assert g["phi_inf"]["n"] == 2 and g["phi_inf"]["missing"] == 1  # one seed without a curve
    assert g["memory_time"]["median"] == 91
    table = format_table(summarize(Grid(("ring",), (16,), (0, 1, 2), TrainSettings()), runs))
    line = next(ln for ln in table.splitlines() if ln.startswith("ring") and "0.3 [0.2, 0.4]"
                in ln)
    assert "0.8 [0.5, 1]" in line and "91 [90, 92]" in line


def test_a_memory_held_to_the_end_counts_as_held_not_missing() -> None:
    """A seed whose drift never reaches the threshold (memory_time None) counts at its last
    step, and the table says how many held their value to the end."""
    def with_time(seed: int, held: int | None) -> dict:
        a = analysis("mismatch", 0.1, [], 5.0)
        a["comparison"]["memory"] = {
            "variable": "angle", "unit": "rad", "horizons": [29, 290, 2900],
            "horizon_multiples": [1, 10, 100], "median_error": [0.2, 0.2, 0.2],
            "max_error": [0.3, 0.3, 0.3], "phi_inf": 0.01, "memory_time": held}
        return run("ring", 16, seed, a)

    runs = [with_time(0, 500), with_time(1, None), with_time(2, None)]
    g = aggregate_dynamics(runs)["memory"]["memory_time"]
    assert (g["n"], g["median"], g["min"], g["held"]) == (3, 2900, 500, 2)
    table = format_table(summarize(Grid(("ring",), (16,), (0, 1, 2), TrainSettings()), runs))
    assert "2.9e+03 [500, 2.9e+03] (2 held to the end)" in table
    from gru_learn.experiments.grid.methods import method_rows, methods_table

    grid = Grid(("ring",), (16,), (0, 1, 2), TrainSettings())
    rows = methods_table(method_rows("paper", grid, summarize(grid, runs)))
    assert ("| 2.9e+03 [5e+02, 2.9e+03] (2 held to the end) | 2.9e+03 [2.9e+03, 2.9e+03] "
            "(3 held to the end) |") in rows[-1]
