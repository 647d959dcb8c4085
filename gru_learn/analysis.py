"""Learned versus target dynamics: one trained GRU and the system that made its data, both read
by the same toolkit (``gru_learn.dynamics``) and compared in observation space.

``analyze(model, datamodule)`` returns an :class:`Analysis` (``summary`` with top-level keys
``learned``, ``target``, ``comparison``, and figures); ``Analysis.save(dir)`` writes
``summary.json`` and the PNGs. A sub-analysis that fails is recorded with its reason under its
key and the rest still runs. Times are in the target's units (one GRU step = ``dt``).
"""

from __future__ import annotations

import copy
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gru_learn.atomic import write_json_atomic
from gru_learn.data import TrajectoryDataModule, _SplitDataModule
from gru_learn.dynamics import DynamicsResult, analyze_vector_field, integrate
from gru_learn.dynamics.metrics import (
    coverage,
    hausdorff,
    power_spectrum_distance,
    state_space_divergence,
)
from gru_learn.gru import GRUCell
from gru_learn.model import GRUForecaster, rollout_hidden

F64 = torch.float64
STABLE_KINDS = ("stable_node", "stable_focus")
UNSTABLE_KINDS = ("unstable_node", "unstable_focus")


@dataclass
class AnalysisConfig:
    """Knobs of the analysis (defaults are what the callback and ``analyze`` use).

    Args:
        n_initial: test trajectories whose initial states seed rollouts and searches.
        long_steps: free-running length L (GRU steps) for d_stsp and d_h; 1.25 L are generated
            and the first 0.25 L dropped as transient.
        slow_speed: speed through the readout, |C f(h)| (observation units per GRU step),
            under which a state is "slow"; None: coverage radius / long_steps, i.e. the state
            would take over L steps to move one coverage radius.
        coverage_radius: as a fraction of the data's largest extent.
        cycles: search limit cycles (the slowest part).
        cycle_transient, cycle_window: integration time (GRU steps) discarded, then searched
            for Poincare returns, in the learned cycle search.
    """

    n_initial: int = 32
    long_steps: int = 1000
    slow_speed: float | None = None
    coverage_radius: float = 0.05
    cycles: bool = True
    cycle_transient: float = 200.0
    cycle_window: float = 200.0


@dataclass
class Analysis:
    summary: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)

    def save(self, out_dir: str | Path) -> Path:
        """Write summary.json and every figure as PNG into ``out_dir``; returns the JSON path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in self.figures.items():
            fig.savefig(out / f"{name}.png", dpi=110)
        write_json_atomic(out / "summary.json", self.summary)
        return out / "summary.json"

    def close(self) -> None:
        import matplotlib.pyplot as plt

        for fig in self.figures.values():
            plt.close(fig)


class _Recorder:
    """Runs sub-analyses; a failure is stored as ``{"error": reason}`` instead of raising."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        except Exception as e:  # one failing piece must not lose the others
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.errors[name] = (f"{type(e).__name__}: {e} "
                                 f"({Path(where.filename).name}:{where.lineno})")
            return None
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)


# --- pieces -------------------------------------------------------------------------------
def signature(result: DynamicsResult | None, continuous: int = 0) -> dict[str, int]:
    """Topology signature: counts of point kinds, cycles and continuous attractors."""
    kinds = [p.kind for p in result.fixed_points] if result else []
    cycles = result.limit_cycles if result else []
    return {
        "stable_points": sum(k in STABLE_KINDS for k in kinds),
        "unstable_points": sum(k in UNSTABLE_KINDS for k in kinds),
        "saddles": kinds.count("saddle"),
        "non_hyperbolic": kinds.count("non_hyperbolic"),
        "stable_cycles": sum(c.stable for c in cycles),
        "unstable_cycles": sum(not c.stable for c in cycles),
        "continuous_attractors": continuous,
    }


def topology_match(learned: dict[str, int], target: dict[str, int]) -> tuple[bool, str]:
    keys = ("stable_points", "unstable_points", "saddles", "stable_cycles",
            "continuous_attractors")
    diff = [f"{k.replace('_', ' ')}: learned {learned[k]}, target {target[k]}"
            for k in keys if learned[k] != target[k]]
    return (not diff, "same counts of " + ", ".join(keys).replace("_", " ") if not diff
            else "; ".join(diff))


