"""A one-dimensional slow manifold read as a curve: its spline, the flow along it, the fixed
points on it (kinds along and across), its normal hyperbolicity and the basins of its stable
points (memory capacity). Any dimension d; everything in the vector field's units.

**The curve.** The manifold's states, ordered along it, are binned by arc length into at most
``knots`` bins; the bin means are the knots of a cubic spline in the normalised arc length
s in [0, 1) (``bc_type="periodic"`` for a closed curve, so the curve and its first two
derivatives join up; open curves get the "not-a-knot" end conditions). ``CurveFit.sample(n)``
gives n points and unit tangents along it; ``CurveFit.locate(x)`` the parameter of the nearest
sample.

**The flow along it.** At every sample x(s) with unit tangent T(s), the signed speed along the
curve is v(s) = T(s) . f(x(s)) (length per time unit). ``phi_inf`` = max |v|, the uniform norm
of the flow on the manifold (Ságodi et al. 2024): no state on it moves faster than that along
it. Zeros of v are the fixed points the flow along the curve has: + to - is stable along
(a memory), - to + unstable along (the edge of two basins).

**Normal hyperbolicity.** At up to ``n_jacobians`` samples, with J = df/dx and N an orthonormal
basis of the normal space: the along rate T^T J T and the transverse rate, the largest real part
of the eigenvalues of N^T J N. The manifold is normally hyperbolic (Fenichel) where the
transverse contraction dominates the along rate: ``gap`` = min(-transverse) - max(along) > 0.

**Memory capacity.** The basin of each stable-along zero is the arc between the unstable-along
zeros around it; the capacity is the entropy, in bits, of the basins' fractions of the curve
(Ságodi et al. 2024 read the basins of the fixed points on the manifold the same way): k equal
basins give log2 k bits. With no zero (the flow circulates on a closed curve, or leaves an open
one) it is 0 bits; with |v| below ``still`` everywhere (a continuum of fixed points) it is
``None``: unbounded, as for an exact continuous attractor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.interpolate import make_interp_spline
from torch import Tensor

F64 = torch.float64


@dataclass
class CurveFit:
    """A cubic spline x(s), s in [0, 1) (periodic when ``closed``), through the bin means of
    ordered states; ``length`` is its arc length (state units)."""

    closed: bool
    spline: Any  # scipy BSpline, (n,) -> (n, d)
    length: float

    def sample(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """(s (n,), points (n, d), unit tangents (n, d)) at n parameters evenly spaced."""
        s = np.linspace(0.0, 1.0, n, endpoint=not self.closed)
        x = self.spline(s)
        dx = self.spline(s, 1)
        t = dx / np.maximum(np.linalg.norm(dx, axis=-1, keepdims=True), 1e-300)
        return (torch.as_tensor(s, dtype=F64), torch.as_tensor(x, dtype=F64),
                torch.as_tensor(t, dtype=F64))

    def tangent(self, s: Tensor) -> Tensor:
        """Unit tangents (n, d) at the parameters ``s`` (n,)."""
        dx = torch.as_tensor(self.spline(s.numpy(), 1), dtype=F64)
        return dx / dx.norm(dim=-1, keepdim=True).clamp_min(1e-300)

    def locate(self, x: Tensor, n: int = 2000) -> Tensor:
        """The parameter s of the sample nearest to each state of ``x`` (m, d)."""
        s, pts, _ = self.sample(n)
        return s[torch.cdist(x.to(F64), pts).argmin(-1)]


def fit_curve(points: Tensor, closed: bool, knots: int = 48) -> CurveFit | None:
    """A spline through ``points`` (n, d), ordered along the curve (see the module docstring);
    None when fewer than 4 distinct bins are filled."""
    p = points.to(F64).numpy()
    seg = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    if closed:
        seg = np.append(seg, np.linalg.norm(p[0] - p[-1]))
    total = float(seg.sum())
    if total <= 0:
        return None
    arc = np.concatenate([[0.0], np.cumsum(seg)[: len(p) - 1]]) / total
    m = max(4, min(knots, len(p) // 3))
    bins = np.minimum((arc * m).astype(int), m - 1)
    filled = np.unique(bins)
    if len(filled) < 4:
        return None
    means = np.stack([p[bins == b].mean(0) for b in filled])
    s = np.array([arc[bins == b].mean() for b in filled])
    if closed:
        means = np.concatenate([means, means[:1]])
        s = np.append(s, s[0] + 1.0)
        s = (s - s[0]) / (s[-1] - s[0])
        spline = make_interp_spline(s, means, k=3, bc_type="periodic")
    else:
        s = (s - s[0]) / max(s[-1] - s[0], 1e-12)
        spline = make_interp_spline(s, means, k=3 if len(s) > 3 else 1)
    fine = spline(np.linspace(0.0, 1.0, 2001))
    length = float(np.linalg.norm(np.diff(fine, axis=0), axis=-1).sum())
    return CurveFit(closed, spline, length)


def along_flow(curve: CurveFit, f: Callable[[Tensor], Tensor], n: int = 400,
               settle: Callable[[Tensor], Tensor] | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
    """(s, points, signed speed along the curve v(s) = T . f) at n samples, sorted by s. With
    ``settle`` (e.g. a short run of the flow, shorter than the drift along the curve) the
    samples are first moved onto the manifold, so that no transverse component of f (the
    spline lies a little off the states it averages) leaks into v; each keeps the tangent of
    the curve's nearest parameter."""
    s, x, t = curve.sample(n)
    if settle is not None:
        moved = settle(x)
        ok = torch.isfinite(moved).all(-1)
        x = moved[ok]
        s = curve.locate(x, 4 * n)
        t = curve.tangent(s)
        order = torch.argsort(s)
        s, x, t = s[order], x[order], t[order]
    with torch.no_grad():
        v = (f(x) * t).sum(-1)
    return s, x, v


