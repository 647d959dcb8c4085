"""A grid's common evaluation (``compare --evaluation ... --analyze``): every run of a system is
analysed on the same data, whatever data its training method used, and scored by the measures
of dynamical-systems reconstruction, as is the true system itself (every measure's floor).

Per run (``evaluation.json`` beside ``analysis.json``, which then holds the analysis on the
evaluation data): ``d_stsp_nominal``, our d_stsp of free runs from the analysis' initial states
against the same states' nominal-parameter truth (the analysis' ``d_stsp`` compares with
trajectories of per-trajectory parameters: FHN draws I_ext per trajectory, sd 0.2); and, on one
long free run from the first test state against one long true trajectory (``steps`` samples
after ``transient``), the reference D_stsp (30 bins: ``d_stsp_ref``; Gaussian mixture,
sigma^2 = 1: ``d_stsp_gmm``) and D_H (``d_h_ref``, smoothing ``psd_sigma``) of
:mod:`gru_learn.dynamics.metrics`, and both series' peak-to-peak extents.

Per system (``<out>/<system>/truth.json``): the true system at its nominal parameters scored as
if it were a model: d_stsp and d_h of its nominal trajectories against the analysis' truth,
d_stsp_nominal (0 by construction), and the reference measures of a second long nominal
trajectory against the first.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gru_learn.files.atomic import atomic_path

F64 = torch.float64
TRUTH_FILE = "truth.json"
RUN_FILE = "evaluation.json"


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """``data``: the evaluation data's TrajectoryDataModule options (all but ``system``; empty:
    the system's paper setting; ``cache_dir`` defaults to the grid's); ``steps`` and
    ``transient``: the long free run of the reference measures; ``psd_sigma``: D_H's
    smoothing."""

    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    steps: int = 20000
    transient: int = 1000
    psd_sigma: float = 20.0


def true_trajectory(cls: Any, params: dict, x0: torch.Tensor, dt: float, steps: int,
                    substeps: int = 4) -> np.ndarray:
    """(steps, B, p) samples of the clean target at spacing dt from x0 (B, p), fixed-step RK4
    with ``substeps`` steps per sample."""
    from gru_learn.dynamics import integrate

    _, path = integrate(cls.vector_field(params), x0, steps * dt, dt / substeps,
                        save_every=substeps)
    return path[:steps].numpy()


class Target:
    """Everything the evaluation of one system shares across runs, cached in ``cache`` (an
    .npz): the evaluation DataModule ``dm``; ``truth``, one long clean trajectory at the
    nominal parameters from the first test state, and ``truth_other``, the same from the second
    (the true system's own score); ``truth_band``, the clean trajectories the analysis compares
    d_stsp with (the first ``n`` test states, each with its own parameters) and
    ``truth_nominal``, the same states at the nominal parameters, both after the analysis'
    transient."""

    KEYS = ("truth", "truth_other", "truth_band", "truth_nominal")

    def __init__(self, system: str, evaluation: Evaluation, cache: Path,
                 cache_dir: str | None = None) -> None:
        from gru_learn.analysis import AnalysisConfig
        from gru_learn.analysis.target import simulate_long
        from gru_learn.training.checkpoint import data_source
        from gru_learn.training.data import TrajectoryDataModule

        self.steps, self.drop = evaluation.steps, evaluation.transient
        self.sigma = evaluation.psd_sigma
        data = dict(evaluation.data)
        if cache_dir is not None:
            data.setdefault("cache_dir", cache_dir)
        self.dm = TrajectoryDataModule(system=system, **data)
        self.dm.setup()
        cfg = AnalysisConfig()
        self.n = min(cfg.n_initial, len(self.dm.splits["test"]))
        self.total = int(1.25 * cfg.long_steps)  # as analyze: 1.25 L generated, 0.25 L dropped
        self.long_drop = self.total - cfg.long_steps
        cls, dt, nominal = self.dm.system_cls, self.dm.dt, self.dm.spec["params"]
        cached = dict(np.load(cache)) if cache.is_file() else {}
        if all(k in cached for k in self.KEYS) and len(cached["truth"]) == self.steps:
            for k in self.KEYS:
                setattr(self, k, cached[k])
            return
        clean = self.dm.blob["test_clean"].to(F64)
        long = true_trajectory(cls, nominal, clean[:2, 0], dt, self.steps + self.drop)
        self.truth, self.truth_other = long[self.drop:, 0], long[self.drop:, 1]
        band = simulate_long(data_source(self.dm), self.n, self.total)  # as analyze does
        self.truth_band = band[:, self.long_drop + 1:].numpy()
        nom = true_trajectory(cls, nominal, clean[: self.n, 0], dt, self.total + 1, substeps=8)
        self.truth_nominal = nom.transpose(1, 0, 2)[:, self.long_drop + 1:]
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache, suffix=".npz") as tmp:
            np.savez(tmp, **{k: getattr(self, k) for k in self.KEYS})


def free_run_measures(model: Any, target: Target) -> dict[str, Any]:
    """A GRUForecaster's free runs scored against ``target`` (see the module's docstring)."""
    from gru_learn.dynamics.metrics import state_space_divergence
    from gru_learn.gru.rollout import rollout_hidden

    model = model.to(F64).eval()
    cell, readout = model.cell, model.readout
    test = target.dm.splits["test"].to(F64)
    with torch.no_grad():
        short = readout(rollout_hidden(cell, test[: target.n, 0], target.total))
        hs = rollout_hidden(cell, test[:1, 0], target.steps + target.drop)[0, target.drop:]
        gen = readout(hs).numpy()
    out: dict[str, Any] = {"d_stsp_nominal": state_space_divergence(
        target.truth_nominal, short[:, target.long_drop:])}
    out.update(reference_measures(target, gen))
    return out


def reference_measures(target: Target, gen: np.ndarray) -> dict[str, Any]:
    """Reference D_stsp (30 bins; GMM, sigma^2 = 1) and D_H of one long generated series
    against ``target.truth``, and both series' peak-to-peak extents."""
    from gru_learn.dynamics.metrics import (
        power_spectrum_error_reference,
        state_space_divergence_gmm,
        state_space_divergence_reference,
    )

    return {
        "d_stsp_ref": state_space_divergence_reference(target.truth, gen, bins=30),
        "d_stsp_gmm": state_space_divergence_gmm(target.truth, gen, scaling=1.0,
                                                 generator=np.random.default_rng(0)),
        "d_h_ref": power_spectrum_error_reference(target.truth, gen, sigma=target.sigma),
        "amplitude": (gen.max(0) - gen.min(0)).tolist(),
        "amplitude_target": (target.truth.max(0) - target.truth.min(0)).tolist()}


def truth_measures(target: Target) -> dict[str, Any]:
    """The true system at its nominal parameters scored as if it were a trained model: d_stsp,
    d_h of the nominal trajectories from the analysis' initial states against the analysis'
    truth (per-trajectory parameters); reference measures of the long nominal trajectory from
    the second test state against the one from the first."""
    from gru_learn.dynamics.metrics import power_spectrum_distance, state_space_divergence

    out: dict[str, Any] = {
        "d_stsp": state_space_divergence(target.truth_band, target.truth_nominal),
        "d_h": power_spectrum_distance(target.truth_band, target.truth_nominal),
        "d_stsp_nominal": state_space_divergence(target.truth_nominal, target.truth_nominal)}
    out.update(reference_measures(target, target.truth_other))
    return out
