"""One call for everything the toolkit says about a vector field: fixed points (with kinds and
the discrete map's stability), slow points, continuous attractors (manifolds of slow states),
limit cycles, and the 2-D index check."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gru_learn.dynamics.continuous_attractors import SlowManifold, find_continuous_attractors
from gru_learn.dynamics.cycles import CycleResult, LimitCycle, find_limit_cycles
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

    @property
    def fixed_points(self):  # noqa: ANN201 - list[FixedPoint]
        return self.fixed.fixed_points

    def to_json(self) -> dict[str, Any]:
        out = self.fixed.to_json()
        out["limit_cycles"] = [c.to_json() for c in self.limit_cycles]
        out["limit_cycle_candidates"] = [
            c.to_json() for c in getattr(self.limit_cycles, "candidates", [])]
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
) -> DynamicsResult:
    """Analyse dh/dt = f(h) in ``box`` (one (lo, hi) per dimension, any d).

    ``step`` is the discrete map whose stability is compared (for a GRU: h + f(h));
    ``starts`` are extra initial states (e.g. trajectory states) for fixed points in d > 3
    and for cycles. Limit cycles are searched with RK4 of step ``dt`` after ``t_transient``.
    With ``continuous``, manifolds of states slower than ``speed_tol`` are found by
    :func:`find_continuous_attractors` (``observe`` adds observation-unit extents and speeds).
    ``jac`` (h (n, d) -> (n, d, d), e.g. ``gru_jacobian(cell)``) replaces autograd Jacobians.
    """
    box = check_box(box, len(box) if starts is None else starts.shape[-1])
    fixed = find_fixed_points(f, box, starts=starts, step=step, generator=generator, jac=jac)
    found: list[LimitCycle] = CycleResult()
    if cycles:
        init = cycle_starts(box, fixed) if len(box) <= 3 else torch.empty(0, len(box))
        if starts is not None:
            init = torch.cat([init, starts.reshape(-1, len(box)).to(torch.float64)])
        if len(init):
            found = find_limit_cycles(
                f, init, dt=dt, t_transient=t_transient, t_window=t_window
            )
    manifolds: list[SlowManifold] = []
    if continuous:
        manifolds = find_continuous_attractors(
            f, box, starts=starts, fixed=fixed, speed_tol=speed_tol, observe=observe,
            generator=generator, jac=jac)
    return DynamicsResult(fixed, found, box, continuous_attractors=manifolds)
