"""The three topologies of a 1-D GRU (paper Fig 1) read from its vector field.

Roots of f on an interval are found from sign changes (transversal roots) and from near-zero
local minima of |f| (tangential, half-stable roots). Each root is labelled by the signs of f on
either side: stable (+ then -), unstable (- then +), half_stable (same sign). The topology is
"A" (one stable node), "B" (one stable and one half-stable node) or "C" (stable, unstable,
stable); anything else is reported as "other".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

VectorField = Callable[[Tensor], Tensor]
TOPOLOGIES = {("stable",): "A", ("half_stable", "stable"): "B", ("stable", "half_stable"): "B",
              ("stable", "unstable", "stable"): "C"}


@dataclass
class Topology1D:
    label: str
    roots: list[float]
    kinds: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"topology": self.label, "fixed_points": [
            {"h": [r], "kind": k} for r, k in zip(self.roots, self.kinds, strict=False)]}


@torch.no_grad()
def classify_1d(
    f: VectorField, interval: tuple[float, float] = (-1.0, 1.0), resolution: int = 20001,
    tangent_tol: float = 1e-7,
) -> Topology1D:
    """Fixed points of dh/dt = f(h) on ``interval`` with their 1-D kinds, and the topology."""
    h = torch.linspace(*interval, resolution, dtype=torch.float64)
    fh = f(h[:, None])[:, 0]
    roots: list[float] = []
    for i in torch.nonzero(fh[:-1] * fh[1:] < 0).flatten().tolist():
        roots.append(_bisect(f, float(h[i]), float(h[i + 1])))
    roots += [float(h[i]) for i in torch.nonzero(fh == 0).flatten().tolist()]
    a = fh.abs()
    local_min = torch.nonzero((a[1:-1] <= a[:-2]) & (a[1:-1] <= a[2:]) & (a[1:-1] < 1e-3))
    for i in (local_min.flatten() + 1).tolist():
        r = _golden_min(f, float(h[i - 1]), float(h[i + 1]))
        if abs(float(f(torch.tensor([[r]], dtype=torch.float64))[0, 0])) < tangent_tol:
            roots.append(r)
    roots = sorted(roots)
    merged = [r for k, r in enumerate(roots) if k == 0 or r - roots[k - 1] > 1e-5]
    delta = max(1e-4, 10 * (interval[1] - interval[0]) / resolution)
    kinds = []
    for r in merged:
        left, right = f(torch.tensor([[r - delta], [r + delta]], dtype=torch.float64))[:, 0]
        if left > 0 > right:
            kinds.append("stable")
        elif left < 0 < right:
            kinds.append("unstable")
        else:
            kinds.append("half_stable")
    return Topology1D(TOPOLOGIES.get(tuple(kinds), "other"), merged, kinds)


def _bisect(f: VectorField, a: float, b: float, iters: int = 80) -> float:
    fa = float(f(torch.tensor([[a]], dtype=torch.float64))[0, 0])
    for _ in range(iters):
        m = 0.5 * (a + b)
        fm = float(f(torch.tensor([[m]], dtype=torch.float64))[0, 0])
        if (fm < 0) == (fa < 0):
            a, fa = m, fm
        else:
            b = m
    return 0.5 * (a + b)


def _golden_min(f: VectorField, a: float, b: float, iters: int = 100) -> float:
    """Minimiser of |f| on [a, b] by golden-section search."""
    g = (5**0.5 - 1) / 2

    def absf(x: float) -> float:
        return abs(float(f(torch.tensor([[x]], dtype=torch.float64))[0, 0]))

    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(iters):
        if absf(c) < absf(d):
            b = d
        else:
            a = c
        c, d = b - g * (b - a), a + g * (b - a)
    return 0.5 * (a + b)
