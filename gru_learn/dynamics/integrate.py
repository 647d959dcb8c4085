"""Batched integration of autonomous vector fields dh/dt = f(h).

Fixed-step classical Runge-Kutta (RK4) over any leading batch shape is the workhorse (every
initial state or parameter point advances together); :func:`integrate_adaptive` wraps
torchdiffeq's dopri5 for cross-checks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

VectorField = Callable[[Tensor], Tensor]


def rk4_step(f: VectorField, h: Tensor, dt: float) -> Tensor:
    """One RK4 step h + dt/6 (k1 + 2 (k2 + k3) + k4), in six tensor operations besides the
    four evaluations of f (each costs its overhead at the analysis's sizes)."""
    k1 = f(h)
    k2 = f(torch.add(h, k1, alpha=0.5 * dt))
    k3 = f(torch.add(h, k2, alpha=0.5 * dt))
    k4 = f(torch.add(h, k3, alpha=dt))
    return torch.add(h, torch.add(k1, k2 + k3, alpha=2.0) + k4, alpha=dt / 6.0)


@torch.no_grad()
def integrate(
    f: VectorField, h0: Tensor, t_end: float, dt: float, save_every: int = 1
) -> tuple[Tensor, Tensor]:
    """Integrate dh/dt = f(h) from h0 ``(..., d)`` with fixed-step RK4 up to ``t_end``.

    Returns ``(t, path)`` with ``t`` of shape (T,) and ``path`` of shape (T, ..., d), keeping
    every ``save_every``-th step (the first point is h0).
    """
    n_steps = max(1, int(round(t_end / dt)))
    h = h0
    saved, times = [h0], [0.0]
    for i in range(1, n_steps + 1):
        h = rk4_step(f, h, dt)
        if i % save_every == 0:
            saved.append(h)
            times.append(i * dt)
    return torch.tensor(times, dtype=h0.dtype), torch.stack(saved)


@torch.no_grad()
def advance(f: VectorField, h0: Tensor, t_end: float, dt: float) -> Tensor:
    """The RK4 flow map phi_t(h0) at t = t_end, keeping no history."""
    h = h0
    for _ in range(max(1, int(round(t_end / dt)))):
        h = rk4_step(f, h, dt)
    return h


@torch.no_grad()
def integrate_adaptive(
    f: VectorField, h0: Tensor, t: Tensor, rtol: float = 1e-9, atol: float = 1e-11
) -> Tensor:
    """dopri5 (torchdiffeq) solution at times ``t``: shape (len(t), ..., d)."""
    from torchdiffeq import odeint

    return odeint(lambda _t, h: f(h), h0, t.to(h0), rtol=rtol, atol=atol, method="dopri5")
