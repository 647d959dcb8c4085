"""One call for everything the toolkit says about a vector field: fixed points (with kinds and
the discrete map's stability), slow points, continuous attractors (manifolds of slow states),
limit cycles, and the 2-D index check. The one orchestrator: the network's reading
(``analysis.network``), the target's (``analysis.target``) and the training timeline's
snapshots all call it with their options."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gru_learn.dynamics.continuous_attractors import SlowManifold, find_continuous_attractors
from gru_learn.dynamics.cycles import CycleResult, LimitCycle, find_limit_cycles
from gru_learn.dynamics.fixed_point_search import fixed_point_search
from gru_learn.dynamics.fixed_points import FixedPointResult, check_box, find_fixed_points

VectorField = Callable[[Tensor], Tensor]


@dataclass
class DynamicsResult:
    """Fixed points, slow points, continuous attractors and limit cycles of dh/dt = f(h);
    periods and drift times are in f's time units."""

    fixed: FixedPointResult
    limit_cycles: list[LimitCycle]
    box: tuple[tuple[float, float], ...]
    notes: list[str] = field(default_factory=list)
    continuous_attractors: list[SlowManifold] = field(default_factory=list)
    search: dict[str, Any] | None = None  # the evidence of a fixed_point_search, if one ran

    @property
    def fixed_points(self):  # noqa: ANN201 - list[FixedPoint]
        return self.fixed.fixed_points

    def to_json(self) -> dict[str, Any]:
        out = self.fixed.to_json()
        out["limit_cycles"] = [c.to_json() for c in self.limit_cycles]
        out["limit_cycle_candidates"] = [
            c.to_json() for c in getattr(self.limit_cycles, "candidates", [])]
        out["limit_cycle_search"] = getattr(self.limit_cycles, "search", None)
        out["continuous_attractors"] = [m.to_json() for m in self.continuous_attractors]
        out["box"] = [list(b) for b in self.box]
        out["time_unit"] = "the vector field's time unit (one GRU step = 1)"
        out["notes"] = self.fixed.notes + self.notes
        return out


def cycle_starts(box: tuple[tuple[float, float], ...], fixed: FixedPointResult,
                 per_axis: int = 4, offset: float = 1e-3) -> Tensor:
    """Initial states for the cycle search: a grid inside the box plus small displacements of
    every unstable fixed point (where a surrounding cycle is born)."""
    axes = [torch.linspace(lo, hi, per_axis + 2, dtype=torch.float64)[1:-1] for lo, hi in box]
    grid = torch.tensor(list(itertools.product(*[a.tolist() for a in axes])), dtype=torch.float64)
    near = [p.h + offset * s * e for p in fixed.fixed_points if p.n_unstable > 0
            for e in torch.eye(len(box), dtype=torch.float64) for s in (1, -1)]
    return torch.cat([grid, torch.stack(near)]) if near else grid


Guard = Callable[[str, Callable[[], Any]], Any]


def _unguarded(name: str, piece: Callable[[], Any]) -> Any:
    return piece()


def analyze_vector_field(
    f: VectorField,
    box: tuple[tuple[float, float], ...] | list,
    *,
    step: VectorField | None = None,
    starts: Tensor | None = None,
    cycles: bool = True,
    continuous: bool = True,
    speed_tol: float | None = None,
    observe: VectorField | None = None,
    jac: Callable[[Tensor], Tensor] | None = None,
    dt: float = 0.1,
    t_transient: float = 200.0,
    t_window: float = 300.0,
    generator: torch.Generator | None = None,
    search_starts: int | None = None,
    cycle_seeds: int | None = None,
    manifold_starts: Tensor | None = None,
    manifold_curve: Tensor | None = None,
    curve_time: float | None = None,
    guard: Guard | None = None,
) -> DynamicsResult:
    """Analyse dh/dt = f(h) in ``box`` (one (lo, hi) per dimension, any d): fixed points, then
    limit cycles, then continuous attractors, in that order (they share ``generator``).

    ``step`` is the discrete map whose stability is compared (for a GRU: h + f(h));
    ``starts`` are extra initial states (e.g. trajectory states) for fixed points in d > 3
    and for cycles. Limit cycles are searched with RK4 of step ``dt`` after ``t_transient``.
    With ``continuous``, manifolds of states slower than ``speed_tol`` are found by
    :func:`find_continuous_attractors` (``observe`` adds observation-unit extents and speeds).
    ``jac`` (h (n, d) -> (n, d, d), e.g. ``gru_jacobian(cell)``) replaces autograd Jacobians.

    Options of the network's and the target's readings:
    ``search_starts``: run :func:`fixed_point_search` (in d > 3 that many starts, half from
    ``starts``, with the evidence of how complete it is, in ``result.search``);
    ``cycle_seeds``: only that many of ``starts``, drawn with ``generator``, seed the cycle
    search (None: all); ``manifold_starts``: the seeds of the continuous-attractor search
    (None: ``starts``); ``manifold_curve``: ordered states along a closed curve (e.g. the image
    of a target's ring) whose image under the flow is read as one curve
    (``find_continuous_attractors``' ``curve_starts``), after ``curve_time`` (then not cut
    where it is fast: its memory judges it); ``guard(name, piece)`` runs each piece
    ("fixed_points", "limit_cycles", "continuous_attractors") and returns None where it failed
    (that piece is then empty and the rest still runs); without it a failure raises.
    """
    run = guard or _unguarded
    d = len(box) if starts is None else starts.shape[-1]
    box = check_box(box, d)
    if starts is not None:
        starts = starts.reshape(-1, d).to(torch.float64)

    def points() -> tuple[FixedPointResult, dict[str, Any] | None]:
        if search_starts is not None:
            return fixed_point_search(f, step, box, starts if starts is not None
                                      else torch.empty(0, d, dtype=torch.float64),
                                      search_starts, generator, jac)
        return find_fixed_points(f, box, starts=starts, step=step, generator=generator,
                                 jac=jac), None

    found_points = run("fixed_points", points)
    fixed, search = found_points or (FixedPointResult([], []), {"method": "failed"})
    found: list[LimitCycle] = CycleResult()
    if cycles:
        def cycle_search() -> list[LimitCycle]:
            init = cycle_starts(box, fixed) if d <= 3 else torch.empty(0, d)
            if starts is not None:
                seeds = starts
                if cycle_seeds is not None:
                    seeds = starts[torch.randperm(len(starts), generator=generator)[:cycle_seeds]]
                init = torch.cat([init, seeds])
            if not len(init):
                return CycleResult()
            stable = [p.h for p in fixed.fixed_points
                      if p.n_unstable == 0 and p.kind.startswith("stable")]
            return find_limit_cycles(f, init, dt=dt, t_transient=t_transient,
                                     t_window=t_window,
                                     stable_points=torch.stack(stable) if stable else None)

        found = run("limit_cycles", cycle_search)
        found = CycleResult() if found is None else found
    manifolds: list[SlowManifold] = []
    if continuous:
        seeds = starts if manifold_starts is None else manifold_starts
        manifolds = run("continuous_attractors", lambda: list(find_continuous_attractors(
            f, box, starts=seeds, fixed=fixed, cycles=found, speed_tol=speed_tol,
            observe=observe, generator=generator, jac=jac, curve_starts=manifold_curve,
            curve_time=curve_time, curve_cut=curve_time is None))) or []
    return DynamicsResult(fixed, found, box, continuous_attractors=manifolds, search=search)
