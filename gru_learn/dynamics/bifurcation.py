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
from dataclasses import dataclass, field
from typing import Any, Callable

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
                                     self.cycles or [None] * len(self.values))
            ],
        }


def illinois(g: Callable[[float], float], a: float, b: float, ga: float, gb: float,
             xtol: float = 1e-12, max_iter: int = 60) -> tuple[float, float]:
    """A root of g in [a, b] (g(a) g(b) < 0) by the Illinois method: returns (root, bracket)."""
    side = 0
    for _ in range(max_iter):
        c = (a * gb - b * ga) / (gb - ga)
        gc = g(c)
        if gc == 0 or abs(b - a) < xtol:
            return c, abs(b - a)
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
    f: VectorField, saddle: Tensor, dt: float, t_max: float, offset: float = 1e-6,
    leave_radius: float = 0.2, signs: tuple[float, ...] = (1.0, -1.0),
) -> tuple[Tensor, Tensor]:
    """For each unstable branch of a 2-D saddle (``signs``: +u and -u): the signed component along u, in
    the eigenbasis, of the branch's closest point to the saddle during its first return into
    the ball of radius ``leave_radius``, and that distance (nan, inf when it never returns)."""
    jac = jacobian(f, saddle[None])[0].detach()
    lam, vec = torch.linalg.eig(jac)
    lam, vec = lam.real, vec.real
    k = int(lam.argmax())
    u = vec[:, k] / vec[:, k].norm()
    left = torch.linalg.inv(vec)[k] * vec[:, k].norm()  # u-coordinate in the eigenbasis
    h = torch.stack([saddle + offset * sign * u for sign in signs])
    n = len(signs)
    phase = [0] * n  # 0: leaving, 1: away, 2: back inside the ball, 3: done
    best_c, best_d = [math.nan] * n, [math.inf] * n
    chunk, t = 10.0, 0.0
    while t < t_max and min(phase) < 3:
        _, path = integrate(f, h, chunk, dt)
        h, t = path[-1], t + chunk
        dist = (path[1:] - saddle).norm(dim=-1)
        settled = f(h).norm(dim=-1) < 1e-8  # reached an equilibrium: it will not return
        for j in range(n):
            if bool(settled[j]):
                phase[j] = 3
            for i, dij in enumerate(dist[:, j].tolist()):
                inside = dij < leave_radius
                if phase[j] == 0 and not inside:
                    phase[j] = 1
                elif phase[j] == 1 and inside:
                    phase[j] = 2
                elif phase[j] == 2 and not inside:
                    phase[j] = 3
                if phase[j] == 2 and dij < best_d[j]:
                    best_d[j] = dij
                    best_c[j] = float(left @ (path[i + 1, j] - saddle))
    return torch.tensor(best_c), torch.tensor(best_d)


def locate_homoclinic(
    family: Family, p0: float, p1: float, saddle: Tensor, branch: int, dt: float, t_max: float
) -> tuple[float, float, Tensor]:
    """Homoclinic value in [p0, p1] for ``branch`` (0: +u, 1: -u) of the saddle near ``saddle``."""
    state = {"h": saddle}

    def g(p: float) -> float:
        f = family(p)
        h = _newton_continue(f, state["h"])
        if h is None:
            raise RuntimeError("lost the saddle while continuing it")
        state["h"] = h
        return float(homoclinic_splitting(f, h, dt, t_max, signs=((1.0, -1.0)[branch],))[0][0])

    value, bracket = illinois(g, p0, p1, g(p0), g(p1), xtol=1e-10)
    return value, bracket, state["h"]


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
    for (p0, r0), (p1, r1) in zip(zip(values, results), zip(values[1:], results[1:])):
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
    h = lost[0]
    while abs(b - a) > 1e-10 * span:
        m = 0.5 * (a + b)
        h_m = _newton_continue(family(m), h)
        if h_m is not None:
            a, h = m, h_m
        else:
            b = m
    lo = torch.tensor([x[0] for x in box], dtype=h.dtype)
    hi = torch.tensor([x[1] for x in box], dtype=h.dtype)
    if bool(((h - lo).abs() < 1e-6).any() or ((hi - h).abs() < 1e-6).any()):
        return None  # the point left the box rather than meeting another one
    return Bifurcation("saddle_node", parameter, 0.5 * (a + b), 0.5 * abs(b - a), h.tolist())


def _homoclinic_scan(family: Family, parameter: str, values: list[float],
                     results: list[FixedPointResult], dt: float, t_max: float,
                     return_tol: float) -> list[Bifurcation]:
    """Sign changes of the splitting c(p) of each saddle branch whose return comes close."""
    found = []
    prev: dict[tuple[int, int], tuple[float, float, Tensor]] = {}
    for p, res in zip(values, results):
        saddles = [pt.h for pt in res.fixed_points if pt.kind == "saddle"]
        current = {}
        for s in saddles:
            c, dist = homoclinic_splitting(family(p), s, dt, t_max)
            for branch in range(2):
                key = next((k for k, v in prev.items() if k[1] == branch
                            and float((v[2] - s).norm()) < 0.05), (len(current), branch))
                current[key] = (float(c[branch]), float(dist[branch]), s)
        for key, (c1, d1, s1) in current.items():
            if key not in prev:
                continue
            c0, d0, s0 = prev[key]
            p0 = values[values.index(p) - 1]
            if c0 * c1 < 0 and min(d0, d1) < return_tol and math.isfinite(c0 + c1):
                value, bracket, h = locate_homoclinic(family, p0, p, s0, key[1], dt, t_max)
                fine, _, _ = locate_homoclinic(family, p0, p, s0, key[1], dt / 2, t_max)
                found.append(Bifurcation("homoclinic", parameter, fine,
                                         bracket + abs(fine - value), h.tolist()))
        prev = current
    return found
