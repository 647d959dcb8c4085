"""Fig 6 sweep benchmark: the whole (alpha, beta) grid integrated in one batched RK4 run vs
scipy's solve_ivp (RK45) on a sample of grid points, compared per grid point, same run.

Run: ``python bench/bench_frequency_sweep.py [--grid 100] [--sample 20]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from gru_learn.dynamics.frequency import (
    frequency_from_samples,
    oscillation_frequency,
    stacked_field,
)
from gru_learn.gru.presets import hopf

T_TRANSIENT, T_WINDOW, DT = 200.0, 200.0, 0.2


def scipy_frequency(cell, h0: np.ndarray) -> float:  # noqa: ANN001
    """Baseline: solve_ivp (RK45) over the same span, frequency read the same way."""
    def rhs(_t: float, h: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return cell.vector_field(torch.from_numpy(h)).numpy()

    t_eval = np.arange(T_TRANSIENT, T_TRANSIENT + T_WINDOW + DT / 2, DT)
    sol = solve_ivp(rhs, (0, T_TRANSIENT + T_WINDOW), h0, t_eval=t_eval, rtol=1e-8, atol=1e-10)
    x = torch.from_numpy(sol.y[0])[:, None]
    return float(frequency_from_samples(x, DT)[0])  # the same oscillation criteria as ours


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=100)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    alphas = np.linspace(0, math.pi, args.grid + 2)[1:-1]
    betas = np.linspace(1, 3, args.grid + 2)[1:-1]
    params = [(a, b) for a in alphas for b in betas]
    cells = [hopf(float(a), float(b), 0.0) for a, b in params]
    for c in cells:
        c.requires_grad_(False)
    h0 = torch.tensor([0.3, 0.0], dtype=torch.float64).expand(len(cells), 2).clone()
    t = time.perf_counter()
    freq = oscillation_frequency(stacked_field(cells), h0, dt=DT, t_transient=T_TRANSIENT,
                                 t_window=T_WINDOW)
    t_batched = time.perf_counter() - t
    rng = np.random.default_rng(0)
    # half the sample where we see oscillations (to compare frequencies), half anywhere
    osc = np.flatnonzero(np.isfinite(freq.numpy()))
    n_osc = min(len(osc), args.sample // 2)
    idx = np.concatenate([rng.choice(osc, size=n_osc, replace=False),
                          rng.choice(len(cells), size=args.sample - n_osc, replace=False)])
    t = time.perf_counter()
    ref = [scipy_frequency(cells[i], np.array([0.3, 0.0])) for i in idx]
    t_scipy = time.perf_counter() - t
    per_ours, per_scipy = t_batched / len(cells), t_scipy / len(idx)
    ours = freq[torch.as_tensor(idx)].numpy()
    both = np.isfinite(ours) & np.isfinite(ref)
    agree = np.isfinite(ours) == np.isfinite(ref)
    print(f"grid {args.grid}x{args.grid}: batched RK4 {t_batched:.1f} s "
          f"({per_ours * 1e3:.2f} ms per point)")
    print(f"solve_ivp on {len(idx)} points: {t_scipy:.1f} s ({per_scipy * 1e3:.1f} ms per point)")
    print(f"per-point speed-up: {per_scipy / per_ours:.1f}x")
    rel = np.abs(ours[both] - np.array(ref)[both]) / np.array(ref)[both]
    print(f"oscillating/not agreement: {agree.mean():.2f}; max relative frequency difference "
          f"where both oscillate: {rel.max() if both.any() else math.nan:.2e}")

if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
