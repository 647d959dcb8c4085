"""Continuous attractors of dh/dt = f(h), found (never declared) from the slow set.

Long because sampling the slow set, its graph and the measures of each component (frames,
drift, transverse stability) are one algorithm sharing the same thinned samples.

The **slow set** is the attracting invariant set where the flow along it is slow. Many initial
states (uniform samples of the box and/or given ``starts``, e.g. trajectory states) are run
with RK4 for ``t_relax`` (their fast, transverse motion decays: they reach the attracting
invariant set, whatever the speed along it) and traced for ``t_trace`` more; the traced states
slower than ``speed_tol``, a time-scale separation (a slow state needs ``separation`` transverse
relaxation times to move a quarter of the box), plus the fixed points of a
:class:`FixedPointResult`, are thinned (no two closer than ``link_radius / 4``) and joined into
a neighbourhood graph (edges between states closer than ``link_radius`` = eps). Where a thin
sampling leaves gaps between components' ends, the flow is run from the segments between them
(``_bridges``): a slow stretch fills in, a fast one stays a gap, so a ring broken by a fast
region comes out as arcs. Given ``curve_starts`` (ordered states on a closed curve, e.g. the
image of a target's ring in the network's state space), the flow's image of that curve is read
as one curve (``_curve_image``): its order comes from the starts. Each connected component of
at least ``min_points`` states is a candidate manifold, measured as follows (all in f's state
space and time units, any dimension d):

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
- **along** (k = 1): the curve's spline, the speed profile along it, ``phi_inf``, the zeros of
  the flow along it (stable / unstable along), their basins and the memory capacity, normal
  hyperbolicity and the kinds along and across of the fixed points on it
  (:mod:`gru_learn.dynamics.manifold_curve`).

A candidate is reported only when its extent is at least ``min_extent`` (default 3 eps): the slow
set around an isolated node is a blob of radius about speed_tol / |lambda|, far smaller.

Units: everything is in f's state space and time units. With ``observe`` (a batched map from
states to observations, e.g. a GRU's readout), the extent, the largest speed (through the
readout's Jacobian, by a central difference) and the drift time are also reported in
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
from gru_learn.dynamics.integrate import advance, rk4_step
from gru_learn.dynamics.manifold_curve import (
    CurveFit,
    along_flow,
    basins,
    capacity_bits,
    fit_curve,
    normal_hyperbolicity,
    point_kinds,
    zeros_along,
)
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
    curve: CurveFit | None = None  # k = 1: the spline through the states (manifold_curve)
    along: dict[str, Any] | None = None  # k = 1: the flow along the curve (to_json's keys)

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
            **({"along": self.along} if self.along is not None else {}),
        }


@torch.no_grad()
def trace_states(f: VectorField, h0: Tensor, t_relax: float, t_trace: float, dt: float,
                 samples: int = 40) -> tuple[Tensor, Tensor]:
    """RK4 from ``h0`` (n, d): the states after ``t_relax`` (their fast, transverse motion has
    decayed: they lie on the attracting invariant set) sampled ``samples`` times over the next
    ``t_trace``, with their speeds ||f||."""
    h = advance(f, h0, t_relax, dt) if t_relax > 0 else h0
    n_steps = max(1, int(round(t_trace / dt)))
    every = max(1, n_steps // samples)
    kept, speeds = [], []
    for i in range(n_steps + 1):
        if i % every == 0:
            k1 = f(h)
            ok = torch.isfinite(h).all(-1)
            kept.append(h[ok])
            speeds.append(k1.norm(dim=-1)[ok])
        if i < n_steps:
            h = rk4_step(f, h, dt)
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
    mask = (near.values <= radius).to(points.dtype).unsqueeze(-1)  # (n, k, 1); itself always
    nb = points[near.indices]
    mean = (nb * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1.0)
    _, s, vh = torch.linalg.svd((nb - mean) * mask, full_matrices=full)
    return s, vh.transpose(-1, -2)


GRAPH_BLOCK = 1 << 22  # distances held at once while building a graph (32 MiB of float64)


def _graph(points: np.ndarray, radius: float) -> csr_matrix:
    """The sparse graph joining distinct states closer than ``radius``, weighted by distance;
    built a block of rows at a time, so its memory follows the edges, not n^2 x d (a dense
    n x n x d difference of 8000 states in 64 dimensions is 33 GB)."""
    x = torch.as_tensor(points)
    n = len(x)
    rows = max(1, GRAPH_BLOCK // max(n, 1))
    ii, jj, ww = [], [], []
    for start in range(0, n, rows):
        dist = torch.cdist(x[start:start + rows], x, compute_mode="donot_use_mm_for_euclid_dist")
        i, j = torch.nonzero((dist < radius) & (dist > 0), as_tuple=True)
        ii.append(i + start)
        jj.append(j)
        ww.append(dist[i, j])
    i, j, w = (torch.cat(v).numpy() if v else np.zeros(0) for v in (ii, jj, ww))
    return csr_matrix((w, (i, j)), shape=(n, n))


def _curve(points: np.ndarray, graph: csr_matrix, radius: float, max_gap: float
           ) -> tuple[bool, float, float, np.ndarray]:
    """(closed, extent, covered fraction, order of the states along the curve) of a 1-D
    component; see the module docstring. A closed curve is ordered along the loop of its two
    geodesics a -> b (each state at the nearest state of the loop), in any dimension."""
    d0 = dijkstra(graph, indices=0)
    a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
    da, pred = dijkstra(graph, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(da), da, -1)))
    d1 = float(da[b])
    path = _path(pred, a, b)
    mid = min(path, key=lambda i: abs(da[i] - d1 / 2))
    cut = np.linalg.norm(points - points[mid], axis=-1) < 2 * radius
    order = np.argsort(da)
    if not cut[a] and not cut[b]:
        keep = np.nonzero(~cut)[0]
        sub = graph[keep][:, keep]
        ia, ib = int(np.searchsorted(keep, a)), int(np.searchsorted(keep, b))
        d_sub, pred2 = dijkstra(sub, indices=ib, return_predecessors=True)
        d2 = float(d_sub[ia])
        if math.isfinite(d2):
            back = [int(keep[i]) for i in _path(pred2, ib, ia)]  # a -> b the other way
            loop = path[::-1] + back[::-1][1:-1]  # a -> b, then back to a
            return True, d1 + d2, 1.0, np.argsort(_loop_parameter(points, points[loop]))
    gap = float(np.linalg.norm(points[a] - points[b]))
    if gap < max_gap * (d1 + gap):
        return True, d1 + gap, d1 / (d1 + gap), order
    return False, d1, 1.0, order


def _loop_parameter(points: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """Each state's position along a closed polyline ``loop`` (m, d): the arc length at its
    nearest vertex plus its projection on the polyline's direction there."""
    seg = np.linalg.norm(np.roll(loop, -1, axis=0) - loop, axis=-1)
    arc = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
    u = np.roll(loop, -1, axis=0) - np.roll(loop, 1, axis=0)
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-300)
    near = torch.cdist(torch.as_tensor(points), torch.as_tensor(loop),
                       compute_mode="donot_use_mm_for_euclid_dist").argmin(-1).numpy()
    return arc[near] + ((points - loop[near]) * u[near]).sum(-1)


