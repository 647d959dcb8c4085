"""Lyapunov exponents by the QR method, for any map or flow given as a batched callable.

For a map x_{k+1} = F(x_k) with Jacobians J_k = DF(x_k), the tangent frame Q_0 (d, m),
orthonormal, is carried along the orbit: J_k Q_k = Q_{k+1} R_{k+1} (QR decomposition), and

    lambda_i = lim (1/n) sum_{k=1..n} ln |R_k[i, i]|      (per map step)

(Benettin et al. 1980; Eckmann & Ruelle 1985). A flow dx/dt = f(x) is handled as the map of one
fixed step of the classical Runge-Kutta scheme (the Jacobian of the RK4 step is the RK4
discretisation of the variational equation), its exponents divided by the step to give them
per unit time. A trained GRU's map gives exponents per GRU step: divide by the sampling
interval dt for the target's time units.

Jacobian-vector products J(x) v come from central differences of the callable in one batched
call, (F(x + e v) - F(x - e v)) / 2e with e = 1e-6 max(1, |x|_inf) (truncation error O(e^2),
about 1e-10 relative in float64; 2m + 1 rows per call), from forward-mode autograd
(``jvp="autograd"``: exact, but ~20x slower per step on CPU for maps this small), or from a
callable ``jvp(x, v)``. Nothing here knows about networks or systems.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gru_learn.dynamics.integrate import rk4_step

Map = Callable[[Tensor], Tensor]
Jvp = Callable[[Tensor, Tensor], Tensor]


def map_lyapunov_spectrum(
    step: Map,
    x0: Tensor,
    steps: int,
    n_exponents: int | None = None,
    transient: int = 0,
    jvp: str | Jvp = "difference",
    generator: torch.Generator | None = None,
) -> Tensor:
    """The ``n_exponents`` (default d) largest Lyapunov exponents per map step, (B, m), of the
    orbits started at ``x0`` (B, d) of ``step``: (B, d) -> (B, d), rows independent.

    ``transient`` steps are iterated first (state and frame, not counted). ``jvp`` is
    ``"difference"``, ``"autograd"`` or a callable giving J(x) v for (B, d) tangents.
    """
    x = x0.detach()
    B, d = x.shape
    m = d if n_exponents is None else n_exponents
    if not 1 <= m <= d:
        raise ValueError(f"n_exponents must be in 1..{d}, got {m}")
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    if jvp == "autograd":
        def jvp(xx: Tensor, v: Tensor) -> Tensor:
            return torch.func.jvp(step, (xx,), (v,))[1]
    elif jvp != "difference" and not callable(jvp):
        raise ValueError(f"jvp must be 'difference', 'autograd' or a callable, got {jvp!r}")
    g = torch.randn(B, d, m, generator=generator, dtype=x.dtype).to(x.device)
    Q = torch.linalg.qr(g).Q
    total = torch.zeros(B, m, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for k in range(transient + steps):
            if callable(jvp):
                V = torch.stack([jvp(x, Q[..., i]) for i in range(m)], dim=-1)  # J Q (B, d, m)
                x = step(x)
            else:
                x, V = _step_and_differences(step, x, Q)
            Q, R = torch.linalg.qr(V)
            if k >= transient:
                total += R.diagonal(dim1=-2, dim2=-1).abs().log()
    return total / steps


def _step_and_differences(step: Map, x: Tensor, Q: Tensor) -> tuple[Tensor, Tensor]:
    """F(x) and the central differences of F along the m columns of Q, in one call of F."""
    B, d, m = Q.shape
    eps = 1e-6 * x.abs().amax(-1, keepdim=True).clamp_min(1.0)  # (B, 1)
    dx = (eps[:, None, :] * Q.mT).reshape(B * m, d)  # row (b, i) = eps_b Q[b, :, i]
    xr = x.repeat_interleave(m, dim=0)
    y = step(torch.cat([x, xr + dx, xr - dx]))
    diff = (y[B: B + B * m] - y[B + B * m:]).reshape(B, m, d) / (2 * eps[:, None, :])
    return y[:B], diff.mT


def map_lyapunov_max(step: Map, x0: Tensor, steps: int, transient: int = 0, **kw) -> float:
    """The largest Lyapunov exponent per map step, averaged over the orbits from ``x0``."""
    return float(map_lyapunov_spectrum(step, x0, steps, 1, transient, **kw).mean())


def flow_lyapunov_spectrum(f: Map, x0: Tensor, dt: float, steps: int,
                           n_exponents: int | None = None, transient: int = 0,
                           **kw) -> Tensor:
    """Lyapunov exponents per unit time, (B, m), of dx/dt = f(x) from the RK4 map of step
    ``dt`` (``steps`` steps counted: a time of steps * dt)."""
    def step(x: Tensor) -> Tensor:
        return rk4_step(f, x, dt)

    return map_lyapunov_spectrum(step, x0, steps, n_exponents, transient, **kw) / dt


def flow_lyapunov_max(f: Map, x0: Tensor, dt: float, steps: int, transient: int = 0,
                      **kw) -> float:
    """The largest Lyapunov exponent per unit time of dx/dt = f(x), averaged over orbits."""
    return float(flow_lyapunov_spectrum(f, x0, dt, steps, 1, transient, **kw).mean())
