"""Bifurcations of a one-parameter family dh/dt = f_p(h), located with error estimates.

- saddle-node: the number of fixed points changes between neighbouring parameter values;
  bisection on that count brackets the value.
- Andronov-Hopf: a fixed point, continued by Newton from one value to the next, has a complex
  pair whose real part changes sign; Illinois (regula falsi) on max Re lambda(p) locates it.
- homoclinic: in 2-D, a saddle's unstable branch returns to the saddle. At its closest return,
  the component along the unstable eigenvector, c(p), says on which side of the stable
  manifold the branch passed; c changes sign at the homoclinic value, located by Illinois.
  The error estimate adds the bracket width and the change of the value when the RK4 step halves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gru_learn.dynamics.fixed_points import (
    FixedPointResult,
    find_fixed_points,
    levenberg_marquardt,
)
from gru_learn.dynamics.integrate import integrate
from gru_learn.dynamics.stability import jacobian

VectorField = Callable[[Tensor], Tensor]
Family = Callable[[float], VectorField]
BIFURCATION_KINDS: tuple[str, ...] = ("saddle_node", "hopf", "homoclinic")


@dataclass
class Bifurcation:
    kind: str
    parameter: str
    value: float
    error: float
    state: list[float] | None = None  # the bifurcating fixed point / saddle, when known

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "parameter": self.parameter, "value": self.value,
                "error": self.error, "state": self.state}


@dataclass
class BifurcationResult:
    parameter: str
    values: list[float]
    fixed_points: list[FixedPointResult]  # one per value: the continuation
    bifurcations: list[Bifurcation]
    cycles: list[list[Any]] = field(default_factory=list)  # LimitCycles per value, if searched

    def to_json(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "bifurcations": [b.to_json() for b in self.bifurcations],
            "branches": [
                {"value": v, "fixed_points": [{"h": p.h.tolist(), "kind": p.kind,
                                               "eigenvalues": [[float(e.real), float(e.imag)]
                                                               for e in p.eigenvalues]}
                                              for p in r.fixed_points],
                 "limit_cycles": [c.to_json() for c in cyc] if cyc is not None else None}
                for v, r, cyc in zip(self.values, self.fixed_points,
                                     self.cycles or [None] * len(self.values), strict=False)
            ],
        }


def illinois(g: Callable[[float], float], a: float, b: float, ga: float, gb: float,
             xtol: float = 1e-12, max_iter: int = 60) -> tuple[float, float]:
    """A root of g in [a, b] (g(a) g(b) < 0) by the Illinois method: returns (root, error), the
    error being the last bracket or, once the iterates settle, twice the last step."""
    side, prev = 0, math.inf
    for _ in range(max_iter):
        c = (a * gb - b * ga) / (gb - ga)
        gc = g(c)
        if gc == 0:
            return c, 0.0
        if abs(c - prev) < xtol:
            return c, 2 * abs(c - prev)
        prev = c
        if (gc > 0) == (gb > 0):
            b, gb = c, gc
            if side == -1:
                ga /= 2
            side = -1
        else:
            a, ga = c, gc
            if side == 1:
                gb /= 2
            side = 1
        if abs(b - a) < xtol:
            break
    return 0.5 * (a + b), abs(b - a)


def _newton_continue(f: VectorField, h: Tensor) -> Tensor | None:
    h1, speed, _ = levenberg_marquardt(f, h[None])
    return h1[0] if float(speed[0]) < 1e-10 else None


def _max_real(f: VectorField, h: Tensor) -> Tensor:
    return torch.linalg.eigvals(jacobian(f, h[None])[0].detach())


def locate_hopf(family: Family, p0: float, p1: float, h0: Tensor) -> tuple[float, float, Tensor]:
    """Hopf value in [p0, p1] for the fixed point continued from h0 at p0."""
    state = {"h": h0}

    def g(p: float) -> float:
        f = family(p)
        h = _newton_continue(f, state["h"])
        if h is None:
            raise RuntimeError("lost the fixed point while continuing it")
        state["h"] = h
        eig = _max_real(f, h)
        return float(eig.real[eig.imag.abs() > 1e-12].max())

    g0 = g(p0)
    g1 = g(p1)
    value, bracket = illinois(g, p0, p1, g0, g1, xtol=1e-13)
    return value, bracket, state["h"]


def _match(prev: FixedPointResult, h: Tensor, radius: float) -> int | None:
    d = [float((p.h - h).norm()) for p in prev.fixed_points]
    return None if not d or min(d) > radius else d.index(min(d))


def homoclinic_splitting(
    f: VectorField, saddle: Tensor, dt: float, t_max: float, offset: float = 1e-7,
    leave_radius: float = 0.2, section: float = 0.05, signs: tuple[float, ...] = (1.0, -1.0),
) -> tuple[Tensor, Tensor]:
    """Splitting of each unstable branch (``signs``: +u, -u) of a 2-D saddle.

    In eigen-coordinates (a_u, a_s) about the saddle, the branch leaves the square
    max(|a_u|, |a_s|) < ``leave_radius``; on its first return into the square of half-side
    ``section`` through the edge |a_s| = section, c = a_u - a_u(stable manifold) on that edge
    (the stable manifold traced backward from the saddle, so its curvature adds no bias) says
    on which side of the stable manifold it passed, and c = 0 is a homoclinic orbit. Returns
    (c, |c|) per branch, (nan, inf) for a branch that never comes back that way.
    """
    jac = jacobian(f, saddle[None])[0].detach()
    lam, vec = torch.linalg.eig(jac)
    lam, vec = lam.real, vec.real
    vec = vec / vec.norm(dim=0)
    k = int(lam.argmax())
    to_eigen = torch.linalg.inv(vec)[[k, 1 - k]]  # rows: a_u, a_s
    h = torch.stack([saddle + offset * sign * vec[:, k] for sign in signs])
    n = len(signs)
    away = [False] * n
    c = [math.nan] * n
    chunk, t = 10.0, 0.0
    while t < t_max and any(math.isnan(x) for x in c):
        _, path = integrate(f, h, chunk, dt)
        h, t = path[-1], t + chunk
        coords = (path - saddle) @ to_eigen.T  # (T, n, 2)
        box_norm = coords.abs().amax(-1)
        settled = (f(h).norm(dim=-1) < 1e-6) & (box_norm[-1] > leave_radius)
        for j in range(n):
            if not math.isnan(c[j]):
                continue
            if not away[j]:
                out = torch.nonzero(box_norm[:, j] > leave_radius).flatten()
                if len(out) == 0:
                    continue
                away[j], start = True, int(out[0])
            else:
                start = 0
            cj = coords[start:, j]
            inside = (cj[1:, 1].abs() <= section) & (cj[:-1, 1].abs() > section) & (
                cj[1:, 0].abs() <= 2 * section)
            hit = torch.nonzero(inside).flatten()
            if len(hit):
                i = int(hit[0])
                a0, a1 = cj[i], cj[i + 1]
                w = (a0[1].abs() - section) / (a0[1].abs() - a1[1].abs())
                side = 1.0 if float(a1[1]) > 0 else -1.0
                c[j] = float(a0[0] + w * (a1[0] - a0[0])) - _stable_manifold_crossing(
                    f, saddle, vec[:, 1 - k] * side, to_eigen, offset, section, dt)
            elif bool(settled[j]):
                c[j] = math.inf  # marker, replaced below
    c_t = torch.tensor([x if math.isfinite(x) else math.nan for x in c], dtype=torch.float64)
    return c_t, torch.where(c_t.isnan(), math.inf, c_t.abs())


def _stable_manifold_crossing(f: VectorField, saddle: Tensor, direction: Tensor,
                              to_eigen: Tensor, offset: float, section: float,
                              dt: float) -> float:
    """a_u where the stable-manifold branch leaving along ``direction`` (in backward time)
    reaches |a_s| = section."""
    h = (saddle + offset * direction)[None]
    for _ in range(1000):
        _, path = integrate(lambda x: -f(x), h, 5.0, dt / 2)
        coords = (path[:, 0] - saddle) @ to_eigen.T
        hit = torch.nonzero(coords[:, 1].abs() >= section).flatten()
        if len(hit):
            i = int(hit[0])
            a0, a1 = coords[i - 1], coords[i]
            w = (section - a0[1].abs()) / (a1[1].abs() - a0[1].abs())
            return float(a0[0] + w * (a1[0] - a0[0]))
        h = path[-1]
    return math.nan


def locate_homoclinic(
    family: Family, p0: float, p1: float, saddle: Tensor, branch: int, dt: float, t_max: float,
    xtol: float = 1e-10,
) -> tuple[float, float, Tensor]:
    """Homoclinic value in [p0, p1] for ``branch`` (0: +u, 1: -u) of the saddle near ``saddle``.

    Returns (value, error, saddle): the error adds the final bracket and the parameter shift
    implied by re-evaluating the splitting with RK4 step dt / 2 (its value over the slope).
    """
    state = {"h": saddle}
    sign = ((1.0, -1.0)[branch],)

    def g(p: float, step: float = dt) -> float:
        f = family(p)
        h = _newton_continue(f, state["h"])
        if h is None:
            raise RuntimeError("lost the saddle while continuing it")
        state["h"] = h
        return float(homoclinic_splitting(f, h, step, t_max, signs=sign)[0][0])

    g0, g1 = g(p0), g(p1)
    value, bracket = illinois(g, p0, p1, g0, g1, xtol=xtol)
    slope = (g1 - g0) / (p1 - p0)
    shift = abs(g(value, dt / 2) / slope)
    return value, bracket + shift, state["h"]


def find_bifurcations(
    family: Family,
    parameter: str,
    values: list[float],
    box: tuple[tuple[float, float], ...] | list,
    *,
    homoclinic: bool = True,
    dt: float = 0.1,
    t_max: float = 250.0,
    return_tol: float = 0.1,
    progress: bool = False,
) -> BifurcationResult:
    """Continue fixed points of ``family(p)`` over ``values`` (increasing) and locate
    saddle-node, Hopf and (2-D) homoclinic bifurcations between neighbouring values."""
    results = []
    iterator = values
    if progress:
        from tqdm import tqdm

        iterator = tqdm(values, desc=f"continuing in {parameter}")
    for p in iterator:
        results.append(find_fixed_points(family(p), box))
    span = max(abs(values[-1] - values[0]), 1e-12)
    found: list[Bifurcation] = []
    for k in range(len(values) - 1):
        (p0, r0), (p1, r1) = (values[k], results[k]), (values[k + 1], results[k + 1])
        if len(r0.fixed_points) != len(r1.fixed_points):
            sn = _locate_saddle_node(family, parameter, p0, p1, box, r0, r1, span)
            found += [sn] if sn is not None else []
        for pt in r0.fixed_points:
            j = _match(r1, pt.h, radius=0.05)
            if j is None:
                continue
            q = r1.fixed_points[j]
            stab0, stab1 = pt.eigenvalues.real.max(), q.eigenvalues.real.max()
            complex_pair = bool((pt.eigenvalues.imag.abs() > 1e-12).any()) and bool(
                (q.eigenvalues.imag.abs() > 1e-12).any())
            if complex_pair and float(stab0) * float(stab1) < 0:
                value, bracket, h = locate_hopf(family, p0, p1, pt.h)
                found.append(Bifurcation("hopf", parameter, value, bracket, h.tolist()))
    if homoclinic and len(box) == 2:
        found += _homoclinic_scan(family, parameter, values, results, dt, t_max, return_tol)
    found.sort(key=lambda b: b.value)
    return BifurcationResult(parameter, list(values), results, found)


def _locate_saddle_node(family: Family, parameter: str, p0: float, p1: float, box: Any,
                        r0: FixedPointResult, r1: FixedPointResult,
                        span: float) -> Bifurcation | None:
    """Bisect on the existence of a fixed point that is present on one side only: Newton from
    its last known position either converges (it exists) or stalls at a slow point."""
    more, fewer, a, b = (r0, r1, p0, p1) if len(r0.fixed_points) > len(r1.fixed_points) else (
        r1, r0, p1, p0)
    lost = [p.h for p in more.fixed_points if _match(fewer, p.h, 0.05) is None]
    if not lost:
        return None
    value, error, h = locate_point_loss(family, a, b, lost[0], span)
    lo = torch.tensor([x[0] for x in box], dtype=h.dtype)
    hi = torch.tensor([x[1] for x in box], dtype=h.dtype)
    if bool(((h - lo).abs() < 1e-6).any() or ((hi - h).abs() < 1e-6).any()):
        return None  # the point left the box rather than meeting another one
    return Bifurcation("saddle_node", parameter, value, error, h.tolist())


def locate_point_loss(family: Family, a: float, b: float, h: Tensor,
                      span: float = 1.0) -> tuple[float, float, Tensor]:
    """(value, error, state): the parameter between ``a`` (where the fixed point near ``h``
    exists) and ``b`` (where it does not) at which Newton continuation from ``h`` stops
    converging, bisected to 1e-10 * ``span``; the state is its last converged position."""
    while abs(b - a) > 1e-10 * span:
        m = 0.5 * (a + b)
        h_m = _newton_continue(family(m), h)
        if h_m is not None:
            a, h = m, h_m
        else:
            b = m
    return 0.5 * (a + b), 0.5 * abs(b - a), h


def saddle_node_pairs(family: Family, p_more: float, p_fewer: float,
                      more: FixedPointResult, fewer: FixedPointResult,
                      merge_tol: float = 1e-3) -> list[dict[str, Any]]:
    """Every fixed-point pair that vanishes between ``p_more`` and ``p_fewer``: each point
    present at ``p_more`` and absent at ``p_fewer`` is continued to where it is lost
    (:func:`locate_point_loss`); two lost points that end within ``merge_tol`` of each other
    are one saddle-node pair. Returns [{value, error, state, kinds}] sorted by value."""
    span = abs(p_fewer - p_more)
    lost = [p for p in more.fixed_points if _match(fewer, p.h, 0.05) is None]
    ends = [(p, *locate_point_loss(family, p_more, p_fewer, p.h, span)) for p in lost]
    pairs, used = [], set()
    for i, (p, v, e, h) in enumerate(ends):
        if i in used:
            continue
        for j in range(i + 1, len(ends)):
            q, w, e2, g = ends[j]
            if j not in used and float((h - g).norm()) < merge_tol:
                used |= {i, j}
                pairs.append({"value": 0.5 * (v + w), "error": max(e, e2) + abs(v - w) / 2,
                              "state": (0.5 * (h + g)).tolist(), "kinds": [p.kind, q.kind]})
                break
    return sorted(pairs, key=lambda x: x["value"])


def _homoclinic_scan(family: Family, parameter: str, values: list[float],
                     results: list[FixedPointResult], dt: float, t_max: float,
                     return_tol: float) -> list[Bifurcation]:
    """Sign changes of the splitting c(p) of each saddle branch whose return comes close."""
    found = []
    prev: dict[tuple[int, int], tuple[float, float, Tensor]] = {}
    for p, res in zip(values, results, strict=False):
        saddles = [pt.h for pt in res.fixed_points if pt.kind == "saddle"]
        current = {}
        for s in saddles:
            c, dist = homoclinic_splitting(family(p), s, dt, t_max)
            for branch in range(2):
                key = next((k for k, v in prev.items() if k[1] == branch
                            and float((v[2] - s).norm()) < 0.05), (len(current), branch))
                current[key] = (float(c[branch]), float(dist[branch]), s)
        for key, (c1, d1, _s1) in current.items():
            if key not in prev:
                continue
            c0, d0, s0 = prev[key]
            p0 = values[values.index(p) - 1]
            bracket = _sign_bracket(family, p0, p, c0, c1, s0, key[1], dt, t_max)
            if bracket is not None and min(d0, d1) < return_tol:
                a, b, h0 = bracket
                value, error, h = locate_homoclinic(family, a, b, h0, key[1], dt, t_max)
                found.append(Bifurcation("homoclinic", parameter, value, error, h.tolist()))
        prev = current
    return found


def _sign_bracket(family: Family, p0: float, p1: float, c0: float, c1: float, saddle: Tensor,
                  branch: int, dt: float, t_max: float,
                  halvings: int = 12) -> tuple[float, float, Tensor] | None:
    """[a, b] where the splitting of ``branch`` changes sign. When the branch returns on one
    side only (beyond the homoclinic value it escapes and c is undefined), bisect towards the
    returning side until a return of the opposite sign is found."""
    if math.isfinite(c0) and math.isfinite(c1):
        return (p0, p1, saddle) if c0 * c1 < 0 else None
    if math.isfinite(c0) == math.isfinite(c1):
        return None
    good, bad, c_good, h = (p0, p1, c0, saddle) if math.isfinite(c0) else (p1, p0, c1, saddle)
    for _ in range(halvings):
        mid = 0.5 * (good + bad)
        f = family(mid)
        h_mid = _newton_continue(f, h)
        if h_mid is None:
            return None
        c_mid = float(homoclinic_splitting(f, h_mid, dt, t_max, signs=((1.0, -1.0)[branch],))[0][0])
        if math.isfinite(c_mid) and c_mid * c_good < 0:
            return (min(good, mid), max(good, mid), h)
        if math.isfinite(c_mid):
            good, c_good, h = mid, c_mid, h_mid
        else:
            bad = mid
    return None
