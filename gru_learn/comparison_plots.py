"""Figures of a learned-versus-target analysis (the paper's Fig 11, made for every run):
the learned portrait in hidden space, target and learned side by side in observation space,
and a closed-loop prediction against the truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402

from gru_learn.analysis.core import points_on  # noqa: E402
from gru_learn.analysis.target import manifold_points  # noqa: E402
from gru_learn.dynamics import DynamicsResult  # noqa: E402
from gru_learn.dynamics.integrate import integrate  # noqa: E402
from gru_learn.plotting import MARKERS, TRAJECTORY, phase_portrait  # noqa: E402

VectorField = Callable[[Tensor], Tensor]


def _mark_points(ax: Any, result: DynamicsResult | None, to_obs: Callable[[Tensor], Tensor],
                 cycle_label: str = "cycle", manifolds: list[Any] | None = None) -> None:
    """Fixed points by kind (those on a found continuous attractor are drawn as it), cycles,
    and the continuous attractors' states."""
    on = {id(p) for m in manifolds or [] for p in points_on(m, result)}
    for p in result.fixed_points if result else []:
        if id(p) in on:
            continue
        marker, face = MARKERS[p.kind]
        q = to_obs(p.h[None])[0]
        ax.plot(q[0], q[1], marker=marker, mfc=face, mec="black", ms=9, ls="none", zorder=6,
                label=p.kind.replace("_", " "))
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


def unique_legend(ax: Any) -> None:
    """A legend with one entry per label."""
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=False))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left", framealpha=0.8)


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
) -> dict[str, Figure]:
    """``phase_portrait`` (hidden space), ``comparison`` (observation space, target left,
    learned right) and ``timeseries`` (closed loop against truth)."""
    figs = {"phase_portrait": phase_portrait(
        f, box, result=learned, starts=hidden[:8, 0], t_end=min(300.0, hidden.shape[1]),
        dt=0.25, title="learned GRU as an ODE (hidden space; time in GRU steps)")}

    def np2(x: Tensor) -> np.ndarray:
        return x.detach().numpy()[..., :2]

    data = test.reshape(-1, test.shape[-1])
    lo, hi = data.amin(0)[:2], data.amax(0)[:2]
    pad = 0.1 * (hi - lo)
    lims = [(float(lo[k] - pad[k]), float(hi[k] + pad[k])) for k in range(2)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), constrained_layout=True)
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
            ax_t.plot(paths[:, j, 0], paths[:, j, 1], color=TRAJECTORY, lw=0.8)
        _mark_points(ax_t, target, lambda h: h.numpy(), manifolds=manifolds)
        ax_t.set_title("target system", fontsize=10)
    else:
        for traj in np2(test[:16]):
            ax_t.plot(traj[:, 0], traj[:, 1], color=TRAJECTORY, lw=0.8)
        ax_t.set_title("data (no target system)", fontsize=10)
    if slow_obs is not None and len(slow_obs):
        s = np2(slow_obs)
        ax_l.plot(s[:, 0], s[:, 1], ".", color="0.6", ms=1.5, label="slow set", zorder=1)
    for traj in np2(gen_obs[:16, :300]):
        ax_l.plot(traj[:, 0], traj[:, 1], color=TRAJECTORY, lw=0.8, zorder=2)
    _mark_points(ax_l, learned, lambda h: np2(observe(h)), "cycle of the ODE",
                 manifolds=learned_manifolds)
    for m in manifolds:
        pts = manifold_points(m)
        if pts is not None and len(pts):
            ax_l.plot(pts[:, 0], pts[:, 1], ".", color="red", ms=1, label="target attractor")
    ax_l.set_title("learned GRU, through its readout (closed loop)", fontsize=10)
    for ax in axes:
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
        ax.set_xlabel("w1")
        ax.set_ylabel("w2")
        unique_legend(ax)
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
