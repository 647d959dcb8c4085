"""Figures of a network read alone: its portrait (1-D flow, 2-D phase portrait, or a PCA
projection of the hidden space with the fixed points coloured by kind), the eigenvalue spectra
of every fixed point (ODE and map), and, for several inputs, how the fixed points move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gru_learn.analysis.core import F64
from gru_learn.analysis.figures.dynamics import pca_projection, phase_portrait
from gru_learn.analysis.figures.style import (
    KIND_COLOURS,
    MARKERS,
    dedup_legend,
    kind_handles,
    kind_label,
    mark_points,
    marker_style,
)
from gru_learn.analysis.target import manifold_points
from gru_learn.gru.cell import GRUCell

MAX_INPUT_FIGURES = 8  # per-input portraits and spectra drawn for at most this many inputs


def network_figures(cell: GRUCell, points: list[Any],
                    observe: Callable[[Tensor], Tensor] | None = None) -> dict[str, Figure]:
    """``portrait`` and ``spectra`` for each input (suffix ``_input{k}`` when there are
    several), and ``fixed_points_vs_input`` when there are several inputs."""
    figs: dict[str, Figure] = {}
    several = len(points) > 1
    for k, pt in enumerate(points[:MAX_INPUT_FIGURES]):
        suffix = f"_input{k}" if several else ""
        figs["portrait" + suffix] = portrait(cell, pt)
        figs["spectra" + suffix] = spectra(pt)
    if several:
        figs["fixed_points_vs_input"] = fixed_points_vs_input(points)
    return figs


def _field(cell: GRUCell, x: Tensor | None) -> Callable[[Tensor], Tensor]:
    x = None if cell.input_size == 0 else x
    return lambda h: cell.vector_field(h, x)


def _title(cell: Any, pt: Any) -> str:
    """'GRU as an ODE at input [...]' (an LSTM: 'LSTM map, one step's displacement ...')."""
    name = getattr(cell, "architecture", "GRU")
    how = ("map (arrows: one step's displacement F(s) - s)"
           if getattr(cell, "reading", "ode") == "map" else "as an ODE")
    if pt.input is None:
        return f"{name} (no input) {how} (time in steps)"
    x = np.array2string(pt.input.numpy(), precision=3, threshold=6)
    return f"{name} {how} at input {x} (time in steps)"


def portrait(cell: GRUCell, pt: Any) -> Figure:
    """d = 1: dh/dt against h; d = 2: the phase portrait in the states' box (default the cube);
    d > 2: trajectories, states, fixed points (by kind), slow points, cycles and continuous
    attractors projected on the top two principal components of the states."""
    f, d = _field(cell, pt.input), cell.hidden_size
    res = pt.result
    if d == 1:
        h = torch.linspace(-1, 1, 400, dtype=F64)
        with torch.no_grad():
            v = f(h[:, None])[:, 0]
        fig, ax = plt.subplots(figsize=(5.2, 3.2), constrained_layout=True)
        ax.plot(h.numpy(), v.numpy(), color="purple")
        ax.axhline(0, color="black", lw=0.8)
        mark_points(ax, res.fixed_points, [(float(p.h[0]), 0) for p in res.fixed_points],
                    ms=10)
        ax.set_xlabel("h")
        ax.set_ylabel("dh/dt")
        ax.set_title(_title(cell, pt), fontsize=9)
        dedup_legend(ax, below=0.13)
        return fig
    states = pt.states
    starts = states[torch.linspace(0, len(states) - 1, 8).long()]
    if d == 2:
        lo = torch.minimum(states.amin(0), torch.full((2,), -1.0, dtype=F64))
        hi = torch.maximum(states.amax(0), torch.full((2,), 1.0, dtype=F64))
        box = tuple((float(a), float(b)) for a, b in zip(lo, hi, strict=True))
        fig = phase_portrait(f, box, result=res, starts=starts, t_end=100.0, dt=0.25,
                             title=_title(cell, pt), labels=("h1", "h2"))
        mean, proj = torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)
    else:
        mean, proj = pca_projection(states)
        fig = phase_portrait(f, res.box, result=res, starts=starts, t_end=100.0, dt=0.25,
                             title=_title(cell, pt), labels=("PC1 of the states", "PC2"),
                             projection=(mean, proj))
        xy = ((states - mean) @ proj.T).numpy()
        fig.axes[0].plot(xy[:, 0], xy[:, 1], ".", color="0.7", ms=1.5, zorder=0,
                         label="states")
    ax = fig.axes[0]
    for s in res.fixed.slow_points:
        q = ((s.h - mean) @ proj.T).numpy()
        ax.plot(q[0], q[1], "+", color="tab:blue", ms=7, label="slow point")
    for m in pt.manifolds:
        pts = manifold_points(m)
        if pts is not None and len(pts):
            q = ((pts - mean) @ proj.T).numpy()
            ax.plot(q[:, 0], q[:, 1], ".", color="tab:green", ms=3, zorder=4,
                    label=f"{getattr(m, 'kind', 'slow')} attractor")
    dedup_legend(ax, below=0.13)
    return fig


