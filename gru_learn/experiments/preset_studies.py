"""The preset GRUs' studies as library calls: a phase portrait, a bifurcation continuation and
the Eq 8 frequency sweep. Each draws its PNG, returns what the JSON holds and writes the JSON
when asked; ``python -m gru_learn portrait | bifurcation | frequency-sweep`` parse, call these
and print, and the paper's steps call them directly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gru_learn.analysis.figures.dynamics import (
    bifurcation_diagram,
    flow_1d,
    frequency_map,
    phase_portrait,
)
from gru_learn.analysis.figures.style import save_png
from gru_learn.dynamics import analyze_vector_field, classify_1d
from gru_learn.dynamics.analyze import cycle_starts
from gru_learn.dynamics.bifurcation import BifurcationResult, find_bifurcations
from gru_learn.dynamics.cycles import find_limit_cycles
from gru_learn.dynamics.frequency import oscillation_frequency, stacked_field
from gru_learn.errors import UserError
from gru_learn.files.atomic import write_json_atomic
from gru_learn.gru.presets import PRESETS, build_preset, hopf, preset_parameters

PathLike = str | Path


def portrait(preset: str, overrides: dict[str, float] | None = None, *,
             box: tuple[float, float] | None = None, t_end: float = 80.0, dt: float = 0.1,
             cycles: bool = True, out: PathLike = "portrait.png",
             json: PathLike | None = None) -> dict[str, Any]:
    """A preset's phase portrait (PNG at ``out``) and its analysis: 1-D presets classify the
    flow on the line (Fig 1), higher ones find fixed points (and limit cycles, RK4 step
    ``dt``) of dh/dt = f(h) in ``box`` on every axis (default: the preset's)."""
    params = preset_parameters(preset, overrides or {})
    lo, hi = box if box else PRESETS[preset].box
    if not lo < hi or dt <= 0 or t_end <= 0:
        raise UserError("need --box LO < HI, --dt > 0 and --t-end > 0")
    cell = build_preset(preset, params)
    dim = cell.hidden_size
    title = f"{preset}: " + ", ".join(f"{k}={v:.6g}" for k, v in params.items())
    result: dict[str, Any] = {"preset": preset, "parameters": params, "reset": cell.reset}
    if dim == 1:
        topo = classify_1d(cell.vector_field, (lo, hi))
        result.update(topo.to_json())
        fig = flow_1d(cell.vector_field, (lo, hi), topo, title=title)
    else:
        found = analyze_vector_field(cell.vector_field, [(lo, hi)] * dim,
                                     step=lambda h: cell(None, h), cycles=cycles, dt=dt)
        result.update(found.to_json())
        fig = phase_portrait(cell.vector_field, [(lo, hi)] * dim, result=found,
                             t_end=t_end, dt=dt, title=title)
    save_png(fig, out)
    if json:
        write_json_atomic(json, result)
    return result


def bifurcation(preset: str, param: str, lo: float, hi: float, *, steps: int = 11,
                overrides: dict[str, float] | None = None, cycles: bool = False,
                homoclinic: bool = True, out: PathLike = "bifurcation.png",
                json: PathLike | None = None,
                progress: bool = True) -> tuple[BifurcationResult, dict[str, Any]]:
    """Continue a preset's fixed points over ``steps`` values of ``param`` in [lo, hi] and
    locate saddle-node, Hopf and (unless ``homoclinic`` is False) homoclinic bifurcations;
    ``cycles`` also searches limit cycles at every value. Draws the diagram; returns the
    result and its JSON form."""
    fixed = preset_parameters(preset, overrides or {})
    if param not in fixed:
        raise UserError(f"preset {preset!r} has no parameter {param!r}; "
                        f"it has {', '.join(fixed)}")
    if not lo < hi or steps < 2:
        raise UserError("need --range LO HI with LO < HI and --steps >= 2")

    def family(value: float):  # noqa: ANN202 - a vector field
        return build_preset(preset, {**fixed, param: value}).vector_field

    dim = build_preset(preset, fixed).hidden_size
    box = [PRESETS[preset].box] * dim
    values = np.linspace(lo, hi, steps).tolist()
    result = find_bifurcations(family, param, values, box, homoclinic=homoclinic,
                               progress=progress)
    if cycles and dim >= 2:
        result.cycles = [
            find_limit_cycles(family(v), cycle_starts(tuple(box), r), dt=0.1,
                              t_transient=200.0, t_window=300.0)
            for v, r in zip(values, result.fixed_points, strict=False)
        ]
    save_png(bifurcation_diagram(result), out)
    data = {"preset": preset, "parameters": fixed, **result.to_json()}
    if json:
        write_json_atomic(json, data)
    return result, data


def frequency_sweep(s_values: list[float], *, grid: int = 100,
                    alpha_range: tuple[float, float] = (0.0, math.pi),
                    beta_range: tuple[float, float] = (1.0, 3.0), dt: float = 0.2,
                    t_transient: float = 200.0, t_window: float = 200.0,
                    out: PathLike = "frequency_sweep.png", json: PathLike | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Oscillation frequency of the Eq 8 GRU (b_r = s) on the open (alpha, beta) grid, every
    point integrated in one batched RK4 run per s (Fig 6): the map (PNG) and, per s, the
    oscillating fraction, mean and variance of the frequency (NaN grid points do not
    oscillate). Returns the JSON form (frequencies with None for NaN)."""
    (a0, a1), (b0, b1) = alpha_range, beta_range
    if grid < 2 or not a0 < a1 or not b0 < b1 or dt <= 0:
        raise UserError("need --grid >= 2, increasing --alpha-range and --beta-range, --dt > 0")
    from tqdm import tqdm

    alphas = np.linspace(a0, a1, grid + 2)[1:-1]  # open grid: the paper's ranges are open
    betas = np.linspace(b0, b1, grid + 2)[1:-1]
    freqs: dict[float, np.ndarray] = {}
    for s in tqdm(s_values, desc="s values", disable=not progress):
        cells = [hopf(float(a), float(b), s) for a in alphas for b in betas]
        h0 = torch.tensor([0.3, 0.0], dtype=torch.float64).expand(len(cells), 2).clone()
        freq = oscillation_frequency(stacked_field(cells), h0, dt=dt,
                                     t_transient=t_transient, t_window=t_window)
        freqs[s] = freq.reshape(len(alphas), len(betas)).numpy()
    save_png(frequency_map(alphas, betas, freqs), out)
    summary = []
    for s in s_values:
        f = freqs[s]
        ok = np.isfinite(f)
        summary.append({"s": s, "oscillating_fraction": float(ok.mean()),
                        "mean_frequency": float(f[ok].mean()) if ok.any() else None,
                        "variance_frequency": float(f[ok].var()) if ok.any() else None})
    data = {"alpha": alphas.tolist(), "beta": betas.tolist(),
            "time_unit": "the vector field's time unit (one GRU step = 1)",
            "summary": summary,
            "frequency": {str(s): [[None if not math.isfinite(x) else x for x in row]
                                   for row in freqs[s].tolist()] for s in s_values}}
    if json:
        write_json_atomic(json, data)
    return data
