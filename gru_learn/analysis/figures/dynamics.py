"""Figures in the paper's style: phase portraits (Figs 2, 5, 7, 8), bifurcation diagrams and the
Fig 6 frequency map, in ``style``; every function returns a Figure."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from torch import Tensor

from gru_learn.analysis.figures.style import (
    TRAJECTORY,
    X_NULLCLINE,
    Y_NULLCLINE,
    legend_clear_of,
    mark_points,
    unique_entries,
)
from gru_learn.dynamics.analyze import DynamicsResult
from gru_learn.dynamics.integrate import integrate
from gru_learn.dynamics.nullclines import field_on_grid
from gru_learn.dynamics.stability import saddle_node_kind

VectorField = Callable[[Tensor], Tensor]


def default_starts(box: Sequence[tuple[float, float]], per_axis: int = 4) -> Tensor:
    """Initial states on a per_axis^d grid strictly inside the box."""
    axes = [np.linspace(lo, hi, per_axis + 2)[1:-1] for lo, hi in box]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(box))
    return torch.tensor(mesh, dtype=torch.float64)


def pca_projection(points: Tensor) -> tuple[Tensor, Tensor]:
    """(mean, P) with P (2, d) the top two principal axes of ``points`` (n, d)."""
    mean = points.mean(0)
    _, _, v = torch.linalg.svd(points - mean, full_matrices=False)
    return mean, v[:2]


def phase_portrait(
    f: VectorField,
    box: Sequence[tuple[float, float]],
    *,
    result: DynamicsResult | None = None,
    starts: Tensor | None = None,
    highlight: Tensor | None = None,
    t_end: float = 60.0,
    dt: float = 0.1,
    resolution: int = 120,
    title: str | None = None,
    labels: tuple[str, str] = ("x", "y"),
    projection: tuple[Tensor, Tensor] | None = None,
    time_scale: float | None = None,
) -> Figure:
    """Phase portrait of dh/dt = f(h) in ``box`` with one trajectory's time series beneath.

    2-D: log-speed colour, streamlines, x-nullcline (orange), y-nullcline (pink), fixed points
    by kind, trajectories (purple), ``highlight``'s trajectory (black), limit cycles (red).
    d > 2: trajectories, fixed points and cycles projected by ``projection`` = (mean, P (2, d)),
    by default on the top two principal components of the trajectories.
    """
    dim = len(box)
    starts = default_starts(box, 4 if dim <= 2 else 2) if starts is None else starts
    if highlight is None:
        # start the black trajectory beside the most unstable point (a source before a saddle)
        unstable = sorted((p for p in (result.fixed_points if result else []) if p.n_unstable),
                          key=lambda p: -p.n_unstable)
        highlight = unstable[0].h + 0.02 if unstable else starts[len(starts) // 2]
    h0 = torch.cat([starts.to(torch.float64), highlight.reshape(1, dim).to(torch.float64)])
    t, paths = integrate(f, h0, t_end, dt)
    fig, (ax, ax_t) = plt.subplots(2, 1, figsize=(5.2, 6.8), height_ratios=[3, 1],
                                   constrained_layout=True)
    if dim == 2:
        mean, proj = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
        _draw_field(ax, f, box, resolution)
        ax.plot([], [], color=X_NULLCLINE, lw=2, label=f"{labels[0]}-nullcline")
        ax.plot([], [], color=Y_NULLCLINE, lw=2, label=f"{labels[1]}-nullcline")
    else:
        mean, proj = projection if projection is not None else pca_projection(
            paths.reshape(-1, dim))
        labels = ("PC1", "PC2") if projection is None else labels

    def to2(x: Tensor) -> np.ndarray:
        return ((x - mean) @ proj.T).numpy()

    for j in range(paths.shape[1] - 1):
        xy = to2(paths[:, j])
        ax.plot(xy[:, 0], xy[:, 1], color=TRAJECTORY, lw=0.8, alpha=0.8, label="trajectories")
    xy = to2(paths[:, -1])
    ax.plot(xy[:, 0], xy[:, 1], color="black", lw=1.1, label="trajectory shown below")
    if result is not None:
        for c in result.limit_cycles:
            o = to2(torch.cat([c.orbit, c.orbit[:1]]))
            ax.plot(o[:, 0], o[:, 1], color="red", lw=2.0, ls="-" if c.stable else "--",
                    label=f"cycle T={c.period:.3g}" if time_scale is None else
                    f"cycle T={c.period * time_scale:.3g} ({c.period:.3g} GRU steps)")
        marks = np.array([to2(p.h[None])[0] for p in result.fixed_points]).reshape(-1, 2)
        for p, q in zip(result.fixed_points, marks, strict=True):
            sn = saddle_node_kind(p.eigenvalues) if dim == 2 else None
            extra: dict[str, Any] = {}
            if sn is not None:  # half-filled: the stable (1st kind) or unstable side is black
                extra = {"label": f"saddle-node, {'1st' if sn == 1 else '2nd'} kind",
                         "mfc": "black" if sn == 1 else "white", "mfcalt": "gold",
                         "fillstyle": "left"}
            elif p.kind == "non_hyperbolic" and dim == 2 and bool(
                    (p.eigenvalues.abs() < 1e-6).all()):
                extra = {"label": "codimension-2 point"}
            mark_points(ax, [p], [q], zorder=5, **extra)
        unique = unique_entries(ax)
    if dim == 2:
        ax.set_xlim(*box[0])
        ax.set_ylim(*box[1])
        ax.set_aspect("equal")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title:  # above the colour bar too, never into it; wrapped to the figure's width
        fig.suptitle(textwrap.fill(title, 70, break_on_hyphens=False), fontsize=10)
    series = paths[:, -1].numpy()
    for k in range(min(dim, 4)):
        ax_t.plot(t.numpy() * (time_scale or 1.0), series[:, k], lw=1.0,
                  label=labels[k] if dim == 2 else f"h{k + 1}")  # 2-D: the axes' names
    ax_t.set_xlabel("time" if time_scale is None else
                    f"time (target units; one GRU step = {time_scale:g})")
    ax_t.legend(fontsize=7, loc="upper right")
    if result is not None and unique:  # last: placed in the final layout
        legend_clear_of(ax, unique, marks)
    return fig


def _draw_field(ax: Any, f: VectorField, box: Sequence[tuple[float, float]],
                resolution: int) -> None:
    x, y, field = field_on_grid(f, tuple(box), resolution)
    field = field.detach()
    u, v = field[..., 0].numpy(), field[..., 1].numpy()
    speed = np.hypot(u, v)
    floor = max(float(speed[speed > 0].min()) if (speed > 0).any() else 1e-12, 1e-12)
    mesh = ax.pcolormesh(x.numpy(), y.numpy(), np.maximum(speed, floor), cmap="viridis",
                         norm=LogNorm(vmin=floor, vmax=max(float(speed.max()), floor * 10)),
                         shading="auto", alpha=0.85)
    ax.figure.colorbar(mesh, ax=ax, label="speed |dh/dt| (log)", shrink=0.8)
    ax.streamplot(x.numpy(), y.numpy(), u, v, color="black", density=1.1, linewidth=0.5,
                  arrowsize=0.8)
    ax.contour(x.numpy(), y.numpy(), u, levels=[0.0], colors=X_NULLCLINE, linewidths=2)
    ax.contour(x.numpy(), y.numpy(), v, levels=[0.0], colors=Y_NULLCLINE, linewidths=2)


def bifurcation_diagram(result: Any, coordinate: int = 0) -> Figure:
    """Fixed points' ``coordinate`` against the parameter (filled: stable, open: unstable),
    limit-cycle extent and period when searched, bifurcations as vertical lines."""
    has_cycles = bool(result.cycles)
    fig, axes = plt.subplots(2 if has_cycles else 1, 1, figsize=(6, 6 if has_cycles else 4),
                             sharex=True, constrained_layout=True, squeeze=False)
    ax = axes[0, 0]
    for value, res in zip(result.values, result.fixed_points, strict=False):
        mark_points(ax, res.fixed_points, [(value, float(p.h[coordinate]))
                                           for p in res.fixed_points], ms=4, labelled=False)
    if has_cycles:
        for value, cycles in zip(result.values, result.cycles, strict=False):
            for c in cycles:
                lo, hi = float(c.orbit[:, coordinate].min()), float(c.orbit[:, coordinate].max())
                ax.plot([value, value], [lo, hi], "r.", ms=4)
                axes[1, 0].plot(value, c.period, "r.")
        axes[1, 0].set_ylabel("cycle period")
        axes[1, 0].set_yscale("log")
    colours = {"saddle_node": "tab:blue", "hopf": "tab:green", "homoclinic": "tab:red"}
    for b in result.bifurcations:
        for a in axes[:, 0]:
            a.axvline(b.value, color=colours[b.kind], ls="--", lw=1)
        ax.text(b.value, ax.get_ylim()[1], f" {b.kind}\n {b.value:.6g}", fontsize=7,
                va="top", color=colours[b.kind])
    ax.set_ylabel(f"h{coordinate + 1} of fixed points / cycle range")
    axes[-1, 0].set_xlabel(result.parameter)
    return fig


def frequency_map(
    alphas: np.ndarray, betas: np.ndarray, freqs: dict[float, np.ndarray]
) -> Figure:
    """Fig 6: frequency over (alpha, beta) for the first s (white: no oscillation), and the
    mean +- standard deviation of the frequency over oscillating points against s."""
    s_values = sorted(freqs)
    fig, (ax, ax_s) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    grid = np.ma.masked_invalid(freqs[s_values[0]])
    mesh = ax.pcolormesh(alphas, betas, grid.T, cmap="viridis", shading="auto")
    fig.colorbar(mesh, ax=ax, label="frequency (cycles per unit time)")
    ax.set_xlabel("alpha (rotation angle)")
    ax.set_ylabel("beta (gain)")
    ax.set_title(f"s = {s_values[0]:g}", fontsize=10)
    means = [float(np.nanmean(freqs[s])) if np.isfinite(freqs[s]).any() else math.nan
             for s in s_values]
    sds = [float(np.nanstd(freqs[s])) if np.isfinite(freqs[s]).any() else math.nan
           for s in s_values]
    ax_s.plot(s_values, means, "o-", color="purple")
    ax_s.fill_between(s_values, np.subtract(means, sds), np.add(means, sds), color="purple",
                      alpha=0.25)
    ax_s.set_xlabel("s (reset-gate bias)")
    ax_s.set_ylabel("mean frequency (+- sd)")
    return fig


def flow_1d(f: VectorField, interval: tuple[float, float], topology: Any,
            title: str | None = None) -> Figure:
    """Fig 1: dh/dt against h with fixed points (filled stable, open unstable, half-filled
    half-stable) and the flow direction on the axis."""
    h = torch.linspace(*interval, 400, dtype=torch.float64)
    with torch.no_grad():
        v = f(h[:, None])[:, 0].numpy()
    fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
    ax.plot(h.numpy(), v, color=TRAJECTORY)
    ax.axhline(0, color="black", lw=0.8)
    styles = {"stable": "full", "unstable": "none", "half_stable": "left"}
    for r, k in zip(topology.roots, topology.kinds, strict=False):
        ax.plot(r, 0, "o", ms=10, color="black", mfc="black" if k != "unstable" else "white",
                fillstyle=styles[k], zorder=5)
    for x in np.linspace(*interval, 12)[1:-1]:
        vx = float(np.interp(x, h.numpy(), v))
        ax.annotate("", (x + 0.04 * np.sign(vx), 0), (x, 0),
                    arrowprops={"arrowstyle": "->", "color": "gray"})
    ax.set_xlabel("h")
    ax.set_ylabel("dh/dt")
    ax.set_title(title or f"topology {topology.label}", fontsize=10)
    return fig
