"""The learned side: one GRU read alone as a dynamical system, at a constant input.

At a constant input x the GRU map is h -> h + f(h, x) and its continuous counterpart is
dh/dt = f(h, x) = (1 - z) * (n(h, x) - h). Every fixed point satisfies h = n(h, x), so it lies
in the open cube (-1, 1)^d: that cube is the search box, whatever the states a user supplies.

For each input this module reports the fixed points (ODE kind and eigenvalues, the map's
stability beside them), slow points, converged limit cycles, continuous attractors (slow
manifolds) and, for d > 3 where no search is exhaustive, the evidence for how complete it is
(``search``): starts, hits per point, a split-half (capture-recapture) recall estimate and the
slowest unconverged candidates. Time is in GRU steps.

``analyze_network`` is the engine behind ``python -m gru_learn analyze --state-dict`` (no
system) and ``gru_learn.analyze_gru``; ``analyze_at_input`` is also the learned half of the
learned-versus-target comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from gru_learn.analysis.core import (
    F64,
    Analysis,
    AnalysisConfig,
    Recorder,
    as_float64,
    signature,
)
from gru_learn.dynamics import DynamicsResult, find_fixed_points, find_limit_cycles
from gru_learn.dynamics.analyze import cycle_starts
from gru_learn.dynamics.fixed_points import levenberg_marquardt
from gru_learn.dynamics.lyapunov import flow_lyapunov_max, map_lyapunov_max
from gru_learn.dynamics.stability import classify
from gru_learn.gru.cell import GRUCell

ROOT_TOL = 1e-10  # ||f|| of a fixed point (find_fixed_points' default)
HIT_RADIUS = 1e-5  # a search endpoint this close to a fixed point (or a root) found it
MAX_CYCLE_STARTS = 64  # initial states of the cycle search in d > 3


@dataclass
class NetworkPoint:
    """The analysis of the network at one constant input."""

    input: Tensor | None  # (p,) or None for an input-free cell
    result: DynamicsResult
    manifolds: list[Any]
    search: dict[str, Any]
    states: Tensor  # (n, d) states seen at this input (trajectories), for figures
    notes: list[str] = field(default_factory=list)

    def to_json(self, observe: Callable[[Tensor], Tensor] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"input": None if self.input is None else self.input.tolist()}
        out.update(self.result.to_json())
        for p, j in zip(self.result.fixed_points, out["fixed_points"], strict=True):
            # the map h -> h + f(h, x) has Jacobian I + J: its multipliers are 1 + lambda
            j["map_spectral_radius"] = float((1 + p.eigenvalues).abs().max())
            if observe is not None:
                j["obs"] = observe(p.h[None])[0].tolist()
        if observe is not None:
            for c, j in zip(self.result.limit_cycles, out["limit_cycles"], strict=True):
                j["orbit_obs"] = observe(c.orbit[:: max(1, len(c.orbit) // 100)]).tolist()
        out["continuous_attractors"] = [_manifold_json(m) for m in self.manifolds]
        out["signature"] = signature(self.result, self.manifolds)
        out["search"] = self.search
        out["notes"] = out["notes"] + self.notes
        return out


def as_map(result: DynamicsResult) -> DynamicsResult:
    """``result`` with every fixed point classified as a fixed point of the map h -> h + f(h)
    instead of the ODE dh/dt = f(h): by the map's multipliers mu = 1 + lambda, through the
    exponents ln(mu) (one per GRU step; Re ln(mu) = ln|mu| > 0 iff |mu| > 1), with
    :func:`classify`'s tolerances. This is the reading that matches a flow sampled every dt:
    the time-dt map of dx/dt = F(x) has multipliers exp(dt lambda_F), so its unstable
    directions are the flow's, whereas the ODE dh/dt = h_{k+1} - h_k (Euler, step 1) shares
    them only while |dt lambda_F| << 1. A focus turning by omega dt per step has
    Re lambda = |mu| cos(omega dt) - 1: for Lorenz-63's C+- (0.094 +- 10.19i, dt = 0.05) the
    map's |mu| = 1.0047 (unstable) is an ODE eigenvalue with Re = -0.12 (stable)."""
    pts = []
    for p in result.fixed_points:
        mu = 1 + p.eigenvalues.to(torch.complex128)
        st = classify(torch.diag(torch.log(mu.abs().clamp_min(1e-300))
                                 + 1j * torch.angle(mu)))
        pts.append(replace(p, kind=st.kind, n_unstable=st.n_unstable))
    return replace(result, fixed=replace(result.fixed, fixed_points=pts))


