"""Figures of a learned-versus-target analysis (the paper's Fig 11, made for every run):
the learned portrait in hidden space, target and learned side by side in observation space,
and a closed-loop prediction against the truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gru_learn.analysis.core import points_on
from gru_learn.analysis.figures.dynamics import phase_portrait
from gru_learn.analysis.figures.style import TRAJECTORY, dedup_legend, mark_points
from gru_learn.analysis.target import manifold_points
from gru_learn.dynamics import DynamicsResult
from gru_learn.dynamics.integrate import integrate

VectorField = Callable[[Tensor], Tensor]


def _mark_points(ax: Any, result: DynamicsResult | None, to_obs: Callable[[Tensor], Tensor],
                 cycle_label: str = "cycle", manifolds: list[Any] | None = None) -> None:
    """Fixed points by kind (those on a found continuous attractor are drawn as it), cycles,
    and the continuous attractors' states."""
    on = {id(p) for m in manifolds or [] for p in points_on(m, result)}
    alone = [p for p in (result.fixed_points if result else []) if id(p) not in on]
    mark_points(ax, alone, [to_obs(p.h[None])[0] for p in alone], zorder=6)
    for m in manifolds or []:
        pts = manifold_points(m)
        if pts is not None and len(pts):
            q = to_obs(pts)
            ax.plot(q[:, 0], q[:, 1], ".", color="tab:green", ms=4, zorder=5,
                    label=f"{getattr(m, 'kind', 'slow')} attractor (found)")
    for c in result.limit_cycles if result else []:
        o = to_obs(torch.cat([c.orbit, c.orbit[:1]]))
        ax.plot(o[:, 0], o[:, 1], color="red", lw=2.2, ls="-" if c.stable else "--", zorder=5,
                label=f"stable {cycle_label}" if c.stable else f"unstable {cycle_label}")


def _pushed_field(ax: Any, f: VectorField, observe: Callable[[Tensor], Tensor],
                  hidden: Tensor, n: int = 15) -> None:
    """Arrows C f(h) at C h + b: the learned vector field as the readout sees it. In 2-D at an
    n x n grid of the hidden cube (-1, 1)^2 (exact: every state is on the grid's plane); in
    d > 2 at up to n^2 states of the model's own rollout (the field along what it visits)."""
    d = hidden.shape[-1]
    if d == 2:
        g = torch.linspace(-0.95, 0.95, n, dtype=torch.float64)
        h = torch.cartesian_prod(g, g)
        where = "on a grid of the hidden square"
    else:
        flat = hidden.reshape(-1, d)
        h = flat[torch.linspace(0, len(flat) - 1, min(n * n, len(flat))).long()]
        where = "at states of the closed loop"
    with torch.no_grad():
        w = observe(h)
        v = observe(f(h)) - observe(torch.zeros_like(h))
    w, v = w.numpy()[:, :2], v.numpy()[:, :2]
    ax.quiver(w[:, 0], w[:, 1], v[:, 0], v[:, 1], color="0.55", angles="xy", zorder=1,
              width=0.003, label=f"C f(h) {where} (direction, relative speed)")


