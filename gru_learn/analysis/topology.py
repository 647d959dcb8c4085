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
                     horizon_steps: int, dt: float,
                     memory: dict[str, Any] | None = None) -> dict[str, Any]:
    """Graded verdict: ``exact`` (same signature; every continuous attractor a true continuum,
    drift-free and covering the target's), ``approximate`` (same signature, but a learned
    continuous attractor only approximates the target's: it drifts or covers it in part) or
    ``mismatch`` (with the reason). ``topology_match`` is True for the first two.

    A learned manifold approximates a target's of its kind when at least ``MIN_COVERAGE`` of
    the target's lies within ``radius`` of it (through the readout) and it holds the memory
    over the training horizon: with ``memory`` (``analysis.memory``), the median drift of the
    remembered variable over one horizon is below its threshold (0.1 rad on a ring); without
    it, its drift time exceeds the horizon. Fixed points on a learned manifold are part of it
    (``signature`` does not count them apart). For every attracting target manifold the best
    learned one of its kind is reported (coverage, drift time in target units, largest speed,
    the points on it), whatever the verdict: how close the network gets, in numbers."""
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
            along = _get(lm, "along") or {}
            row = {"kind": kind, "coverage_of_target": cov,
                   "drift_time": None if drift is None else float(drift) * dt,
                   "max_speed": _get(lm, "max_speed"),
                   "covered_fraction": _get(lm, "covered_fraction"),
                   "closed": _get(lm, "closed"),
                   "stable_along": along.get("stable_along"),
                   "unstable_along": along.get("unstable_along")}
            if best is None or (cov or 0) > (best["coverage_of_target"] or 0):
                best = row
        if best is None:
            why.append(f"no learned {kind} attractor")
            continue
        ok_cov = (best["coverage_of_target"] or 0) >= MIN_COVERAGE
        if memory is not None and memory.get("median_drift"):
            first = memory["median_drift"][0]
            ok_hold = first < memory["threshold"]
            lapse = (f"its {memory['variable']} drifts by {first:.3g} {memory['unit']} over "
                     f"one training horizon (>= {memory['threshold']:.3g})")
        else:
            drift = best["drift_time"]
            ok_hold = drift is None or drift >= horizon
            lapse = (f"it drifts along it in {drift:.3g} < the training horizon {horizon:.3g}"
                     if drift is not None else "")
        best["holds_over_training_horizon"] = ok_hold
        rows.append(best)
        if not ok_cov:
            why.append(f"the learned {kind} covers {100 * (best['coverage_of_target'] or 0):.0f}"
                       f" % of the target's (needs {100 * MIN_COVERAGE:.0f} %)")
        if not ok_hold:
            why.append(lapse)
    out: dict[str, Any] = {"continuous_attractors": rows}
    if not same or why:
        out.update(verdict="mismatch", topology_match=False,
                   reason="; ".join(([] if same else [reason]) + why))
        return out
    approx = [r for r in rows if not (r["max_speed"] is not None and float(r["max_speed"]) < 1e-8
                                      and (r["coverage_of_target"] or 0) >= 1.0)]
    if approx:
        out.update(verdict="approximate", reason=approximate_line(approx[0], memory))
    else:
        out.update(verdict="exact", reason=reason)
    out["topology_match"] = True
    return out


def approximate_line(row: dict[str, Any], memory: dict[str, Any] | None) -> str:
    """'approximate ring: 4 stable and 4 saddle points on it; angle error 0.14 rad after 10
    horizons' (with the coverage and ||phi||_inf), from a verdict row and the memory."""
    parts = [f"approximate {row['kind']}"]
    n_s, n_u = row.get("stable_along"), row.get("unstable_along")
    if n_s is not None and n_u is not None:
        pts = (f"{n_s} stable and {n_u} saddle points on it" if n_s or n_u
               else "no fixed point on it (the flow circulates)")
        parts.append(": " + pts)
    parts.append(f"; covers {100 * (row['coverage_of_target'] or 0):.0f} % of the target's")
    if memory is not None and memory.get("median_error"):
        i = list(memory.get("horizon_multiples", [])).index(10) \
            if 10 in memory.get("horizon_multiples", []) else -1
        parts.append(f"; {memory['variable']} error {memory['median_error'][i]:.2g} "
                     f"{memory['unit']} after {memory['horizon_multiples'][i]} horizons")
        if memory.get("phi_inf") is not None:
            parts.append(f"; ||phi||_inf {memory['phi_inf']:.2g} {memory['unit']} per time unit")
    elif row.get("drift_time") is not None:
        parts.append(f"; drift time {row['drift_time']:.3g} (target units)")
    return "".join(parts)
