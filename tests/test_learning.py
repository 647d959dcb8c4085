"""Acceptance: the default experiment (2-D GRU on FitzHugh-Nagumo) learns the oscillation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from gru_learn.cli.fit import main as fit_main
from gru_learn.data import TrajectoryDataModule
from gru_learn.model import GRUForecaster


def fhn_period(i_ext: float = 0.7, tau: float = 12.5, a: float = 0.7, b: float = 0.8) -> float:
    """The FHN limit cycle's period from scipy (an independent integrator), upward x-crossings."""
    def f(t, s):
        return [s[0] - s[0] ** 3 / 3 - s[1] + i_ext, (s[0] + a - b * s[1]) / tau]

    sol = solve_ivp(f, [0, 1500], [0.0, 0.0], rtol=1e-10, atol=1e-10, dense_output=True)
    t = np.linspace(500, 1500, 400_001)
    x = sol.sol(t)[0]
    up = t[1:][(x[:-1] < 0) & (x[1:] >= 0)]
    return float(np.diff(up).mean())


def closed_loop_period(x: np.ndarray) -> float | None:
    """Mean spacing of upward zero crossings of a mean-removed series, or None if < 3."""
    x = x - x.mean()
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    return float(np.diff(up).mean()) if len(up) >= 3 else None


@pytest.mark.slow
def test_default_fit_learns_the_fhn_oscillation(in_tmp: Path) -> None:
    # the shipped default at reduced cost: 800 of the 4000 epochs
    assert fit_main(["fit", "--trainer.max_epochs=800", "--trainer.enable_progress_bar=false",
                     "--trainer.enable_model_summary=false"]) == 0
    (ckpt,) = in_tmp.glob("logs/fhn/version_0/checkpoints/last.ckpt")
    model = GRUForecaster.load_from_checkpoint(ckpt).double()
    dm = TrajectoryDataModule()
    dm.setup()
    w0 = dm.splits["test"][:8, 0].double()
    with torch.no_grad():
        x = model(w0, 400)[:, 150:, 0].numpy()  # closed loop, far past the 29-step horizon
    true_period = fhn_period()
    for series in x:
        assert series.max() - series.min() > 2.0  # true peak-to-peak amplitude is about 3.8
        period = closed_loop_period(series)
        assert period is not None
        assert abs(period * dm.dt / true_period - 1) < 0.15
