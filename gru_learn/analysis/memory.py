"""Memory of a continuous attractor, read the same way for the network and for the target.

For a target whose analysis found an attracting ring or line (``target_curve``: the largest
one-dimensional manifold, its spline in observation space), both the network's own closed loop
(its rollout: the map or the ODE, as trained) and the target's flow are started at
``N_STARTS`` states on that curve, and the remembered variable (the angle on a ring, the
position along a line; ``dynamics.memory``) is read after 1, 10 and 100 training horizons.
Beside the errors:

- ``phi_inf``: the uniform norm of the flow along the learned manifold, as the rate of the
  variable (rad or observation units per target time unit; ``phi_inf_per_step`` per GRU step)
  at 400 states on the learned manifold's curve (``manifold_curve``), settled first by the
  reading it is measured for: the ODE (``phi_inf_ode``) and, for a model trained as the map,
  the map (``phi_inf_map``, its states settled by 100 steps of the map). ``phi_inf`` is the
  model's own rollout's.
- ``bound``: the error after one horizon T plus (t - T) phi_inf (capped at the largest possible
  error, pi or the line's length): no state on the manifold can drift faster, so the largest
  error should stay under it once the runs have reached the manifold.
- ``median_drift``, ``max_drift``: the same against the run's own first output (what the
  flow loses, without the error of writing the start into the network).
- ``memory_time``: the first step (of a log-spaced set) at which the median hold -- each
  run's drift from its own value after one training horizon, when it has settled on its
  manifold -- reaches ``THRESHOLD_RAD`` rad on a ring, or the same fraction of the length on
  a line (None: held to the last step, 100 horizons): how long the model keeps the value it
  took in. Read on the error instead it would be a step or two wherever writing the start in
  already costs more than the threshold (every line network: the data's own encoding floor is
  above it), and read on the drift from the first step, a few steps wherever the first
  output lies off the manifold the run then settles on; the error's reading is
  ``error_time``, the first step at which the median error reaches the threshold.
- ``capacity_bits``: the learned manifold's memory capacity (entropy of the basins of the
  stable points on it; None for a continuum).
The target's own numbers (``target``) come from the same functions (from ``TARGET_STARTS``
starts, RK4 with ``SUBSTEPS`` steps per sample): the analytic ring keeps the angle exactly
(error and phi_inf about 0). ``target.encoding_floor`` (median and max over the ``N_STARTS``
starts) is the error after one horizon that even the best forecaster trained by MSE on this
data makes: the data's first observations are noisy, so its conditional mean of the variable
given a start is the posterior mean under the data's clean initial states (every split),
with the noise level measured from the test split (observations minus clean states); see
``dynamics.memory.encoding_floor``. None where the data has no clean states.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gru_learn.analysis.core import F64
from gru_learn.analysis.inputs import DataSource, LearnedModel
from gru_learn.dynamics import integrate
from gru_learn.dynamics.integrate import advance
from gru_learn.dynamics.manifold_curve import CurveFit
from gru_learn.dynamics.memory import (
    encoding_floor,
    memory_errors,
    memory_time,
    starts_on,
    variable_of,
    variable_rate,
)
from gru_learn.gru.rollout import rollout_hidden

MULTIPLES = (1, 10, 100)  # training horizons at which the memory is read
N_STARTS = 72
THRESHOLD_RAD = 0.1
SUBSTEPS = 1  # RK4 steps per sample interval for the target's runs
TARGET_STARTS = 24  # the target's own flow: the same measure from fewer starts


def target_curve(manifolds: list[Any]) -> tuple[Any, CurveFit] | None:
    """The target's largest attracting one-dimensional manifold with a fitted curve."""
    ok = [m for m in manifolds if getattr(m, "curve", None) is not None
          and getattr(m, "attracting", False)]
    if not ok:
        return None
    best = max(ok, key=lambda m: m.curve.length)
    return best, best.curve


def _steps(horizon: int) -> list[int]:
    last = MULTIPLES[-1] * horizon
    grid = np.unique(np.round(np.geomspace(1, last, 40)).astype(int)).tolist()
    return sorted(set(grid) | {m * horizon for m in MULTIPLES})


def _summary(errors: dict[str, list[float]], curve: CurveFit, horizon: int,
             dt: float) -> dict[str, Any]:
    steps = errors["steps"]
    at = [steps.index(m * horizon) for m in MULTIPLES]
    threshold = THRESHOLD_RAD if curve.closed else THRESHOLD_RAD * curve.length / (2 * math.pi)
    return {
        "horizons": [m * horizon for m in MULTIPLES],
        "horizon_multiples": list(MULTIPLES),
        "times": [m * horizon * dt for m in MULTIPLES],
        "median_error": [errors["median_error"][i] for i in at],
        "max_error": [errors["max_error"][i] for i in at],
        "median_drift": [errors["median_drift"][i] for i in at],
        "max_drift": [errors["max_drift"][i] for i in at],
        "memory_time": memory_time(steps, errors["median_hold"], threshold),
        "error_time": memory_time(steps, errors["median_error"], threshold),
        "threshold": threshold,
        "curve": {k: errors[k] for k in ("steps", "median_error", "max_error",
                                         "median_drift", "median_hold")},
    }


def _phi(curve: CurveFit, points: Tensor, observe: Callable[[Tensor], Tensor],
         velocity: Callable[[Tensor], Tensor]) -> float:
    with torch.no_grad():
        rate = variable_rate(curve, observe(points), velocity(points))
    rate = rate[torch.isfinite(rate)]
    return float(rate.abs().max()) if len(rate) else math.nan


