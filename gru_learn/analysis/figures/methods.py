"""``compare``'s methods figure (``memory_<system>.png``): the memory error of the remembered
variable against GRU steps, one panel per hidden size, one line per training method (median
over seeds, the seeds' range shaded), from the rows of
:func:`gru_learn.experiments.grid.methods.method_rows`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from gru_learn.analysis.figures.style import save_png

KEYS = ("error_1h", "error_10h", "error_100h")


def methods_memory_figure(path: Path, system: str, rows: list[dict[str, Any]]) -> Path:
    """Median error after 1, 10 and 100 training horizons (log-log) per method, a panel per
    hidden size; the y range shared so panels compare."""
    sizes = sorted({r["hidden_size"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.2 * len(sizes) + 1, 3.4), sharey=True,
                             constrained_layout=True, squeeze=False)
    unit = rows[0].get("unit") or ""
    x = [1, 10, 100]
    for ax, d in zip(axes[0], sizes, strict=True):
        for i, name in enumerate(methods):
            row = next((r for r in rows if r["hidden_size"] == d and r["method"] == name), None)
            if row is None:
                continue
            med = [row[k]["median"] if row[k] and row[k].get("n") else math.nan for k in KEYS]
            lo = [row[k]["min"] if row[k] and row[k].get("n") else math.nan for k in KEYS]
            hi = [row[k]["max"] if row[k] and row[k].get("n") else math.nan for k in KEYS]
            ax.plot(x, med, marker="o", color=f"C{i}", lw=1.8, label=name)
            ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.15, lw=0)
        ax.set(xscale="log", yscale="log", xticks=x, xticklabels=["1 T", "10 T", "100 T"],
               title=f"{d} units", xlabel="time after the start (training horizons T)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(f"median error ({unit})")
    axes[0][-1].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{system}: memory by training method (median over seeds, range shaded)",
                 fontsize=10)
    return save_png(fig, path)
