"""Homoclinic-like orbits: orbits that leave a cluster of fixed points and come back to it
(paper Fig 9).

A cluster of fixed points closer together than the plot (or the arithmetic) resolves acts as one
point c. A state h0 is **homoclinic-like** for the cluster when

- it lies on a macroscopic excursion: |h0 - c| >= ``distance`` (D), and
- both its forward orbit phi_t(h0) and its backward orbit phi_{-t}(h0) are within ``radius``
  (eps) of c at t = ``t_end`` (fixed-step RK4 of dh/dt = f and of dh/dt = -f; a backward orbit
  that leaves |h|_inf <= 2 max |box| is stopped there and does not return).

So every such orbit is, at the resolution eps, homoclinic to c: it leaves c (t -> -inf), travels
at least D away and returns (t -> +inf). Near a degenerate point the approach is slow (algebraic:
|h| ~ 1 / (q t) along a quadratic field's incoming ray), so T must be long enough for the
returning orbits to get within eps: with T = 150 instead of the default 1000, orbits of a whole
region of the preset family :func:`gru_learn.gru.presets.origin_cluster` were still ~0.03 away and
that region was missed; the counts should be checked at a longer T (the tests use 4000).

Evaluated on a G x G grid of the box, the homoclinic-like cells are split into connected
components (4-neighbour, :func:`scipy.ndimage.label`); a component's *extent* is the largest
|h0 - c| among its cells, and the components with extent >= ``min_extent`` are the *regions*
counted (near c, small loops of any local structure can survive where the far flow destroys the
large ones; those components are reported but not counted). A region is bounded when none of
its cells touches the box's edge.

For one orbit, :func:`excursion` measures the excursion max_t |h(t) - c|, the time it is reached,
the first time after it that the orbit is back within eps (the return time) and the final
distance (the return distance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gru_learn.dynamics.integrate import integrate, rk4_step

VectorField = Callable[[Tensor], Tensor]


@torch.no_grad()
def flow_ends(f: VectorField, h0: Tensor, t_end: float, dt: float, backward: bool = False,
              bound: float = 3.0) -> Tensor:
    """phi_{+-t_end}(h0) by RK4 for states h0 (..., d); rows that leave |h|_inf <= ``bound``
    are frozen at their first state outside (returned as is, so |h|_inf > bound marks them)."""
    g = (lambda h: -f(h)) if backward else f
    h = h0.clone()
    out = torch.zeros(h.shape[:-1], dtype=torch.bool)
    for _ in range(max(1, int(round(t_end / dt)))):
        new = rk4_step(g, h, dt)
        new = torch.where(out[..., None] | ~torch.isfinite(new), h, new)
        out |= new.abs().amax(-1) > bound
        h = new
    return h


@dataclass
class HomoclinicRegions:
    """The homoclinic-like cells of a grid and their connected components."""

    centre: list[float]
    xs: np.ndarray  # grid coordinates per axis, (G,) each
    ys: np.ndarray
    mask: np.ndarray  # (G, G) bool, [i, j] for (xs[i], ys[j])
    labels: np.ndarray  # (G, G) int, 0 = not homoclinic-like
    components: list[dict[str, Any]] = field(default_factory=list)
    min_extent: float = 0.3

    @property
    def regions(self) -> list[dict[str, Any]]:
        """The components with extent >= min_extent (the counted regions)."""
        return [c for c in self.components if c["extent"] >= self.min_extent]

    @property
    def count(self) -> int:
        return len(self.regions)

    def to_json(self) -> dict[str, Any]:
        return {"centre": self.centre, "grid": len(self.xs), "cells": int(self.mask.sum()),
                "min_extent": self.min_extent, "regions": self.count,
                "components": self.components}


def homoclinic_like_regions(f: VectorField, centre: Tensor,
                            box: tuple[tuple[float, float], ...], *, grid: int = 48,
                            distance: float = 0.1, radius: float = 0.03, t_end: float = 1000.0,
                            dt: float = 0.5, min_extent: float = 0.3) -> HomoclinicRegions:
    """The homoclinic-like set of the 2-D field ``f`` for the cluster at ``centre`` on a
    ``grid`` x ``grid`` lattice of ``box`` (cell centres), split into components."""
    from scipy import ndimage

    (x0, x1), (y0, y1) = box
    xs = x0 + (np.arange(grid) + 0.5) * (x1 - x0) / grid
    ys = y0 + (np.arange(grid) + 0.5) * (y1 - y0) / grid
    c = centre.to(torch.float64)
    mesh = torch.stack(torch.meshgrid(torch.tensor(xs), torch.tensor(ys), indexing="ij"), -1)
    bound = 2.0 * max(abs(x0), abs(x1), abs(y0), abs(y1))
    fw = flow_ends(f, mesh, t_end, dt, bound=bound)
    bw = flow_ends(f, mesh, t_end, dt, backward=True, bound=bound)
    start = (mesh - c).norm(dim=-1)
    mask = (((fw - c).norm(dim=-1) < radius) & ((bw - c).norm(dim=-1) < radius)
            & (start >= distance)).numpy()
    labels, n = ndimage.label(mask)
    comps = []
    for k in range(1, n + 1):
        cells = labels == k
        ii, jj = np.nonzero(cells)
        comps.append({
            "cells": int(cells.sum()),
            "area": float(cells.sum() * (x1 - x0) * (y1 - y0) / grid**2),
            "extent": float(start.numpy()[cells].max()),
            "centroid": [float(xs[ii].mean()), float(ys[jj].mean())],
            "touches_edge": bool(ii.min() == 0 or jj.min() == 0 or ii.max() == grid - 1
                                 or jj.max() == grid - 1),
        })
    comps.sort(key=lambda d: -d["cells"])
    return HomoclinicRegions([float(v) for v in c], xs, ys, mask, labels, comps, min_extent)


@dataclass
class Excursion:
    """One orbit's excursion from and return to a cluster at c."""

    excursion: float  # max_t |h(t) - c|
    t_excursion: float  # when it is reached
    return_time: float | None  # first t > t_excursion with |h(t) - c| < radius
    return_distance: float  # |h(t_end) - c|
    start_distance: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def excursion(f: VectorField, h0: Tensor, centre: Tensor, t_end: float, dt: float,
              radius: float = 0.03, backward: bool = False) -> tuple[Excursion, Tensor, Tensor]:
    """The :class:`Excursion` of the orbit from ``h0`` (d,) up to ``t_end`` (RK4, step dt;
    ``backward``: of dh/dt = -f), with the times (T,) and the path (T, d)."""
    g = (lambda h: -f(h)) if backward else f
    t, path = integrate(g, h0[None], t_end, dt)
    path = path[:, 0]
    d = (path - centre.to(path.dtype)).norm(dim=-1).to(torch.float64)
    k = int(d.argmax())
    back = torch.nonzero(d[k:] < radius).flatten()
    ret = float(t[k + int(back[0])]) if len(back) else None
    return Excursion(float(d[k]), float(t[k]), ret, float(d[-1]), float(d[0])), t, path
