"""The topology's history over training: snapshots of the learned dynamics at checkpoints and
the bifurcations between them, named from how the signature changes.

A snapshot (``snapshot``) records the learned vector field's signature (counts of stable and
unstable points, saddles, stable and unstable cycles, continuous attractors), the kinds and
states of its fixed points and the periods of its cycles. Light mode is cheap enough to run by
default: in d <= 3 the exhaustive grid search for fixed points (128 random starts above); in
d <= 2 and only when no stable point exists, one trajectory for the cycle Poincare-Bendixson
then guarantees (its period from upward crossings); no continuous attractors, no figures. A
stable cycle beside a stable point (bistability) is not seen by light mode. Full mode is the
end-of-fit analysis (``analyze(..., figures=False)``) with its continuous-attractor coverage.

Between two consecutive snapshots the change of signature Delta (after minus before) is named
by the local bifurcation whose normal form produces it (Kuznetsov, Elements of Applied
Bifurcation Theory, ch. 3-4), read in either direction of training:

- Hopf: a stable point becomes unstable and a stable cycle is born (supercritical) or an
  unstable cycle dies (subcritical) -- Delta stable_points = -1, unstable_points = +1 with
  stable_cycles = +1 (or unstable_cycles = -1); reversed signs: the cycle shrinks into the point;
- saddle-node: a saddle and a node appear or vanish together -- Delta saddles = Delta nodes = +-1;
  a pitchfork gives the same counts, and is named when the new saddle sits where the old node
  was (states known) while the two new nodes lie around it;
- saddle-node on an invariant circle (SNIC): a node and a saddle vanish while a stable cycle
  appears (or the reverse);
- fold of cycles: a stable and an unstable cycle appear or vanish together;
- continuous attractor formed/lost: a slow manifold of the given kind appears/disappears;
- anything else: "change in topology" (several events between two snapshots, or a global one
  such as a homoclinic loss of a cycle).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch

from gru_learn.analysis.core import (
    F64,
    INDEX_PREFIX,
    STABLE_KINDS,
    UNSTABLE_KINDS,
    as_float64,
    signature,
)
from gru_learn.analysis.result import AnalysisResult, Comparison, Coverage
from gru_learn.dynamics import analyze_vector_field
from gru_learn.gru.cell import GRUCell

COUNT_KEYS = ("stable_points", "unstable_points", "saddles", "non_hyperbolic",
              "stable_cycles", "unstable_cycles", "continuous_attractors")
LIGHT_STARTS = 128  # random starts of the light fixed-point search in d > 3


def snapshot(cell: GRUCell, epoch: int, *, cycles: bool = True, seed: int = 0
             ) -> dict[str, Any]:
    """Light snapshot of a trained ``cell`` (a ``GRUCell``, any dtype) at ``epoch``: signature,
    fixed points (kind, state) and cycle periods (GRU steps) of the zero-input ODE
    dh/dt = f(h), its fixed points by ``analyze_vector_field`` (exhaustive in d <= 3, else
    ``LIGHT_STARTS`` uniform starts). The cycle search runs only in d <= 2 (and if
    ``cycles``)."""
    from gru_learn.analysis.network import _jacobian, _vector_field

    start = time.perf_counter()
    cell = as_float64(cell)
    d = cell.hidden_size
    gen = torch.Generator().manual_seed(seed)
    f, step = _vector_field(cell, None)
    states = torch.empty(0, d, dtype=F64) if d <= 3 else 2 * torch.rand(
        LIGHT_STARTS, d, dtype=F64, generator=gen) - 1
    res = analyze_vector_field(f, tuple((-1.0, 1.0) for _ in range(d)), step=step,
                               starts=states, cycles=False, continuous=False,
                               jac=_jacobian(cell, None), generator=gen,
                               search_starts=LIGHT_STARTS)
    sig = signature(res)
    fixed = res.fixed
    periods: list[float] = []
    searched = bool(cycles and d <= 2 and sig["stable_points"] + sig["non_hyperbolic"] == 0)
    if searched:
        periods = _cycle_period(f, fixed, d)
        sig["stable_cycles"] = len(periods)
    return {"epoch": int(epoch), "mode": "light", "signature": sig,
            "points": [{"kind": p.kind, "h": p.h.tolist()} for p in fixed.fixed_points],
            "cycle_periods": periods, "cycles_searched": searched,
            "seconds": round(time.perf_counter() - start, 3)}


def _cycle_period(f: Any, fixed: Any, d: int, dt: float = 1.0, t: float = 150.0
                  ) -> list[float]:
    """The cheap 2-D cycle check of light mode, used only when no stable or non-hyperbolic
    point was found: the cube [-1, 1]^d is forward-invariant (f = (1 - z)(n - h), |n| < 1), so
    by Poincare-Bendixson a generic trajectory tends to a periodic orbit (a cycle made of
    saddle connections is not generic). One trajectory from beside the first unstable point
    (or the centre), RK4 with step ``dt`` for ``t`` of transient, then ``t`` in which the first
    coordinate must cross its mean upward regularly: [its period in GRU steps], else []."""
    from gru_learn.dynamics.integrate import advance, integrate
    from gru_learn.dynamics.periods import crossing_period

    pts = [p.h for p in fixed.fixed_points]
    h0 = (pts[0] if pts else torch.zeros(d, dtype=F64)) + 1e-2
    with torch.no_grad():
        h = advance(f, h0[None].to(F64), t, dt)
        _, path = integrate(f, h, t, dt)
    x = path[:, 0, 0]
    period, cv, _ = crossing_period(x, dt)
    if period is None or cv is None or cv > 0.05 or float(x.max() - x.min()) < 1e-3:
        return []
    return [period]


def from_summary(summary: AnalysisResult | dict[str, Any], epoch: int,
                 seconds: float | None = None, *, numbers: bool = True) -> dict[str, Any]:
    """A full snapshot from an analysis summary (``analyze``'s): signature, points, stable
    cycle periods (GRU steps) and, with ``numbers``, the slow set's coverage of the target's
    continuous attractor (``comparison.continuous_attractor.coverage``) and ``metrics``, the
    comparison's finite numbers (``gru_learn.analysis.summary_scalars``: topology match 1/0,
    period errors, d_stsp, d_h...). Without ``numbers`` (the end of a light timeline) the
    snapshot carries only what the light ones have, so no curve gets a lone last point."""
    result = AnalysisResult.of(summary)
    learned = result.main_side()
    comp = result.comparison if isinstance(result.comparison, Comparison) else Comparison()
    snap = {"epoch": int(epoch), "mode": "full",
            "signature": learned.signature.to_json() if learned.signature else {},
            "points": [{"kind": p.kind, "h": p.h} for p in learned.fixed_points],
            "cycle_periods": [float(c.period if c.period_steps is None else c.period_steps)
                              for c in learned.stable_cycles()],
            "cycles_searched": True,
            "seconds": None if seconds is None else round(seconds, 3)}
    if numbers:
        snap["coverage"] = (comp.continuous_attractor.coverage
                            if isinstance(comp.continuous_attractor, Coverage) else None)
        snap["metrics"] = {k: v for k, v in result.scalars().items()
                           if math.isfinite(v) and k not in (*COUNT_KEYS, "coverage")}
    return snap


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys
            if after.get(k, 0) != before.get(k, 0)}


def _near(a: Sequence[float], b: Sequence[float], tol: float) -> bool:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5 < tol


def _pitchfork(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]],
               node_kinds: tuple[str, ...], tol: float = 0.05) -> bool:
    """A saddle of ``after`` where ``before`` had a node of ``node_kinds`` and no saddle, with
    two new nodes of the same stability on either side of it (their midpoint at the saddle)."""
    old_nodes = [p["h"] for p in before if p.get("kind") in node_kinds and p.get("h")]
    old_saddles = [p["h"] for p in before if p.get("kind") == "saddle" and p.get("h")]
    for s in (p["h"] for p in after if p.get("kind") == "saddle" and p.get("h")):
        if any(_near(s, o, tol) for o in old_saddles) or \
                not any(_near(s, o, tol) for o in old_nodes):
            continue
        new = [p["h"] for p in after if p.get("kind") in node_kinds and p.get("h")
               and not any(_near(p["h"], o, tol) for o in old_nodes)]
        for i, a in enumerate(new):
            for b in new[i + 1:]:
                if _near([(x + y) / 2 for x, y in zip(a, b, strict=True)], s, 4 * tol):
                    return True
    return False


def name_event(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """The bifurcation between two snapshots (or signatures): None if the signature did not
    change, else its name (see the module docstring) or "change in topology"."""
    sb = before.get("signature", before)
    sa = after.get("signature", after)
    d = _delta(sb, sa)
    for kind in ("ring", "line", "plane"):  # manifolds: named by kind, counted once
        d.pop(f"{kind}_attractors", None)
    for key in [k for k in d if k.startswith(INDEX_PREFIX)]:  # the kinds say it here
        d.pop(key)
    if not d:
        return None
    manifold = {k: sa.get(f"{k}_attractors", 0) - sb.get(f"{k}_attractors", 0)
                for k in ("ring", "line", "plane")}
    if set(d) == {"continuous_attractors"}:
        kinds = [k for k, v in manifold.items() if v]
        what = " ".join(kinds) + " " if kinds else ""
        return (f"continuous {what}attractor formed" if d["continuous_attractors"] > 0
                else f"continuous {what}attractor lost")
    pts_b, pts_a = before.get("points") or [], after.get("points") or []
    s, u = d.get("stable_points", 0), d.get("unstable_points", 0)
    sad, sc, uc = d.get("saddles", 0), d.get("stable_cycles", 0), d.get("unstable_cycles", 0)
    rest = set(d) - {"stable_points", "unstable_points", "saddles", "stable_cycles",
                     "unstable_cycles"}
    if rest:
        return "change in topology"
    key = (s, u, sad, sc, uc)
    named = {
        (-1, 1, 0, 1, 0): "Hopf (supercritical: stable point -> unstable focus + stable cycle)",
        (1, -1, 0, -1, 0): "Hopf (supercritical, reversed: stable cycle shrinks into a stable "
                           "point)",
        (-1, 1, 0, 0, -1): "Hopf (subcritical: unstable cycle shrinks onto a stable point)",
        (1, -1, 0, 0, 1): "Hopf (subcritical, reversed: unstable cycle born around a stable "
                          "point)",
        (-1, 0, -1, 1, 0): "saddle-node on invariant circle (SNIC: node and saddle merge into a "
                           "stable cycle)",
        (1, 0, 1, -1, 0): "saddle-node on invariant circle (SNIC, reversed: a stable cycle "
                          "breaks into a node and a saddle)",
        (0, 0, 0, 1, 1): "fold of cycles (a stable and an unstable cycle born)",
        (0, 0, 0, -1, -1): "fold of cycles (a stable and an unstable cycle annihilate)",
        (0, 0, 0, -1, 0): "stable cycle lost (homoclinic or fold of cycles)",
    }
    if key in named:
        return named[key]
    if sc == uc == 0 and abs(sad) == 1 and (s, u) in ((sad, 0), (0, sad)):
        kinds = STABLE_KINDS if s else UNSTABLE_KINDS
        if sad > 0 and _pitchfork(pts_b, pts_a, kinds):
            return "pitchfork (a node splits into a saddle and two nodes)"
        if sad < 0 and _pitchfork(pts_a, pts_b, kinds):
            return "pitchfork (reversed: two nodes and a saddle merge into one node)"
        node = "stable" if s else "unstable"
        return (f"saddle-node (a saddle and a {node} node born)" if sad > 0
                else f"saddle-node (a saddle and a {node} node annihilate)")
    return "change in topology"


def events(snapshots: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The named changes between consecutive snapshots: ``{"from_epoch", "to_epoch", "name",
    "before", "after"}`` (signatures as count strings)."""
    out = []
    for a, b in zip(snapshots, snapshots[1:], strict=False):
        name = name_event(a, b)
        if name is not None:
            out.append({"from_epoch": a["epoch"], "to_epoch": b["epoch"], "name": name,
                        "before": describe(a["signature"]), "after": describe(b["signature"])})
    return out