def closed_loop_behaviour(obs: Tensor, dt: float) -> dict[str, Any]:
    """Classify long closed-loop outputs (n, L, p): settles, oscillates (with period) or drifts.

    Uses the last half: 'settles' if it moves less than 1e-3 of the data scale over the last
    10 % of steps; 'oscillates' if the first principal component crosses its mean upward at
    least 3 times with regular spacing (coefficient of variation < 0.25); else 'drifts'.
    """
    late = obs[:, obs.shape[1] // 2:].to(F64)
    scale = float(obs.reshape(-1, obs.shape[-1]).std(0).max().clamp_min(1e-12))
    tail = late[:, -max(2, late.shape[1] // 10):]
    moving = (tail.amax(1) - tail.amin(1)).amax(-1) / scale
    periods, kinds = [], []
    for traj, move in zip(late, moving, strict=True):
        if move < 1e-3:
            kinds.append("settles")
            continue
        x = traj - traj.mean(0)
        pc = x @ torch.linalg.svd(x, full_matrices=False).Vh[0]
        up = torch.nonzero((pc[:-1] < 0) & (pc[1:] >= 0)).flatten().to(F64)
        gaps = up.diff()
        if len(gaps) >= 2 and float(gaps.std() / gaps.mean()) < 0.25:
            kinds.append("oscillates")
            periods.append(float(gaps.mean()))
        else:
            kinds.append("drifts")
    verdict = max(set(kinds), key=kinds.count)
    period = float(np.median(periods)) if verdict == "oscillates" else None
    return {
        "behaviour": verdict,
        "fractions": {k: kinds.count(k) / len(kinds) for k in sorted(set(kinds))},
        "period_steps": period,
        "period": None if period is None else period * dt,
    }


def _box_of(points: Tensor, pad: float = 0.1) -> tuple[tuple[float, float], ...]:
    lo, hi = points.amin(0), points.amax(0)
    span = (hi - lo).clamp_min(1e-3)
    return tuple((float(a - pad * s), float(b + pad * s))
                 for a, b, s in zip(lo, hi, span, strict=True))


def _slow_set(f: Callable[[Tensor], Tensor], cell: GRUCell, observe: Callable[[Tensor], Tensor],
              w0: Tensor, horizon: int, threshold: float) -> tuple[Tensor, Tensor]:
    """Hidden states whose speed through the readout, |C f(h)|, is under ``threshold`` (in
    observation units per GRU step), and those speeds. Candidates: a 201^2 grid of [-1, 1]^2
    in 2-D, plus the closed-loop states from every initial observation ``w0`` between steps
    T and 4T."""
    with torch.no_grad():
        cand = rollout_hidden(cell, w0, 4 * horizon)[:, horizon:].reshape(-1, cell.hidden_size)
        if cell.hidden_size == 2:
            g = torch.linspace(-1, 1, 201, dtype=F64)
            cand = torch.cat([cand, torch.cartesian_prod(g, g)])
        speed = (observe(f(cand)) - observe(torch.zeros_like(cand))).norm(dim=-1)
    return cand[speed < threshold], speed[speed < threshold]


# --- the analysis -------------------------------------------------------------------------
def analyze(model: GRUForecaster, dm: _SplitDataModule, config: AnalysisConfig | None = None,
            figures: bool = True) -> Analysis:
    """Analyse ``model`` against the system (or the file data) behind ``dm``."""
    cfg = config or AnalysisConfig()
    rec = _Recorder()
    dm.setup()
    dt = dm.dt
    cell: GRUCell = copy.deepcopy(model.cell).to(device="cpu", dtype=F64)
    readout = copy.deepcopy(model.readout).to(device="cpu", dtype=F64)
    for p in [*cell.parameters(), *readout.parameters()]:
        p.requires_grad_(False)
    f, d = cell.vector_field, cell.hidden_size

    def step(h: Tensor) -> Tensor:
        return cell(None, h)

    def observe(h: Tensor) -> Tensor:
        with torch.no_grad():
            return readout(h)

    test = dm.splits["test"].to(F64)
    n = min(cfg.n_initial, len(test))
    w0 = test[:n, 0]
    horizon = test.shape[1] - 1
    total = int(1.25 * cfg.long_steps)
    with torch.no_grad():
        hidden = rollout_hidden(cell, w0, total)  # (n, 1.25 L, d): h_1 .. h_1.25L
    gen_obs = observe(hidden)

    # learned: the continuous counterpart with zero input, in hidden space
    box_h = tuple((-1.0, 1.0) for _ in range(d))
    starts = hidden[:, :: max(1, total // 20)].reshape(-1, d)
    learned_res: DynamicsResult | None = rec("learned_dynamics", lambda: analyze_vector_field(
        f, box_h, step=step, starts=starts if d > 3 else None, cycles=cfg.cycles,
        dt=0.1, t_transient=cfg.cycle_transient, t_window=cfg.cycle_window,
        generator=torch.Generator().manual_seed(0)))
    learned: dict[str, Any] = {"hidden_size": d, "reset": cell.reset, "time_unit": "target"}
    if learned_res is not None:
        learned.update(_in_observation_space(learned_res, observe, dt))
    learned["closed_loop"] = rec("closed_loop", lambda: closed_loop_behaviour(gen_obs, dt))
    flat = test.reshape(-1, test.shape[-1])
    scale = float((flat.amax(0) - flat.amin(0)).max())
    radius = cfg.coverage_radius * scale
    slow_speed = cfg.slow_speed if cfg.slow_speed is not None else radius / cfg.long_steps
    task_speed = max(slow_speed, radius / (4 * horizon))  # holds over four horizons
    slow_all = rec("slow_set", lambda: _slow_set(f, cell, observe, test[:, 0], horizon,
                                                 task_speed))
    slow = None if slow_all is None else slow_all[0][slow_all[1] < slow_speed]

    # target: declared truth + the same toolkit on its vector field
    system = getattr(dm, "system_cls", None)
    target: dict[str, Any] | None = None
    target_res: DynamicsResult | None = None
    attractor = None
    truth_long = None
    if isinstance(dm, TrajectoryDataModule):
        clean = dm.blob["test_clean"].to(F64)
        box_t = _box_of(clean.reshape(-1, clean.shape[-1]))
        params = dm.spec["params"]
        target_res = rec("target_dynamics", lambda: _target_dynamics(system, params, box_t, dt,
                                                                     cfg.cycles))
        attractor = system.continuous_attractor(params)
        target = {"system": dm.system_name, "description": system.description,
                  "params": params, "dt": dt, "box": [list(b) for b in box_t]}
        if target_res is not None:
            target.update(target_res.to_json())
            target["time_unit"] = "target"
        if attractor is not None:
            target["continuous_attractor"] = attractor.kind
        truth_long = rec("target_long", lambda: _simulate_long(dm, n, total))
    # comparison
    comp: dict[str, Any] = {}
    sig_l = signature(learned_res)
    sig_t = signature(target_res, 1 if attractor is not None else 0) if target else None
    learned["signature"] = sig_l
    if sig_t is not None:
        target["signature"] = sig_t
        if learned_res is not None and target_res is not None:
            comp["topology_match"], comp["topology_reason"] = topology_match(sig_l, sig_t)
    t_period = _target_period(target_res)
    loop = learned.get("closed_loop") or {}
    comp["period_rel_error"] = _rel(loop.get("period"), t_period)
    cyc = [c for c in (learned_res.limit_cycles if learned_res else []) if c.stable]
    comp["ode_period_rel_error"] = _rel(cyc[0].period * dt if cyc else None, t_period)
    comp["period_note"] = ("closed loop = the trained GRU map; ode = its continuous counterpart "
                           "(the map is its step-1 Euler scheme, so the two periods differ)")
    if cyc and target_res is not None and target_res.limit_cycles:
        comp["cycle_hausdorff"] = hausdorff(observe(cyc[0].orbit),
                                            target_res.limit_cycles[0].orbit)
    if attractor is not None and slow is not None:
        comp["continuous_attractor"] = rec("coverage", lambda: _attractor_comparison(
            attractor, dm, observe(slow), observe(slow_all[0]), learned_res, observe, radius,
            slow_speed, task_speed))
    # statistics of long free runs
    drop = total - cfg.long_steps
    if truth_long is not None:
        true_stats = truth_long[:, drop + 1:]
    else:  # file data: the test split itself
        true_stats = test
    gen_stats = gen_obs[:, drop:]
    comp["d_stsp"] = rec("d_stsp", lambda: state_space_divergence(true_stats, gen_stats))
    comp["d_h"] = rec("d_h", lambda: power_spectrum_distance(true_stats, gen_stats))
    comp["test_mse"] = _test_mse(gen_obs, test, truth_long, horizon)
    summary = {"learned": learned, "target": target, "comparison": comp,
               "time_unit": f"target time units; one GRU step = dt = {dt}",
               "errors": rec.errors, "seconds": rec.seconds}
    analysis = Analysis(summary)
    if figures:
        from gru_learn.comparison_plots import analysis_figures

        analysis.figures = rec("figures", lambda: analysis_figures(
            f=f, box=box_h, learned=learned_res, observe=observe, hidden=hidden,
            target_f=system.vector_field(dm.spec["params"]) if target else None,
            target=target_res, attractor=attractor, test=test, gen_obs=gen_obs,
            truth_long=truth_long, slow_obs=observe(slow) if slow is not None else None,
            dt=dt, horizon=horizon)) or {}
        summary["errors"] = rec.errors
    return analysis


def _in_observation_space(res: DynamicsResult, observe: Callable[[Tensor], Tensor],
                          dt: float) -> dict[str, Any]:
    """The learned side's JSON: the toolkit's (hidden space, GRU steps) plus observation-space
    coordinates (``obs``, ``orbit_obs``) and periods in target units (``period``)."""
    out = res.to_json()
    for p, j in zip(res.fixed_points, out["fixed_points"], strict=True):
        j["obs"] = observe(p.h[None])[0].tolist()
    for c, j in zip(res.limit_cycles, out["limit_cycles"], strict=True):
        j["period_steps"] = c.period
        j["period"] = c.period * dt
        j["frequency"] = 1.0 / j["period"]
        j["orbit_obs"] = observe(c.orbit[:: max(1, len(c.orbit) // 100)]).tolist()
    out["time_unit"] = "target"
    return out


def _target_dynamics(system: Any, params: dict, box: tuple, dt: float,
                     cycles: bool) -> DynamicsResult:
    res = analyze_vector_field(system.vector_field(params), box, cycles=cycles,
                               dt=min(0.05, dt / 4), t_transient=100 * dt, t_window=200 * dt,
                               generator=torch.Generator().manual_seed(0))
    attractor = system.continuous_attractor(params)
    if attractor is not None:  # the continuum is declared; drop its sampled members
        pts = attractor.points(20000)
        keep = [p for p in res.fixed.fixed_points
                if not (p.kind == "non_hyperbolic" and torch.cdist(p.h[None], pts).min() < 1e-2)]
        res.fixed.notes.append(f"{len(res.fixed.fixed_points) - len(keep)} fixed points on the "
                               f"declared {attractor.kind} attractor folded into it")
        res.fixed.fixed_points = keep
        res.fixed.notes[:] = [s for s in res.fixed.notes if "non-hyperbolic" not in s]
    return res


def _target_period(res: DynamicsResult | None) -> float | None:
    stable = [c for c in (res.limit_cycles if res else []) if c.stable]
    return stable[0].period if stable else None


def _rel(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None:
        return None
    return abs(value - reference) / reference


def _simulate_long(dm: TrajectoryDataModule, n: int, total: int,
                   substeps: int = 8) -> Tensor:
    """Clean target trajectories (n, total + 1, p) from the first ``n`` test initial states with
    their own parameters: fixed-step RK4 with ``substeps`` steps per sample (an adaptive
    solver spends minutes on 1000+ samples of a relaxation oscillator; this takes seconds)."""
    clean = dm.blob["test_clean"][:n].to(F64)
    params = {k: dm.blob[f"test_param_{k}"][:n].to(F64) if f"test_param_{k}" in dm.blob else v
              for k, v in dm.spec["params"].items()}
    _, path = integrate(lambda y: dm.system_cls.rhs(y, params), clean[:, 0],
                        total * dm.dt, dm.dt / substeps, save_every=substeps)
    return path.transpose(0, 1)


def _attractor_comparison(attractor: Any, dm: TrajectoryDataModule, slow_obs: Tensor,
                          task_obs: Tensor, res: DynamicsResult | None,
                          observe: Callable[[Tensor], Tensor], radius: float,
                          slow_speed: float, task_speed: float) -> dict[str, Any]:
    """How much of the target's continuous attractor (within the data's range) the learned slow
    set covers, and how many discrete attractors the learned system puts along it."""
    pts = attractor.points(400)
    clean = dm.blob["test_clean"].to(F64).reshape(-1, pts.shape[-1])
    lo, hi = clean.amin(0), clean.amax(0)
    pts = pts[((pts >= lo) & (pts <= hi)).all(-1)]
    stable = [observe(p.h[None])[0] for p in (res.fixed_points if res else [])
              if p.kind in STABLE_KINDS]
    on = [s for s in stable if torch.cdist(s[None], pts).min() <= radius] if len(pts) else []
    return {
        "kind": attractor.kind,
        "coverage": coverage(pts, slow_obs, radius) if len(pts) else None,
        "coverage_task": coverage(pts, task_obs, radius) if len(pts) else None,
        "task_speed": task_speed,
        "radius": radius,
        "slow_speed": slow_speed,
        "slow_speed_note": "slow set: |C f(h)| below slow_speed (observation units per GRU "
                           "step): it would take over long_steps steps to move one radius; "
                           "coverage_task uses task_speed: over four training horizons",
        "n_slow_states": int(len(slow_obs)),
        "n_discrete_attractors_on_it": len(on),
    }


def _test_mse(gen_obs: Tensor, test: Tensor, truth_long: Tensor | None,
              horizon: int) -> dict[str, Any]:
    n = len(gen_obs)
    err = ((gen_obs[:, :horizon] - test[:n, 1:]) ** 2).mean(dim=(0, 2))
    out: dict[str, Any] = {"per_step": err.tolist(), "mean": float(err.mean()),
                           "against": "noisy test observations, steps k = 1..T"}
    if truth_long is not None:
        k = min(4 * horizon, gen_obs.shape[1])
        long_err = ((gen_obs[:, :k] - truth_long[:, 1:k + 1]) ** 2).mean(dim=(0, 2))
        out["long_horizon"] = {"steps": k, "mse_at_end": float(long_err[-1]),
                               "mean": float(long_err.mean()),
                               "against": "clean simulated truth"}
    return out


def load_checkpoint(path: str | Path) -> tuple[GRUForecaster, _SplitDataModule]:
    """The model and the DataModule it was trained on, rebuilt from a ``fit`` checkpoint."""
    import importlib
    import inspect

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = GRUForecaster.load_from_checkpoint(path, map_location="cpu")
    # a checkpoint written outside `fit` may lack the data's settings: the system's defaults
    hp = dict(ckpt.get("datamodule_hyper_parameters") or {"system": model.hparams.system})
    module, _, name = str(hp.get("_class_path", "gru_learn.data.TrajectoryDataModule")) \
        .rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    accepted = inspect.signature(cls.__init__).parameters
    hp["dt"] = model.hparams.dt  # the resolved sampling interval lives with the model
    dm = cls(**{k: v for k, v in hp.items() if k in accepted})
    return model, dm


def analyze_checkpoint(path: str | Path, out_dir: str | Path,
                       config: AnalysisConfig | None = None) -> dict[str, Any]:
    """Analyse a saved GRUForecaster against its data; write ``out_dir``; return the summary."""
    model, dm = load_checkpoint(path)
    analysis = analyze(model, dm, config)
    analysis.save(out_dir)
    analysis.close()
    return analysis.summary


def summary_scalars(summary: dict[str, Any]) -> dict[str, float]:
    """The key numbers for TensorBoard (NaN where a number is undefined)."""
    learned, comp = summary["learned"], summary["comparison"]
    sig = learned.get("signature", {})

    def num(x: Any) -> float:
        return float(x) if isinstance(x, (int, float, bool)) else math.nan

    return {
        "dynamics/n_stable_fixed_points": num(sig.get("stable_points")),
        "dynamics/has_limit_cycle": num(sig.get("stable_cycles", 0) > 0),
        "dynamics/period_rel_error": num(comp.get("period_rel_error")),
        "dynamics/ode_period_rel_error": num(comp.get("ode_period_rel_error")),
        "dynamics/d_stsp": num(comp.get("d_stsp")),
        "dynamics/d_h": num(comp.get("d_h")),
        "dynamics/topology_match": num(comp.get("topology_match")),
    }
