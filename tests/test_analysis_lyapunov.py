"""The largest Lyapunov exponent in the analysis: the learned side on a GRU whose map is a known
linear contraction, the Lorenz target side (exponent against the published value, its three
fixed points and their kinds in a box derived from the data) and the keys end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from gru_learn.analysis.core import AnalysisConfig, Recorder
from gru_learn.analysis.network import network_lyapunov
from gru_learn.analysis.target import target_side
from gru_learn.gru.cell import GRUCell
from gru_learn.systems.registry import Lorenz63
from gru_learn.training.checkpoint import data_source
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.hparams import final_metrics

F64 = torch.float64


def contraction_cell(b_z: torch.Tensor, b_n: torch.Tensor) -> GRUCell:
    """A GRU with W_hh = 0: z = sigmoid(b_z), n = tanh(b_n) are constant, so its map
    h -> z * h + (1 - z) * n is linear with Jacobian diag(z); its largest exponent per step is
    ln max(z) (the log of the spectral radius)."""
    d = len(b_z)
    cell = GRUCell(0, d, reset="after").to(F64)
    with torch.no_grad():
        cell.weight_hh.zero_()
        cell.bias_hh.zero_()
        cell.bias_ih.copy_(torch.cat([torch.zeros(d, dtype=F64), b_z, b_n]))
    return cell


@pytest.mark.parametrize("rollout", ["discrete", "ode"])
def test_a_contraction_gives_the_log_of_its_spectral_radius(rollout: str) -> None:
    b_z = torch.tensor([0.3, -1.0, 1.5], dtype=F64)
    cell = contraction_cell(b_z, torch.tensor([0.2, -0.4, 0.1], dtype=F64))
    h0 = torch.rand(4, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    dt = 0.05
    lam, how = network_lyapunov(cell, h0, dt, rollout, steps=400, transient=20)
    z = torch.sigmoid(b_z)
    if rollout == "discrete":  # the map's multipliers are z
        expect = math.log(float(z.max())) / dt
    else:  # dh/dt = (1 - z) (n - h): eigenvalues -(1 - z), the slowest is -(1 - max z)
        expect = -(1 - float(z.max())) / dt
    assert lam < 0
    assert lam == pytest.approx(expect, rel=1e-3)
    assert how["orbits"] == 4 and how["per_gru_step"] == pytest.approx(lam * dt)


def test_lorenz_target_exponent_and_three_fixed_points(tmp_path: Path) -> None:
    # one test trajectory whose z stays above 4 (seed 2): the test split alone gives a box
    # without the origin (2 saddles found); the analysis's box covers every split
    dm = TrajectoryDataModule(system="lorenz", n_train=8, n_val=2, n_test=1, horizon=1000,
                              window=50, seed=2, cache_dir=str(tmp_path))
    dm.setup()
    assert float(dm.blob["test_clean"][..., 2].min()) > 4
    rec = Recorder()
    side = target_side(data_source(dm), AnalysisConfig(cycles=False), rec)
    assert not rec.errors
    lam = side.summary["lyapunov_max"]
    assert lam == pytest.approx(Lorenz63.lyapunov_max, rel=0.1)  # Sprott's 0.9056
    assert side.summary["lyapunov"]["steps"] == 20000
    pts = side.result.fixed_points
    truth = Lorenz63.fixed_points()
    assert len(pts) == 3
    found = torch.stack([p.h for p in pts])
    assert torch.cdist(truth, found).min(1).values.max() < 1e-6
    for p in pts:
        unstable = p.eigenvalues[p.eigenvalues.real > 0]
        if float(p.h.norm()) < 1e-6:  # origin: a saddle with one real unstable direction
            assert len(unstable) == 1 and abs(float(unstable.imag[0])) < 1e-12
        else:  # C+-: saddle-foci, a complex unstable pair
            assert len(unstable) == 2 and abs(float(unstable.imag[0])) > 1
        assert p.kind == "saddle"
    assert side.summary["signature"]["saddles"] == 3


def test_no_target_exponent_where_a_cycle_attracts(tmp_path: Path) -> None:
    dm = TrajectoryDataModule(system="fhn", n_train=4, n_val=2, n_test=4, cache_dir=str(tmp_path))
    dm.setup()
    side = target_side(data_source(dm), AnalysisConfig(), Recorder())
    assert side.summary["signature"]["stable_cycles"] >= 1
    assert side.summary["lyapunov_max"] is None
    assert "not computed" in side.summary["lyapunov"]["reason"]


def test_a_short_lorenz_fit_reports_the_exponents(in_tmp: Path) -> None:
    from gru_learn.cli.fit import main as fit_main

    root = Path(__file__).resolve().parents[1]
    assert fit_main(["fit", "--config", str(root / "configs/lorenz.yaml"),
                     "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
                     "--model.hidden_size=4", "--analysis.long_steps=200",
                     "--analysis.cycles=false"]) == 0
    run = in_tmp / "logs/lorenz/version_0"
    s = json.loads((run / "analysis/summary.json").read_text())
    lam_l, lam_t = s["learned"]["lyapunov_max"], s["target"]["lyapunov_max"]
    assert math.isfinite(lam_l) and s["learned"]["lyapunov"]["steps"] == 2000
    assert lam_t == pytest.approx(Lorenz63.lyapunov_max, rel=0.1)
    assert s["comparison"]["lyapunov_rel_error"] == pytest.approx(
        abs(lam_l - lam_t) / lam_t)
    assert s["target"]["signature"]["saddles"] == 3
    m = final_metrics({}, s)
    assert m["results/lyapunov_rel_error"] == pytest.approx(s["comparison"]["lyapunov_rel_error"])
    assert m["results/lyapunov_max"] == pytest.approx(lam_l)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set(EventAccumulator(str(run)).Reload().Tags()["scalars"])
    assert {"results/lyapunov_max", "results/lyapunov_rel_error"} <= tags
    # long_steps 200 < horizon 1000: the test MSE covers the 250 steps the rollout has
    assert not s["errors"] and len(s["comparison"]["test_mse"]["per_step"]) == 250
