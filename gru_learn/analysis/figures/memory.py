"""The memory figure (``memory.png``): how long the network holds the angle (or position) of
the target's ring (or line), beside the target's own flow and the bound ||phi||_inf gives; and
the flow along the learned manifold that sets that bound."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gru_learn.analysis.figures.style import dedup_legend


def memory_figure(memory: dict[str, Any], manifolds: list[Any]) -> Figure:
    """Left: median and largest error of the remembered variable against GRU steps (log), the
    model's and the target's, the model's median hold with its memory time, the bound
    max error(T) + (t - T) ||phi||_inf and the training horizons; right: the signed speed
    along the learned one-dimensional manifold covering the target's
    (``along.speed_profile``), its zeros marked (stable along: filled)."""
    fig, (ax, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    curve = memory.get("curve") or {}
    steps = np.asarray(curve.get("steps") or [], dtype=float)
    unit, var = memory.get("unit", ""), memory.get("variable", "variable")
    if len(steps):
        ax.plot(steps, curve["median_error"], color="C0", lw=2, label="network: median error")
        ax.plot(steps, curve["max_error"], color="C0", lw=1, ls="--", label="network: max error")
        if curve.get("median_hold"):
            late = steps >= memory["horizons"][0]
            ax.plot(steps[late], np.asarray(curve["median_hold"])[late], color="C1", lw=1.5,
                    label="network: median drift from its own value at T")
        target = (memory.get("target") or {}).get("curve") or {}
        if target.get("steps"):
            ax.plot(target["steps"], target["median_error"], color="C2", lw=2,
                    label="target's flow: median error")
        horizon = memory["horizons"][0]
        phi = memory.get("phi_inf_per_step")
        if phi is not None and np.isfinite(phi):
            e_t = curve["max_error"][curve["steps"].index(horizon)]
            late = steps[steps >= horizon]
            cap = np.pi if memory.get("variable") == "angle" else np.inf
            ax.plot(late, np.minimum(cap, e_t + (late - horizon) * phi), color="C3", lw=1.2,
                    label=f"bound: max error(T) + (t - T) ||phi||_inf ({phi:.2g} {unit}/step)")
        for m, k in zip(memory.get("horizon_multiples", []), memory["horizons"], strict=True):
            ax.axvline(k, color="0.7", lw=0.8, ls=":")
            ax.text(k, 0.98, f" {m}T", transform=ax.get_xaxis_transform(), va="top",
                    fontsize=8, color="0.4")
        floor = (memory.get("target") or {}).get("encoding_floor")
        if floor:
            ax.axhline(floor["median"], color="C2", lw=1, ls=":",
                       label="floor: the best forecaster from one noisy first observation "
                             "(median)")
        if memory.get("threshold") is not None:
            ax.axhline(memory["threshold"], color="0.5", lw=0.8)
            ax.text(steps[0], memory["threshold"], f" threshold {memory['threshold']:.2g}",
                    va="bottom", fontsize=8, color="0.4")
            held = memory.get("memory_time")
            ax.plot(held if held is not None else steps[-1], memory["threshold"],
                    "v" if held is not None else ">", color="C1", ms=8,
                    label=(f"memory time: that drift reaches the threshold at {held} steps"
                           if held is not None else "memory time: drift below the "
                           f"threshold to the end ({int(steps[-1])} steps)"))
        ax.set_xscale("log")
    ax.set_xlabel("GRU steps after the start (T = one training horizon)")
    ax.set_ylabel(f"{var} error ({unit})")
    ax.set_title(f"memory: closed loop from {memory.get('n_starts', '?')} states on the "
                 f"target's {'ring' if var == 'angle' else 'line'}", fontsize=10)
    dedup_legend(ax, fontsize=7, loc="upper left")

    rows = [m for m in manifolds if getattr(m, "along", None)]
    best = max(rows, key=lambda m: m.along.get("length", 0.0), default=None)
    if best is not None:
        prof = best.along["speed_profile"]
        ax_v.plot(prof["s"], prof["speed"], color="C0", lw=1.2)
        ax_v.axhline(0, color="0.6", lw=0.8)
        for z in best.along["zeros"]:
            stable = z["kind_along"] == "stable"
            ax_v.plot(z["s"], 0, "o", ms=7, mfc="k" if stable else "w", mec="k",
                      label="stable along" if stable else "unstable along")
        ax_v.plot([], [], color="C0", label=f"max |v| = ||phi||_inf = {best.along['phi_inf']:.2g}")
        ax_v.set_title(f"flow along the learned {best.kind} (hidden space): "
                       f"{best.along['stable_along']} stable, {best.along['unstable_along']} "
                       "unstable zeros", fontsize=9)
        dedup_legend(ax_v, fontsize=7)
    else:
        ax_v.text(0.5, 0.5, "no one-dimensional learned manifold", ha="center",
                  transform=ax_v.transAxes)
    ax_v.set_xlabel("position along the manifold (fraction of its length)")
    ax_v.set_ylabel("signed speed along it (hidden units per GRU step)")
    return fig