def _learned_manifold(manifolds: list[Any], curve: CurveFit, observe: Callable[[Tensor], Tensor],
                      radius: float) -> tuple[Any, float] | None:
    """The learned one-dimensional manifold covering most of the target's curve, and how much
    (fraction of 400 curve samples within ``radius`` of its image)."""
    _, ref, _ = curve.sample(400)
    best = None
    for m in manifolds:
        if getattr(m, "curve", None) is None:
            continue
        _, pts, _ = m.curve.sample(400)
        cov = float((torch.cdist(ref, observe(pts)).amin(-1) <= radius).double().mean())
        if best is None or cov > best[1]:
            best = (m, cov)
    return best


def model_memory(model: LearnedModel, cell: Any, readout: Any, data: DataSource,
                 curve: CurveFit, manifolds: list[Any], horizon: int,
                 radius: float) -> dict[str, Any]:
    """The memory of the trained model (see the module docstring), as ``comparison.memory``."""
    dt = data.dt
    mode = model.rollout

    def observe(h: Tensor) -> Tensor:
        with torch.no_grad():
            return readout(h)

    def run(w0: Tensor, k: int) -> Tensor:
        return observe(rollout_hidden(cell, w0, k, mode, model.ode_method, model.ode_step))

    out: dict[str, Any] = {"variable": "angle" if curve.closed else "position",
                           "unit": "rad" if curve.closed else "observation units",
                           "n_starts": N_STARTS, "rollout": mode,
                           "starts": "evenly along the target's found "
                                     + ("ring" if curve.closed else "line")}
    out.update(_summary(memory_errors(run, curve, _steps(horizon), N_STARTS, horizon), curve,
                        horizon, dt))
    out["phi_inf"] = out["phi_inf_per_step"] = out["phi_inf_ode"] = out["phi_inf_map"] = None
    out["bound"] = [None] * len(MULTIPLES)
    out["capacity_bits"] = None
    match = _learned_manifold(manifolds, curve, observe, radius)
    if match is None:
        out["manifold"] = None
        return out
    m, cov = match
    _, pts, _ = m.curve.sample(400)
    f = cell.vector_field
    velocity = lambda h: readout(h + f(h)) - readout(h)  # noqa: E731  C f(h), per GRU step
    out["phi_inf_ode"] = _phi(curve, advance(f, pts, 50.0, 0.5), observe, velocity) / dt
    step = cell.autonomous_map()
    on_map = pts
    with torch.no_grad():
        for _ in range(100):
            on_map = step(on_map)
    if mode == "discrete":
        out["phi_inf_map"] = _phi(curve, on_map, observe, velocity) / dt  # step(h) - h = f(h)
    per_time = out["phi_inf_map"] if mode == "discrete" else out["phi_inf_ode"]
    out["phi_inf"] = per_time
    out["phi_inf_per_step"] = None if per_time is None else per_time * dt
    worst = math.pi if curve.closed else curve.length
    e1 = out["max_error"][0]
    if per_time is not None and math.isfinite(per_time):
        out["bound"] = [min(worst, e1 + (k - horizon) * per_time * dt) for k in out["horizons"]]
    along = m.along or {}
    out["capacity_bits"] = along.get("capacity_bits")
    out["manifold"] = {"kind": m.kind, "coverage_of_target": cov,
                       "stable_along": along.get("stable_along"),
                       "unstable_along": along.get("unstable_along")}
    return out


def target_memory(data: DataSource, curve: CurveFit, manifold: Any,
                  horizon: int) -> dict[str, Any]:
    """The same measures for the target's own flow (at its mean parameters)."""
    target = data.system
    assert target is not None
    f = target.system.vector_field(target.params)
    dt = data.dt

    def run(w0: Tensor, k: int) -> Tensor:
        _, path = integrate(f, w0.to(F64), k * dt, dt / SUBSTEPS, save_every=SUBSTEPS)
        return path[1:].transpose(0, 1)

    errors = memory_errors(run, curve, _steps(horizon), TARGET_STARTS, horizon)
    out = _summary(errors, curve, horizon, dt)
    out["n_starts"] = TARGET_STARTS
    _, pts, _ = curve.sample(400)
    out["phi_inf"] = _phi(curve, advance(f, pts, 5.0 * dt, dt / SUBSTEPS), lambda y: y, f)
    out["capacity_bits"] = (manifold.along or {}).get("capacity_bits")
    out["encoding_floor"] = _encoding_floor(data, curve)
    return out


def _encoding_floor(data: DataSource, curve: CurveFit) -> dict[str, float] | None:
    """The median and largest ``encoding_floor`` over the memory's starts (see the module
    docstring), the prior being every split's clean initial states; ``sampling_spread``: the
    difference of the medians from the two halves of that prior (a finite prior makes the
    estimate noisy, and |error| of a noisy estimate is biased upwards: at 1000 states from a
    uniform square the ring's median floor reads about 0.012 rad where the population's is
    0.004). None without clean states of the observed shape."""
    clean = data.system.clean if data.system is not None else {}
    test = clean.get("test")
    if test is None or test.shape != data.test.shape:
        return None
    states = [x for x in clean.values() if x is not None and len(x) and x.shape[-1]
              == test.shape[-1]]
    prior = torch.cat([x[:, 0] for x in states]).to(F64)
    kept = variable_of(curve, torch.cat([x[:, -1] for x in states]).to(F64))
    noise = float((data.test.to(F64) - test.to(F64)).std())
    starts, _ = starts_on(curve, N_STARTS)

    def floor(idx: slice) -> Tensor:
        return encoding_floor(curve, starts, prior[idx], kept[idx], noise)

    whole, half = floor(slice(None)), len(prior) // 2
    spread = abs(float(floor(slice(None, half)).median() - floor(slice(half, None)).median()))
    return {"median": float(whole.median()), "max": float(whole.max()), "noise_std": noise,
            "prior_states": len(prior), "sampling_spread": spread}
