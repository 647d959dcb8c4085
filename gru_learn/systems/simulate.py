"""Simulating a registered system: noisy trajectories in float64 (torchdiffeq)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torchdiffeq import odeint

from gru_learn.systems.registry import System


def simulate(
    system: type[System],
    n: int,
    horizon: int,
    dt: float,
    *,
    params: dict[str, float],
    param_noise_std: dict[str, float],
    obs_noise_std: float,
    process_noise_std: float,
    ic_low: tuple[float, ...],
    ic_high: tuple[float, ...],
    generator: torch.Generator,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    em_substeps: int = 20,
) -> dict[str, Tensor]:
    """Simulate ``n`` trajectories of ``horizon + 1`` samples in float64.

    Deterministic (dopri5, rtol/atol as given) unless ``process_noise_std > 0``, in which case
    Euler-Maruyama with ``em_substeps`` steps per sample. Returns ``clean`` (n, T+1, d),
    ``observed`` (clean plus observation noise), ``t`` and the per-trajectory parameters.
    """
    f64 = torch.float64
    low, high = torch.tensor(ic_low, dtype=f64), torch.tensor(ic_high, dtype=f64)
    y0 = low + (high - low) * torch.rand(n, system.dim, generator=generator, dtype=f64)
    p: dict[str, Any] = dict(params)
    for name, std in sorted(param_noise_std.items()):
        if std > 0:
            p[name] = params[name] + std * torch.randn(n, generator=generator, dtype=f64)
    t = torch.arange(horizon + 1, dtype=f64) * dt
    if process_noise_std > 0:
        h = dt / em_substeps
        states, y = [y0], y0
        for _ in range(horizon):
            for _ in range(em_substeps):
                dw = math.sqrt(h) * torch.randn(y.shape, generator=generator, dtype=f64)
                y = y + h * system.rhs(y, p) + process_noise_std * dw
            states.append(y)
        clean = torch.stack(states, dim=1)
    else:
        with torch.no_grad():
            clean = odeint(lambda _, y: system.rhs(y, p), y0, t, rtol=rtol, atol=atol)
        clean = clean.transpose(0, 1)
    noise = obs_noise_std * torch.randn(clean.shape, generator=generator, dtype=f64)
    out = {"t": t, "clean": clean, "observed": clean + noise}
    out.update({f"param_{k}": torch.as_tensor(v, dtype=f64).expand(n) for k, v in p.items()})
    return out


def simulate_system(system: type[System], n: int, horizon: int, dt: float,
                    **kwargs: Any) -> dict[str, Tensor]:
    """:func:`simulate`, or the system's own ``simulator`` (same arguments and result) where it
    brings its own integrator (a dysts system)."""
    own = getattr(system, "simulator", None)
    return own(n, horizon, dt, **kwargs) if own is not None else simulate(system, n, horizon,
                                                                           dt, **kwargs)
