"""A GRU in chosen precision: the vector field in mpmath's arbitrary precision, its RK4 step and
loop, and what float32/float64 can resolve near a tangency (the paper's Fig 9 and Eq 8)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gru_learn.gru.cell import GRUCell


def resolution_radius(curvature: float, dtype: torch.dtype) -> float:
    """Half-width of the interval around a tangency where |g| = curvature (h - h*)^2 stays
    below the unit roundoff of ``dtype`` (relative to |h| ~ 1): roots closer than twice this
    cannot be told apart when f is evaluated in that precision."""
    return math.sqrt(torch.finfo(dtype).eps / curvature)


@torch.no_grad()
def sign_changes(f: Callable[[Tensor], Tensor], a: Tensor, b: Tensor, component: int,
                 dtype: torch.dtype, n: int = 4001) -> tuple[int, int]:
    """(sign changes between neighbours ignoring zeros, exact zeros) of f's ``component`` at n
    points along the segment a -> b, states and f in ``dtype`` (``f`` must accept it)."""
    s = torch.linspace(0.0, 1.0, n, dtype=torch.float64)[:, None]
    h = (a + s * (b - a)).to(dtype)
    signs = torch.sign(f(h)[:, component])
    nonzero = signs[signs != 0]
    return int((nonzero[1:] * nonzero[:-1] < 0).sum()), int((signs == 0).sum())


def mp_gru_field(cell: GRUCell, dps: int = 40) -> Callable[[list], list]:
    """The autonomous GRU vector field (paper convention) in ``dps``-digit arithmetic (mpmath):
    f(h) = (1 - z) (tanh(U_h (r h) + b_h) - h), r = sigma(U_r h + b_r), z = sigma(U_z h + b_z)."""
    import mpmath

    if cell.reset != "before" or cell.input_size:
        raise ValueError("mp_gru_field takes autonomous reset='before' cells")
    d = cell.hidden_size
    w = [[mpmath.mpf(float(x)) for x in row] for row in cell.weight_hh.tolist()]
    bias = [mpmath.mpf(float(x)) + mpmath.mpf(float(y))
            for x, y in zip(cell.bias_ih.tolist(), cell.bias_hh.tolist(), strict=True)]

    def f(h: list) -> list:
        with mpmath.workdps(dps):
            def lin(k: int, v: list) -> mpmath.mpf:
                return mpmath.fsum(w[k][j] * v[j] for j in range(d)) + bias[k]
            r = [1 / (1 + mpmath.exp(-lin(i, h))) for i in range(d)]
            z = [1 / (1 + mpmath.exp(-lin(d + i, h))) for i in range(d)]
            rh = [r[j] * h[j] for j in range(d)]
            return [(1 - z[i]) * (mpmath.tanh(lin(2 * d + i, rh)) - h[i]) for i in range(d)]

    return f


def mp_rk4_step(f: Callable[[list], list], h: list, dt: Any) -> list:
    """One RK4 step h + dt/6 (k1 + 2 k2 + 2 k3 + k4) on lists of mpmath numbers (in the caller's
    working precision)."""
    k1 = f(h)
    k2 = f([x + dt / 2 * k for x, k in zip(h, k1, strict=True)])
    k3 = f([x + dt / 2 * k for x, k in zip(h, k2, strict=True)])
    k4 = f([x + dt * k for x, k in zip(h, k3, strict=True)])
    return [x + dt / 6 * (a + 2 * b + 2 * c + e)
            for x, a, b, c, e in zip(h, k1, k2, k3, k4, strict=True)]


def mp_rk4(f: Callable[[list], list], h0: list, steps: Sequence[float], dps: int = 40,
           backward: bool = False) -> list[list[float]]:
    """RK4 on dh/dt = f(h) (or -f(h) when ``backward``) from h0 over the step sizes ``steps``,
    in ``dps``-digit arithmetic: the states h0, h1, ..., rounded to float."""
    import mpmath

    with mpmath.workdps(dps):
        def field(h: list) -> list:
            return [-v for v in f(h)] if backward else f(h)

        h = [mpmath.mpf(x) for x in h0]
        path = [[float(x) for x in h]]
        for dt in steps:
            h = mp_rk4_step(field, h, mpmath.mpf(dt))
            path.append([float(x) for x in h])
        return path
