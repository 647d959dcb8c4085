"""The reproduction's own figures (paper Figs 9 and 11), in the one figure style: Fig 9's portraits
with the homoclinic-like regions and their orbits, the precision study's |h(t)|, and Fig 11 as
one panel of the trained networks' analysis figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import to_rgba

from gru_learn.analysis.figures.style import dedup_legend, kind_label, marker_style, save_png


def fig9_regions(found: dict[str, Any], png: Path) -> None:
    """Fig 9 A/B: per preset (``found[name]``: its ``cell``, homoclinic-like ``regions``,
    ``orbits`` and ``portrait`` fixed points) the flow with the regions shaded and one orbit
    per region; C/D: those orbits' time series, backwards and forwards from their start."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), gridspec_kw={"height_ratios": [3, 1.4]})
    xs = np.linspace(-1, 1, 81)
    mesh = torch.tensor(np.stack(np.meshgrid(xs, xs, indexing="xy"), -1))
    for col, (name, label) in enumerate((("fig9a", "A"), ("fig9b", "B"))):
        v, ax = found[name], axes[0, col]
        with torch.no_grad():
            fv = v["cell"].vector_field(mesh).numpy()
        ax.streamplot(xs, xs, fv[..., 0], fv[..., 1], density=1.4, color="0.6",
                      linewidth=0.6, arrowsize=0.7)
        reg = v["regions"]
        colours = ["#f4a582", "#92c5de", "#a6dba0", "#c2a5cf"]
        shade = np.zeros(reg.mask.shape + (4,))
        for k, comp in enumerate(reg.components):  # counted regions in colour, others grey
            n = next((i for i, r in enumerate(reg.regions) if r is comp), None)
            shade[reg.labels == k + 1] = to_rgba(
                "#dddddd" if n is None else colours[n % 4], 0.8)
        ax.imshow(shade.transpose(1, 0, 2), origin="lower", extent=(
            reg.xs[0] * 1.5 - reg.xs[1] * 0.5, reg.xs[-1] * 1.5 - reg.xs[-2] * 0.5,
            reg.ys[0] * 1.5 - reg.ys[1] * 0.5, reg.ys[-1] * 1.5 - reg.ys[-2] * 0.5))
        for o in v["orbits"]:
            both = torch.cat([o["back"].flip(0), o["path"]]).numpy()
            ax.plot(both[:, 0], both[:, 1], "k", lw=1.5)
            ax.plot(*o["h0"], "ko", ms=4)
        for p in v["portrait"]:
            name_of = ("the cluster (non-hyperbolic at this scale)"
                       if p["kind"] == "non_hyperbolic" else kind_label(p["kind"]))
            ax.plot(*p["h"], ls="none", ms=8, label=name_of, **marker_style(p["kind"]))
        ax.plot([], [], "k", lw=1.5, label="a homoclinic-like orbit (C/D below)")
        ax.plot([], [], "ko", ms=4, label="its marked start")
        dedup_legend(ax, below=0.1)
        ax.set(xlim=(-1, 1), ylim=(-1, 1), aspect="equal", xlabel="x", ylabel="y",
               title=f"{label}: preset {name}, {reg.count} homoclinic-like "
               f"region{'' if reg.count == 1 else 's'} (shaded)")
        ts = axes[1, col]
        for k, o in enumerate(v["orbits"]):
            t = torch.cat([-o["t"].flip(0), o["t"]]).numpy()
            both = torch.cat([o["back"].flip(0), o["path"]]).numpy()
            for i, comp in enumerate("xy"):
                ts.plot(t, both[:, i], color=f"C{i}", ls=("-", "--")[k],
                        label=f"{comp} (region {k + 1})")
        ts.set(xlabel="time (0 = the marked start)", ylabel="hidden state",
               title=f"{'CD'[col]}: the black orbit(s), backwards and forwards")
        ts.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_png(fig, png)


def fig9_precision(prec: dict[bool, Any], png: Path) -> None:
    """|h(t)| of one fig9a orbit in float32, float64 and 50 digits, forwards (``prec[False]``)
    and backwards (``prec[True]``), with the cluster's points (exact, and of the parameters
    rounded to float32) as levels."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, bw in zip(axes, (False, True), strict=True):
        p = prec[bw]
        t = p["times"].numpy()
        for k, (name, path) in enumerate(p["paths"].items()):
            ax.loglog(t[1:], path[1:].norm(dim=-1).numpy(), color=f"C{k}",
                      ls=("-", "--", ":")[k], lw=(2.5, 1.5, 1.5)[k], label=name)
        for key, color, text in (("cluster", "0.4", "exact cluster's points"),
                                 ("cluster_float32_parameters", "C0",
                                  "same, parameters rounded to float32")):
            norms = [math.hypot(*q["h"]) for q in p[key] if math.hypot(*q["h"]) > 0]
            for k, r in enumerate(norms):
                ax.axhline(r, color=color, lw=0.7, ls=":", label=None if k else
                           f"{text} (|h| {min(norms):.1e} to {max(norms):.1e})")
        ax.set(xlabel="time", ylim=(1e-33, 3.0),
               title=("forwards" if not bw else "backwards")
               + " from the fig9a orbit's start (RK4, same steps)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("|h(t)| (distance to the origin)")
    fig.tight_layout()
    save_png(fig, png, dpi=110)


def fig11_panel(runs: Path, seed: int, path: Path) -> None:
    """Fig 11 as one picture: per system, target and learned (comparison) over the closed-loop
    time series, from the analysis figures of ``runs/<system>/seed<seed>``."""
    systems = ("fhn", "line", "ring")
    fig, axes = plt.subplots(2, 3, figsize=(18, 9), height_ratios=[2.1, 1.2],
                             constrained_layout=True)
    for j, system in enumerate(systems):
        base = runs / system / f"seed{seed}" / "analysis"
        for i, name in enumerate(("comparison", "timeseries")):
            ax = axes[i, j]
            ax.imshow(plt.imread(base / f"{name}.png"))
            ax.set_axis_off()
        axes[0, j].set_title(system, fontsize=14)
    save_png(fig, path, dpi=100)
