"""Fig 6 as a step: the frequency sweep over (alpha, beta) for s = 0, 1, 2, and the same trend
under every reading of the figure that could reverse it (:func:`fig6_readings`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from gru_learn.experiments.paper.common import Claim, Settings, claim
from gru_learn.experiments.preset_studies import frequency_sweep
from gru_learn.files.atomic import write_json_atomic


def fig6(out: Path, s: Settings) -> list[Claim]:
    rows = frequency_sweep([0.0, 1.0, 2.0], grid=s.sweep_grid, out=out / "fig6.png",
                           json=out / "fig6.json")["summary"]
    readings = fig6_readings(s.readings_grid, (0.0, 1.0, 2.0))
    write_json_atomic(out / "fig6_readings.json", readings)
    return fig6_claims(rows, readings, s)


def fig6_claims(rows: list[dict[str, Any]], readings: dict[str, Any],
                s: Settings) -> list[Claim]:
    """The report's Fig 6 rows from the sweep's per-s ``rows`` and :func:`fig6_readings`."""
    means = [r["mean_frequency"] for r in rows]
    variances = [r["variance_frequency"] for r in rows]
    ok_mean, ok_var = _falls(means), _falls(variances)
    matching = [k for k, r in readings["readings"].items() if r["reproduces"]]
    return [
        claim("Fig 6 right", "increasing the reset bias s slows the mean oscillation "
              "frequency and reduces its variance", "mean and variance fall with s",
              "; ".join(f"s={r['s']:g}: mean {_num(r['mean_frequency'], 4)}, var "
                        f"{_num(r['variance_frequency'], 3)}" for r in rows),
              ok_mean and ok_var, f"{s.sweep_grid}x{s.sweep_grid} (alpha, beta) grid"),
        claim("Fig 6 readings", "which reading of Fig 6 gives 'increasing s slows the mean "
              "frequency and reduces its variance'", "mean and variance fall with s (slower)",
              "; ".join(f"{k}: mean {_trend(r['mean'])}, var {_trend(r['variance'])}"
                        for k, r in readings["readings"].items()),
              bool(set(matching) - {"period"}),
              "mean and variance both fall under: " + (", ".join(matching) or "none") + ". "
              + (f"period: {readings['readings']['period']['note']}. "
                 if "period" in matching else "")
              + readings["analytic"] + f" Grid {s.readings_grid}^2, s = 0, 1, 2; "
              "fig6_readings.json"),
    ]


def _falls(xs: list[float | None]) -> bool:
    """Whether every value is known and below the one before (None: nothing oscillated)."""
    return all(a is not None and b is not None and b < a for a, b in zip(xs, xs[1:], strict=False))


def _num(x: float | None, digits: int) -> str:
    return "nan" if x is None else f"{x:.{digits}g}"


def _trend(xs: list[float | None]) -> str:
    vals = ["nan" if x is None else f"{x:.3g}" for x in xs]
    return "->".join(vals)


def fig6_readings(grid: int, s_values: tuple[float, ...], dt: float = 0.2,
                  t_transient: float = 200.0, t_window: float = 200.0) -> dict[str, Any]:
    """Fig 6 right under each reading that could reverse our trend: per reading, the mean and
    variance of the frequency against s, and whether both fall with s (the paper's claim).

    - ``ode``: our reading (ODE frequency, b_r = s, paper reset, mean over oscillating points);
    - ``map``: the discrete GRU map h -> h + f(h), cycles per step;
    - ``reset_after``: torch.nn.GRU's reset convention;
    - ``minus_s``: b_r = -s (the bias entering with the opposite sign);
    - ``fixed_region_zero``: mean over the whole (alpha, beta) rectangle, 0 where no cycle;
    - ``fixed_region_s0``: mean over the points oscillating at the first s;
    - ``period``: the mean period instead of the frequency (other units; Hz = a constant
      factor of ours and cannot change a trend).
    """
    import numpy as np

    from gru_learn.dynamics.frequency import map_frequency, oscillation_frequency, stacked_field
    from gru_learn.gru.presets import hopf

    alphas = np.linspace(0, math.pi, grid + 2)[1:-1]
    betas = np.linspace(1, 3, grid + 2)[1:-1]

    def sweep(sign: float, reset: str, discrete: bool) -> dict[float, np.ndarray]:
        # every s in one batch: the cost is per time step, nearly independent of the batch
        cells = [hopf(float(a), float(b), sign * sv, reset=reset) for sv in s_values
                 for a in alphas for b in betas]
        h0 = torch.tensor([0.3, 0.0], dtype=torch.float64).expand(len(cells), 2).clone()
        f = stacked_field(cells)
        freq = (map_frequency(f, h0, n_transient=int(t_transient), n_window=int(t_window))
                if discrete else oscillation_frequency(f, h0, dt=dt, t_transient=t_transient,
                                                       t_window=t_window))
        per_s = freq.numpy().reshape(len(s_values), -1)
        return {sv: per_s[i] for i, sv in enumerate(s_values)}

    def stats(values: list[np.ndarray]) -> dict[str, Any]:
        mean = [float(np.mean(v)) if len(v) else None for v in values]
        var = [float(np.var(v)) if len(v) else None for v in values]
        return {"mean": mean, "variance": var, "reproduces": _falls(mean) and _falls(var)}

    ode = sweep(1.0, "before", False)
    osc = [ode[sv][np.isfinite(ode[sv])] for sv in s_values]
    first = np.isfinite(ode[s_values[0]])
    readings = {
        "ode": stats(osc),
        "map": stats([v[np.isfinite(v)] for v in sweep(1.0, "before", True).values()]),
        "reset_after": stats([v[np.isfinite(v)] for v in sweep(1.0, "after", False).values()]),
        "minus_s": stats([v[np.isfinite(v)] for v in sweep(-1.0, "before", False).values()]),
        "fixed_region_zero": stats([np.nan_to_num(ode[sv], nan=0.0) for sv in s_values]),
        "fixed_region_s0": stats([ode[sv][first & np.isfinite(ode[sv])] for sv in s_values]),
        "period": stats([1.0 / v for v in osc]),
    }
    readings["period"]["note"] = ("a falling mean period is a faster oscillation: it can match "
                                  "the shape of the paper's plot only if its axis showed "
                                  "periods, and then contradicts 'slows down'")
    analytic = ("Analytically r = sigma(s) is constant in Eq 8, so f = (tanh(sigma(s) beta "
                "R(alpha) h) - h)/2: s only rescales the gain beta to sigma(s) beta; the "
                "origin turns at sigma(s) beta sin(alpha)/2 rad per unit time, increasing in s, "
                "and both reset conventions give the same field.")
    return {"s": list(s_values), "grid": grid, "readings": readings, "analytic": analytic}


