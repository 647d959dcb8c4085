"""Search 2-D GRU parameters for a requested fixed-point structure, every answer certified.
Long because it is one algorithm: proxy -> evolution -> certificate -> saddle-node pinch.

The parameters that shape the fixed points of an autonomous 2-D GRU are
theta = (U_h, U_r, b_h, b_r) (12 numbers; U_z = b_z = 0, so z = 1/2: z only scales the flow by
1 - z > 0 and moves no fixed point, though it can move a focus's stability). For a batch of N
parameter sets the vector field f(h) = (n(h) - h)/2 with r = sigma(U_r h + b_r) and

- ``reset="before"`` (the paper's Eq 4): n = tanh(U_h (r * h) + b_h)
- ``reset="after"`` (torch.nn.GRU):     n = tanh(b_h + r * (U_h h))

is evaluated on one G x G grid of [-1, 1]^2 for all N at once (every fixed point of a GRU lies
in (-1, 1)^2: |n| < 1). The **proxy** counts grid cells where both components of f change sign
and reads each such cell's kind from the finite-difference Jacobian there (det < 0: saddle;
det > 0 and trace < 0: sink; trace > 0: source). An evolution strategy ((mu + lambda),
Gaussian mutations) climbs the proxy score; every candidate that the proxy says meets the
request is **certified**: :func:`gru_learn.dynamics.find_fixed_points` (exhaustive grid +
Levenberg-Marquardt, float64) at two grid resolutions must find the same points, all
hyperbolic, with index sum (nodes + foci) - saddles = 1 (Poincare-Hopf on the invariant box),
and the counts must meet the request. Only certified candidates are returned.

A saddle-node bifurcation fixed point (the paper's footnote to Fig 3: the fusion of a sink and a
saddle is of the *first kind*, of a source and a saddle the *second kind*) is reached from a
certified structure holding such a pair by moving along a line theta + p v in parameter space
until the pair vanishes, located by bisection on whether Newton continuation of the pair still
converges; certification then needs the structure on one side (N points, index 1) and N - 2
points (index 1) on the other, and at the located value one eigenvalue ~0 with the other's sign
giving the kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from gru_learn.dynamics import classify, find_fixed_points, find_limit_cycles, jacobian
from gru_learn.dynamics.analyze import cycle_starts
from gru_learn.dynamics.fixed_points import FixedPointResult, levenberg_marquardt
from gru_learn.gru.cell import Reset
from gru_learn.gru.params import cell_from_theta, theta_dict, unpack

BOX: tuple[tuple[float, float], ...] = ((-1.0, 1.0), (-1.0, 1.0))
KIND_GROUPS = {"sinks": ("stable_node", "stable_focus"),
               "sources": ("unstable_node", "unstable_focus"), "saddles": ("saddle",)}


# --- parameters -> GRU ---------------------------------------------------------------------


def batched_field(theta: Tensor, h: Tensor, reset: Reset = "before") -> Tensor:
    """f for N parameter sets at once: theta (N, 12), h (N, M, 2) -> (N, M, 2)."""
    u_h, u_r, b_h, b_r = unpack(theta)
    r = torch.sigmoid(torch.einsum("nij,nmj->nmi", u_r, h) + b_r[:, None])
    if reset == "before":
        pre = torch.einsum("nij,nmj->nmi", u_h, r * h) + b_h[:, None]
    else:
        pre = b_h[:, None] + r * torch.einsum("nij,nmj->nmi", u_h, h)
    return 0.5 * (torch.tanh(pre) - h)


# --- the proxy -------------------------------------------------------------------------------
def proxy_counts(theta: Tensor, reset: Reset = "before", grid: int = 64) -> Tensor:
    """(N, 4) proxy counts of (sinks, saddles, sources, near misses) per parameter set.

    Each grid cell's winding number w = (1 / 2 pi) sum over its four edges of the change of
    arg f (wrapped to (-pi, pi]) is the sum of the indices of the roots inside (exact when arg f
    turns by less than pi along every edge): w = -1 is a saddle, w = +1 a node or focus, a
    sink or a source by the sign of the trace of the cell's finite-difference Jacobian.
    """
    n = theta.shape[0]
    x = torch.linspace(-1.0, 1.0, grid, dtype=theta.dtype)
    mesh = torch.stack(torch.meshgrid(x, x, indexing="ij"), -1).reshape(1, -1, 2)
    fv = batched_field(theta, mesh.expand(n, -1, -1), reset).reshape(n, grid, grid, 2)
    ang = torch.atan2(fv[..., 1], fv[..., 0])
    a00, a10, a11, a01 = ang[:, :-1, :-1], ang[:, 1:, :-1], ang[:, 1:, 1:], ang[:, :-1, 1:]

    def turn(a: Tensor, b: Tensor) -> Tensor:
        return torch.remainder(b - a + math.pi, 2 * math.pi) - math.pi

    winding = torch.round((turn(a00, a10) + turn(a10, a11) + turn(a11, a01) + turn(a01, a00))
                          / (2 * math.pi))
    c00, c10, c01, c11 = fv[:, :-1, :-1], fv[:, 1:, :-1], fv[:, :-1, 1:], fv[:, 1:, 1:]
    tr = ((c10 + c11 - c00 - c01)[..., 0] + (c01 + c11 - c00 - c10)[..., 1])
    sinks = ((winding == 1) & (tr < 0)).sum((1, 2))
    saddles = (winding == -1).sum((1, 2))
    sources = ((winding == 1) & (tr > 0)).sum((1, 2))
    corners = torch.stack([c00, c10, c01, c11])
    straddle = ((corners > 0).any(0) & (corners < 0).any(0)).all(-1)
    near = (straddle & (winding == 0)).sum((1, 2))  # nullclines close, no root: a pair nearby
    return torch.stack([sinks, saddles, sources, near], -1)


# --- the request ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TopologyRequest:
    """What to realise. ``None`` means "any"."""

    min_fixed_points: int | None = None
    sinks: int | None = None
    saddles: int | None = None
    sources: int | None = None
    stable_cycle: bool = False
    saddle_node: Literal[1, 2] | None = None

    def proxy_deficit(self, counts: Tensor) -> Tensor:
        """How far each proxy count row (sinks, saddles, sources) is from the request (0: met)."""
        counts = counts[:, :3]
        total = counts.sum(-1)
        deficit = torch.zeros(counts.shape[0], dtype=torch.float64)
        if self.min_fixed_points is not None:
            deficit += (self.min_fixed_points - total).clamp_min(0)
        for k, want in enumerate((self.sinks, self.saddles, self.sources)):
            if want is not None:
                deficit += (counts[:, k] - want).abs()
        if self.stable_cycle:
            # a source and no sink: in the invariant box almost every orbit must then end on a
            # cycle (Poincare-Bendixson); cycles beside sinks are possible but not sought
            deficit += (counts[:, 2] < 1).to(torch.float64) + counts[:, 0].to(torch.float64)
        if self.saddle_node == 1:
            deficit += ((counts[:, 0] < 1) | (counts[:, 1] < 1)).to(torch.float64)
        elif self.saddle_node == 2:
            deficit += ((counts[:, 2] < 1) | (counts[:, 1] < 1)).to(torch.float64)
        return deficit

    def met_by(self, counts: dict[str, int]) -> bool:
        """Whether certified kind counts meet the fixed-point part of the request."""
        if self.min_fixed_points is not None and counts["total"] < self.min_fixed_points:
            return False
        return all(want is None or counts[name] == want for name, want in
                   (("sinks", self.sinks), ("saddles", self.saddles), ("sources", self.sources)))

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- certification -------------------------------------------------------------------------
@dataclass
class Certificate:
    """The exhaustive search's verdict on one parameter set."""

    ok: bool  # all hyperbolic, index sum 1, both resolutions agree
    counts: dict[str, int]
    index_sum: int | None
    result: FixedPointResult
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts, "index_sum": self.index_sum,
                "reason": self.reason, "fixed_points": [
                    {"h": p.h.tolist(), "kind": p.kind,
                     "eigenvalues": [[float(e.real), float(e.imag)] for e in p.eigenvalues]}
                    for p in self.result.fixed_points]}


