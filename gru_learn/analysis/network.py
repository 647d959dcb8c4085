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
from gru_learn.analysis.text import input_lines
from gru_learn.dynamics import DynamicsResult, analyze_vector_field
from gru_learn.dynamics.lyapunov import flow_lyapunov_max, map_lyapunov_max
from gru_learn.dynamics.stability import classify
from gru_learn.gru.cell import GRUCell

MAX_CYCLE_STARTS = 64  # initial states of the cycle search in d > 3
# a gate is saturated where its slope is below this: sigmoid' < 1e-4 (|pre-activation| > 9.2),
# tanh' < 1e-4 (> 5.3); there the flow no longer changes with h through that gate
SATURATION_SLOPE = 1e-4


@dataclass
class NetworkPoint:
    """The analysis of the network at one constant input."""

    input: Tensor | None  # (p,) or None for an input-free cell
    result: DynamicsResult  # with its continuous attractors and the search's evidence
    states: Tensor  # (n, d) states seen at this input (trajectories), for figures
    saturation: dict[str, Any] | None = None  # see gate_saturation

    @property
    def manifolds(self) -> list[Any]:
        """The continuous attractors (slow manifolds) found at this input."""
        return self.result.continuous_attractors

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
        out["search"] = self.result.search
        if self.saturation is not None:
            out["saturation"] = self.saturation
        return out


def gate_saturation(cell: GRUCell, x: Tensor | None, states: Tensor) -> dict[str, Any]:
    """The fraction of (state, unit) pairs at which each gate is saturated (slope below
    SATURATION_SLOPE) over ``states`` (n, d): a saturated update gate (z ~ 1) leaves the flow
    flat, a saturated reset or candidate gate makes it piecewise constant in h. A trained
    network is often saturated; its fixed points then lie on flat stretches (non-hyperbolic),
    and Newton and the Jacobian's eigenvalues read steps, not slopes."""
    with torch.no_grad():
        r, z, n, _ = cell.gates(states, x)
    slopes = {"update": z * (1 - z), "reset": r * (1 - r), "candidate": 1 - n * n}
    out: dict[str, Any] = {k: round(float((v < SATURATION_SLOPE).double().mean()), 4)
                           for k, v in slopes.items()}
    out["update_closed"] = round(float((z > 1 - SATURATION_SLOPE).double().mean()), 4)
    out["states"] = len(states)
    out["slope_below"] = SATURATION_SLOPE
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

    def step(h: Tensor) -> Tensor:
        return cell(x, h)

    return cell.field_at(x), step


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


def analyze_at_input(cell: GRUCell, x: Tensor | None, *, states: Tensor | None,
                     config: AnalysisConfig, rec: Recorder, prefix: str = "",
                     slow_tol: float | None = None,
                     observe: Callable[[Tensor], Tensor] | None = None,
                     curve: Tensor | None = None,
                     curve_time: float | None = None) -> NetworkPoint:
    """Everything about dh/dt = f(h, x) of a float64 ``cell`` (see the module docstring), by
    ``analyze_vector_field`` in the cube, with the closed-form Jacobian.

    ``states`` (n, d): seeds of the search in d > 3 and of the cycle search; None: states the
    map visits from uniform initial states. ``slow_tol``: the speed ||f|| (hidden units per
    GRU step) under which a state belongs to a continuous attractor (None: the toolkit's
    default); ``observe``: the readout, for the attractors' sizes in output units; ``curve``:
    ordered states along a closed curve (the image of a target's ring), read as one after
    ``curve_time`` GRU steps. A failing
    piece is recorded in ``rec`` under ``prefix + piece``.
    """
    d = cell.hidden_size
    gen = torch.Generator().manual_seed(config.seed)
    f, step = _vector_field(cell, x)
    if states is None:
        states = visited_states(cell, x, generator=gen)
    states = states.reshape(-1, d).to(F64)
    as_ode = reading(cell) == "ode"
    result = analyze_vector_field(
        f, state_box(cell, states), step=step, starts=states,
        cycles=config.cycles and as_ode, speed_tol=slow_tol, observe=observe,
        jac=_jacobian(cell, x) if isinstance(cell, GRUCell) else None,
        dt=0.1, t_transient=config.cycle_transient, t_window=config.cycle_window,
        generator=gen, search_starts=config.n_starts or (512 if d <= 32 else 256),
        cycle_seeds=MAX_CYCLE_STARTS, manifold_curve=curve, curve_time=curve_time,
        guard=lambda name, piece: rec(prefix + name, piece))
    saturation = gate_saturation(cell, x, states) if hasattr(cell, "gates") else None
    return NetworkPoint(x, result if as_ode else as_map(result), states, saturation)


def reading(cell: Any) -> str:
    """"ode" where dh/dt = f is a reading of the network (a GRU, a tanh RNN), "map" where only
    its map is read (an LSTM; ``gru_learn.gru.rnn_cells``)."""
    return getattr(cell, "reading", "ode")


READINGS = {
    "GRU": "the ODE dh/dt = f(h, x) = (1 - z)(n - h): the GRU's continuous-time reading "
           "(Jordan, Sokol & Park 2021; GRU-specific), of which the GRU map is the Euler step "
           "of size 1",
    "RNN (tanh)": "the ODE dh/dt = -h + tanh(W_ih x + b + W_hh h) (unit time constant), of "
                  "which the map h -> tanh(W_ih x + b + W_hh h) is the Euler step of size 1; "
                  "not the GRU's gated reading",
    "LSTM": "the map of the state s = (h, c) only: fixed points are roots of F(s) - s, their "
            "kind by the map's multipliers 1 + lambda; no ODE is claimed, no cycles searched; "
            "slow points and continuous attractors are states the map moves little per step",
}


def state_box(cell: Any, states: Tensor) -> tuple[tuple[float, float], ...]:
    """Where every fixed point lies: the cube [-1, 1]^d for a GRU or tanh RNN (h = n or
    h = tanh(...)); for an LSTM's (h, c), h in [-1, 1] and c within 1.25 times the largest |c|
    of ``states`` (at least 1: c* = i g / (1 - f) has no bound of its own)."""
    units = getattr(cell, "units", None)
    if units is None:
        return tuple((-1.0, 1.0) for _ in range(cell.hidden_size))
    c = float(states[:, units:].abs().max()) if len(states) else 0.0
    reach = max(1.0, 1.25 * c)
    return tuple((-1.0, 1.0) for _ in range(units)) + tuple((-reach, reach)
                                                            for _ in range(units))


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
        return "\n  ".join([f"NetworkAnalysis({self.summary['network']['hidden_size']} units, "
                            f"{len(self.points)} input(s))", *input_lines(self.summary)])


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
    architecture = getattr(cell, "architecture", "GRU")
    summary["network"].update(architecture=architecture, reading=READINGS[architecture])
    if architecture != "GRU":  # the GRU's summary keeps its words
        summary["read_as"] = READINGS[architecture]
        summary["time_unit"] = "network steps"
        if reading(cell) == "map":
            summary["network"]["box"] = ("h in [-1, 1]^d; c within 1.25 times the largest |c| "
                                         "of the states (at least 1)")
    analysis = NetworkAnalysis(summary, points=points, cell=cell, observe=readout)
    if figures:
        analysis.figures = rec("figures", lambda: _figures(cell, points, readout)) or {}
        summary["errors"] = rec.errors
    return analysis


def _figures(cell: GRUCell, points: list[NetworkPoint],
             readout: Callable[[Tensor], Tensor] | None) -> dict[str, Any]:
    from gru_learn.analysis.figures.network import network_figures

    return network_figures(cell, points, readout)
