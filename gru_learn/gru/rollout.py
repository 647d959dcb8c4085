"""Rollouts of a GRU cell in plain torch: the paper's free-running forecast (the map or the
ODE), the teacher-forced forecast of the training methods, and aGTF's forcing strength."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn
from torchdiffeq import odeint

from gru_learn.gru.cell import GRUCell

FIXED_STEP_METHODS = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")
ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")

Rollout = Literal["discrete", "ode"]
Forcing = Literal["none", "sparse", "generalized"]
AlphaSchedule = Literal["constant", "linear", "adaptive"]
ForcingState = Literal["projection", "pinv"]


def rollout_hidden(
    cell: GRUCell,
    w0: Tensor,
    steps: int,
    mode: Rollout = "discrete",
    ode_method: str = "euler",
    ode_step: float = 1.0,
) -> Tensor:
    """Hidden states h_1..h_steps, shape (B, steps, d), from h_0 = 0 and h_1 = GRU(w0, h_0).

    After the first step there is no input: ``discrete`` iterates the GRU map h <- h + f(h),
    ``ode`` integrates dh/dt = f(h) over one unit of time per sample with torchdiffeq
    (``euler`` with ``ode_step=1`` is the discrete map again).
    """
    h = cell(w0, w0.new_zeros(w0.shape[0], cell.hidden_size))
    if mode == "discrete":
        hs, step = [h], cell.autonomous_map()
        for _ in range(steps - 1):
            h = step(h)
            hs.append(h)
        return torch.stack(hs, dim=1)
    t = torch.arange(steps, dtype=h.dtype, device=h.device)
    options = {"step_size": ode_step} if ode_method in FIXED_STEP_METHODS else None
    return odeint(cell.ode(), h, t, method=ode_method, options=options).transpose(0, 1)


def training_rollout(
    cell: GRUCell,
    w0: Tensor,
    steps: int,
    noise_std: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """The free-running rollout of training regularisers, through plain autograd: hidden
    states h_1..h_steps (B, steps, d), the vector field at h_1..h_{steps-1} (the autonomous
    steps' f(h_k) = GRU(0, h_k) - h_k, (B, steps-1, d)) and their update gates z (same shape).

    With ``noise_std`` > 0 every state is perturbed after its step (state noise, Sagodi et al.
    2024): h_1 = GRU(w0, 0) + s e_1, h_{k+1} = GRU(0, h_k) + s e_{k+1}, e ~ N(0, I) drawn from
    torch's global generator (``seed_everything`` makes it reproducible). ``noise_std=0`` is the
    paper's rollout (:func:`rollout_hidden`), step for step."""
    h = cell(w0, w0.new_zeros(w0.shape[0], cell.hidden_size))

    def noisy(state: Tensor) -> Tensor:
        return state + noise_std * torch.randn_like(state) if noise_std > 0 else state

    h = noisy(h)
    hs, fs, zs = [h], [], []
    for _ in range(steps - 1):
        _, z, n, _ = cell.gates(h)
        f = (1.0 - z) * (n - h)
        fs.append(f)
        zs.append(z)
        h = noisy(h + f)
        hs.append(h)
    empty = h.new_zeros(h.shape[0], 0, cell.hidden_size)
    stack = lambda xs: torch.stack(xs, dim=1) if xs else empty  # noqa: E731
    return torch.stack(hs, dim=1), stack(fs), stack(zs)


def forced_forecast(
    cell: GRUCell,
    readout: nn.Linear,
    batch: Tensor,
    alpha: float,
    interval: int = 1,
    state: ForcingState = "projection",
) -> Tensor:
    """Predictions w_hat(1..T), shape (B, T, p), of a rollout forced towards the data.

    h_1 = GRU(w(0), 0) as in the paper; for k = 1..T: w_hat(k) = C h_k + c, then (k < T and
    k divisible by ``interval``) the state is pulled towards the one the observation w(k) implies,

        projection:  h~_k = h_k + alpha C^+ (w(k) - C h_k - c)   (observed directions only)
        pinv:        h~_k = (1 - alpha) h_k + alpha C^+ (w(k) - c)

    and h_{k+1} = GRU(0, h~_k). C^+ is the Moore-Penrose pseudo-inverse of the readout, taken
    as a constant (no gradient through C^+, C or c in the forcing term, as the reference code
    precomputes its forcing signals): dh~/dh = I - alpha C^+ C (projection) or (1 - alpha) I
    (pinv). With d = p and C invertible both are GTF's (1 - alpha) z + alpha z_data (Hess et
    al. 2023); alpha = 1 is sparse teacher forcing (Mikhaeil et al. 2022). With alpha = 0 no
    forcing happens and the result is the free-running rollout, bit for bit.
    """
    w = batch
    T = w.shape[1] - 1
    h = cell(w[:, 0], w.new_zeros(w.shape[0], cell.hidden_size))
    step = cell.autonomous_map()
    C, c = readout.weight.detach(), readout.bias.detach()
    C_pinv = torch.linalg.pinv(C) if alpha != 0 else None
    preds = []
    for k in range(1, T + 1):
        preds.append(readout(h))
        if k == T:
            break
        if C_pinv is not None and k % interval == 0:
            if state == "projection":
                h = h + alpha * ((w[:, k] - c) - h @ C.T) @ C_pinv.T
            else:
                h = (1.0 - alpha) * h + alpha * (w[:, k] - c) @ C_pinv.T
        h = step(h)
    return torch.stack(preds, dim=1)


def adaptive_alpha(step: Callable[[Tensor], Tensor], states: Tensor,
                   max_sequences: int = 64) -> float:
    """aGTF's alpha estimate (Hess et al. 2023, the reference code's "product_upper_bound"):
    for each sequence the geometric mean of the spectral norms ||J(h_k)||_2 of the map's
    Jacobians along it; N = the maximum over sequences; alpha = max(0, 1 - 1/N).
    ``states`` is (B, T, d) (detached), ``step`` maps (n, d) -> (n, d)."""
    from torch.func import jacrev, vmap

    x = states[:max_sequences].detach()
    B, T, d = x.shape
    J = vmap(jacrev(lambda h: step(h[None])[0]))(x.reshape(-1, d))  # (B T, d, d)
    norms = torch.linalg.matrix_norm(J, ord=2).reshape(B, T)
    N = float(norms.clamp_min(1e-30).log().mean(1).exp().max())
    return max(0.0, 1.0 - 1.0 / N)