def _manifold_json(m: Any) -> dict[str, Any]:
    return m.to_json() if hasattr(m, "to_json") else dict(m)


def autonomous_at(cell: GRUCell, x: Tensor | None) -> GRUCell:
    """The input-free cell whose zero-input vector field is f(., x) of ``cell``: a constant
    input only shifts the gates' input biases, b_ih <- b_ih + W_ih x."""
    out = GRUCell(0, cell.hidden_size, reset=cell.reset).to(F64)
    with torch.no_grad():
        out.weight_hh.copy_(cell.weight_hh)
        out.bias_hh.copy_(cell.bias_hh)
        shift = 0 if x is None or cell.input_size == 0 else cell.weight_ih @ x.to(F64)
        out.bias_ih.copy_(cell.bias_ih + shift)
    for p in out.parameters():
        p.requires_grad_(False)
    return out


def _vector_field(cell: GRUCell, x: Tensor | None) -> tuple[Callable[[Tensor], Tensor],
                                                             Callable[[Tensor], Tensor]]:
    """(f(., x), the map h -> cell(x, h)) at a constant input."""
    if x is not None and cell.input_size == 0:
        x = None

    def f(h: Tensor) -> Tensor:
        return cell.vector_field(h, x)

    def step(h: Tensor) -> Tensor:
        return cell(x, h)

    return f, step


def _jacobian(cell: GRUCell, x: Tensor | None) -> Callable[[Tensor], Tensor]:
    """The closed-form Jacobian of f(., x): ``gru_jacobian`` of the input-free cell."""
    from gru_learn.dynamics import gru_jacobian

    return gru_jacobian(autonomous_at(cell, x))