def kind_counts(result: FixedPointResult) -> dict[str, int]:
    kinds = [p.kind for p in result.fixed_points]
    out = {name: sum(k in group for k in kinds) for name, group in KIND_GROUPS.items()}
    out["non_hyperbolic"] = kinds.count("non_hyperbolic")
    out["total"] = len(kinds)
    return out


def certify(theta: Tensor, reset: Reset = "before", resolutions: tuple[int, ...] = (64, 128),
            dedup_tol: float | None = None) -> Certificate:
    """Exhaustive 2-D fixed-point search of the GRU ``theta`` at each grid resolution: certified
    when every resolution finds the same number of points, all hyperbolic, index sum 1."""
    cell = cell_from_theta(theta, reset)
    with torch.no_grad():
        results = [find_fixed_points(cell.vector_field, BOX, resolution=res,
                                     step=lambda h: cell(None, h), dedup_tol=dedup_tol)
                   for res in resolutions]
    first = results[0]
    counts = kind_counts(first)
    reason = ""
    if len({len(r.fixed_points) for r in results}) != 1:
        reason = ("grid resolutions disagree: " + ", ".join(
            f"{res}: {len(r.fixed_points)}" for res, r in zip(resolutions, results, strict=True)))
    elif counts["non_hyperbolic"]:
        reason = "a non-hyperbolic fixed point"
    elif first.index_sum != 1:
        reason = f"index sum {first.index_sum}, not 1"
    return Certificate(not reason, counts, first.index_sum, first, reason)