def spectra(pt: Any) -> Figure:
    """Eigenvalues lambda of the ODE's Jacobian at every fixed point (left, stable left of
    Re = 0) and the map's multipliers 1 + lambda (right, stable inside the unit circle);
    colour = the point's kind."""
    fig, (ax_o, ax_m) = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    pts = pt.result.fixed_points
    for p in pts:
        eig = p.eigenvalues.numpy()
        style = marker_style(p.kind, KIND_COLOURS.get(p.kind, "gray"))
        for ax, z in ((ax_o, eig), (ax_m, 1 + eig)):
            ax.plot(z.real, z.imag, ms=6, ls="none", alpha=0.8, label=kind_label(p.kind),
                    **style)
    ax_o.axvline(0, color="black", lw=0.8)
    th = np.linspace(0, 2 * np.pi, 400)
    ax_m.plot(np.cos(th), np.sin(th), color="black", lw=0.8)
    ax_m.set_aspect("equal", adjustable="datalim")
    ax_o.set_xlabel("Re lambda (ODE dh/dt = f)")
    ax_o.set_ylabel("Im lambda")
    ax_m.set_xlabel("Re mu = 1 + lambda (map h + f)")
    ax_m.set_ylabel("Im mu")
    ax_o.set_title(f"eigenvalues at the {len(pts)} fixed points", fontsize=10)
    ax_m.set_title("map multipliers (unit circle: stability)", fontsize=10)
    if pts:
        dedup_legend(ax_m, below=0.13)
    else:
        ax_o.text(0.5, 0.5, "no fixed points found", ha="center", transform=ax_o.transAxes)
    return fig


def fixed_points_vs_input(points: list[Any]) -> Figure:
    """Left: fixed points of every input in one PCA projection (colour = input row, marker =
    kind). Right: their first principal coordinate against the input row."""
    everything = [p.h for pt in points for p in pt.result.fixed_points]
    base = torch.cat([points[0].states, torch.stack(everything)]) if everything \
        else points[0].states
    mean, proj = pca_projection(base)
    if len(proj) < 2:  # one hidden unit: the second coordinate is 0
        proj = torch.cat([proj, torch.zeros_like(proj)])
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    cmap = plt.get_cmap("viridis")
    n = len(points)
    for k, pt in enumerate(points):
        c = cmap(k / max(1, n - 1))
        for p in pt.result.fixed_points:
            q = ((p.h - mean) @ proj.T).numpy()
            style = marker_style(p.kind, c)
            ax.plot(q[0], q[1], ms=8, ls="none", **style | (
                {"mec": "black"} if MARKERS[p.kind][1] == "black" else {}))  # stable: black rim
            ax_r.plot(k, q[0], ms=7, ls="none", **style)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, max(1, n - 1)))
    fig.colorbar(sm, ax=ax, label="input row")
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title("fixed points as the input changes (marker = kind)", fontsize=10)
    ax_r.set_xlabel("input row")
    ax_r.set_ylabel("PC1 of the fixed point")
    ax_r.set_title("open = unstable, filled = stable", fontsize=10)
    kinds = sorted({p.kind for pt in points for p in pt.result.fixed_points})
    handles = kind_handles(kinds, "0.4")
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.6)
    return fig