def visited_states(cell: GRUCell, x: Tensor | None, n: int = 32, steps: int = 300,
                   every: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """States the map h -> cell(x, h) visits from ``n`` uniform initial states in the cube,
    every ``every`` steps over ``steps`` steps: (n * steps / every, d)."""
    _, step = _vector_field(cell, x)
    h = 2 * torch.rand(n, cell.hidden_size, dtype=F64, generator=generator) - 1
    out = []
    with torch.no_grad():
        for k in range(1, steps + 1):
            h = step(h)
            if k % every == 0:
                out.append(h)
    return torch.cat(out)


def fixed_point_search(f: Callable[[Tensor], Tensor], step: Callable[[Tensor], Tensor],
                       box: tuple[tuple[float, float], ...], states: Tensor, n_starts: int,
                       generator: torch.Generator, jac: Callable[[Tensor], Tensor] | None = None
                       ) -> tuple[Any, dict[str, Any]]:
    """Fixed and slow points of f in ``box`` with the evidence of the search.

    d <= 3: the toolkit's exhaustive grid search (plus ``states`` as extra starts). d > 3:
    ``n_starts`` starts, half of them ``states`` (jittered by 1 % of the box), half uniform in
    the box, are driven to minima of ||f||^2 once; the endpoints are handed to
    ``find_fixed_points`` (deduplication, kinds) and also tell how often each point was hit.
    Recall: the starts are split into two random halves A and B; with n_A, n_B points found by
    each and m by both, the Chapman estimate of the number of reachable points is
    N = (n_A + 1)(n_B + 1)/(m + 1) - 1 and the recall estimate is (points found) / N.
    """
    d = len(box)
    if d <= 3:
        res = find_fixed_points(f, box, starts=states, step=step, generator=generator, jac=jac)
        return res, {"method": "grid (exhaustive in the box)", "n_starts": None,
                     "recall_estimate": 1.0}
    lo = torch.tensor([b[0] for b in box], dtype=F64)
    hi = torch.tensor([b[1] for b in box], dtype=F64)
    n_traj = min(len(states), n_starts // 2)
    pick = torch.randperm(len(states), generator=generator)[:n_traj]
    jitter = 0.01 * (hi - lo) * torch.randn(n_traj, d, dtype=F64, generator=generator)
    uniform = lo + (hi - lo) * torch.rand(n_starts - n_traj, d, dtype=F64, generator=generator)
    seeds = torch.cat([(states[pick] + jitter).clamp(lo, hi), uniform])
    ends, speed, converged = levenberg_marquardt(f, seeds, jac=jac)
    res = find_fixed_points(f, box, starts=ends, n_starts=0, step=step, generator=generator,
                            jac=jac)
    points = torch.stack([p.h for p in res.fixed_points]) if res.fixed_points else \
        torch.empty(0, d, dtype=F64)
    if len(points):
        dist = torch.cdist(ends, points)
        near, which = dist.min(1)
        # a root the deduplication merged into a reported point is a hit on that point
        hit = (near < HIT_RADIUS) | (speed < ROOT_TOL)
    else:
        which = torch.zeros(len(ends), dtype=torch.long)
        hit = torch.zeros(len(ends), dtype=torch.bool)
    half = torch.randperm(len(seeds), generator=generator) < len(seeds) // 2
    hits = [int(((which == k) & hit).sum()) for k in range(len(points))]
    in_a = {int(k) for k in which[hit & half].tolist()}
    in_b = {int(k) for k in which[hit & ~half].tolist()}
    m = len(in_a & in_b)
    n_est = (len(in_a) + 1) * (len(in_b) + 1) / (m + 1) - 1
    found = len(points)
    miss = ~hit & torch.isfinite(speed)
    order = torch.argsort(speed[miss])
    cand, kept = ends[miss][order], []
    for i in range(len(cand)):
        if len(kept) == 5:
            break
        if all(float((cand[i] - cand[j]).norm()) > 1e-3 for j in kept):
            kept.append(i)
    cand_speed, cand_conv = speed[miss][order], converged[miss][order]
    slowest = [{"speed": float(cand_speed[i]),
                "reached_minimum_of_speed": bool(cand_conv[i]),
                "distance_to_nearest_fixed_point": float(torch.cdist(cand[i:i + 1], points).min())
                if len(points) else None,
                "h": cand[i].tolist()} for i in kept]
    evidence = {
        "method": "Levenberg-Marquardt from trajectory states (jittered) and uniform starts",
        "n_starts": len(seeds),
        "n_from_states": n_traj,
        "n_converged_to_fixed_points": int(hit.sum()),
        "hits_per_point": hits,
        "points_found_once": sum(h == 1 for h in hits),
        "split_half": {"found_by_a": len(in_a), "found_by_b": len(in_b), "found_by_both": m},
        "estimated_total": n_est,
        "recall_estimate": 1.0 if found == 0 and n_est <= 0 else min(1.0, found / max(n_est,
                                                                                       1e-12)),
        "slowest_unconverged": slowest,
        "note": "a search in d > 3 cannot be exhaustive: points no start is attracted to (under "
                "the Levenberg-Marquardt iteration) stay unseen; the recall estimate assumes "
                "both halves sample the same basins",
    }
    return res, evidence


def find_manifolds(f: Callable[[Tensor], Tensor], fixed: Any, states: Tensor,
                   box: tuple[tuple[float, float], ...], generator: torch.Generator,
                   speed_tol: float | None = None,
                   observe: Callable[[Tensor], Tensor] | None = None,
                   jac: Callable[[Tensor], Tensor] | None = None
                   ) -> tuple[list[Any], list[str]]:
    """Continuous attractors (slow manifolds, any kind, attracting or not) of f: the toolkit's
    ``find_continuous_attractors`` seeded with ``states`` and with the fixed and slow points
    of ``fixed`` (whose indices the manifolds report in ``fixed_points``). ``speed_tol``:
    the toolkit's default (scaled by the Jacobian's norm) when None."""
    from gru_learn.dynamics import find_continuous_attractors

    return list(find_continuous_attractors(f, box, starts=states, fixed=fixed,
                                           generator=generator, speed_tol=speed_tol,
                                           observe=observe, jac=jac)), []


def analyze_at_input(cell: GRUCell, x: Tensor | None, *, states: Tensor | None,
                     config: AnalysisConfig, rec: Recorder, prefix: str = "",
                     slow_tol: float | None = None,
                     observe: Callable[[Tensor], Tensor] | None = None) -> NetworkPoint:
    """Everything about dh/dt = f(h, x) of a float64 ``cell`` (see the module docstring).

    ``states`` (n, d): seeds of the search in d > 3 and of the cycle search; None: states the
    map visits from uniform initial states. ``slow_tol``: the speed ||f|| (hidden units per
    GRU step) under which a state belongs to a continuous attractor (None: the toolkit's
    default); ``observe``: the readout, for the attractors' sizes in output units. A failing
    piece is recorded in ``rec`` under ``prefix + piece``.
    """
    d = cell.hidden_size
    gen = torch.Generator().manual_seed(config.seed)
    f, step = _vector_field(cell, x)
    if states is None:
        states = visited_states(cell, x, generator=gen)
    states = states.reshape(-1, d).to(F64)
    box = tuple((-1.0, 1.0) for _ in range(d))
    n_starts = config.n_starts or (512 if d <= 32 else 256)
    jac = _jacobian(cell, x)
    found = rec(prefix + "fixed_points", lambda: fixed_point_search(f, step, box, states,
                                                                     n_starts, gen, jac))
    notes: list[str] = []
    if found is None:
        from gru_learn.dynamics.fixed_points import FixedPointResult

        fixed, search = FixedPointResult([], []), {"method": "failed"}
    else:
        fixed, search = found
    cycles: list[Any] = []
    if config.cycles:
        def cycle_search() -> list[Any]:
            init = cycle_starts(box, fixed) if d <= 3 else torch.empty(0, d, dtype=F64)
            pick = torch.randperm(len(states), generator=gen)[:MAX_CYCLE_STARTS]
            init = torch.cat([init, states[pick]])
            return find_limit_cycles(f, init, dt=0.1, t_transient=config.cycle_transient,
                                     t_window=config.cycle_window)
        cycles = rec(prefix + "limit_cycles", cycle_search)
        cycles = [] if cycles is None else cycles
    result = DynamicsResult(fixed, cycles, box)
    manifolds = rec(prefix + "continuous_attractors",
                    lambda: find_manifolds(f, fixed, states, box, gen, slow_tol, observe, jac))
    if manifolds is None:
        manifolds = []
    else:
        manifolds, more = manifolds
        notes += more
    return NetworkPoint(x, result, manifolds, search, states, notes)


def network_lyapunov(cell: GRUCell, h0: Tensor, dt: float, rollout: str = "discrete",
                     ode_step: float = 1.0, steps: int = 2000, transient: int = 200
                     ) -> tuple[float, dict[str, Any]]:
    """The largest Lyapunov exponent of the model's own autonomous rollout, per target time
    unit (one GRU step = ``dt``), and how it was computed, from the states ``h0`` (B, d) of a
    float64 input-free ``cell`` (averaged over the B orbits).

    ``discrete``: the map h -> h + f(h) (``cell.autonomous_map``), lambda = (1/n) sum ln|R_kk|
    per GRU step over ``steps`` steps after ``transient`` (QR method), divided by dt.
    ``ode``: the flow dh/dt = f(h), through the RK4 map of step min(ode_step, 0.5) GRU steps
    for the same span of ``steps`` GRU steps (whatever solver the model was trained with: the
    exponent is the flow's, not the solver's), divided by dt.
    """
    if rollout == "discrete":
        lam = map_lyapunov_max(cell.autonomous_map(), h0, steps, transient=transient,
                               generator=torch.Generator().manual_seed(0))
        how = {"method": "QR (Benettin) on the GRU map h -> h + f(h)", "steps": steps,
               "transient": transient}
    else:
        h = min(float(ode_step), 0.5)
        n = max(1, round(steps / h))

        def f(x: Tensor) -> Tensor:
            return cell.vector_field(x, None)

        lam = flow_lyapunov_max(f, h0, h, n, transient=round(transient / h),
                                generator=torch.Generator().manual_seed(0))
        how = {"method": "QR (Benettin) on the RK4 map of the ODE dh/dt = f(h)", "rk4_step": h,
               "steps": n, "transient": round(transient / h)}
    return lam / dt, {**how, "orbits": len(h0), "per_gru_step": lam,
                      "unit": "1 / target time (per GRU step / dt)"}


# --- the network alone ------------------------------------------------------------------------
@dataclass
class NetworkAnalysis(Analysis):
    """The analysis of a network alone (``gru_learn.analyze_gru``, ``analyze --state-dict``
    without a system): ``summary`` is what summary.json holds; ``points`` one entry per input.
    """

    points: list[NetworkPoint] = field(default_factory=list)
    cell: GRUCell | None = None
    observe: Callable[[Tensor], Tensor] | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary (JSON-serialisable, the content of summary.json)."""
        return self.summary

    @property
    def fixed_points(self) -> list[Any]:
        """The fixed points at the first input (``FixedPoint`` objects)."""
        return self.points[0].result.fixed_points if self.points else []

    def plot(self) -> dict[str, Any]:
        """Draw (or return the already drawn) figures: name -> matplotlib Figure."""
        if not self.figures and self.cell is not None:
            from gru_learn.analysis.figures.network import network_figures

            self.figures = network_figures(self.cell, self.points, self.observe)
        return self.figures

    def __repr__(self) -> str:
        lines = [f"NetworkAnalysis({self.summary['network']['hidden_size']} units, "
                 f"{len(self.points)} input(s))"]
        for entry in self.summary["inputs"]:
            sig = entry["signature"]
            lines.append(f"  input {entry['input']}: " + ", ".join(
                f"{v} {k.replace('_', ' ')}" for k, v in sig.items() if v))
        return "\n".join(lines)


def analyze_network(cell: GRUCell, *, inputs: Tensor | None = None, states: Tensor | None = None,
                    readout: Callable[[Tensor], Tensor] | None = None,
                    config: AnalysisConfig | None = None, figures: bool = True,
                    source: str | None = None) -> NetworkAnalysis:
    """Analyse ``cell`` alone at each row of ``inputs`` (K, p) (None: zero input).

    ``states`` (..., d): the user's own hidden states; they seed the search and set the box
    and the projection of the figures. ``readout`` maps hidden states to outputs (reported as
    ``obs``). The cell is copied to float64 on the CPU first.
    """
    cfg = config or AnalysisConfig()
    cell = as_float64(cell)
    rec = Recorder()
    if inputs is None:
        rows: list[Tensor | None] = [torch.zeros(cell.input_size, dtype=F64)
                                     if cell.input_size else None]
    else:
        rows = list(torch.as_tensor(inputs, dtype=F64).reshape(-1, cell.input_size))
    given = None if states is None else torch.as_tensor(states, dtype=F64).reshape(
        -1, cell.hidden_size)
    points = []
    for k, x in enumerate(rows):
        prefix = f"input{k}/" if len(rows) > 1 else ""
        points.append(analyze_at_input(cell, x, states=given, config=cfg, rec=rec,
                                       prefix=prefix, observe=readout))
    summary = {
        "network": {"hidden_size": cell.hidden_size, "input_size": cell.input_size,
                    "reset": cell.reset, "source": source,
                    "readout": None if readout is None else "given (obs = readout(h))",
                    "states": None if given is None else f"{len(given)} given states",
                    "box": "the cube [-1, 1]^d (it holds every fixed point: h = n(h, x))"},
        "inputs": [p.to_json(readout) for p in points],
        "time_unit": "GRU steps (one discrete step = one unit of time of the ODE)",
        "read_as": "fixed points, cycles and attractors: the ODE dh/dt = f(h, x); "
                   "map_stable / map_spectral_radius: the discrete map h -> h + f(h, x)",
        "errors": rec.errors, "seconds": rec.seconds,
    }
    analysis = NetworkAnalysis(summary, points=points, cell=cell, observe=readout)
    if figures:
        analysis.figures = rec("figures", lambda: _figures(cell, points, readout)) or {}
        summary["errors"] = rec.errors
    return analysis


def _figures(cell: GRUCell, points: list[NetworkPoint],
             readout: Callable[[Tensor], Tensor] | None) -> dict[str, Any]:
    from gru_learn.analysis.figures.network import network_figures

    return network_figures(cell, points, readout)