def has_stable_cycle(theta: Tensor, reset: Reset = "before",
                     cert: Certificate | None = None) -> float | None:
    """Period of a stable limit cycle of the GRU ``theta``, or None."""
    cell = cell_from_theta(theta, reset)
    cert = cert or certify(theta, reset)
    with torch.no_grad():
        cycles = find_limit_cycles(cell.vector_field, cycle_starts(BOX, cert.result), dt=0.2,
                                   t_transient=150.0, t_window=200.0)
    stable = [c.period for c in cycles if c.stable]
    return stable[0] if stable else None


# --- the search ----------------------------------------------------------------------------
@dataclass
class SearchResult:
    found: bool
    theta: Tensor | None
    certificate: Certificate | None
    request: TopologyRequest
    reset: str
    seed: int
    seconds: float
    generations: int
    evaluated: int  # parameter sets scored by the proxy
    certified_tries: int  # exhaustive certifications run
    best_proxy: dict[str, int] = field(default_factory=dict)
    saddle_node: dict[str, Any] | None = None
    cycle_period: float | None = None
    history: list[int] = field(default_factory=list)  # best certified count per generation
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "found": self.found, "reset": self.reset, "seed": self.seed,
            "target": self.request.to_json(),  # the JSON key predates the class's name
            "parameters": None if self.theta is None else theta_dict(self.theta),
            "certificate": None if self.certificate is None else self.certificate.to_json(),
            "saddle_node": self.saddle_node, "stable_cycle_period": self.cycle_period,
            "effort": {"seconds": self.seconds, "generations": self.generations,
                       "parameter_sets_scored": self.evaluated,
                       "exhaustive_certifications": self.certified_tries,
                       "restarts": self.restarts},
            "best_proxy": self.best_proxy,
        }


