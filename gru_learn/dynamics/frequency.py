"""Oscillation frequency of many systems at once (paper Fig 6).

``stacked_field`` turns N modules of the same shape whose ``forward(None, h)`` is one step
h + f(h) (e.g. GRU cells) into one batched vector field on (N, d) states; ``oscillation_frequency``
integrates them together and counts upward mean-crossings of the first coordinate.
``map_frequency`` does the same for the discrete map h -> h + f(h) (frequency per step).

Linear rates at a fixed point with Jacobian J: the flow turns at omega = |Im lambda(J)| radians
per unit time (frequency omega / 2 pi); the map h -> h + f(h) turns by arg(1 + lambda) per step.
For Eq 8 at the origin, J = (sigma(s) beta R(alpha) - I) / 2, so lambda = (sigma(s) beta
e^{+-i alpha} - 1) / 2 and omega = sigma(s) beta sin(alpha) / 2, increasing in s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from gru_learn.dynamics.integrate import advance, integrate
from gru_learn.dynamics.periods import upward_crossings

VectorField = Callable[[Tensor], Tensor]


def stacked_field(cells: Sequence[nn.Module]) -> VectorField:
    """f_i(h_i) = step_i(h_i) - h_i for N same-shaped cells, evaluated together on (N, d)."""
    params, buffers = torch.func.stack_module_state(list(cells))
    params = {k: v.detach() for k, v in params.items()}
    base = cells[0]

    def one(p: dict, b: dict, h: Tensor) -> Tensor:
        return torch.func.functional_call(base, (p, b), (None, h)) - h

    batched = torch.func.vmap(one)
    return lambda h: batched(params, buffers, h)


@torch.no_grad()
def oscillation_frequency(
    f: VectorField,
    h0: Tensor,
    *,
    dt: float = 0.1,
    t_transient: float = 300.0,
    t_window: float = 300.0,
    amplitude_tol: float = 1e-3,
    decay_tol: float = 0.02,
) -> Tensor:
    """Frequency (cycles per unit time) of each trajectory of dh/dt = f(h) from h0 (N, d),
    NaN where it does not oscillate: after ``t_transient``, the first coordinate must keep a
    half range above ``amplitude_tol`` that shrinks by less than ``decay_tol`` (relative)
    between the two halves of the window, and cross its mean upwards at least twice."""
    h = advance(f, h0, t_transient, dt)
    _, path = integrate(f, h, t_window, dt)
    return frequency_from_samples(path[..., 0], dt, amplitude_tol, decay_tol)


@torch.no_grad()
def map_frequency(
    f: VectorField,
    h0: Tensor,
    *,
    n_transient: int = 300,
    n_window: int = 300,
    amplitude_tol: float = 1e-3,
    decay_tol: float = 0.02,
) -> Tensor:
    """Frequency (cycles per step) of each orbit of the discrete map h -> h + f(h) from h0
    (N, d), NaN where it does not oscillate (criteria as in :func:`oscillation_frequency`)."""
    h = h0
    for _ in range(n_transient):
        h = h + f(h)
    path = [h]
    for _ in range(n_window):
        h = h + f(h)
        path.append(h)
    return frequency_from_samples(torch.stack(path)[..., 0], 1.0, amplitude_tol, decay_tol)


def linear_rotation(jac: Tensor) -> tuple[Tensor, Tensor]:
    """(flow, map) rotation rates at fixed points with Jacobians ``jac`` (..., d, d): the
    largest |Im lambda| (radians per unit time) and the largest |arg(1 + lambda)| (radians per
    step of h -> h + f(h))."""
    lam = torch.linalg.eigvals(jac)
    return lam.imag.abs().amax(-1), torch.angle(1 + lam).abs().amax(-1)


def frequency_from_samples(
    x: Tensor, dt: float, amplitude_tol: float = 1e-3, decay_tol: float = 0.02
) -> Tensor:
    """Frequency of each column of ``x`` (T, N) sampled every ``dt``, NaN where it does not
    oscillate (criteria as in :func:`oscillation_frequency`)."""
    half = x.shape[0] // 2
    amp1 = (x[:half].amax(0) - x[:half].amin(0)) / 2
    amp2 = (x[half:].amax(0) - x[half:].amin(0)) / 2
    up, times = upward_crossings(x - x.mean(0))
    times = times * dt
    count = up.sum(0)
    first = torch.where(up, times, torch.full_like(times, float("inf"))).amin(0)
    last = torch.where(up, times, torch.full_like(times, float("-inf"))).amax(0)
    freq = (count - 1).to(x.dtype) / (last - first)
    ok = (amp2 > amplitude_tol) & (amp2 >= (1 - decay_tol) * amp1) & (count >= 3)
    return torch.where(ok, freq, torch.full_like(freq, float("nan")))