def _path(pred: np.ndarray, a: int, b: int) -> list[int]:
    """The shortest path b -> ... -> a from dijkstra's predecessors (from a)."""
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    return path


def _ends(points: np.ndarray, graph: csr_matrix, labels: np.ndarray) -> list[tuple[int, int]]:
    """(component, state) of the two geodesic ends of every component."""
    out = []
    for c in np.unique(labels):
        members = np.nonzero(labels == c)[0]
        sub = graph[members][:, members]
        d0 = dijkstra(sub, indices=0)
        a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
        da = dijkstra(sub, indices=a)
        b = int(np.argmax(np.where(np.isfinite(da), da, -1)))
        out += [(int(c), int(members[a])), (int(c), int(members[b]))]
    return out


def _bridges(points: np.ndarray, graph: csr_matrix, labels: np.ndarray, reach: float,
             step: float) -> np.ndarray:
    """States spaced ``step`` on the segments between component ends closer than ``reach``
    (and between the two ends of one component): where a thin sampling left a gap, running
    the flow from them fills it in if the manifold is slow there."""
    ends = _ends(points, graph, labels)
    seeds = []
    for i, (ci, a) in enumerate(ends):
        for cj, b in ends[i + 1:]:
            gap = float(np.linalg.norm(points[a] - points[b]))
            if a == b or gap > reach or (ci == cj and gap < 2 * step):
                continue
            k = int(math.ceil(gap / step))
            w = np.linspace(0, 1, k + 1)[1:-1, None]
            seeds.append(points[a] + w * (points[b] - points[a]))
    return np.concatenate(seeds) if seeds else np.zeros((0, points.shape[1]))


