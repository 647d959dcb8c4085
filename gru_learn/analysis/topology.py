"""Graded topology verdicts: whether a learned signature matches the target's, and how well
the learned continuous attractors (rings, lines, planes) approximate the target's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from gru_learn.analysis.core import INDEX_PREFIX
from gru_learn.analysis.target import manifold_points
from gru_learn.dynamics.metrics import coverage

TOPOLOGY_KEYS = ("stable_cycles", "ring_attractors", "line_attractors", "plane_attractors")
MIN_COVERAGE = 0.5  # of the target's continuous attractor, for an approximate match



def topology_match(learned: dict[str, int], target: dict[str, int]) -> tuple[bool, str]:
    """Whether two signatures have the same counts of hyperbolic points by number of unstable
    directions (stable points, saddles, sources of a 2-D target alike: so a network of any
    size is compared like for like with a low-dimensional target), of stable cycles and of
    continuous attractors of each kind; and the reason. Signatures without the per-index
    counts fall back to the kinds (stable points, unstable points, saddles)."""
    indexed = any(k.startswith(INDEX_PREFIX) for k in (*learned, *target))
    point_keys = (sorted({k for k in (*learned, *target) if k.startswith(INDEX_PREFIX)},
                         key=lambda k: int(k[len(INDEX_PREFIX):])) if indexed
                  else ["stable_points", "unstable_points", "saddles"])
    keys = point_keys + [k for k in TOPOLOGY_KEYS if k in learned or k in target]
    diff = [f"{_label(k)}: learned {learned.get(k, 0)}, target {target.get(k, 0)}"
            for k in keys if learned.get(k, 0) != target.get(k, 0)]
    return (not diff, "same counts of " + ", ".join(map(_label, keys)) if not diff
            else "; ".join(diff))


def _label(key: str) -> str:
    if key.startswith(INDEX_PREFIX):
        k = int(key[len(INDEX_PREFIX):])
        return ("stable points" if k == 0
                else f"points with {k} unstable direction{'s' if k > 1 else ''}")
    return key.replace("_", " ")


def _get(m: Any, *names: str) -> Any:
    for n in names:
        v = m.get(n) if isinstance(m, dict) else getattr(m, n, None)
        if v is not None:
            return v
    return None


def topology_verdict(sig_l: dict[str, int], sig_t: dict[str, int], learned_m: list[Any],
                     target_m: list[Any], observe: Callable[[Tensor], Tensor], radius: float,
                     horizon_steps: int, dt: float) -> dict[str, Any]:
    """Graded verdict: ``exact`` (same signature; every continuous attractor a true continuum,
    drift-free and covering the target's), ``approximate`` (same signature, but a learned
    continuous attractor only approximates the target's: it drifts or covers it in part; at
    least ``MIN_COVERAGE`` of the target's must lie within ``radius`` of it, through the
    readout, and its drift time must exceed the training horizon) or ``mismatch`` (with the
    reason). ``topology_match`` is True for the first two. For every attracting target
    manifold the best learned one of its kind is reported (coverage, drift time in target
    units, largest speed), whatever the verdict: how close the network gets, in numbers."""
    same, reason = topology_match(sig_l, sig_t)
    horizon = horizon_steps * dt
    rows, why = [], []
    for tm in [m for m in target_m if _get(m, "attracting") is not False]:
        kind = _get(tm, "kind")
        t_pts = manifold_points(tm)
        best: dict[str, Any] | None = None
        for lm in [m for m in learned_m if _get(m, "kind") == kind
                   and _get(m, "attracting") is not False]:
            l_pts = manifold_points(lm)
            cov = (coverage(t_pts, observe(l_pts), radius)
                   if t_pts is not None and l_pts is not None and len(l_pts) else None)
            drift = _get(lm, "drift_time")
            row = {"kind": kind, "coverage_of_target": cov,
                   "drift_time": None if drift is None else float(drift) * dt,
                   "max_speed": _get(lm, "max_speed"),
                   "covered_fraction": _get(lm, "covered_fraction"),
                   "closed": _get(lm, "closed")}
            if best is None or (cov or 0) > (best["coverage_of_target"] or 0):
                best = row
        if best is None:
            why.append(f"no learned {kind} attractor")
            continue
        ok_cov = (best["coverage_of_target"] or 0) >= MIN_COVERAGE
        drift = best["drift_time"]
        ok_drift = drift is None or drift >= horizon
        best["holds_over_training_horizon"] = ok_drift
        rows.append(best)
        if not ok_cov:
            why.append(f"the learned {kind} covers {100 * (best['coverage_of_target'] or 0):.0f}"
                       f" % of the target's (needs {100 * MIN_COVERAGE:.0f} %)")
        if not ok_drift:
            why.append(f"it drifts along it in {drift:.3g} < the training horizon "
                       f"{horizon:.3g}")
    out: dict[str, Any] = {"continuous_attractors": rows}
    if not same or why:
        out.update(verdict="mismatch", topology_match=False,
                   reason="; ".join(([] if same else [reason]) + why))
        return out
    approx = [r for r in rows if not (r["max_speed"] is not None and float(r["max_speed"]) < 1e-8
                                      and (r["coverage_of_target"] or 0) >= 1.0)]
    if approx:
        r = approx[0]
        out.update(verdict="approximate", reason=(
            f"{reason}; the learned {r['kind']} approximates the target's: covers "
            f"{100 * (r['coverage_of_target'] or 0):.0f} %, drift time "
            + ("unbounded" if r["drift_time"] is None else f"{r['drift_time']:.3g}")
            + f" (target units; training horizon {horizon:.3g})"))
    else:
        out.update(verdict="exact", reason=reason)
    out["topology_match"] = True
    return out