def zeros_along(s: Tensor, v: Tensor, closed: bool, still: float) -> list[dict[str, Any]]:
    """The zeros of the speed along the curve: sign changes of v (linearly interpolated),
    each with its kind along (``stable`` where v goes from + to -). Samples with |v| <= still
    count as neither sign (a stretch of them is one zero at its middle)."""
    sign = torch.where(v > still, 1, torch.where(v < -still, -1, 0)).tolist()
    idx = [i for i, g in enumerate(sign) if g != 0]
    if not idx:
        return []
    out: list[dict[str, Any]] = []
    pairs = list(zip(idx, idx[1:] + ([idx[0]] if closed else []), strict=False))
    n = len(s)
    for a, b in pairs:
        if sign[a] == sign[b]:
            continue
        gap = (b - a) % n if closed else b - a
        if gap == 1:  # interpolate inside one interval
            va, vb = float(v[a]), float(v[b])
            frac = va / (va - vb)
        else:  # the middle of the still stretch between them
            frac = 0.5
        span = float(s[b]) - float(s[a])
        pos = float(s[a]) + frac * (span % 1.0 if closed else span)
        pos = pos % 1.0 if closed else pos
        out.append({"s": float(pos), "kind_along": "stable" if sign[a] > 0 else "unstable"})
    return sorted(out, key=lambda z: z["s"])


def basins(zeros: list[dict[str, Any]], closed: bool) -> list[float] | None:
    """Fractions of the curve flowing to each stable-along zero (see the module docstring):
    [] when the flow has no zero on the curve."""
    stable = [z["s"] for z in zeros if z["kind_along"] == "stable"]
    edges = sorted(z["s"] for z in zeros if z["kind_along"] == "unstable")
    if not stable:
        return []
    if closed:
        if not edges:
            return [1.0]
        cut = edges + [edges[0] + 1.0]
        return [b - a for a, b in zip(cut, cut[1:], strict=False)]
    cut = [0.0] + edges + [1.0]
    return [b - a for a, b in zip(cut, cut[1:], strict=False) if b > a]


def capacity_bits(fractions: list[float] | None) -> float | None:
    """Entropy in bits of basin fractions (None stays None: unbounded)."""
    if fractions is None:
        return None
    p = np.asarray([x for x in fractions if x > 0], dtype=float)
    if p.size == 0:
        return 0.0
    p = p / p.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # no -0.0


def normal_hyperbolicity(curve: CurveFit, jac_fn: Callable[[Tensor], Tensor], n: int = 64
                         ) -> dict[str, Any]:
    """Along rates T^T J T and transverse rates (largest Re of the spectrum of N^T J N) at n
    samples of the curve, and the gap between them (see the module docstring)."""
    _, x, t = curve.sample(n)
    jac = jac_fn(x).to(F64)
    along = torch.einsum("ni,nij,nj->n", t, jac, t)
    u, _, _ = torch.linalg.svd(t.unsqueeze(-1), full_matrices=True)
    normal = u[:, :, 1:]
    if normal.shape[-1] == 0:
        return {"along_max": float(along.max()), "transverse_max": None, "gap": None,
                "normally_hyperbolic": None}
    trans = torch.linalg.eigvals(normal.transpose(-1, -2) @ jac @ normal).real.amax(-1)
    gap = float((-trans).min() - along.max())
    return {"along_max": float(along.max()), "along_min": float(along.min()),
            "transverse_max": float(trans.max()), "transverse_median": float(trans.median()),
            "gap": gap, "normally_hyperbolic": gap > 0}


def point_kinds(h: Tensor, curve: CurveFit, jac_fn: Callable[[Tensor], Tensor]
                ) -> dict[str, Any]:
    """A fixed point's kinds along and across the curve through it: the sign of T^T J T at the
    nearest sample's tangent, and of the largest real part of the normal block's spectrum."""
    s = curve.locate(h[None])
    tan = curve.tangent(s)[0]
    jac = jac_fn(h[None].to(F64))[0]
    along = float(tan @ jac @ tan)
    u, _, _ = torch.linalg.svd(tan[:, None], full_matrices=True)
    normal = u[:, 1:]
    across = (float(torch.linalg.eigvals(normal.T @ jac @ normal).real.max())
              if normal.shape[-1] else math.nan)
    return {"s": float(s[0]), "rate_along": along, "rate_across": across,
            "kind_along": "stable" if along < 0 else "unstable",
            "kind_across": "attracting" if across < 0 else "repelling"}