def search(request: TopologyRequest, *, reset: Reset = "before", seed: int = 0,
           population: int = 256, elite: int = 16, scale: float = 4.0, sigma: float = 0.3,
           grid: int = 48, time_budget: float = 120.0, max_generations: int = 100_000,
           restart_after: int = 150, bound: float | None = None,
           start: Tensor | None = None,
           progress: Callable[[int, float, int], None] | None = None) -> SearchResult:
    """Evolution strategy on the proxy; returns the first certified parameter set meeting
    ``request`` (for a saddle-node request, the located bifurcation point), or ``found=False``
    after ``time_budget`` seconds. Random starts are N(0, scale^2) per parameter; ``start``
    (12,) seeds the population around a known parameter set instead. Each generation keeps the
    ``elite`` best by proxy and adds N(0, sigma^2) mutations of them; after ``restart_after``
    generations without a smaller deficit the population is drawn afresh; ``bound`` clamps
    every parameter to [-bound, bound]. Candidates whose proxy meets the request are certified
    (at most 8 per generation), best first."""
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    if start is None:
        pop = scale * torch.randn(population, 12, dtype=torch.float64, generator=gen)
    else:
        pop = start + sigma * torch.randn(population, 12, dtype=torch.float64, generator=gen)
        pop[0] = start
    tried: set[bytes] = set()
    evaluated = tries = 0
    best_total = -1
    best_deficit, stale, restarts = math.inf, 0, 0
    history: list[int] = []
    best_proxy: dict[str, int] = {}
    for generation in range(1, max_generations + 1):
        counts = proxy_counts(pop, reset, grid)
        evaluated += len(pop)
        deficit = request.proxy_deficit(counts)
        # ties broken towards more fixed points, then towards near misses (a pair about to
        # appear): both bounded so they never outweigh one unit of deficit
        score = deficit - 0.02 * counts[:, :3].sum(-1) - 0.001 * counts[:, 3].clamp_max(200)
        order = torch.argsort(score)
        b = int(order[0])
        best_proxy = dict(zip(("sinks", "saddles", "sources", "near_misses"), counts[b].tolist(),
                              strict=True))
        for i in order.tolist():
            if float(deficit[i]) > 0 or time.perf_counter() - t0 > time_budget:
                break
            key = pop[i].numpy().tobytes()
            if key in tried:
                continue
            tried.add(key)
            tries += 1
            cert = certify(pop[i], reset)
            best_total = max(best_total, cert.counts["total"] if cert.ok else -1)
            if not (cert.ok and request.met_by(cert.counts)):
                continue
            out = _finish(request, pop[i].clone(), cert, reset, seed, t0, generation,
                          evaluated, tries, best_proxy, history, time_budget)
            if out is not None:
                out.restarts = restarts
                return out
            if tries % 8 == 0:
                break  # give the proxy a chance to move on
        history.append(best_total)
        if progress is not None:
            progress(generation, time.perf_counter() - t0, int(counts[:, :3].sum(-1).max()))
        if time.perf_counter() - t0 > time_budget:
            break
        if float(deficit[order[0]]) < best_deficit:
            best_deficit, stale = float(deficit[order[0]]), 0
        else:
            stale += 1
        if stale >= restart_after:  # stuck: a fresh random population
            pop = scale * torch.randn(population, 12, dtype=torch.float64, generator=gen)
            best_deficit, stale, restarts = math.inf, 0, restarts + 1
            continue
        parents = pop[order[:elite]]
        children = parents[torch.randint(elite, (population - elite,), generator=gen)]
        step = sigma * torch.randn(children.shape, dtype=torch.float64, generator=gen)
        pop = torch.cat([parents, children + step])
        if bound is not None:
            pop = pop.clamp(-bound, bound)
    return SearchResult(False, None, None, request, reset, seed, time.perf_counter() - t0,
                        generation, evaluated, tries, best_proxy, history=history,
                        restarts=restarts)


def _finish(request: TopologyRequest, theta: Tensor, cert: Certificate, reset: Reset,
            seed: int, t0: float, generation: int, evaluated: int, tries: int,
            best_proxy: dict[str, int],
            history: list[int], time_budget: float = math.inf) -> SearchResult | None:
    """Add the cycle / saddle-node stage to a certified candidate; None if that stage fails."""
    period = None
    if request.stable_cycle:
        period = has_stable_cycle(theta, reset, cert)
        if period is None:
            return None
    sn = None
    if request.saddle_node is not None:
        sn = pinch_saddle_node(theta, cert, request.saddle_node, reset,
                               deadline=t0 + time_budget)
        if sn is None:
            return None
        theta = torch.tensor(sn.pop("theta"), dtype=torch.float64)
        cert = certify(theta, reset, resolutions=(64,))  # at the bifurcation: not hyperbolic
    return SearchResult(True, theta, cert, request, reset, seed, time.perf_counter() - t0,
                        generation, evaluated, tries, best_proxy, sn, period, history)


# --- saddle-node points --------------------------------------------------------------------
def _newton(f: Callable[[Tensor], Tensor], h: Tensor) -> Tensor | None:
    h1, speed, _ = levenberg_marquardt(f, h[None])
    return h1[0] if float(speed[0]) < 1e-10 else None


