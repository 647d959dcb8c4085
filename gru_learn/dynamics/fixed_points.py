"""Fixed points and slow points of dh/dt = f(h) inside a box.

Seeds (a grid in d <= 3, otherwise given states or uniform samples of the box) are driven to
minima of q(h) = 1/2 ||f(h)||^2 by batched Levenberg-Marquardt in float64,
h <- h - (J^T J + mu I)^{-1} J^T f, which is Newton's method once mu is small. Minima with
||f|| < ``tol`` are fixed points; the other local minima of q with ||f|| < ``slow_tol`` are slow
points.

Deduplication follows from the root tolerance: a root accepted with ||f|| < tol is located to
about tol / sigma_min(J) (J e = f to first order), so each root carries the radius
rho = min(2 tol / sigma_min(J), rho_max), rho_max = 1e-3 x the largest box side (a continuum of
fixed points, sigma_min = 0, is sampled at that spacing), and two roots closer than
rho_i + rho_j are one (the smaller residual is kept). Distinct well-conditioned roots closer
than 1e-4 stay distinct; the scattered copies of a near-tangential root (sigma_min small) merge.
Kinds use tolerances relative to ||J|| and to the eigenvalue shift over the root's location
uncertainty residual / sigma_min (see :mod:`gru_learn.dynamics.stability`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gru_learn.dynamics.stability import (
    classify,
    eigenvalue_uncertainty,
    jacobian,
    map_is_stable,
    ode_is_stable,
)

VectorField = Callable[[Tensor], Tensor]
JacobianFn = Callable[[Tensor], Tensor]  # h (n, d) -> df/dh (n, d, d)
Box = tuple[tuple[float, float], ...]
DEDUP_FACTOR = 2.0  # rho = DEDUP_FACTOR tol / sigma_min(J)
DEDUP_MAX = 1e-3  # rho_max, relative to the largest box side


@dataclass
class FixedPoint:
    """A root of f with its linear stability (ODE) and the discrete map's stability there."""

    h: Tensor
    kind: str
    eigenvalues: Tensor
    residual: float
    n_unstable: int
    candidate: str | None = None
    map_stable: bool | None = None

    @property
    def map_disagrees(self) -> bool:
        """The discrete step h -> step(h) and the ODE disagree on stability here."""
        return self.map_stable is not None and self.map_stable != ode_is_stable(self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "h": self.h.tolist(),
            "kind": self.kind,
            "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues],
            "residual": self.residual,
            "n_unstable": self.n_unstable,
            "bifurcation_candidate": self.candidate,
            "map_stable": self.map_stable,
            "map_disagrees": self.map_disagrees,
        }


@dataclass
class SlowPoint:
    """A local minimum of q = 1/2 ||f||^2 that is not a root: the flow there is slow, not zero."""

    h: Tensor
    speed: float

    def to_json(self) -> dict[str, Any]:
        return {"h": self.h.tolist(), "speed": self.speed}


@dataclass
class FixedPointResult:
    fixed_points: list[FixedPoint]
    slow_points: list[SlowPoint]
    index_sum: int | None = None  # (nodes + foci) - saddles, in 2-D
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fixed_points": [p.to_json() for p in self.fixed_points],
            "slow_points": [p.to_json() for p in self.slow_points],
            "index_sum": self.index_sum,
            "notes": list(self.notes),
        }


def check_box(box: Box | list, dim: int) -> Box:
    """Validate ``box`` as ((lo, hi),) * dim (one pair may be given for every dimension)."""
    pairs = [tuple(map(float, b)) for b in box]
    if len(pairs) == 1 and dim > 1:
        pairs = pairs * dim
    if len(pairs) != dim or any(len(p) != 2 or not p[0] < p[1] for p in pairs):
        raise ValueError(f"box must be {dim} pairs (lo, hi) with lo < hi, got {box!r}")
    return tuple(pairs)  # type: ignore[return-value]


