"""Limit cycles of dh/dt = f(h): detection by Poincare returns, refinement by shooting.

Many initial states are integrated together (batched RK4). After a transient, each trajectory
is cut by the section through its current point p normal to f(p); a trajectory whose upward
crossings return to p (relative to its amplitude) without its speed collapsing is a cycle
candidate, which rules out convergence to a fixed point (speed -> 0, returns shrink) and slow
drift (no returns). Each candidate is refined by Newton's method on the periodic-orbit
equations phi_T(x) - x = 0, <f(x0), x - x0> = 0 (unknowns x, T), whose Jacobian uses the
monodromy matrix M = d phi_T / dx (central differences while iterating). At the solution, M is
computed by autograd through the RK4 steps of phi_T (the exact derivative of the discrete flow,
no finite differences); its eigenvalues are the Floquet multipliers (one is 1 up to the RK4
error and the closing residual).

A refined orbit is reported as a limit cycle only when it **closes**: its residual
||phi_T(x) - x|| is at most ``close_rtol`` (default 1e-6) times its amplitude. Orbits that do
not close are kept as unconverged candidates (``CycleResult.candidates``, with residuals).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gru_learn.dynamics.integrate import advance, integrate, rk4_step
from gru_learn.dynamics.periods import upward_crossings

VectorField = Callable[[Tensor], Tensor]


@dataclass
class LimitCycle:
    """A periodic orbit of period ``period`` (in the vector field's time units)."""

    period: float
    stable: bool
    floquet_multipliers: Tensor  # complex, the trivial multiplier (closest to 1) first
    amplitude: float  # half the largest peak-to-peak range over coordinates
    orbit: Tensor  # (n, d) points along one period
    residual: float  # ||phi_T(x) - x|| after shooting
    converged: bool = True  # residual <= close_rtol * amplitude

    def to_json(self) -> dict[str, Any]:
        step = max(1, len(self.orbit) // 100)
        return {
            "period": self.period,
            "frequency": 1.0 / self.period,
            "stable": self.stable,
            "floquet_multipliers": [
                [float(m.real), float(m.imag)] for m in self.floquet_multipliers
            ],
            "amplitude": self.amplitude,
            "center": self.orbit.mean(0).tolist(),
            "residual": self.residual,
            "converged": self.converged,
            "orbit": self.orbit[::step].tolist(),
        }


class CycleResult(list):
    """The converged limit cycles (iterate it as a list of :class:`LimitCycle`), plus
    ``candidates``: refined orbits whose closing residual stayed above tolerance."""

    def __init__(self, cycles: list[LimitCycle] | None = None,
                 candidates: list[LimitCycle] | None = None,
                 search: dict[str, Any] | None = None) -> None:
        super().__init__(cycles or [])
        self.candidates: list[LimitCycle] = list(candidates or [])
        self.search = search  # how the search ran: starts, settled ones, skipped and why


def flow(f: VectorField, x: Tensor, period: float, n_steps: int) -> Tensor:
    """phi_T(x): ``n_steps`` RK4 steps of size T / n_steps (differentiable in x)."""
    h = x
    for _ in range(n_steps):
        h = rk4_step(f, h, period / n_steps)
    return h


def monodromy(f: VectorField, x: Tensor, period: float, n_steps: int) -> tuple[Tensor, Tensor]:
    """(phi_T(x), M = d phi_T / dx) with M by autograd through the RK4 steps of phi_T
    (reverse mode, the d output rows as one batched backward pass): the exact derivative of
    the discrete flow, from which the Floquet multipliers are read."""
    x = x.detach()
    m = torch.autograd.functional.jacobian(lambda y: flow(f, y, period, n_steps), x,
                                           vectorize=True)
    with torch.no_grad():
        end = flow(f, x, period, n_steps)
    return end, m.detach()


@torch.no_grad()
def newton_monodromy(
    f: VectorField, x: Tensor, period: float, n_steps: int, eps: float = 1e-6
) -> tuple[Tensor, Tensor]:
    """(phi_T(x), M) with M by central differences, all 2d + 1 states in one batch: the cheap
    Jacobian for the shooting iterations only (error O(eps^2))."""
    d = x.shape[-1]
    e = eps * torch.eye(d, dtype=x.dtype)
    end = advance(f, torch.cat([x[None], x + e, x - e]), period, period / n_steps)
    return end[0], ((end[1 : d + 1] - end[d + 1 :]) / (2 * eps)).T


def shoot(
    f: VectorField, x0: Tensor, period0: float, dt: float, max_iter: int = 12, tol: float = 1e-10
) -> tuple[Tensor, float, Tensor, float] | None:
    """Newton on (phi_T(x) - x, <f(x0), x - x0>) = 0; returns (x, T, M, residual) or None."""
    x, period = x0.clone(), float(period0)
    normal = f(x0).detach()
    d = x.shape[-1]
    residual = math.inf
    for _ in range(max_iter):
        if not (0 < period < 1e6):
            return None
        n_steps = max(50, int(math.ceil(period / dt)))
        end, m = newton_monodromy(f, x, period, n_steps)
        r = end - x
        residual = float(r.norm())
        a = torch.zeros(d + 1, d + 1, dtype=x.dtype)
        a[:d, :d] = m - torch.eye(d, dtype=x.dtype)
        a[:d, d] = f(end).detach()
        a[d, :d] = normal
        rhs = torch.cat([r, (normal * (x - x0)).sum().reshape(1)])
        try:
            delta = torch.linalg.solve(a, rhs)
        except RuntimeError:
            return None
        x, period = x - delta[:d], period - float(delta[d])
        if residual < tol or float(delta.norm()) < 1e-13:
            break
    n_steps = max(50, int(math.ceil(period / dt)))
    end, m = monodromy(f, x, period, n_steps)
    residual = float((end - x).norm())
    return x, period, m, residual


def section_returns(path: Tensor, field: Tensor) -> list[tuple[list[float], list[Tensor]]]:
    """For each trajectory of ``path`` (T, n, d): the times (in steps, interpolated) and points
    of its upward crossings of the hyperplane through path[0] normal to ``field`` (n, d)."""
    path = path.detach()
    s = ((path - path[0]) * field.detach()).sum(-1)  # (T, n)
    up, times = upward_crossings(s)
    out = []
    for j in range(path.shape[1]):
        idx = torch.nonzero(up[:, j]).flatten().tolist()
        t = times[idx, j].tolist()
        points = [path[i, j] + (ti - i) * (path[i + 1, j] - path[i, j])
                  for i, ti in zip(idx, t, strict=True)]
        out.append((t, points))
    return out


def find_limit_cycles(
    f: VectorField,
    starts: Tensor,
    *,
    dt: float = 0.05,
    t_transient: float = 400.0,
    t_window: float = 400.0,
    speed_tol: float = 1e-6,
    return_tol: float = 2e-2,
    min_amplitude: float = 1e-4,
    close_rtol: float = 1e-6,
    stable_points: Tensor | None = None,
    settle_radius: float = 1e-3,
) -> CycleResult:
    """Stable limit cycles reached from ``starts`` (n, d) plus, when ``starts`` lie on one,
    unstable ones; each refined by shooting, deduplicated, with Floquet multipliers.

    A trajectory counts as a candidate when, after ``t_transient``, its speed stays above
    ``speed_tol``, it returns to its section at least twice within ``t_window``, and its last
    return lies within ``return_tol`` times its amplitude of the section point.

    ``stable_points`` (k, d), the stable fixed points found: during the transient (checked
    every twentieth of it) a trajectory within ``settle_radius`` of one of them and slower
    than ``speed_tol`` has settled there for good (a stable point keeps what comes that
    close), so it would fail the speed test anyway and is dropped; when every trajectory has
    settled there is no cycle to find from these starts and the rest is skipped. What
    happened is in ``result.search``.
    """
    n_starts = len(starts)
    search: dict[str, Any] = {"starts": n_starts, "t_transient": t_transient,
                              "t_window": t_window, "dt": dt, "skipped": False}
    with torch.no_grad():
        h = starts.to(torch.float64)
        n_steps = max(1, int(round(t_transient / dt)))
        if stable_points is not None and len(stable_points) and n_starts:
            anchors = stable_points.to(torch.float64).reshape(-1, h.shape[-1])
            chunk, done, settled_at = max(1, n_steps // 20), 0, None
            while done < n_steps and len(h):
                k = min(chunk, n_steps - done)
                h, done = advance(f, h, k * dt, dt), done + k
                settled = ((torch.cdist(h, anchors).min(1).values < settle_radius)
                           & (f(h).norm(dim=-1) < speed_tol))
                h = h[~settled]
                if not len(h):
                    settled_at = done * dt
            search["settled_on_stable_points"] = n_starts - len(h)
            search["settle_test"] = (f"within {settle_radius:g} of a stable fixed point and "
                                     f"slower than {speed_tol:g}")
            if settled_at is not None:
                search.update(skipped=True, reason=(
                    f"all {n_starts} starts settled on the {len(anchors)} stable fixed "
                    f"point(s) by t = {settled_at:g} ({search['settle_test']}): no cycle "
                    "can be reached from them"))
                return CycleResult(search=search)
        else:
            h = advance(f, h, t_transient, dt)
        _, path = integrate(f, h, t_window, dt)
        field = f(path[0])
        speed = f(path).norm(dim=-1).min(0).values
    cycles: list[LimitCycle] = []
    candidates: list[LimitCycle] = []
    for j, (times, points) in enumerate(section_returns(path, field)):
        if float(speed[j]) < speed_tol or len(times) < 3:
            continue
        amp = float((path[:, j].amax(0) - path[:, j].amin(0)).max()) / 2
        if amp < min_amplitude:
            continue
        if float((points[-1] - points[-2]).norm()) > return_tol * max(amp, 1e-12):
            continue
        x0 = points[-1]
        if any(_on_orbit(x0, c, rel=0.1) for c in cycles + candidates):
            continue
        refined = shoot(f, x0, (times[-1] - times[-2]) * dt, dt)
        if refined is None:
            continue
        cycle = _cycle_from(f, *refined, dt=dt)
        cycle.converged = cycle.residual <= close_rtol * cycle.amplitude
        found = cycles if cycle.converged else candidates
        duplicate = any(_on_orbit(cycle.orbit[0], c) for c in found)
        if cycle.amplitude >= min_amplitude and not duplicate:
            found.append(cycle)
    return CycleResult(cycles, candidates, search)


def _on_orbit(x: Tensor, cycle: LimitCycle, rel: float = 1e-2) -> bool:
    """Whether x lies within ``rel`` amplitudes of the closed polyline through the orbit."""
    a, b = cycle.orbit, cycle.orbit.roll(-1, dims=0)
    ab = b - a
    w = (((x - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-300)).clamp(0, 1)
    dist = (a + w[:, None] * ab - x).norm(dim=-1).min()
    return float(dist) < rel * max(cycle.amplitude, 1e-9) + 1e-6


def _cycle_from(
    f: VectorField, x: Tensor, period: float, m: Tensor, residual: float, dt: float
) -> LimitCycle:
    mult = torch.linalg.eigvals(m)
    trivial = int((mult - 1).abs().argmin())
    mult = torch.cat([mult[trivial : trivial + 1], mult[:trivial], mult[trivial + 1 :]])
    n_steps = max(200, int(math.ceil(period / dt)))
    with torch.no_grad():
        orbit = [x]
        for _ in range(n_steps - 1):
            orbit.append(rk4_step(f, orbit[-1], period / n_steps))
    orbit_t = torch.stack(orbit)
    amplitude = float((orbit_t.amax(0) - orbit_t.amin(0)).max()) / 2
    stable = bool((mult[1:].abs() < 1.0 - 1e-9).all())
    return LimitCycle(period, stable, mult, amplitude, orbit_t, residual)