def analysis_figures(
    *,
    f: VectorField,
    box: tuple[tuple[float, float], ...],
    learned: DynamicsResult | None,
    observe: Callable[[Tensor], Tensor],
    hidden: Tensor,
    target_f: VectorField | None,
    target: DynamicsResult | None,
    manifolds: list[Any],
    learned_manifolds: list[Any] | None = None,
    test: Tensor,
    gen_obs: Tensor,
    truth_long: Tensor | None,
    slow_obs: Tensor | None,
    dt: float,
    horizon: int,
    rollout: str = "discrete",
) -> dict[str, Figure]:
    """``phase_portrait`` (hidden space), ``comparison`` (observation space, target left,
    learned right) and ``timeseries`` (closed loop against truth).

    The learned panel shows the learned vector field pushed through the readout w = C h + b:
    arrows C f(h) at the points C h + b (exact in 2-D, where a grid of the hidden cube is
    used; elsewhere at states of the model's own rollout), the ODE's cycle, the model's own
    long-run orbit (its ``rollout``: the map h -> h + f(h) when discrete) and the target's
    cycle for reference."""
    figs = {"phase_portrait": phase_portrait(
        f, box, result=learned, starts=hidden[:8, 0], t_end=min(300.0, hidden.shape[1]),
        dt=0.25, title="learned GRU as an ODE dh/dt = f(h) (hidden space)", labels=("h1", "h2"),
        time_scale=dt)}

    def np2(x: Tensor) -> np.ndarray:
        return x.detach().numpy()[..., :2]

    data = test.reshape(-1, test.shape[-1])
    lo, hi = data.amin(0)[:2], data.amax(0)[:2]
    pad = 0.1 * (hi - lo)
    lims = [(float(lo[k] - pad[k]), float(hi[k] + pad[k])) for k in range(2)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 6.2), constrained_layout=True)
    ax_t, ax_l = axes
    if target_f is not None and test.shape[-1] == 2:
        x = np.linspace(*lims[0], 60)
        y = np.linspace(*lims[1], 60)
        grid = torch.tensor(np.stack(np.meshgrid(x, y), -1).reshape(-1, 2), dtype=torch.float64)
        v = target_f(grid).reshape(60, 60, 2).numpy()
        speed = np.linalg.norm(v, axis=-1)
        ax_t.streamplot(x, y, v[..., 0], v[..., 1], color=np.log10(speed + 1e-12),
                        cmap="Greys", density=1.0, linewidth=0.6)
        _, paths = integrate(target_f, test[:6, 0].to(torch.float64), 30 * dt, dt / 10)
        for j in range(paths.shape[1]):
            ax_t.plot(paths[:, j, 0], paths[:, j, 1], color=TRAJECTORY, lw=0.8,
                      label=f"trajectories from test states ({30 * dt:.3g} time units)")
        ax_t.plot([], [], color="0.4", lw=0.6, label="flow (streamlines; darker = faster)")
        _mark_points(ax_t, target, lambda h: h.numpy(), manifolds=manifolds)
        ax_t.set_title("target system", fontsize=10)
    else:
        for traj in np2(test[:16]):
            ax_t.plot(traj[:, 0], traj[:, 1], color=TRAJECTORY, lw=0.8)
        ax_t.set_title("data (no target system)", fontsize=10)
    if slow_obs is not None and len(slow_obs):
        s = np2(slow_obs)
        ax_l.plot(s[:, 0], s[:, 1], ".", color="0.6", ms=1.5, label="slow set", zorder=1)
    _pushed_field(ax_l, f, observe, hidden)
    n_show = min(300, gen_obs.shape[1])
    for traj in np2(gen_obs[:16, :n_show]):
        ax_l.plot(traj[:, 0], traj[:, 1], color=TRAJECTORY, lw=0.6, alpha=0.6, zorder=2,
                  label=f"closed loop, first {n_show} steps ({n_show * dt:.3g} time units)")
    _mark_points(ax_l, learned, lambda h: np2(observe(h)), "cycle of the learned ODE",
                 manifolds=learned_manifolds)
    tail = np2(gen_obs[0, -max(2, gen_obs.shape[1] // 4):])
    if np.ptp(tail, axis=0).max() > 1e-3 * (float((hi - lo).max()) or 1.0):
        ax_l.plot(tail[:, 0], tail[:, 1], color="indigo", lw=2.2, ls=(0, (4, 1.5)), zorder=5,
                  label=f"long-run orbit of the {'map' if rollout == 'discrete' else rollout}"
                        " (closed loop)")
    else:
        ax_l.plot(tail[-1, 0], tail[-1, 1], "*", color="indigo", ms=12, zorder=6,
                  label="closed loop settles here")
    for c in (target.limit_cycles if target else []):
        if c.stable and c.orbit.shape[-1] == 2:
            o = torch.cat([c.orbit, c.orbit[:1]]).numpy()
            ax_l.plot(o[:, 0], o[:, 1], color="black", lw=1.2, ls="--", zorder=4,
                      label="target's cycle (reference)")
    for m in manifolds:
        pts = manifold_points(m)
        if pts is not None and len(pts):
            ax_l.plot(pts[:, 0], pts[:, 1], ".", color="red", ms=1, label="target attractor")
    ax_l.set_title("learned GRU through its readout w = C h + b", fontsize=10)
    for ax in axes:
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
        ax.set_xlabel("w1 (observation)")
        ax.set_ylabel("w2 (observation)")
        dedup_legend(ax, below=0.13)
    figs["comparison"] = fig

    k = min(4 * horizon, gen_obs.shape[1])
    p = test.shape[-1]
    fig, axes = plt.subplots(p, 1, figsize=(8, 1.8 * p + 0.6), sharex=True,
                             constrained_layout=True, squeeze=False)
    t = dt * np.arange(1, k + 1)
    for j, ax in enumerate(axes[:, 0]):
        if truth_long is not None:
            ax.plot(dt * np.arange(k + 1), truth_long[0, : k + 1, j], color="black", lw=1.2,
                    label="truth (clean)")
        ax.plot(dt * np.arange(horizon + 1), test[0, :, j], ".", color="0.4", ms=3,
                label="data (noisy)")
        ax.plot(t, gen_obs[0, :k, j], color=TRAJECTORY, lw=1.2, label="closed-loop GRU")
        ax.axvline(horizon * dt, color="0.5", ls="--", lw=0.8)
        ax.set_ylabel(f"w{j + 1}")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[0, 0].set_title(f"closed-loop prediction (training horizon {horizon} steps = dashed)",
                         fontsize=10)
    axes[-1, 0].set_xlabel("time (target units)")
    figs["timeseries"] = fig
    return figs
