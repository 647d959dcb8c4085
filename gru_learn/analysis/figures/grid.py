"""The grid's figure (``compare``): the paper's Fig 12, training loss against epoch per hidden
size, and, where the runs were analysed, their dynamics against hidden size beside it.

A run here is a record of ``gru_learn.experiments.grid`` (``system``, ``hidden_size``,
``curve``) with ``dynamics``, its analysis flattened
(:func:`gru_learn.experiments.grid.report.run_dynamics`); runs without it count as not
analysed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from gru_learn.analysis.figures import style
from gru_learn.files.atomic import atomic_dir
from gru_learn.systems.registry import folder_name

# topology verdict -> bar colour, in the verdicts' order (best first)
VERDICT_COLOURS = {"exact": "tab:green", "approximate": "tab:olive", "mismatch": "tab:red"}


def _loss_panel(ax, system: str, runs: list[dict[str, Any]], sizes: tuple[int, ...],
                method: str = "", forced: bool = False) -> None:
    """Training loss against epoch, log scale: seeds thin and light, mean per size bold."""
    for i, d in enumerate(sizes):
        group = [r for r in runs if r["system"] == system and r["hidden_size"] == d]
        if not group:
            continue
        color = f"C{i}"
        curves = np.array([r["curve"]["train_loss"] for r in group], dtype=float)
        epochs = group[0]["curve"]["epoch"]
        for c in curves:
            ax.plot(epochs, c, color=color, alpha=0.3, lw=0.8)
        ax.plot(epochs, np.nanmean(curves, axis=0), color=color, lw=2, label=f"{d} units")
    ax.set(yscale="log", xlabel="epoch",
           ylabel="training loss (teacher-forced MSE)" if forced else "training loss (MSE)",
           title=f"{system}\n{method}" if method else system)
    ax.legend(frameon=False)


def _size_panel(ax, sizes: list[int], values: list[list[float]], centre: str, ylabel: str,
                log: bool = False, color: str = "k", label: str | None = None) -> None:
    """A measure against hidden size: each seed a light dot, the mean (or median) bold.
    Infinite values (no drift) are drawn at the top edge as open triangles."""
    finite = [v for vs in values for v in vs if math.isfinite(v)]
    top = (max(finite) * (3 if log else 1.1)) if finite else 1.0
    for d, vs in zip(sizes, values, strict=True):
        inf = [v for v in vs if not math.isfinite(v)]
        fin = [v for v in vs if math.isfinite(v)]
        ax.plot([d] * len(fin), fin, "o", color=color, alpha=0.3, ms=4)
        ax.plot([d] * len(inf), [top] * len(inf), "^", mfc="none", color=color, alpha=0.5, ms=6)
    if not any(values):
        ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    xs = [d for d, vs in zip(sizes, values, strict=True) if vs]
    ys = [float(np.median(vs)) if centre == "median" else float(np.mean(vs))
          for vs in values if vs]
    ax.plot(xs, [min(y, top) for y in ys], "-o", color=color, lw=2, ms=5,
            label=label or centre)
    ax.set(xscale="log", xticks=sizes, xlabel="hidden units", ylabel=ylabel)
    ax.set_xticklabels([str(d) for d in sizes])
    ax.minorticks_off()
    if log and finite and min(finite) > 0 and max(finite) > 10 * min(finite):
        ax.set_yscale("log")  # only where the values span more than a decade


def fig12(system: str, runs: list[dict[str, Any]], sizes: tuple[int, ...], method: str = "",
          forced: bool = False):
    """The loss curves (the paper's Fig 12) and, with analyses, the dynamics against hidden
    size beside them: fraction of exact / approximate topology matches, coverage of the
    target's continuous attractor by the slow set, drift time along the learned attractor
    (median bold), closed-loop period error where there is one, d_stsp (mean bold); seeds as
    light dots. ``method``: a training method other than the paper's, named in the title;
    ``forced``: the training loss is teacher-forced."""
    analysed = [r for r in runs if r["system"] == system
                and (r.get("dynamics") or {}).get("status") == "analysed"]
    dyn = {d: [r["dynamics"] for r in analysed if r["hidden_size"] == d] for d in sizes}
    ds = [d for d in sizes if dyn[d]]
    panels: list[tuple[str, str, str, bool]] = []  # key, centre, label, log
    if ds:
        if any(x["slow_coverage"] is not None for d in ds for x in dyn[d]):
            panels += [("slow_coverage", "mean", "coverage of the target's\nattractor "
                        "by the slow set", False),
                       ("drift_time", "median", "drift time along learned\nattractor "
                        "(target units)", True)]
        if any(x["period_rel_error"] is not None for d in ds for x in dyn[d]):
            panels.append(("period_rel_error", "mean", "closed-loop period\nrelative error",
                           False))
        panels.append(("d_stsp", "mean", "d_stsp", True))
    n = 1 + (1 if ds else 0) + len(panels)
    fig, axes = plt.subplots(1, n, figsize=(5 + 3.1 * (n - 1), 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6] + [1] * (n - 1)})
    axes = axes[0]
    _loss_panel(axes[0], system, runs, sizes, method, forced)
    if ds:
        ax = axes[1]
        bottom = [0.0] * len(ds)
        for verdict, color in VERDICT_COLOURS.items():
            frac = [sum(x["verdict"] == verdict for x in dyn[d]) / len(dyn[d]) for d in ds]
            ax.bar(range(len(ds)), frac, bottom=bottom, color=color, label=verdict, width=0.6)
            bottom = [b + f for b, f in zip(bottom, frac, strict=True)]
        ax.set(xticks=range(len(ds)), xticklabels=[str(d) for d in ds], ylim=(0, 1.3),
               yticks=[0, 0.25, 0.5, 0.75, 1], xlabel="hidden units",
               ylabel="fraction of analysed seeds", title="topology verdict")
        ax.legend(frameon=False, fontsize=7, loc="upper center", ncol=3, handlelength=1)
        for ax, (key, centre, label, log) in zip(axes[2:], panels, strict=True):
            values = [[x[key] for x in dyn[d] if x[key] is not None] for d in ds]
            _size_panel(ax, ds, values, centre, label, log)
            if key == "slow_coverage":  # and at the looser speed: four training horizons
                ax.lines[-1].set_label("slow set")
                _size_panel(ax, ds, [[x["task_coverage"] for x in dyn[d]
                                      if x["task_coverage"] is not None] for d in ds],
                            "mean", label, color="tab:blue",
                            label="< 1 radius in 4 horizons")
                ax.set_ylim(-0.05, 1.05)
                ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def write_figures(out: Path, systems: tuple[str, ...], sizes: tuple[int, ...],
                  runs: list[dict[str, Any]], step: int, method: str = "",
                  forced: bool = False) -> list[Path]:
    """``fig12_<system>.png`` per system under ``out``, and the same figures in TensorBoard run
    ``out/figures`` at ``step``."""
    from torch.utils.tensorboard import SummaryWriter

    paths = []
    with atomic_dir(out / "figures") as tb:
        writer = SummaryWriter(log_dir=str(tb))
        for system in systems:
            fig = fig12(system, runs, sizes, method, forced)
            paths.append(style.save_png(fig, out / f"fig12_{folder_name(system)}.png", dpi=120,
                                        close=False))
            writer.add_figure(f"fig12/{system}", fig, step)
            plt.close(fig)
        writer.close()
    return paths
