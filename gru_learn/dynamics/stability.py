"""Linear stability of fixed points: Jacobians by autograd, eigenvalues, and their kinds.

A fixed point h* of dh/dt = f(h) is classified by the eigenvalues lambda of J = df/dh(h*), with
tolerances relative to the scale of J (its spectral norm ||J||) and to how well h* is known:

- non-hyperbolic when some |Re lambda| <= tau = ``rtol`` ||J|| + u, where u bounds how much the
  eigenvalues can move over the uncertainty of the root's position (a root with ||f|| < tol is
  located to about tol / sigma_min(J); :func:`eigenvalue_uncertainty` measures u there);
- otherwise all Re lambda < 0 is stable, all > 0 unstable, mixed signs a saddle;
- a node is a focus when some |Im lambda| > tau_im = ``imag_rtol`` ||J|| + sqrt(u ||J||): a
  repeated real eigenvalue splits into a complex pair of size sqrt(perturbation x ||J||) under
  rounding or a perturbation u, so a smaller imaginary part is not evidence of rotation.

The discrete map h -> step(h) is stable at h* when every eigenvalue of d step/dh is inside the
unit circle (spectral radius < 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

KINDS: tuple[str, ...] = (
    "stable_node",
    "stable_focus",
    "unstable_node",
    "unstable_focus",
    "saddle",
    "non_hyperbolic",
)
HYPERBOLIC_RTOL = 1e-9  # |Re lambda| <= 1e-9 ||J|| (+ u) is non-hyperbolic
IMAG_RTOL = 1e-7  # about sqrt(machine epsilon): the split of a double eigenvalue by rounding


def jacobian(f: Callable[[Tensor], Tensor], h: Tensor) -> Tensor:
    """Batched autograd Jacobian df/dh at states ``h`` of shape (n, d): returns (n, d, d).

    ``f`` acts row by row (row i of f(h) depends on row i of h only), so the gradient of the
    column sum of output i is row i of every Jacobian at once: d reverse passes through one
    graph. (Plain autograd: ``torch.func.jacrev`` would import torch._dynamo, a second of
    every command's start-up.)"""
    x = h.detach().requires_grad_(True)
    with torch.enable_grad():
        y = f(x)
        if not y.requires_grad:  # f does not depend on h
            return torch.zeros(*h.shape, h.shape[-1], dtype=y.dtype)
        rows = [torch.autograd.grad(y[:, i].sum(), x, retain_graph=i < y.shape[-1] - 1)[0]
                for i in range(y.shape[-1])]
    return torch.stack(rows, dim=1)


@dataclass(frozen=True)
class Stability:
    """The kind of one fixed point and the facts it was read from."""

    kind: str
    eigenvalues: Tensor  # complex, sorted by decreasing real part
    n_unstable: int  # eigenvalues with Re > tol (a saddle's unstable directions)
    candidate: str | None  # "saddle_node" or "hopf" for a non-hyperbolic point, else None


def classify(jac: Tensor, tol: float | None = None, *, rtol: float = HYPERBOLIC_RTOL,
             uncertainty: float = 0.0, imag_rtol: float = IMAG_RTOL) -> Stability:
    """Classify one fixed point from its (d, d) Jacobian (tolerances in the module docstring;
    ``tol``, if given, replaces rtol ||J|| + u by an absolute threshold)."""
    eig = torch.linalg.eigvals(jac)
    eig = eig[torch.argsort(eig.real, descending=True)]
    re, im = eig.real, eig.imag
    scale = float(torch.linalg.matrix_norm(jac, ord=2))
    tau = tol if tol is not None else rtol * scale + uncertainty
    tau_im = imag_rtol * scale + (uncertainty * scale) ** 0.5
    n_unstable = int((re > tau).sum())
    near_zero = re.abs() <= tau
    rotating = im.abs() > tau_im
    if bool(near_zero.any()):
        hopf = bool((near_zero & rotating).any())
        return Stability("non_hyperbolic", eig, n_unstable, "hopf" if hopf else "saddle_node")
    focus = bool(rotating.any())
    if n_unstable == 0:
        kind = "stable_focus" if focus else "stable_node"
    elif n_unstable == len(eig):
        kind = "unstable_focus" if focus else "unstable_node"
    else:
        kind = "saddle"
    return Stability(kind, eig, n_unstable, None)


def eigenvalue_uncertainty(jac_fn: Callable[[Tensor], Tensor], h: Tensor, jac: Tensor,
                           radius: Tensor) -> Tensor:
    """u_i = ||J(h_i + radius_i v_i) - J(h_i)||_2 with v_i the right singular vector of J(h_i)
    of its smallest singular value: how far the eigenvalues can move when the root is displaced
    by its location uncertainty ``radius`` (n,) in its least determined direction."""
    v = torch.linalg.svd(jac).Vh[:, -1, :]
    moved = jac_fn(h + radius[:, None] * v)
    return torch.linalg.matrix_norm(moved - jac, ord=2)


def map_is_stable(step_jac: Tensor) -> bool:
    """The discrete map is locally stable when its spectral radius is below one."""
    return bool(torch.linalg.eigvals(step_jac).abs().max() < 1.0)


def ode_is_stable(kind: str) -> bool:
    """Whether an ODE fixed point of this kind attracts (non-hyperbolic counts as not)."""
    return kind in ("stable_node", "stable_focus")


def saddle_node_kind(eigenvalues: Tensor, tol: float = 1e-6) -> int | None:
    """1 for a saddle-node point of the first kind (one eigenvalue ~0, the other negative: a sink
    and a saddle fused), 2 for the second kind (the other positive: a source and a saddle
    fused), None otherwise (hyperbolic, or both ~0: codimension 2). 2-D, real eigenvalues."""
    re = eigenvalues.real
    small = re.abs() <= tol
    if int(small.sum()) != 1 or bool((eigenvalues.imag.abs() > tol).any()):
        return None
    return 1 if float(re[~small][0]) < 0 else 2