def pinch_saddle_node(theta: Tensor, cert: Certificate, kind: Literal[1, 2],
                      reset: Reset = "before", max_shift: float = 2.0,
                      n_directions: int = 8, seed: int = 0, n_pairs: int = 2,
                      deadline: float = math.inf) -> dict[str, Any] | None:
    """Move the certified structure ``theta`` along theta + p v until its closest
    sink-saddle (kind 1) or source-saddle (kind 2) pair merges; certify both sides.

    Directions v: unit vectors in the bias coordinates (b_h, b_r) first, then random unit
    vectors. For each v, p grows until Newton continuation of the pair fails; bisection to
    1e-12 locates the value. Returns the parameters at the last value where the pair exists,
    the merged point, its eigenvalues, and both sides' certified counts; None if no direction
    closes one of the ``n_pairs`` closest pairs within ``max_shift`` (or at ``deadline``, a
    time.perf_counter() value).
    """
    group = KIND_GROUPS["sinks" if kind == 1 else "sources"]
    pts = cert.result.fixed_points
    pairs = sorted(((float((a.h - s.h).norm()), a.h, s.h) for a in pts if a.kind in group
                    for s in pts if s.kind == "saddle"), key=lambda x: x[0])
    if not pairs:
        return None
    gen = torch.Generator().manual_seed(seed)
    dirs = [torch.eye(12, dtype=torch.float64)[i] * sgn for i in (8, 9, 10, 11)
            for sgn in (1.0, -1.0)]
    dirs += [v / v.norm() for v in torch.randn(n_directions, 12, dtype=torch.float64,
                                               generator=gen)]
    n0 = cert.counts["total"]
    for _, a0, s0 in pairs[:n_pairs]:
        for v in dirs:
            if time.perf_counter() > deadline:
                return None
            found = _pinch_along(theta, v, a0, s0, reset, max_shift)
            if found is None:
                continue
            p_in, p_out, h_merge = found
            side = min(0.02, p_in)  # both sides of the value, where the grid resolves the pair
            before = certify(theta + (p_in - side) * v, reset, resolutions=(64,))
            after = certify(theta + (p_out + 0.02) * v, reset, resolutions=(64,))
            if not (before.ok and after.ok and before.counts["total"] == n0
                    and after.counts["total"] == n0 - 2):
                continue
            at = theta + p_in * v
            cell = cell_from_theta(at, reset)
            jac = jacobian(cell.vector_field, h_merge[None])[0].detach()
            eig = torch.linalg.eigvals(jac)
            small = int(eig.abs().argmin())
            other = float(eig[1 - small].real)
            if (other < 0) != (kind == 1):
                continue
            return {"theta": at.tolist(), "direction": v.tolist(), "shift": p_in,
                    "bracket": p_out - p_in, "state": h_merge.tolist(),
                    "eigenvalues": [[float(e.real), float(e.imag)] for e in eig],
                    "kind": kind, "classified_as": classify(jac).kind,
                    "counts_before": before.counts, "counts_after": after.counts}
    return None


def _pinch_along(theta: Tensor, v: Tensor, a0: Tensor, s0: Tensor, reset: Reset,
                 max_shift: float, step: float = 0.1) -> tuple[float, float, Tensor] | None:
    """(p_in, p_out, merge state): the pair continued from (a0, s0) exists at p_in, not at
    p_out (|p_out - p_in| < 1e-12), converging onto each other; None if it never vanishes."""
    a, s, p = a0, s0, 0.0
    while p < max_shift:
        q = p + step
        f = cell_from_theta(theta + q * v, reset).vector_field
        a1, s1 = _newton(f, a), _newton(f, s)
        if a1 is None or s1 is None or float((a1 - s1).norm()) < 1e-9:
            break
        if float((a1 - a).norm()) > 0.2 or float((s1 - s).norm()) > 0.2:
            return None  # jumped to another branch
        a, s, p = a1, s1, q
    else:
        return None
    if float((a - s).norm()) > 0.5:
        return None
    lo, hi = p, p + step
    while hi - lo > 1e-12:
        m = 0.5 * (lo + hi)
        f = cell_from_theta(theta + m * v, reset).vector_field
        a1, s1 = _newton(f, a), _newton(f, s)
        if a1 is not None and s1 is not None and float((a1 - s1).norm()) > 1e-9:
            lo, a, s = m, a1, s1
        else:
            hi = m
    if float((a - s).norm()) > 1e-3:
        return None  # the pair did not merge: something else vanished
    return lo, hi, 0.5 * (a + s)
