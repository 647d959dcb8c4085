"""The target side: the system that made the data, read by the same toolkit as the network.

Fixed points, cycles and continuous attractors of the target's vector field at its mean
parameters, in a box 10 % wider than the clean data of every split (train, val, test: what the
data visits; the test split alone can miss a point the attractor only approaches, such as
Lorenz's origin below one test trajectory's lowest z); continuous attractors are *found* (slow
manifolds, as for the network). A system's declared attractor (``systems.py``) is only a
cross-check: ``declared_attractor`` says how far the found manifold lies from it.

The largest Lyapunov exponent (``lyapunov_max``, per target time unit) is computed where the
analysis finds no stable fixed point and no stable cycle (the data's attractor is then chaotic
or at least not one the toolkit resolves): QR method on the RK4 map of step dt / 10, 1000 steps
of transient and 20000 counted (1000 target time units at Lorenz's dt), from 8 clean test
states, about 3 s on one core. Elsewhere it is None with the reason (it is 0 on a cycle and
negative at a stable point, which the topology already says).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gru_learn.analysis.core import F64, AnalysisConfig, Recorder, signature
from gru_learn.analysis.inputs import DataSource
from gru_learn.dynamics import DynamicsResult, analyze_vector_field, integrate
from gru_learn.dynamics.lyapunov import flow_lyapunov_max

LYAPUNOV_SUBSTEPS = 10  # RK4 steps per sample interval dt in the target's exponent
LYAPUNOV_STEPS, LYAPUNOV_TRANSIENT = 20000, 1000  # RK4 steps counted / discarded
LYAPUNOV_STARTS = 8


@dataclass
class TargetSide:
    """What the analysis knows about the target system."""

    summary: dict[str, Any]
    result: DynamicsResult | None
    manifolds: list[Any] = field(default_factory=list)
    declared: Any = None  # the system's declared ContinuousAttractor, a cross-check only
    vector_field: Any = None


def box_of(points: Tensor, pad: float = 0.1) -> tuple[tuple[float, float], ...]:
    """The bounding box of ``points`` (n, p), widened by ``pad`` of its span on each side."""
    lo, hi = points.amin(0), points.amax(0)
    span = (hi - lo).clamp_min(1e-3)
    return tuple((float(a - pad * s), float(b + pad * s))
                 for a, b, s in zip(lo, hi, span, strict=True))


TARGET_PIECES = {"fixed_points": "target_dynamics", "limit_cycles": "target_dynamics",
                 "continuous_attractors": "target_continuous_attractors"}  # summary's errors


def target_side(data: DataSource, config: AnalysisConfig, rec: Recorder) -> TargetSide:
    """The target's dynamics (``analyze_vector_field`` at the mean parameters), its found
    continuous attractors (seeded from the test data and a grid of the box) and the
    cross-check with a declared one. ``data.system`` must be known."""
    target, dt = data.system, data.dt
    if target is None:
        raise ValueError("the target side needs the system that made the data")
    system, params = target.system, target.params
    clean = target.clean["test"].to(F64)
    flat = clean.reshape(-1, clean.shape[-1])
    visited = torch.cat([target.clean[k].to(F64).reshape(-1, flat.shape[-1])
                         for k in ("train", "val", "test") if k in target.clean])
    box = box_of(visited)
    f = system.vector_field(params)
    res = analyze_vector_field(
        f, box, cycles=config.cycles, dt=min(0.05, dt / 4), t_transient=100 * dt,
        t_window=200 * dt, generator=torch.Generator().manual_seed(0),
        manifold_starts=torch.cat([flat[:: max(1, len(flat) // 1000)], _grid(box, 1000)]),
        guard=lambda name, piece: rec(TARGET_PIECES[name], piece))
    summary: dict[str, Any] = {"system": target.name, "description": system.description,
                               "params": params, "dt": dt, "box": [list(b) for b in box]}
    manifolds = res.continuous_attractors
    declared = system.continuous_attractor(params)
    summary.update(res.to_json())
    summary["time_unit"] = "target"
    summary["continuous_attractors"] = [m.to_json() if hasattr(m, "to_json") else m
                                        for m in manifolds]
    if declared is not None:
        summary["declared_attractor"] = rec("declared_crosscheck", lambda: crosscheck(
            declared, manifolds, flat))
    summary["signature"] = signature(res, manifolds)
    summary["lyapunov_max"], summary["lyapunov"] = None, {"computed": False}
    if summary["signature"]["stable_points"] + summary["signature"]["stable_cycles"] == 0:
        lam = rec("target_lyapunov", lambda: target_lyapunov(f, clean, dt))
        if lam is not None:
            summary["lyapunov_max"], summary["lyapunov"] = lam
    else:
        summary["lyapunov"]["reason"] = ("not computed: the analysis found a stable point or "
                                         "cycle (exponent <= 0, the topology says which)")
    reference = getattr(system, "lyapunov_reference", None)  # published, e.g. dysts' metadata
    if reference is not None:
        found = summary["lyapunov_max"]
        summary["lyapunov_reference"] = {
            "value": reference, "source": getattr(system, "lyapunov_reference_source", None),
            "rel_error": None if found is None else abs(found - reference) / abs(reference)}
    return TargetSide(summary, res, manifolds, declared, f)


def target_lyapunov(f: Any, clean: Tensor, dt: float) -> tuple[float, dict[str, Any]]:
    """The largest Lyapunov exponent of dx/dt = f(x) per target time unit and how it was
    computed: ``flow_lyapunov_max`` (QR method on the RK4 map of step dt / 10) from
    ``LYAPUNOV_STARTS`` states of the clean trajectories ``clean`` (n, T + 1, p), taken from
    their second halves (on or near the attractor), averaged over the orbits."""
    late = clean[:, clean.shape[1] // 2:].reshape(-1, clean.shape[-1])
    x0 = late[:: max(1, len(late) // LYAPUNOV_STARTS)][:LYAPUNOV_STARTS]
    h = dt / LYAPUNOV_SUBSTEPS
    lam = flow_lyapunov_max(f, x0, h, LYAPUNOV_STEPS, transient=LYAPUNOV_TRANSIENT,
                            generator=torch.Generator().manual_seed(0))
    return lam, {"computed": True, "method": "QR (Benettin) on the RK4 map of the vector field",
                 "rk4_step": h, "steps": LYAPUNOV_STEPS, "transient": LYAPUNOV_TRANSIENT,
                 "orbits": len(x0), "time": LYAPUNOV_STEPS * h, "unit": "1 / target time"}


def _grid(box: tuple[tuple[float, float], ...], n: int) -> Tensor:
    """About ``n`` points on a regular grid of the box (the target's slow set is sought from
    everywhere, not only from where the data went)."""
    k = max(2, round(n ** (1 / len(box))))
    axes = [torch.linspace(lo, hi, k, dtype=F64) for lo, hi in box]
    return torch.cartesian_prod(*axes).reshape(-1, len(box))


def manifold_points(m: Any) -> Tensor | None:
    """Sample points of a found manifold (its ``points`` attribute), or None."""
    pts = getattr(m, "points", None)
    if pts is None:
        return None
    pts = pts() if callable(pts) else pts
    return torch.as_tensor(pts, dtype=F64)


def crosscheck(declared: Any, manifolds: list[Any], data: Tensor) -> dict[str, Any]:
    """How far the found continuous attractors lie from the declared one: the largest distance
    from a found point to the declared set, and the fraction of the declared set inside the
    data's range within 5 % of the data's extent of a found point."""
    from gru_learn.dynamics.metrics import coverage

    every = declared.points(4000).to(F64)
    lo, hi = data.amin(0), data.amax(0)
    truth = every[((every >= lo) & (every <= hi)).all(-1)]
    out: dict[str, Any] = {"kind": declared.kind, "found": [getattr(m, "kind", None)
                                                           for m in manifolds]}
    pts = [p for p in (manifold_points(m) for m in manifolds) if p is not None and len(p)]
    if pts and len(truth):
        found = torch.cat(pts)
        out["max_distance_to_declared"] = float(torch.cdist(found, every).min(1).values.max())
        radius = 0.05 * float((hi - lo).max())
        out["declared_covered"] = coverage(truth, found, radius)
        out["radius"] = radius
    return out


def simulate_long(data: DataSource, n: int, total: int, substeps: int = 8) -> Tensor:
    """Clean target trajectories (n, total + 1, p) from the first ``n`` clean test initial
    states with their own parameters: fixed-step RK4 with ``substeps`` steps per sample
    interval dt (an adaptive solver spends minutes on 1000+ samples of a relaxation
    oscillator; this takes seconds). ``data.system`` must be known."""
    target = data.system
    if target is None:
        raise ValueError("a long simulation needs the system that made the data")
    clean = target.clean["test"][:n].to(F64)
    params = {k: target.test_params[k][:n].to(F64) if k in target.test_params else v
              for k, v in target.params.items()}
    _, path = integrate(lambda y: target.system.rhs(y, params), clean[:, 0],
                        total * data.dt, data.dt / substeps, save_every=substeps)
    return path.transpose(0, 1)


def target_period(res: DynamicsResult | None) -> float | None:
    """The period of the target's first stable cycle, or None."""
    stable = [c for c in (res.limit_cycles if res else []) if c.stable]
    return stable[0].period if stable else None
