"""Linear stability of fixed points: Jacobians by autograd, eigenvalues, and their kinds.

A fixed point h* of dh/dt = f(h) is classified by the eigenvalues lambda of J = df/dh(h*):
all Re lambda < 0 is stable, all > 0 unstable, mixed signs a saddle, and any |Re lambda| below
``tol`` non-hyperbolic (a bifurcation candidate). Complex eigenvalues make a node a focus.
The discrete map h -> step(h) is stable at h* when every eigenvalue of d step/dh is inside the
unit circle.
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
HYPERBOLIC_TOL = 1e-6
COMPLEX_TOL = 1e-9


def jacobian(f: Callable[[Tensor], Tensor], h: Tensor) -> Tensor:
    """Batched autograd Jacobian df/dh at states ``h`` of shape (n, d): returns (n, d, d)."""
    return torch.func.vmap(torch.func.jacrev(lambda x: f(x)))(h)


@dataclass(frozen=True)
class Stability:
    """The kind of one fixed point and the facts it was read from."""

    kind: str
    eigenvalues: Tensor  # complex, sorted by decreasing real part
    n_unstable: int  # eigenvalues with Re > tol (a saddle's unstable directions)
    candidate: str | None  # "saddle_node" or "hopf" for a non-hyperbolic point, else None


def classify(jac: Tensor, tol: float = HYPERBOLIC_TOL) -> Stability:
    """Classify one fixed point from its (d, d) Jacobian."""
    eig = torch.linalg.eigvals(jac)
    eig = eig[torch.argsort(eig.real, descending=True)]
    re, im = eig.real, eig.imag
    n_unstable = int((re > tol).sum())
    near_zero = re.abs() <= tol
    if bool(near_zero.any()):
        hopf = bool((near_zero & (im.abs() > COMPLEX_TOL)).any())
        return Stability("non_hyperbolic", eig, n_unstable, "hopf" if hopf else "saddle_node")
    focus = bool((im.abs() > COMPLEX_TOL).any())
    if n_unstable == 0:
        kind = "stable_focus" if focus else "stable_node"
    elif n_unstable == len(eig):
        kind = "unstable_focus" if focus else "unstable_node"
    else:
        kind = "saddle"
    return Stability(kind, eig, n_unstable, None)


def map_is_stable(step_jac: Tensor) -> bool:
    """The discrete map is locally stable when its spectral radius is below one."""
    return bool(torch.linalg.eigvals(step_jac).abs().max() < 1.0)


def ode_is_stable(kind: str) -> bool:
    """Whether an ODE fixed point of this kind attracts (non-hyperbolic counts as not)."""
    return kind in ("stable_node", "stable_focus")
