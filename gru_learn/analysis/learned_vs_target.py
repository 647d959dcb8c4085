"""Learned versus target: one trained GRU and the system that made its data, both read by the
same toolkit and compared in observation space.

``analyze(model, data)`` (plain values: ``analysis.inputs``) returns an :class:`Analysis`
(``summary`` with top-level keys ``learned``, ``target``, ``comparison``, and figures).
Everything about the network's predictions (closed-loop behaviour and period, test MSE,
d_stsp, d_h) uses the model's own rollout (the discrete map, or the ODE with the model's method
and step); fixed points, cycles and attractors are those of the ODE, with the discrete map's
stability beside them. For a model trained as the map, the topology verdict counts its fixed
points by the map's unstable multipliers (``learned.signature_map``): one step is dt of the
target's flow, whose multipliers are exp(dt lambda), and the ODE reading (Euler, step 1) flips
a focus that turns fast per step, e.g. Lorenz-63's C+- (see ``as_map``). A sub-analysis that
fails is recorded with its reason under its key and the rest still runs.
Times are in the target's units (one GRU step = ``dt``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gru_learn.analysis.core import (
    F64,
    Analysis,
    AnalysisConfig,
    Recorder,
    as_float64,
    signature,
)
from gru_learn.analysis.inputs import DataSource, LearnedModel
from gru_learn.analysis.memory import N_STARTS, model_memory, target_curve, target_memory
from gru_learn.analysis.network import analyze_at_input, as_map, network_lyapunov
from gru_learn.analysis.target import manifold_points, simulate_long, target_period, target_side
from gru_learn.analysis.topology import topology_verdict
from gru_learn.dynamics.memory import starts_on
from gru_learn.dynamics.metrics import (
    DSA_SETTINGS,
    coverage,
    cycle_consistency,
    dsa_available,
    dsa_distance,
    hausdorff,
    power_spectrum_distance,
    state_r2,
    state_space_divergence,
)
from gru_learn.dynamics.periods import crossing_period
from gru_learn.gru.rollout import rollout_hidden


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
        period, cv, _ = crossing_period(pc)
        if period is not None and cv is not None and cv < 0.25:
            kinds.append("oscillates")
            periods.append(period)
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


def _slow_set(f: Callable[[Tensor], Tensor], hidden: Tensor, observe: Callable[[Tensor], Tensor],
              horizon: int, threshold: float) -> tuple[Tensor, Tensor]:
    """Hidden states whose speed through the readout, |C f(h)|, is under ``threshold`` (in
    observation units per GRU step), and those speeds. Candidates: a 201^2 grid of [-1, 1]^2
    in 2-D, plus the closed-loop states (the model's rollout) between steps T and 4T."""
    d = hidden.shape[-1]
    with torch.no_grad():
        cand = hidden[:, horizon: 4 * horizon].reshape(-1, d)
        if d == 2:
            g = torch.linspace(-1, 1, 201, dtype=F64)
            cand = torch.cat([cand, torch.cartesian_prod(g, g)])
        speed = (observe(f(cand)) - observe(torch.zeros_like(cand))).norm(dim=-1)
    return cand[speed < threshold], speed[speed < threshold]


LYAPUNOV_ZERO = 1e-2  # |exponent| (per target time unit) below which it counts as 0


def _rel_error(value: float | None, reference: float | None,
               zero: float = 0.0) -> float | None:
    """|value - reference| / |reference| (None where either is missing or |reference| <=
    ``zero``: a relative error against 0, such as a ring's or line's exponent, means nothing;
    the absolute difference is reported beside it)."""
    if value is None or reference is None or abs(reference) <= zero:
        return None
    return abs(value - reference) / abs(reference)


# --- the analysis -------------------------------------------------------------------------
def analyze(model: LearnedModel, data: DataSource, config: AnalysisConfig | None = None,
            figures: bool = True) -> Analysis:
    """Analyse the trained ``model`` against the system (or the file data) behind ``data``.

    (``gru_learn.training.checkpoint.analyze_trained(module, datamodule)`` builds both from a
    GRUForecaster and its DataModule.)"""
    cfg = config or AnalysisConfig()
    rec = Recorder()
    dt = data.dt
    cell = as_float64(model.cell)
    readout = as_float64(model.readout)
    f = cell.vector_field

    def observe(h: Tensor) -> Tensor:
        with torch.no_grad():
            return readout(h)

    rollout = model.describe_rollout()
    test = data.test.to(F64)
    n = min(cfg.n_initial, len(test))
    w0 = test[:n, 0]
    horizon = test.shape[1] - 1
    total = int(1.25 * cfg.long_steps)

    def run(mode: str) -> Tensor:
        with torch.no_grad():
            return rollout_hidden(cell, w0, total, mode, model.ode_method, model.ode_step)

    hidden = run(rollout["mode"])  # (n, 1.25 L, d): h_1 .. h_1.25L, as the model predicts
    gen_obs = observe(hidden)

    flat = test.reshape(-1, test.shape[-1])
    scale = float((flat.amax(0) - flat.amin(0)).max())
    radius = cfg.coverage_radius * scale
    slow_speed = cfg.slow_speed if cfg.slow_speed is not None else radius / cfg.long_steps
    task_speed = max(slow_speed, radius / (4 * horizon))  # holds over four horizons
    d = cell.hidden_size
    starts = hidden[:, :: max(1, total // 20)].reshape(-1, d)
    # target (first: its found ring or line seeds the network's search too)
    tside = None
    truth_long = None
    if data.system is not None:
        tside = target_side(data, cfg, rec)
        truth_long = rec("target_long", lambda: simulate_long(data, n, total))
    ref = None if tside is None else target_curve(tside.manifolds)
    image = None
    if ref is not None:  # the image of the target's attractor: the model run from it
        with torch.no_grad():
            image = rollout_hidden(cell, starts_on(ref[1], N_STARTS)[0], 4 * horizon,
                                   rollout["mode"], model.ode_method, model.ode_step)
        starts = torch.cat([starts, image[:, :: max(1, horizon // 2)].reshape(-1, d)])
    # learned: the network alone at zero input, seeded from the model's own rollout and the
    # image of the target's ring or line; its continuous attractors are found by the same
    # default criterion as the target's
    point = analyze_at_input(cell, None, states=starts, config=cfg, rec=rec, observe=observe,
                             curve=None if image is None or not ref[1].closed
                             else image[:, 0], curve_time=horizon)
    learned_res = point.result
    learned: dict[str, Any] = {"hidden_size": d, "reset": cell.reset, "time_unit": "target",
                               "rollout": rollout,
                               "architecture": getattr(cell, "architecture", "GRU")}
    learned.update(point.to_json(observe))
    for c, j in zip(learned_res.limit_cycles, learned["limit_cycles"], strict=True):
        j["period_steps"] = c.period
        j["period"] = c.period * dt
        j["frequency"] = 1.0 / j["period"]
    learned["time_unit"] = "target"
    learned["closed_loop"] = rec("closed_loop", lambda: closed_loop_behaviour(gen_obs, dt))
    learned["closed_loop"] = {**(learned["closed_loop"] or {}), "rollout": rollout["mode"]}
    if rollout["mode"] != "discrete":  # the map, kept apart: how the same weights iterate
        map_obs = observe(run("discrete"))
        learned["closed_loop_map"] = rec("closed_loop_map",
                                         lambda: closed_loop_behaviour(map_obs, dt))
    late = hidden[:, total - cfg.long_steps:].reshape(-1, d)  # after the transient
    lyap = rec("lyapunov", lambda: network_lyapunov(
        cell, late[:: max(1, len(late) // 8)][:8], dt, rollout["mode"], model.ode_step))
    learned["lyapunov_max"], learned["lyapunov"] = lyap if lyap is not None else (None, None)
    slow_all = rec("slow_set", lambda: _slow_set(f, hidden, observe, horizon, task_speed))
    slow = None if slow_all is None else slow_all[0][slow_all[1] < slow_speed]

    target = None if tside is None else tside.summary
    target_res = None if tside is None else tside.result

    # comparison
    comp: dict[str, Any] = {"rollout": rollout["mode"]}
    sig_l = learned["signature"]
    if rollout["mode"] == "discrete":  # trained as the map: its points are read as the map's
        sig_l = learned["signature_map"] = signature(as_map(learned_res), point.manifolds)
    comp["topology_read_as"] = (
        "fixed points by the map's multipliers |1 + lambda| (the model's rollout: one step = dt"
        " of the target's flow), cycles and continuous attractors of the ODE"
        if rollout["mode"] == "discrete" else "the ODE dh/dt = f(h) (the model's rollout)")
    memory = None
    if ref is not None:
        memory = rec("memory", lambda: model_memory(model, cell, readout, data, ref[1],
                                                    point.manifolds, horizon, radius))
        if memory is not None:
            memory["target"] = rec("target_memory", lambda: target_memory(
                data, ref[1], ref[0], horizon))
            comp["memory"] = memory
    if tside is not None and target_res is not None:
        verdict = rec("topology", lambda: topology_verdict(
            sig_l, tside.summary["signature"], point.manifolds, tside.manifolds, observe,
            radius, horizon, dt, memory))
        if verdict is not None:
            comp["topology_match"] = verdict.pop("topology_match")
            comp["topology_verdict"] = verdict.pop("verdict")
            comp["topology_reason"] = verdict.pop("reason")
            comp["continuous_attractors"] = verdict["continuous_attractors"]
    t_period = target_period(target_res)
    loop = learned.get("closed_loop") or {}
    comp["period_rel_error"] = _rel_error(loop.get("period"), t_period)
    cyc = [c for c in learned_res.limit_cycles if c.stable]
    comp["ode_period_rel_error"] = _rel_error(cyc[0].period * dt if cyc else None, t_period)
    comp["period_note"] = (f"period_rel_error: the model's own rollout ({rollout['mode']}); "
                           "ode_period_rel_error: the limit cycle of the ODE dh/dt = f(h) "
                           "(the map is its step-1 Euler scheme, so the two differ for a "
                           "discrete-trained model)")
    t_lyap = None if target is None else target.get("lyapunov_max")
    comp["lyapunov_rel_error"] = _rel_error(learned["lyapunov_max"], t_lyap, LYAPUNOV_ZERO)
    comp["lyapunov_abs_error"] = (None if learned["lyapunov_max"] is None or t_lyap is None
                                  else abs(learned["lyapunov_max"] - t_lyap))
    if cyc and target_res is not None and target_res.limit_cycles:
        comp["cycle_hausdorff"] = hausdorff(observe(cyc[0].orbit),
                                            target_res.limit_cycles[0].orbit)
    if tside is not None and tside.manifolds and slow is not None:
        comp["continuous_attractor"] = rec("coverage", lambda: _slow_set_coverage(
            tside.manifolds, data, observe(slow), observe(slow_all[0]), learned_res, observe,
            radius, slow_speed, task_speed))
    # statistics of long free runs, of the model's own rollout
    drop = total - cfg.long_steps
    true_stats = truth_long[:, drop + 1:] if truth_long is not None else test
    gen_stats = gen_obs[:, drop:]
    comp["d_stsp"] = rec("d_stsp", lambda: state_space_divergence(true_stats, gen_stats))
    if truth_long is None:  # data without a simulator (a file): spectra over the test series'
        t_len = min(test.shape[1] - 1, gen_obs.shape[1])  # length, which the spectra must share
        spectra = (test[: len(gen_obs), 1:t_len + 1], gen_obs[:, :t_len])
    else:
        spectra = (true_stats, gen_stats)
    comp["d_h"] = rec("d_h", lambda: power_spectrum_distance(*spectra))
    comp["test_mse"] = _test_mse(gen_obs, test, truth_long, horizon)
    if data.system is not None:  # hidden states h_k beside the clean target states at k
        k = min(horizon, hidden.shape[1])
        pairs = (hidden[:, :k], data.system.clean["test"][:n, 1:k + 1].to(F64))
        comp["state_r2"] = rec("state_r2", lambda: state_r2(*pairs))
        comp["cycle_consistency"] = rec("cycle_consistency", lambda: cycle_consistency(*pairs))
        if dsa_available():  # the optional dsa-metric package
            comp["dsa"] = rec("dsa", lambda: dsa_distance(*pairs))
            comp["dsa_settings"] = DSA_SETTINGS
    summary = {"learned": learned, "target": target, "comparison": comp,
               "time_unit": f"target time units; one GRU step = dt = {dt}",
               "read_as": f"predictions (closed_loop, period_rel_error, test_mse, d_stsp, d_h):"
                          f" the model's rollout ({rollout['mode']}); fixed points, cycles, "
                          "attractors: the ODE dh/dt = f(h), with the map's stability beside",
               "errors": rec.errors, "seconds": rec.seconds}
    analysis = Analysis(summary)
    if figures:
        from gru_learn.analysis.figures.comparison import analysis_figures

        analysis.figures = rec("figures", lambda: analysis_figures(
            f=f, box=learned_res.box, learned=learned_res, observe=observe, hidden=hidden,
            target_f=None if tside is None else tside.vector_field,
            target=target_res, manifolds=[] if tside is None else tside.manifolds,
            learned_manifolds=point.manifolds,
            test=test, gen_obs=gen_obs, truth_long=truth_long,
            slow_obs=observe(slow) if slow is not None else None,
            dt=dt, horizon=horizon, rollout=rollout["mode"])) or {}
        if memory is not None:
            from gru_learn.analysis.figures.memory import memory_figure

            shown = rec("figures", lambda: memory_figure(memory, point.manifolds))
            if shown is not None:
                analysis.figures["memory"] = shown
        summary["errors"] = rec.errors
    return analysis


def _slow_set_coverage(manifolds: list[Any], data: DataSource, slow_obs: Tensor,
                       task_obs: Tensor, res: Any, observe: Callable[[Tensor], Tensor],
                       radius: float, slow_speed: float, task_speed: float) -> dict[str, Any]:
    """How much of the target's found continuous attractors (within the data's range) the
    learned slow set covers, and how many discrete attractors the learned system puts on it."""
    pts = torch.cat([p for p in (manifold_points(m) for m in manifolds) if p is not None])
    clean = data.system.clean["test"].to(F64).reshape(-1, pts.shape[-1])
    lo, hi = clean.amin(0), clean.amax(0)
    pts = pts[((pts >= lo) & (pts <= hi)).all(-1)]
    stable = [observe(p.h[None])[0] for p in (res.fixed_points if res else [])
              if p.kind in ("stable_node", "stable_focus")]
    on = [s for s in stable if torch.cdist(s[None], pts).min() <= radius] if len(pts) else []
    return {
        "kind": "/".join(str(getattr(m, "kind", "?")) for m in manifolds),
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
    n, t = len(gen_obs), min(horizon, gen_obs.shape[1])  # the rollout may be shorter than T
    err = ((gen_obs[:, :t] - test[:n, 1:t + 1]) ** 2).mean(dim=(0, 2))
    out: dict[str, Any] = {"per_step": err.tolist(), "mean": float(err.mean()),
                           "against": f"noisy test observations, steps k = 1..{t}"}
    if truth_long is not None:
        k = min(4 * horizon, gen_obs.shape[1])
        long_err = ((gen_obs[:, :k] - truth_long[:, 1:k + 1]) ** 2).mean(dim=(0, 2))
        out["long_horizon"] = {"steps": k, "mse_at_end": float(long_err[-1]),
                               "mean": float(long_err.mean()),
                               "against": "clean simulated truth"}
    return out


__all__ = ["analyze", "closed_loop_behaviour"]
