"""Continuous attractors of dh/dt = f(h), found (never declared) from the slow set.

Long because sampling the slow set, its graph and the measures of each component (frames,
drift, transverse stability) are one algorithm sharing the same thinned samples.

The **slow set** is every state whose speed ||f(h)|| is below ``speed_tol``. It is sampled by
integrating many initial states with RK4 (uniform samples of the box and/or given ``starts``,
e.g. trajectory states) and keeping every visited state slower than ``speed_tol``, plus the
fixed points and slow points of a :class:`FixedPointResult`. The samples are thinned (no two
closer than ``link_radius / 4``), advanced by ``t_relax`` more time units so that what is left of
their fast, transverse motion decays (those still slower than ``speed_tol`` are kept), thinned
again and joined into a neighbourhood graph (edges between states closer than
``link_radius`` = eps); each connected component of at least ``min_points`` states is a candidate
manifold, measured as follows (all in f's state space and time units, any dimension d):

- **intrinsic dimension** k: at each state, the singular values s_1 >= s_2 >= ... of its
  ``neighbours`` nearest states (centred); the local dimension is the number of s_i >= 0.3 s_1;
  k is the median over the component. Kind: ``ring`` (k = 1, closed), ``line`` (k = 1, open),
  ``plane`` (k = 2), ``manifold`` (k >= 3).
- **closed or open** (k = 1): a = the state farthest (graph geodesic) from any state, b = the state
  farthest from a, D1 = their geodesic distance. The states within 2 eps of the midpoint of that
  path are removed; if b is still reachable from a (geodesic D2), the curve is closed and its
  length is D1 + D2. Otherwise it is an arc of length D1 with ends a, b; an arc whose end-to-end
  gap g = ||a - b|| is below ``max_gap`` * (D1 + g) is a ring with one uncovered gap.
- **extent**: the length of the curve (k = 1, gaps included), else the geodesic diameter.
- **covered fraction** (k = 1): the length covered by slow states over the extent, i.e.
  1 - (gap chord) / (D1 + gap chord); a stretch counts as covered when no two consecutive slow
  states along it are farther apart than eps. ``None`` for k >= 2.
- **speed along it**: at each state, |P_T f| with P_T the projection on the local tangent space
  (the first k singular vectors above); ``max_speed`` is its maximum over the component (below
  ``speed_tol`` by construction, so a gap, where the flow is faster, is reported as uncovered).
- **drift time** = extent / max_speed: the shortest time the flow can need to carry a state from
  one end of the manifold to the other (``inf`` for an exact continuum, JSON ``null``).
- **transverse stability**: at up to ``n_jacobians`` states, the eigenvalues of Q_N^T J Q_N,
  J = df/dh and Q_N an orthonormal basis of the local normal space. ``transverse_max_real`` is the
  90th percentile over states of the largest real part; the manifold is ``attracting`` when it is
  below zero. ``relaxation_time`` = 1 / |transverse_max_real|.
- **fixed points on it**: indices into ``fixed.fixed_points`` of the points closer than eps to a
  state of the component.

A candidate is reported only when its extent is at least ``min_extent`` (default 3 eps): the slow
set around an isolated node is a blob of radius about speed_tol / |lambda|, far smaller.

Units: everything is in f's state space and time units. With ``observe`` (a batched map from
states to observations, e.g. a GRU's readout), the extent, the largest speed (through the
readout's Jacobian, computed with ``torch.func.jvp``) and the drift time are also reported in
observation units (``*_observed``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from torch import Tensor

from gru_learn.dynamics.fixed_points import Box, FixedPointResult, check_box
from gru_learn.dynamics.integrate import advance
from gru_learn.dynamics.stability import jacobian

VectorField = Callable[[Tensor], Tensor]
F64 = torch.float64


@dataclass
class SlowManifold:
    """One connected manifold of slow states (see the module docstring for every definition)."""

    kind: str  # "ring", "line", "plane" or "manifold"
    dimension: int  # intrinsic dimension k
    closed: bool | None  # k = 1 only
    extent: float  # length (k = 1, gaps included) or geodesic diameter
    covered_fraction: float | None  # k = 1 only
    max_speed: float  # largest |P_T f| over its states
    mean_speed: float
    drift_time: float  # extent / max_speed (inf when max_speed = 0)
    attracting: bool
    transverse_max_real: float  # 90th percentile of max Re of the transverse spectrum
    relaxation_time: float  # 1 / |transverse_max_real|
    fixed_points: list[int]  # indices into the FixedPointResult
    points: Tensor  # (n, d) the thinned slow states; ordered along the curve for k = 1
    link_radius: float
    speed_tol: float
    extent_observed: float | None = None
    max_speed_observed: float | None = None
    drift_time_observed: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def center(self) -> Tensor:
        return self.points.mean(0)

    def to_json(self, max_points: int = 200) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        step = max(1, math.ceil(len(self.points) / max_points))
        return {
            "kind": self.kind,
            "dimension": self.dimension,
            "closed": self.closed,
            "extent": self.extent,
            "covered_fraction": self.covered_fraction,
            "max_speed": self.max_speed,
            "mean_speed": self.mean_speed,
            "drift_time": num(self.drift_time),
            "attracting": self.attracting,
            "transverse_max_real": num(self.transverse_max_real),
            "relaxation_time": num(self.relaxation_time),
            "fixed_points": list(self.fixed_points),
            "n_points": len(self.points),
            "center": self.center.tolist(),
            "points": self.points[::step].tolist(),
            "link_radius": self.link_radius,
            "speed_tol": self.speed_tol,
            "extent_observed": num(self.extent_observed),
            "max_speed_observed": num(self.max_speed_observed),
            "drift_time_observed": num(self.drift_time_observed),
            "notes": list(self.notes),
        }


@torch.no_grad()
def slow_states(
    f: VectorField, h0: Tensor, speed_tol: float, t_end: float, dt: float
) -> tuple[Tensor, Tensor]:
    """Every RK4 state visited from ``h0`` (n, d) up to ``t_end`` with ||f|| < speed_tol, and
    its speed (the first stage of each step is f at the state, so this costs nothing extra)."""
    h = h0
    kept, speeds = [], []
    for _ in range(max(1, int(round(t_end / dt)))):
        k1 = f(h)
        s = k1.norm(dim=-1)
        slow = s < speed_tol
        if bool(slow.any()):
            kept.append(h[slow])
            speeds.append(s[slow])
        k2 = f(h + 0.5 * dt * k1)
        k3 = f(h + 0.5 * dt * k2)
        k4 = f(h + dt * k3)
        h = h + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    if not kept:
        return h0.new_zeros(0, h0.shape[-1]), h0.new_zeros(0)
    return torch.cat(kept), torch.cat(speeds)


def thin(points: Tensor, radius: float, chunk: int = 512) -> Tensor:
    """Indices of a subset of ``points`` in which no two are closer than ``radius`` and every
    point lies within ``radius`` of one kept (greedy, in the given order)."""
    kept = torch.zeros(0, dtype=torch.long)
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        new = torch.ones(len(block), dtype=torch.bool)
        if len(kept):
            new = torch.cdist(block, points[kept]).amin(-1) >= radius
        cand = torch.nonzero(new).flatten()
        if len(cand) == 0:
            continue
        inner = (torch.cdist(block[cand], block[cand]) < radius).tolist()
        chosen: list[int] = []
        for a in range(len(cand)):
            if not any(inner[a][b] for b in chosen):
                chosen.append(a)
        kept = torch.cat([kept, start + cand[chosen]])
    return kept


def local_frames(points: Tensor, radius: float, max_neighbours: int = 32,
                 full: bool = False) -> tuple[Tensor, Tensor]:
    """Local principal directions: singular values (n, m) and right singular vectors
    (n, d, m), or (n, d, d) with ``full``, of each state's neighbours within ``radius`` (at most
    ``max_neighbours`` nearest, itself included), centred on their mean."""
    k = min(max_neighbours, len(points))
    dist = torch.cdist(points, points)
    near = dist.topk(k, largest=False)
    mask = (near.values < radius).to(points.dtype).unsqueeze(-1)  # (n, k, 1)
    nb = points[near.indices]
    mean = (nb * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True)
    _, s, vh = torch.linalg.svd((nb - mean) * mask, full_matrices=full)
    return s, vh.transpose(-1, -2)


def _graph(points: np.ndarray, radius: float) -> csr_matrix:
    diff = points[:, None, :] - points[None, :, :]
    dist = np.sqrt((diff * diff).sum(-1))
    mask = (dist < radius) & (dist > 0)
    i, j = np.nonzero(mask)
    return csr_matrix((dist[i, j], (i, j)), shape=(len(points), len(points)))


def _curve(points: np.ndarray, graph: csr_matrix, radius: float, max_gap: float
           ) -> tuple[bool, float, float, np.ndarray]:
    """(closed, extent, covered fraction, order of the states along the curve) of a 1-D
    component; see the module docstring."""
    d0 = dijkstra(graph, indices=0)
    a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
    da, pred = dijkstra(graph, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(da), da, -1)))
    d1 = float(da[b])
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    mid = min(path, key=lambda i: abs(da[i] - d1 / 2))
    cut = np.linalg.norm(points - points[mid], axis=-1) < 2 * radius
    order = np.argsort(da)
    if not cut[a] and not cut[b]:
        keep = np.nonzero(~cut)[0]
        sub = graph[keep][:, keep]
        ia, ib = int(np.searchsorted(keep, a)), int(np.searchsorted(keep, b))
        d2 = float(dijkstra(sub, indices=ia)[ib])
        if math.isfinite(d2):
            # closed: order by angle in the component's principal plane
            c = points - points.mean(0)
            _, _, vt = np.linalg.svd(c, full_matrices=False)
            xy = c @ vt[:2].T
            return True, d1 + d2, 1.0, np.argsort(np.arctan2(xy[:, 1], xy[:, 0]))
    gap = float(np.linalg.norm(points[a] - points[b]))
    if gap < max_gap * (d1 + gap):
        return True, d1 + gap, d1 / (d1 + gap), order
    return False, d1, 1.0, order


def find_continuous_attractors(
    f: VectorField,
    box: Box | list,
    *,
    starts: Tensor | None = None,
    fixed: FixedPointResult | None = None,
    speed_tol: float | None = None,
    observe: Callable[[Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
    n_starts: int = 512,
    t_end: float | None = None,
    t_relax: float | None = None,
    dt: float | None = None,
    link_radius: float | None = None,
    min_points: int = 8,
    min_extent: float | None = None,
    max_gap: float = 0.2,
    neighbours: int = 32,
    n_jacobians: int = 64,
    max_states: int = 3000,
    jac: Callable[[Tensor], Tensor] | None = None,
) -> list[SlowManifold]:
    """Manifolds of slow states of dh/dt = f(h) in ``box``, in any dimension d.

    ``f`` is batched, (n, d) -> (n, d). Seeds: ``starts`` (n, d) if given (e.g. trajectory
    states; up to ``n_starts`` of them are used) plus ``n_starts // 4`` uniform samples of the
    box (``n_starts`` when no ``starts``), integrated with RK4 up to ``t_end``; plus the fixed and
    slow points of ``fixed`` (pass it to get ``fixed_points`` indices). Defaults, from
    kappa = the median spectral norm of J at the seeds: ``dt`` = 0.5 / max ||J||,
    ``t_end`` = 100 / kappa, ``speed_tol`` = 5e-4 kappa x the mean box side (a state that
    slow needs 2000 / kappa time units to cross the box), ``link_radius`` =
    0.05 x the mean box side, ``min_extent`` = 3 ``link_radius``. ``jac`` (h (n, d) ->
    (n, d, d)) replaces the autograd Jacobian. Returns the manifolds, largest extent first;
    see the module docstring for every reported quantity.
    """
    box = check_box(box, len(box) if starts is None else starts.shape[-1])
    d = len(box)
    jac_fn = jac if jac is not None else (lambda x: jacobian(f, x).detach())
    lo = torch.tensor([b[0] for b in box], dtype=F64)
    hi = torch.tensor([b[1] for b in box], dtype=F64)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    seeds = []
    if starts is not None:
        s = starts.reshape(-1, d).to(F64)
        if len(s) > n_starts:
            s = s[torch.randperm(len(s), generator=gen)[:n_starts]]
        seeds.append(s)
    n_uniform = n_starts if starts is None else n_starts // 4
    seeds.append(lo + (hi - lo) * torch.rand(n_uniform, d, dtype=F64, generator=gen))
    h0 = torch.cat(seeds)

    probe = h0[torch.randperm(len(h0), generator=gen)[: min(64, len(h0))]]
    norms = torch.linalg.matrix_norm(jac_fn(probe), ord=2)
    kappa = float(norms.median().clamp_min(1e-12))
    dt = dt if dt is not None else 0.5 / float(norms.max().clamp_min(1e-12))
    t_end = t_end if t_end is not None else 100.0 / kappa
    speed_tol = speed_tol if speed_tol is not None else 5e-4 * kappa * float((hi - lo).mean())
    eps = link_radius if link_radius is not None else 0.05 * float((hi - lo).mean())
    min_extent = min_extent if min_extent is not None else 3 * eps

    states, speeds = slow_states(f, h0, speed_tol, t_end, dt)
    if fixed is not None:
        extra = [p.h for p in fixed.fixed_points] + [p.h for p in fixed.slow_points]
        extra_s = [p.residual for p in fixed.fixed_points] + [p.speed for p in fixed.slow_points]
        if extra:
            states = torch.cat([torch.stack(extra).to(F64), states])
            speeds = torch.cat([torch.tensor(extra_s, dtype=F64), speeds])
    margin = 1e-6 * (hi - lo)
    inside = ((states >= lo - margin) & (states <= hi + margin)).all(-1) & (speeds < speed_tol)
    states = states[inside]
    if len(states) < min_points:
        return []
    states = states[thin(states, eps / 4)]
    # relax transversally: 10 / kappa more time units remove what is left of the fast
    # (transverse) components and move a state along the manifold by at most 10 speed_tol / kappa
    states = advance(f, states, t_relax if t_relax is not None else 10.0 / kappa, dt)
    with torch.no_grad():
        ok = torch.isfinite(states).all(-1) & (f(states).norm(dim=-1) < speed_tol)
    states = states[ok]
    states = states[thin(states, eps / 4)]
    if len(states) > max_states:
        states = states[torch.randperm(len(states), generator=gen)[:max_states]]

    pts = states.numpy()
    graph = _graph(pts, eps)
    n_comp, labels = connected_components(graph, directed=False)
    found: list[SlowManifold] = []
    for c in range(n_comp):
        members = np.nonzero(labels == c)[0]
        if len(members) < min_points:
            continue
        manifold = _measure(f, states[members], graph[members][:, members], eps, speed_tol,
                            min_extent, max_gap, neighbours, n_jacobians, jac_fn, fixed,
                            observe, gen)
        if manifold is not None:
            found.append(manifold)
    found.sort(key=lambda m: -m.extent)
    return found


def _normal_frames(tangent: Tensor) -> Tensor:
    """Orthonormal bases (m, d, d - k) of the normal spaces, the orthogonal complements of the
    tangent frames ``tangent`` (m, d, k) that :func:`local_frames` found: the last d - k left
    singular vectors of each frame (no second neighbour search)."""
    u, _, _ = torch.linalg.svd(tangent, full_matrices=True)
    return u[:, :, tangent.shape[-1]:]


def _measure(f: VectorField, pts: Tensor, graph: csr_matrix, eps: float, speed_tol: float,
             min_extent: float, max_gap: float, neighbours: int, n_jacobians: int,
             jac_fn: Callable[[Tensor], Tensor], fixed: FixedPointResult | None,
             observe: Callable[[Tensor], Tensor] | None, gen: torch.Generator
             ) -> SlowManifold | None:
    d = pts.shape[-1]
    s, v = local_frames(pts, eps, neighbours)
    local_dim = (s >= 0.3 * s[:, :1]).sum(-1)
    k = int(local_dim.median())
    k = max(1, min(k, d - 1)) if d > 1 else 1
    notes: list[str] = []
    p_np = pts.numpy()
    if k == 1:
        closed, extent, covered, order = _curve(p_np, graph, eps, max_gap)
        pts, v = pts[order], v[order]
        kind = "ring" if closed else "line"
    else:
        dist = dijkstra(graph, indices=0)
        far = int(np.argmax(np.where(np.isfinite(dist), dist, -1)))
        dist = dijkstra(graph, indices=far)
        extent = float(dist[np.isfinite(dist)].max())
        closed, covered = None, None
        kind = "plane" if k == 2 else "manifold"
    if extent < min_extent:
        return None

    tangent = v[:, :, :k]  # (n, d, k)
    with torch.no_grad():
        fv = f(pts)
    ft = (tangent @ (tangent.transpose(-1, -2) @ fv.unsqueeze(-1))).squeeze(-1)
    tan_speed = ft.norm(dim=-1)
    max_speed = float(tan_speed.max())
    drift = extent / max_speed if max_speed > 0 else math.inf

    pick = torch.randperm(len(pts), generator=gen)[: min(n_jacobians, len(pts))]
    jac = jac_fn(pts[pick])
    normal = _normal_frames(tangent[pick])
    if normal.shape[-1] == 0:  # the manifold fills the space: no transverse direction
        t_max, attracting, relax = math.nan, False, math.nan
        notes.append("no transverse directions (dimension = d)")
    else:
        block = normal.transpose(-1, -2) @ jac @ normal
        max_re = torch.linalg.eigvals(block).real.amax(-1)
        t_max = float(torch.quantile(max_re, 0.9))
        attracting = t_max < 0
        relax = 1.0 / abs(t_max) if t_max != 0 else math.inf
        if not attracting:
            notes.append("not attracting transversally: a repelling or neutral set, or a track "
                         "through a wider slow region sampled too sparsely to connect")

    on: list[int] = []
    if fixed is not None:
        for i, p in enumerate(fixed.fixed_points):
            if float((pts - p.h.to(pts)).norm(dim=-1).min()) < eps:
                on.append(i)

    ext_obs = spd_obs = drift_obs = None
    if observe is not None:
        with torch.no_grad():
            y = observe(pts)
        if k == 1:
            seg = (y[1:] - y[:-1]).norm(dim=-1)
            jump = (pts[1:] - pts[:-1]).norm(dim=-1) < 2 * eps  # not across a gap
            ext_obs = float(seg[jump].sum())
            if closed:  # scale the uncovered gap by the same ratio as the covered part
                ext_obs = ext_obs / max(covered or 1.0, 1e-12)
        else:
            ext_obs = float(torch.cdist(y, y).max())
        _, dy = torch.func.jvp(observe, (pts,), (ft,))
        spd_obs = float(dy.norm(dim=-1).max())
        drift_obs = ext_obs / spd_obs if spd_obs > 0 else math.inf
    return SlowManifold(
        kind=kind, dimension=k, closed=closed, extent=extent, covered_fraction=covered,
        max_speed=max_speed, mean_speed=float(tan_speed.mean()), drift_time=drift,
        attracting=attracting, transverse_max_real=t_max, relaxation_time=relax,
        fixed_points=on, points=pts.clone(), link_radius=eps, speed_tol=speed_tol,
        extent_observed=ext_obs, max_speed_observed=spd_obs, drift_time_observed=drift_obs,
        notes=notes,
    )
