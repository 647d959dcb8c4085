"""The topology's history over training as one figure: counts of each kind against epoch, the
stable cycle's period, the coverage, and the named bifurcations between snapshots
(``gru_learn.analysis.timeline`` computes them). The package's ``style`` has selected the Agg
backend before this module loads pyplot."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator


def timeline_figure(timeline: dict[str, Any], dt: float | None = None,
                    target_period: float | None = None) -> Any:
    """Counts of each kind against epoch, the stable cycle's period (target time with GRU
    steps on the right axis when ``dt`` is known) beside the target's ``target_period``, the
    coverage if known, and every named event as a shaded interval, numbered, with its name in
    the legend."""
    snaps = timeline["snapshots"]
    ep = [s["epoch"] for s in snaps]
    has_cov = any(s.get("coverage") is not None for s in snaps)
    fig, axes = plt.subplots(3 if has_cov else 2, 1, sharex=True, layout="constrained",
                             figsize=(8, 7 if has_cov else 5.5))
    ax = axes[0]
    styles = {"stable_points": ("tab:blue", "o", 9), "unstable_points": ("tab:red", "s", 7),
              "saddles": ("tab:orange", "X", 7), "stable_cycles": ("tab:green", "^", 5),
              "unstable_cycles": ("tab:purple", "v", 5),
              "continuous_attractors": ("k", "D", 4)}
    for k, (c, m, size) in styles.items():
        ys = [s["signature"].get(k, 0) for s in snaps]
        if any(ys) or k in ("stable_points", "stable_cycles"):
            ax.step(ep, ys, where="post", color=c, marker=m, markersize=size, alpha=0.85,
                    label=k.replace("_", " "))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("count (learned ODE)")
    ax.set_title("learned topology over training", pad=14)
    handles, labels = ax.get_legend_handles_labels()
    for i, e in enumerate(timeline["events"], 1):
        for a in axes:
            a.axvspan(e["from_epoch"], e["to_epoch"], color="0.85", zorder=0)
        ax.text((e["from_epoch"] + e["to_epoch"]) / 2, 1.0, str(i), ha="center", va="bottom",
                transform=ax.get_xaxis_transform(), fontsize=9, fontweight="bold")
        handles.append(Patch(color="0.85"))
        labels.append(f"{i}: epoch {e['from_epoch']}-{e['to_epoch']}: {e['name']}")
    fig.legend(handles, labels, loc="outside lower center", fontsize=8, ncols=1)
    ax = axes[1]
    per = [(s["epoch"], s["cycle_periods"][0]) for s in snaps if s.get("cycle_periods")]
    if per:
        x, y = zip(*per, strict=True)
        ax.plot(x, [v * (dt or 1.0) for v in y], "g^-", label="stable cycle of the learned ODE")
    if target_period is not None and dt:
        ax.axhline(target_period, color="k", ls="--", lw=1, label="target's cycle")
    if per or (target_period is not None and dt):
        ax.margins(y=0.15)  # a lone last point must not sit on the frame
        ax.legend(fontsize=8, loc="best")
    if not per:
        ax.text(0.5, 0.5, "no stable cycle found", transform=ax.transAxes, ha="center")
    if dt:
        ax.set_ylabel("period (target time)")
        sec = ax.secondary_yaxis("right", functions=(lambda v: v / dt, lambda v: v * dt))
        sec.set_ylabel("[GRU steps]")
    else:
        ax.set_ylabel("period [GRU steps]")
    if has_cov:
        cov = [(s["epoch"], s["coverage"]) for s in snaps if s.get("coverage") is not None]
        x, y = zip(*cov, strict=True)
        axes[2].plot(x, y, "kD-", label="coverage of the target's continuous attractor")
        axes[2].set_ylabel("coverage")
        axes[2].legend(fontsize=8)
    axes[-1].set_xlabel("epoch")
    return fig