def find_continuous_attractors(
    f: VectorField,
    box: Box | list,
    *,
    starts: Tensor | None = None,
    fixed: FixedPointResult | None = None,
    cycles: list[Any] | None = None,
    speed_tol: float | None = None,
    observe: Callable[[Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
    n_starts: int = 512,
    t_relax: float | None = None,
    t_trace: float | None = None,
    dt: float | None = None,
    link_radius: float | None = None,
    separation: float = 10.0,
    min_points: int = 8,
    min_extent: float | None = None,
    max_gap: float = 0.2,
    neighbours: int = 32,
    n_jacobians: int = 64,
    max_states: int = 3000,
    rounds: int = 3,
    jac: Callable[[Tensor], Tensor] | None = None,
    curve_starts: Tensor | None = None,
    closed_curve: bool = True,
    curve_time: float | None = None,
    curve_cut: bool = True,
) -> list[SlowManifold]:
    """Slow attracting manifolds of dh/dt = f(h) in ``box``, in any dimension d.

    ``f`` is batched, (n, d) -> (n, d). Seeds: ``starts`` (n, d) if given (e.g. trajectory
    states, the image of the target's attractor; up to ``n_starts`` of them) plus
    ``n_starts // 4`` uniform samples of the box (``n_starts`` when no ``starts``). Each is
    run with RK4 (step ``dt``) for ``t_relax`` and traced for ``t_trace`` more; the traced
    states slower than ``speed_tol``, with the fixed points of ``fixed``, are the slow set.
    Components whose ends lie within a quarter of the box's mean side are bridged by running
    the flow from the segment between them (up to ``rounds`` times), so a ring sampled thinly
    still comes out whole where it is slow; a fast stretch stays a gap. ``curve_starts``
    (ordered states on a curve, closed with ``closed_curve``): their image after
    ``curve_time`` (default ``t_relax``) is read as one curve, cut where it is fast
    (``curve_cut``; without, only where the image stays torn) -- the analysis passes the image
    of the target's ring, run for one training horizon, and judges it by its memory.

    Defaults, from kappa = the median spectral norm of J at the seeds and Lambda = the median
    transverse contraction rate of the relaxed states: ``dt`` = 0.5 / max ||J||, ``t_relax`` =
    max(20 / kappa, 10 / Lambda), ``t_trace`` = max(20 / kappa, 5 / Lambda) (each at most 400
    steps; Lambda at least 0.01 kappa),
    ``speed_tol`` = Lambda x (a quarter of the mean box side) / ``separation``: a slow state
    needs ``separation`` times the transverse relaxation time to move a quarter of the box
    along the manifold (time scales separated, as in Fenichel's slow manifolds);
    ``link_radius`` = 0.05 x the mean box side, ``min_extent`` = 3 ``link_radius``. States
    within ``link_radius`` of a stable cycle of ``cycles`` whose period is below
    separation^2 / Lambda (a fast oscillation, such as FitzHugh-Nagumo's, whose slow branches
    are not a memory) are left out. ``jac`` (h (n, d) -> (n, d, d)) replaces the autograd
    Jacobian. Returns the manifolds, largest extent first; see the module docstring.
    """
    box = check_box(box, len(box) if starts is None else starts.shape[-1])
    d = len(box)
    jac_fn = jac if jac is not None else (lambda x: jacobian(f, x).detach())
    lo = torch.tensor([b[0] for b in box], dtype=F64)
    hi = torch.tensor([b[1] for b in box], dtype=F64)
    side = float((hi - lo).mean())
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    seeds = []
    if starts is not None:
        s = starts.reshape(-1, d).to(F64)
        s = s[torch.isfinite(s).all(-1)]
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
    eps = link_radius if link_radius is not None else 0.05 * side
    min_extent = min_extent if min_extent is not None else 3 * eps
    cap = 400 * dt
    # a saturated network: flat almost everywhere (kappa ~ 0), steep at its switching
    # surfaces (a small dt), so 20 / kappa could take billions of steps; capped like the rest
    first = min(20.0 / kappa, cap)
    relaxed = advance(f, h0, first, dt)
    relaxed = relaxed[torch.isfinite(relaxed).all(-1)]
    rate = _transverse_rate(relaxed, eps, neighbours, n_jacobians, jac_fn, gen)
    if not math.isfinite(rate) or rate <= 0:
        rate = 0.05 * kappa
    # neutral directions (a trained network's saturated units) make the median rate ~0; the
    # floor keeps the search finite: relaxation over at most 1000 / kappa time units
    rate = max(rate, 0.01 * kappa)
    relax = t_relax if t_relax is not None else min(max(first, 10.0 / rate), cap)
    trace = t_trace if t_trace is not None else min(max(first, 5.0 / rate), cap)
    speed_tol = speed_tol if speed_tol is not None else rate * 0.25 * side / separation
    fast_cycles = [c.orbit.to(F64) for c in (cycles or [])
                   if getattr(c, "stable", False) and c.period < separation ** 2 / rate]

    def slow_set(x0: Tensor, relaxed_for: float = 0.0) -> Tensor:
        states, speeds = trace_states(f, x0, max(0.0, relax - relaxed_for), trace, dt)
        inside = ((states >= lo - 1e-6 * (hi - lo)) & (states <= hi + 1e-6 * (hi - lo))).all(-1)
        keep = inside & (speeds < speed_tol)
        for orbit in fast_cycles:
            keep &= torch.cdist(states, orbit).amin(-1) >= eps
        states = states[keep]
        return states[thin(states, eps / 4)] if len(states) else states

    pieces: list[SlowManifold] = []
    if curve_starts is not None:
        for part, is_closed in _curve_image(
                f, curve_starts.to(F64), closed_curve,
                relax if curve_time is None else curve_time, dt, eps,
                speed_tol if curve_cut else math.inf, lo, hi):
            if any(float((torch.cdist(part, orbit).amin(-1) < eps).double().mean()) > 0.9
                   for orbit in fast_cycles):
                continue  # the image has settled on a fast oscillation: a cycle, not a memory
            m = _measure(f, part, None, eps, speed_tol, min_extent, max_gap, neighbours,
                         n_jacobians, jac_fn, fixed, observe, gen,
                         lambda x: advance(f, x, min(5.0 / rate, first), dt), ordered=is_closed)
            if m is not None:
                pieces.append(m)
        if pieces:
            taken = torch.cat([m.points for m in pieces])
    states = slow_set(relaxed, first)
    if pieces:  # the states the curve's image already explains are left out of the rest
        states = states[torch.cdist(states, taken).amin(-1) >= eps] if len(states) else states
    if fixed is not None:
        extra = [p.h.to(F64) for p in fixed.fixed_points if p.residual < speed_tol]
        if extra:
            states = torch.cat([torch.stack(extra), states])
    if len(states) < min_points:
        return sorted(pieces, key=lambda m: -m.extent)
    for _ in range(rounds):
        states = states[thin(states, eps / 4)]
        pts = states.numpy()
        graph = _graph(pts, eps)
        _, labels = connected_components(graph, directed=False)
        bridge = _bridges(pts, graph, labels, 0.25 * side, eps / 2)
        if not len(bridge):
            break
        grown = slow_set(torch.as_tensor(bridge, dtype=F64))
        if not len(grown):
            break
        states = torch.cat([states, grown])
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
                            observe, gen, lambda x: advance(f, x, min(5.0 / rate, first), dt))
        if manifold is not None:
            found.append(manifold)
    found = pieces + found
    found.sort(key=lambda m: -m.extent)
    return found


def _curve_image(f: VectorField, starts: Tensor, closed: bool, t: float, dt: float,
                 eps: float, speed_tol: float, lo: Tensor, hi: Tensor, rounds: int = 12,
                 split: int = 4) -> list[tuple[Tensor, bool]]:
    """The image under the flow (time ``t``) of a curve of ordered states ``starts``: a closed
    curve's image is a closed curve, whatever the flow does, so its order comes from the
    starts. Where two neighbouring images are farther apart than eps / 2, ``split`` states
    evenly between their starts are run too (up to ``rounds`` times: across a separatrix, where
    neighbouring starts part for different nodes, the refinement follows the saddle's unstable
    manifold). The image is then cut where it is fast (speed
    along it >= ``speed_tol``), leaves the box or still has a gap wider than eps: the slow
    stretches, each (states in order, closed), a closed one only when nothing was cut."""
    x0 = starts
    x = advance(f, x0, t, dt)
    for _ in range(rounds):
        nxt = torch.roll(x, -1, 0)
        gap = (nxt - x).norm(dim=-1)
        if not closed:
            gap[-1] = 0.0
        wide = torch.nonzero(gap > eps / 2).flatten()
        if not len(wide):
            break
        w = torch.arange(1, split + 1, dtype=F64) / (split + 1)  # (split,)
        a, b = x0[wide], torch.roll(x0, -1, 0)[wide]
        mids = (a[:, None] + w[None, :, None] * (b - a)[:, None]).reshape(-1, x0.shape[-1])
        new = advance(f, mids, t, dt)
        pos = torch.cat([torch.arange(len(x0), dtype=F64),
                         (wide.to(F64)[:, None] + w[None]).reshape(-1)])
        order = torch.argsort(pos)
        x0, x = torch.cat([x0, mids])[order], torch.cat([x, new])[order]
    nxt = torch.roll(x, -1, 0)
    prv = torch.roll(x, 1, 0)
    tangent = nxt - prv
    tangent = tangent / tangent.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    with torch.no_grad():
        along = (f(x) * tangent).sum(-1).abs()
    ok = (along < speed_tol) & torch.isfinite(x).all(-1) & \
        ((x >= lo - 1e-6 * (hi - lo)) & (x <= hi + 1e-6 * (hi - lo))).all(-1)
    link = (nxt - x).norm(dim=-1) <= eps  # state i joined to i + 1
    if not closed:
        link[-1] = False
    link = link & ok & torch.roll(ok, -1, 0)
    if bool(link.all()):
        return [(x, True)]
    # runs of joined states; on a closed curve start after a break
    n = len(x)
    first = int(torch.nonzero(~link).flatten()[0]) + 1 if closed else 0
    runs, cur = [], []
    for j in range(n):
        i = (first + j) % n
        if not ok[i]:
            if cur:
                runs.append(cur)
            cur = []
            continue
        cur.append(i)
        if not link[i]:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [(x[r], False) for r in runs if len(r) >= 2]


def _transverse_rate(points: Tensor, eps: float, neighbours: int, n: int,
                     jac_fn: Callable[[Tensor], Tensor], gen: torch.Generator) -> float:
    """The median over up to ``n`` of ``points`` of the transverse contraction rate -max Re of
    the spectrum of N^T J N, N the normal space of the local principal directions (those with
    singular value >= 0.3 of the largest) of the point cloud; nan when none contracts."""
    if len(points) < 4:
        return math.nan
    pick = torch.randperm(len(points), generator=gen)[: min(n, len(points))]
    sv, v = local_frames(points, eps, neighbours)
    sv, v = sv[pick], v[pick]
    k = (sv >= 0.3 * sv[:, :1]).sum(-1).clamp(1, points.shape[-1] - 1)
    k_med = int(k.median())
    if points.shape[-1] <= k_med:
        return math.nan
    normal = _normal_frames(v[:, :, :k_med])
    block = normal.transpose(-1, -2) @ jac_fn(points[pick]) @ normal
    rate = -torch.linalg.eigvals(block).real.amax(-1)
    rate = rate[rate > 0]
    return float(rate.median()) if len(rate) else math.nan


def _normal_frames(tangent: Tensor) -> Tensor:
    """Orthonormal bases (m, d, d - k) of the normal spaces, the orthogonal complements of the
    tangent frames ``tangent`` (m, d, k) that :func:`local_frames` found: the last d - k left
    singular vectors of each frame (no second neighbour search)."""
    u, _, _ = torch.linalg.svd(tangent, full_matrices=True)
    return u[:, :, tangent.shape[-1]:]


def _measure(f: VectorField, pts: Tensor, graph: csr_matrix, eps: float, speed_tol: float,
             min_extent: float, max_gap: float, neighbours: int, n_jacobians: int,
             jac_fn: Callable[[Tensor], Tensor], fixed: FixedPointResult | None,
             observe: Callable[[Tensor], Tensor] | None, gen: torch.Generator,
             settle: Callable[[Tensor], Tensor] | None = None,
             ordered: bool | None = None) -> SlowManifold | None:
    """The measures of one component (module docstring). ``ordered`` (the component is a
    curve whose states are already in order, closed or not): its tangents are the chords of
    the neighbouring states instead of local principal directions."""
    d = pts.shape[-1]
    notes: list[str] = []
    if ordered is not None:
        k, closed, covered = 1, ordered, 1.0
        nxt = torch.roll(pts, -1, 0) if closed else torch.cat([pts[1:], pts[-1:]])
        prv = torch.roll(pts, 1, 0) if closed else torch.cat([pts[:1], pts[:-1]])
        t = nxt - prv
        v = (t / t.norm(dim=-1, keepdim=True).clamp_min(1e-300)).unsqueeze(-1)
        seg = (nxt - pts).norm(dim=-1)
        extent = float(seg.sum() if closed else seg[:-1].sum())
        kind = "ring" if closed else "line"
    else:
        s, v = local_frames(pts, eps, neighbours)
        local_dim = (s >= 0.3 * s[:, :1]).sum(-1)
        k = int(local_dim.median())
        k = max(1, min(k, d - 1)) if d > 1 else 1
        if k == 1:
            closed, extent, covered, order = _curve(pts.numpy(), graph, eps, max_gap)
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
        if not attracting and ordered is not None:
            attracting = True  # its states came from the curve's starts: it attracts them
            notes.append("the image of the given curve: attracting for the states it came "
                         "from, though its transverse spectrum has a real part >= 0 "
                         f"({t_max:.2g}, 90th percentile): not normally hyperbolic")
        elif not attracting:
            notes.append("not attracting transversally: a repelling or neutral set, or a track "
                         "through a wider slow region sampled too sparsely to connect")

    on: list[int] = []
    if fixed is not None:
        for i, p in enumerate(fixed.fixed_points):
            if float((pts - p.h.to(pts)).norm(dim=-1).min()) < eps:
                on.append(i)

    along = curve = None
    if k == 1:
        curve = fit_curve(pts, bool(closed), knots=max(8, min(48, int(extent / (1.5 * eps)))))
        if curve is not None:
            along = _along(f, curve, jac_fn, fixed, on, speed_tol, n_jacobians, settle)
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
        # central difference: exact for a linear readout, O(delta^2) otherwise (torch.func.jvp
        # costs ~1.4 s of imports on its first call)
        delta = 1e-3 / float(ft.norm(dim=-1).max().clamp_min(1e-300))
        with torch.no_grad():
            dy = (observe(pts + delta * ft) - observe(pts - delta * ft)) / (2 * delta)
        spd_obs = float(dy.norm(dim=-1).max())
        drift_obs = ext_obs / spd_obs if spd_obs > 0 else math.inf
    return SlowManifold(
        kind=kind, dimension=k, closed=closed, extent=extent, covered_fraction=covered,
        max_speed=max_speed, mean_speed=float(tan_speed.mean()), drift_time=drift,
        attracting=attracting, transverse_max_real=t_max, relaxation_time=relax,
        fixed_points=on, points=pts.clone(), link_radius=eps, speed_tol=speed_tol,
        extent_observed=ext_obs, max_speed_observed=spd_obs, drift_time_observed=drift_obs,
        notes=notes, curve=curve, along=along,
    )


def _along(f: VectorField, curve: CurveFit, jac_fn: Callable[[Tensor], Tensor],
           fixed: FixedPointResult | None, on: list[int], speed_tol: float, n_jacobians: int,
           settle: Callable[[Tensor], Tensor] | None) -> dict[str, Any]:
    """The flow along a 1-D manifold's curve (see ``manifold_curve``): speed profile, phi_inf,
    zeros with their kinds, basins and capacity, normal hyperbolicity, and the kinds along and
    across of the fixed points on it."""
    s, _, v = along_flow(curve, f, settle=settle)
    still = 1e-4 * speed_tol
    zeros = zeros_along(s, v, curve.closed, still)
    frac = None if float(v.abs().max()) <= still else basins(zeros, curve.closed)
    kinds = []
    if fixed is not None:
        for i in on:
            kinds.append({"index": i, **point_kinds(fixed.fixed_points[i].h.to(F64), curve,
                                                     jac_fn)})
    return {
        "length": curve.length,
        "phi_inf": float(v.abs().max()),
        "speed_profile": {"s": s[::2].tolist(), "speed": v[::2].tolist()},
        "zeros": zeros,
        "stable_along": sum(z["kind_along"] == "stable" for z in zeros),
        "unstable_along": sum(z["kind_along"] == "unstable" for z in zeros),
        "basins": frac,
        "capacity_bits": capacity_bits(frac),
        "fixed_points": kinds,
        "normal_hyperbolicity": normal_hyperbolicity(curve, jac_fn, n_jacobians),
    }
