"""dysts systems as targets (``dysts:Name``): data from the system's own integrator sampled
every dt, the target side found by our toolkit (fixed points against their closed forms, the
Lyapunov exponent against the metadata's), ``fit`` and ``compare`` on them, one-line errors.
dysts is an optional extra; without it only the error path is tested."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from gru_learn.errors import UserError
from gru_learn.systems.registry import get_system
from tests.conftest import run_cli

NEEDS_DYSTS = "dysts is an optional extra (pip install -e '.[dysts]')"


@pytest.fixture
def dysts() -> object:
    return pytest.importorskip("dysts", reason=NEEDS_DYSTS)


def test_without_dysts_a_dysts_name_is_one_line_saying_how_to_install(monkeypatch) -> None:
    from gru_learn.systems.dysts_systems import dysts_system

    for mod in ("dysts", "dysts.flows", "dysts.systems"):
        monkeypatch.setitem(sys.modules, mod, None)  # import fails as if not installed
    with pytest.raises(UserError, match=r"optional package dysts: pip install -e \"\.\[dysts\]\""):
        dysts_system("NotYetBuilt")
    with pytest.raises(UserError, match="or a dysts system as dysts:<Name>"):
        get_system("no_such_system")


def _rk4(f, x: torch.Tensor, dt: float, sub: int = 50) -> torch.Tensor:
    h = dt / sub
    for _ in range(sub):
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


@pytest.mark.parametrize("name", ["Lorenz", "Rossler", "Thomas"])
def test_data_come_from_the_systems_integrator_every_dt(dysts, name: str) -> None:
    """Sampled exactly dt = period / 100 apart, and one sample follows from the one before
    by integrating the same right-hand side through our torch wrapper (RK4, 50 substeps)."""
    system = get_system(f"dysts:{name}")
    assert system.dt == pytest.approx(system.obj.period / 100)
    sim = system.simulator(4, 20, system.dt, params=system.params, param_noise_std={},
                           obs_noise_std=0.1, process_noise_std=0.0, ic_low=system.ic_low,
                           ic_high=system.ic_high, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sim["t"].diff(), torch.full((20,), system.dt, dtype=torch.float64))
    clean = sim["clean"]
    assert clean.shape == (4, 21, 3)
    assert len(torch.unique(clean[:, 0], dim=0)) == 4  # initial states drawn apart
    assert ((clean[:, 0] >= torch.tensor(system.ic_low)) &
            (clean[:, 0] <= torch.tensor(system.ic_high))).all()
    step = _rk4(system.vector_field(), clean[:, :-1].reshape(-1, 3), system.dt)
    scale = clean.abs().amax()
    assert (step - clean[:, 1:].reshape(-1, 3)).abs().max() < 1e-5 * scale
    assert 0.05 < float((sim["observed"] - clean).std()) < 0.15
    with pytest.raises(UserError, match="observation noise only"):
        system.simulator(2, 5, system.dt, params=system.params, param_noise_std={},
                         obs_noise_std=0.0, process_noise_std=0.1, ic_low=system.ic_low,
                         ic_high=system.ic_high, generator=torch.Generator())


@pytest.mark.slow
def test_the_target_side_finds_fixed_points_and_the_exponent(dysts, monkeypatch) -> None:
    """Lorenz: C+- = (+-sqrt(beta (rho - 1)), ..., rho - 1) found, and the largest exponent
    (a shorter run than the default, 10000 RK4 steps) within 10 % of dysts' metadata.
    Rossler: its inner fixed point x = (c - sqrt(c^2 - 4ab)) / 2, y = -x / a, z = x / a."""
    from gru_learn.analysis import AnalysisConfig, target
    from gru_learn.analysis.core import Recorder
    from gru_learn.analysis.module_analysis import target_data

    monkeypatch.setattr(target, "LYAPUNOV_STEPS", 10000)
    lorenz = target.target_side(target_data("dysts:Lorenz"), AnalysisConfig(cycles=False),
                                Recorder()).summary
    p = get_system("dysts:Lorenz").params
    r = math.sqrt(p["beta"] * (p["rho"] - 1))
    found = sorted(v for q in lorenz["fixed_points"] for v in q["h"])
    assert found == pytest.approx(sorted([-r, -r, r, r, p["rho"] - 1, p["rho"] - 1]), abs=1e-6)
    ref = lorenz["lyapunov_reference"]
    assert ref["source"].startswith("dysts metadata") and ref["value"] == pytest.approx(0.8917,
                                                                                        abs=1e-3)
    assert ref["rel_error"] < 0.1
    assert ref["rel_error"] == pytest.approx(abs(lorenz["lyapunov_max"] - ref["value"])
                                             / ref["value"])
    monkeypatch.setattr(target, "LYAPUNOV_STEPS", 2000)  # its exponent is not checked here
    rossler = target.target_side(target_data("dysts:Rossler"), AnalysisConfig(cycles=False),
                                 Recorder()).summary
    q = get_system("dysts:Rossler").params
    x = (q["c"] - math.sqrt(q["c"] ** 2 - 4 * q["a"] * q["b"])) / 2
    assert [x, -x / q["a"], x / q["a"]] in [pytest.approx(f["h"], abs=1e-8)
                                            for f in rossler["fixed_points"]]


def test_bad_dysts_names_are_one_line_with_close_matches(dysts, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"unknown dysts system 'Lorenzz'; close matches: "
                                        r"Lorenz, Lorenz96"):
        get_system("dysts:Lorenzz")
    r = run_cli("fit", "--data.system=dysts:Rosler", "--trainer.max_epochs=1", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr  # (Lightning's seed line before)
    assert "error: unknown dysts system 'Rosler'; close matches: Rossler" in \
        r.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_fit_and_compare_on_dysts_systems(dysts, tmp_path: Path) -> None:
    tiny = ["--n-train", "8", "--n-val", "2", "--n-test", "2", "--horizon", "10"]
    r = run_cli("compare", "--systems", "dysts:Lorenz", "dysts:Thomas", "--hidden-sizes", "3",
                "--seeds", "0", "--epochs", "2", "--workers", "1", *tiny, "--out", "grid",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-800:]
    runs = json.loads((tmp_path / "grid" / "summary.json").read_text())["runs"]
    assert sorted(run["system"] for run in runs) == ["dysts:Lorenz", "dysts:Thomas"]
    assert (tmp_path / "grid" / "dysts_Lorenz" / "h3" / "seed0").is_dir()
    assert (tmp_path / "grid" / "fig12_dysts_Thomas.png").is_file()
    fit = run_cli("fit", "--data.system=dysts:Rossler", "--model.hidden_size=3",
                  "--trainer.max_epochs=2", "--data.n_train=8", "--data.n_val=2",
                  "--data.n_test=2", "--data.horizon=10", "--trainer.enable_progress_bar=false",
                  cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr[-800:]
    summary = json.loads((tmp_path / "logs/dysts_Rossler/version_0/analysis/summary.json")
                         .read_text())
    assert summary["target"]["system"] == "dysts:Rossler"
    assert summary["target"]["lyapunov_reference"]["value"] == pytest.approx(0.1506, abs=1e-3)