def levenberg_marquardt(
    f: VectorField, h: Tensor, max_iter: int = 100, tol: float = 1e-13,
    jac: JacobianFn | None = None, *, give_up_above: float | None = None,
    within: tuple[Tensor, Tensor] | None = None, max_step: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Drive every row of ``h`` (n, d) to a local minimum of q = 1/2 ||f||^2 (``jac``: a
    closed-form Jacobian, else autograd).

    Damping after Nielsen (1999): mu starts at 1e-3 max diag(J^T J); an accepted step with gain
    ratio rho (actual over predicted decrease of q) scales mu by max(1/3, 1 - (2 rho - 1)^3), a
    rejected one by nu (2, doubling on every rejection in a row). The system
    (J^T J + mu I) step = J^T f is solved by Cholesky. With ``give_up_above``, a row whose q fell
    by less than 2 % over the last 10 iterations stops (near a root, simple or double, q falls
    by orders of magnitude in 10 iterations): it counts as converged (a slow point, its minimum
    of q known to 2 %) when its speed is below ``give_up_above``, else it is dropped. With
    ``within`` = (lo, hi), a row that leaves that box stops (unconverged): outside the box
    of interest q can keep falling towards infinity (a GRU's saturated update gates make f
    small far from (-1, 1)^d), which costs iterations and yields nothing. ``max_step`` bounds
    the length of a step (a trust region; the gain test still decides acceptance).

    Returns ``(h, speed, converged)``: the final states, ||f|| there, and whether the step
    became negligible (a minimum of q was reached, root or not).
    """
    n, d = h.shape
    eye = torch.eye(d, dtype=h.dtype)
    h = h.clone()
    mu = torch.full((n,), -1.0, dtype=h.dtype)  # set from J^T J at the first iteration
    nu = torch.full((n,), 2.0, dtype=h.dtype)
    with torch.no_grad():
        fh = f(h)
    q = 0.5 * (fh * fh).sum(-1)
    converged = q <= 0.5 * tol**2
    moving = ~converged
    q_then = q.clone()
    for it in range(max_iter):
        act = torch.nonzero(moving).flatten()  # iterate only the rows still moving
        if len(act) == 0:
            break
        ha, fa, qa = h[act], fh[act], q[act]
        jm = jac(ha) if jac is not None else jacobian(f, ha).detach()
        jt = jm.transpose(-1, -2)
        grad = (jt @ fa.unsqueeze(-1)).squeeze(-1)
        jtj = jt @ jm
        m = mu[act]
        m = torch.where(m < 0, 1e-3 * jtj.diagonal(dim1=-2, dim2=-1).amax(-1), m).clamp_min(1e-300)
        chol, info = torch.linalg.cholesky_ex(jtj + m[:, None, None] * eye)
        if bool((info != 0).any()):
            step = torch.linalg.lstsq(jtj + m[:, None, None] * eye, grad.unsqueeze(-1)).solution
        else:
            step = torch.cholesky_solve(grad.unsqueeze(-1), chol)
        step = step.squeeze(-1)
        if max_step is not None:
            norm = step.norm(dim=-1, keepdim=True)
            step = step * (max_step / norm.clamp_min(1e-300)).clamp_max(1.0)
        with torch.no_grad():
            trial = ha - step
            f_trial = f(trial)
        q_trial = 0.5 * (f_trial * f_trial).sum(-1)
        better = torch.isfinite(q_trial) & (q_trial <= qa)
        predicted = 0.5 * (step * (m[:, None] * step + grad)).sum(-1)
        gain = (qa - q_trial) / predicted.clamp_min(1e-300)
        h[act] = torch.where(better[:, None], trial, ha)
        fh[act] = torch.where(better[:, None], f_trial, fa)
        q[act] = torch.where(better, q_trial, qa)
        shrink = (1 - (2 * gain - 1) ** 3).clamp(min=1 / 3)
        mu[act] = torch.where(better, m * shrink, m * nu[act])
        nu[act] = torch.where(better, torch.full_like(m, 2.0), nu[act] * 2)
        small = step.norm(dim=-1) <= 1e-12 * (1.0 + ha.norm(dim=-1))
        stationary = grad.norm(dim=-1) <= 1e-8 * qa.mul(2.0).sqrt()  # a minimum of q, no root
        converged[act] = (better & small) | stationary | (q[act] <= 0.5 * tol**2)
        moving &= ~converged
        if within is not None:
            moving &= ((h >= within[0]) & (h <= within[1])).all(-1)
        if give_up_above is not None and it % 10 == 9:
            stalled = moving & (q > 0.98 * q_then)
            converged |= stalled & (q <= 0.5 * give_up_above**2)  # a slow point, to 2 % in q
            moving &= ~stalled
            q_then = q.clone()
    return h, q.mul(2.0).sqrt(), converged


def deduplicate(points: Tensor, scores: Tensor, radius: float | Tensor) -> Tensor:
    """Indices of a subset of ``points``, lowest score first, in which no two points i, j are
    closer than r_i + r_j (``radius`` per point, or one float r for all: then closer than r)."""
    if len(points) == 0:
        return torch.zeros(0, dtype=torch.long)
    r = torch.as_tensor(radius, dtype=points.dtype).expand(len(points))
    if not isinstance(radius, Tensor):
        r = r / 2
    dist = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    close = (dist < r[:, None] + r[None, :]).numpy()
    kept: list[int] = []
    for i in torch.argsort(scores).tolist():
        if not kept or not close[i, kept].any():
            kept.append(i)
    return torch.tensor(kept, dtype=torch.long)


def partner_seeds(jac_fn: JacobianFn, roots: Tensor, delta: float,
                  ill: float = 1e-2) -> Tensor:
    """Extra seeds near the roots whose J is ill-conditioned (sigma_min < ``ill`` ||J||_2):
    h + s (sigma_min / L) v for s in +-(1.5, 2, 3), with v the least singular direction and
    L = ||J(h + delta v) - J(h)|| / delta the curvature along it (a fold's two roots lie
    2 sigma_min / L apart)."""
    roots = roots[deduplicate(roots, torch.zeros(len(roots)), delta)]
    jm = jac_fn(roots)
    _, sv, vh = torch.linalg.svd(jm)
    bad = sv[:, -1] < ill * sv[:, 0]
    if not bool(bad.any()):
        return roots.new_zeros(0, roots.shape[-1])
    h, v, sig = roots[bad], vh[bad, -1, :], sv[bad, -1]
    curv = torch.linalg.matrix_norm(jac_fn(h + delta * v) - jm[bad], ord=2) / delta
    e = (sig / curv.clamp_min(1e-300)).clamp_max(1.0)
    s = torch.tensor([1.5, 2.0, 3.0, -1.5, -2.0, -3.0], dtype=roots.dtype)
    return (h[:, None, :] + (s[None, :, None] * e[:, None, None]) * v[:, None, :]).reshape(
        -1, roots.shape[-1])


def grid_seeds(f: VectorField, box: Box, resolution: int) -> Tensor:
    """Seeds for an exhaustive search in d <= 3: every grid cell where each component of f
    changes sign at its corners (a root inside is possible), plus local minima of ||f|| on the
    grid (tangential roots, slow points)."""
    dim = len(box)
    axes = [torch.linspace(lo, hi, resolution, dtype=torch.float64) for lo, hi in box]
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (R,)*d + (d,)
    with torch.no_grad():
        fv = f(mesh)
    sign = fv > 0
    cell = tuple(slice(0, resolution - 1) for _ in range(dim))
    any_pos = torch.zeros(sign[cell].shape, dtype=torch.bool)
    any_neg = torch.zeros_like(any_pos)
    for corner in range(2**dim):
        idx = tuple(
            slice(1, resolution) if (corner >> k) & 1 else slice(0, resolution - 1)
            for k in range(dim)
        )
        any_pos |= sign[idx]
        any_neg |= ~sign[idx]
    straddles = (any_pos & any_neg).all(-1)
    centres = (mesh[cell] + mesh[tuple(slice(1, resolution) for _ in range(dim))]) / 2
    speed = fv.norm(dim=-1)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[dim - 1]
    local_min = -pool(-speed[None, None], 3, stride=1, padding=1)[0, 0] >= speed
    return torch.cat([centres[straddles], mesh[local_min]])


def find_fixed_points(
    f: VectorField,
    box: Box | list,
    *,
    starts: Tensor | None = None,
    n_starts: int | None = None,
    resolution: int | None = None,
    step: VectorField | None = None,
    tol: float = 1e-10,
    slow_tol: float = 1e-2,
    dedup_tol: float | None = None,
    generator: torch.Generator | None = None,
    jac: JacobianFn | None = None,
) -> FixedPointResult:
    """All fixed points (and slow points) of dh/dt = f(h) in ``box``.

    In d <= 3 (or when ``resolution`` is given) the search is exhaustive on a grid of
    ``resolution`` points per axis (default 64 in 2-D). Otherwise it starts from ``starts``
    (e.g. trajectory states plus noise) and ``n_starts`` uniform samples of the box (default
    512, or 128 when ``starts`` are given: in 64-128 dimensions each Levenberg-Marquardt row
    costs O(d^3) per iteration, and the states the dynamics visit seed the relevant points).
    ``step`` is the discrete map (for a GRU, h + f(h)) whose stability is also reported.
    ``dedup_tol`` replaces the scale-aware merge distance by one absolute radius; ``jac``
    (h (n, d) -> (n, d, d), e.g. :func:`gru_learn.dynamics.gru_jacobian.gru_jacobian`) replaces
    the autograd Jacobian everywhere.
    """
    jac_fn: JacobianFn = jac if jac is not None else (lambda x: jacobian(f, x).detach())
    box = check_box(box, starts.shape[-1] if starts is not None else len(box))
    dim = len(box)
    lo = torch.tensor([b[0] for b in box], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in box], dtype=torch.float64)
    if resolution is None and dim <= 3:
        resolution = {1: 401, 2: 64, 3: 24}[dim]
    seeds = []
    if resolution is not None:
        seeds.append(grid_seeds(f, box, resolution))
    if starts is not None:
        seeds.append(starts.reshape(-1, dim).to(torch.float64))
    if resolution is None:
        if n_starts is None:
            n_starts = 512 if starts is None else 128
        u = torch.rand(n_starts, dim, dtype=torch.float64, generator=generator)
        seeds.append(lo + (hi - lo) * u)
    seed = torch.cat(seeds)
    wide = (lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo))  # rows leaving it stop
    reach = float((hi - lo).max())  # the longest step: one box side
    h, speed, converged = levenberg_marquardt(f, seed, jac=jac, give_up_above=slow_tol,
                                              within=wide, max_step=reach)
    margin = 1e-6 * (hi - lo)
    inside = ((h >= lo - margin) & (h <= hi + margin)).all(-1) & torch.isfinite(speed)
    rho_max = DEDUP_MAX * float((hi - lo).max())
    notes: list[str] = []

    # a near-tangential root (sigma_min(J) << ||J||) may have a partner about 2 sigma_min / L
    # away along the least determined direction v (a fold f ~ L e^2 / 2 - c): seed there too
    roots = inside & (speed < tol)
    if bool(roots.any()):
        partners = partner_seeds(jac_fn, h[roots], rho_max)
        if len(partners):
            h2, speed2, conv2 = levenberg_marquardt(f, partners, jac=jac,
                                                    give_up_above=slow_tol, within=wide,
                                                    max_step=reach)
            h, speed = torch.cat([h, h2]), torch.cat([speed, speed2])
            converged = torch.cat([converged, conv2])
            inside = ((h >= lo - margin) & (h <= hi + margin)).all(-1) & torch.isfinite(speed)
            roots = inside & (speed < tol)
    points, residuals = h[roots], speed[roots]
    fixed: list[FixedPoint] = []
    if len(points):
        jac_all = jac_fn(points)
        sigma_min = torch.linalg.svdvals(jac_all)[:, -1]
        rho = (DEDUP_FACTOR * tol / sigma_min.clamp_min(1e-300)).clamp_max(rho_max)
        keep = deduplicate(points, residuals, dedup_tol if dedup_tol is not None else rho)
        pk, jk = points[keep], jac_all[keep]
        # eigenvalue shift over the location uncertainty: Kantorovich puts the root within
        # 2 residual / sigma_min of h when that is small; we take twice that
        loc = 4 * residuals[keep].clamp_min(1e-16) / sigma_min[keep].clamp_min(1e-300)
        unc = eigenvalue_uncertainty(jac_fn, pk, jk, loc.clamp_max(rho_max))
        step_jac = jacobian(step, pk).detach() if step is not None else None
        for k, i in enumerate(keep.tolist()):
            st = classify(jk[k], uncertainty=float(unc[k]))
            fixed.append(
                FixedPoint(
                    h=points[i].clone(),
                    kind=st.kind,
                    eigenvalues=st.eigenvalues,
                    residual=float(residuals[i]),
                    n_unstable=st.n_unstable,
                    candidate=st.candidate,
                    map_stable=None if step_jac is None else map_is_stable(step_jac[k]),
                )
            )
    fixed.sort(key=lambda p: p.h.tolist())

    slow_mask = inside & converged & ~roots & (speed < slow_tol)
    slow_pts = h[slow_mask]
    slow: list[SlowPoint] = []
    if len(slow_pts):
        keep_s = deduplicate(slow_pts, speed[slow_mask], max(rho_max, 1e-4))
        for i in keep_s.tolist():
            far = all(float((slow_pts[i] - p.h).norm()) > 1e-4 for p in fixed)
            if far:
                slow.append(SlowPoint(slow_pts[i].clone(), float(speed[slow_mask][i])))

    index_sum = None
    if dim == 2:
        index_sum = sum(p.kind != "saddle" for p in fixed if p.kind != "non_hyperbolic") - sum(
            p.kind == "saddle" for p in fixed
        )
        if any(p.kind == "non_hyperbolic" for p in fixed):
            notes.append("non-hyperbolic fixed point present: its index is not +-1, index "
                         "sum not checked")
        elif index_sum != 1:
            notes.append(
                f"index sum (nodes + foci) - saddles = {index_sum}, not 1: a fixed point was "
                "missed, is degenerate, or lies outside the box"
            )
    if any(p.map_disagrees for p in fixed):
        notes.append("the discrete map and the ODE disagree on the stability of a fixed point")
    if not math.isfinite(float(speed.min())):
        notes.append("the vector field was not finite at some seeds")
    return FixedPointResult(fixed, slow, index_sum, notes)