def describe(sig: dict[str, int]) -> str:
    """A signature as a short phrase: '1 stable point, 1 stable cycle'."""
    words = {"stable_points": "stable point", "unstable_points": "unstable point",
             "saddles": "saddle", "non_hyperbolic": "non-hyperbolic point",
             "stable_cycles": "stable cycle", "unstable_cycles": "unstable cycle",
             "ring_attractors": "ring attractor", "line_attractors": "line attractor",
             "plane_attractors": "plane attractor"}
    parts = [f"{sig[k]} {w}" + ("s" if sig[k] > 1 else "") for k, w in words.items()
             if sig.get(k)]
    return ", ".join(parts) or "nothing found"


def timeline_summary(snapshots: Sequence[dict[str, Any]], dt: float | None = None
                     ) -> dict[str, Any]:
    """What summary.json's ``timeline`` key holds: the snapshots, the named events and the
    analysis time spent during training (seconds)."""
    return {"snapshots": list(snapshots), "events": events(snapshots),
            "period_unit": "GRU steps" + ("" if dt is None else f" (x dt = {dt} in target time)"),
            "seconds": round(sum(s.get("seconds") or 0.0 for s in snapshots), 3)}


def timeline_scalars(snap: dict[str, Any]) -> dict[str, float]:
    """TensorBoard scalars of one snapshot (``timeline/*``): the signature's counts, the first
    stable cycle's period (GRU steps), and for full snapshots the slow set's coverage
    (``timeline/coverage``) and the comparison's numbers (``timeline/d_stsp``, ...)."""
    sig = snap["signature"]
    out = {f"timeline/{k}": float(sig.get(k, 0)) for k in COUNT_KEYS}
    if snap.get("cycle_periods"):
        out["timeline/cycle_period_steps"] = float(snap["cycle_periods"][0])
    if snap.get("coverage") is not None:
        out["timeline/coverage"] = float(snap["coverage"])
    out.update({f"timeline/{k}": float(v) for k, v in (snap.get("metrics") or {}).items()
                if f"timeline/{k}" not in out})
    return out


def line(events_: Sequence[dict[str, Any]]) -> str:
    """Events as one line each: 'epoch 240-260: Hopf (...)'."""
    return "\n".join(f"epoch {e['from_epoch']}-{e['to_epoch']}: {e['name']} "
                     f"({e['before']} -> {e['after']})" for e in events_)
