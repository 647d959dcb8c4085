"""Fixed-point search benchmarks; every ratio is against a baseline timed in the same run.

1. Exhaustive 2-D search per preset vs scipy.optimize.fsolve from every node of a 32x32 grid.
2. A random 16-D GRU: our finder (Levenberg-Marquardt from 256 box samples) vs a
   Golub-Sussillo style finder (Adam on q = 1/2 ||f||^2, 1024 starts, up to 5000 iterations),
   both scored by recall against a slow reference (2048 starts, 300 LM iterations).

Run: ``python bench/bench_fixed_points.py``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import fsolve

from gru_learn.dynamics import find_fixed_points
from gru_learn.dynamics.fixed_points import deduplicate, levenberg_marquardt
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.presets import build_preset

BOX2 = [(-1.0, 1.0), (-1.0, 1.0)]


def timed(fn):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def fsolve_grid(f, resolution: int = 32) -> int:  # noqa: ANN001
    """Baseline: fsolve from every node of a 32 x 32 grid (ours seeds from a 64 x 64 grid),
    then deduplicate."""
    def g(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return f(torch.from_numpy(x)).numpy()

    axis = np.linspace(-1, 1, resolution)
    roots = []
    for x in axis:
        for y in axis:
            r, _, ok, _ = fsolve(g, np.array([x, y]), full_output=True, xtol=1e-12)
            if ok == 1 and np.abs(r).max() <= 1 and np.linalg.norm(g(r)) < 1e-10:
                roots.append(r)
    pts = torch.tensor(np.array(roots))
    return len(deduplicate(pts, torch.zeros(len(pts)), 1e-6)) if len(roots) else 0


def presets_2d() -> None:
    print("== exhaustive 2-D search per preset (target < 0.5 s) ==")
    find_fixed_points(build_preset("hopf").vector_field, BOX2)  # warm up functorch
    for name, overrides in [("bistable_pair", {}), ("hopf", {"alpha": 0.7}),
                            ("homoclinic", {})]:
        f = build_preset(name, overrides).vector_field
        ours, t_ours = timed(lambda f=f: find_fixed_points(f, BOX2))
        n_base, t_base = timed(lambda f=f: fsolve_grid(f))
        print(f"{name:14s} ours {t_ours:6.3f} s ({len(ours.fixed_points)} points)  "
              f"fsolve grid {t_base:6.2f} s ({n_base} points)  speed-up {t_base / t_ours:6.1f}x")


def golub_sussillo(f, starts: torch.Tensor, iters: int = 5000, lr: float = 1e-2,  # noqa: ANN001
                   q_tol: float = 1e-14) -> torch.Tensor:
    """Adam on q = 1/2 ||f||^2 from every start; returns the minimisers with q < q_tol."""
    h = starts.clone().requires_grad_(True)
    opt = torch.optim.Adam([h], lr=lr)
    for _ in range(iters):
        opt.zero_grad()
        q = 0.5 * (f(h) ** 2).sum(-1)
        if float(q.detach().max()) < q_tol:
            break
        q.sum().backward()
        opt.step()
    with torch.no_grad():
        q = 0.5 * (f(h) ** 2).sum(-1)
    return h.detach()[q < q_tol]


def recall(found: torch.Tensor, reference: torch.Tensor, radius: float = 1e-4) -> float:
    if len(reference) == 0:
        return 1.0
    if len(found) == 0:
        return 0.0
    return float((torch.cdist(reference, found).min(1).values < radius).float().mean())


def random_16d(seed: int = 0) -> None:
    print("== random 16-D GRU ==")
    torch.manual_seed(seed)
    cell = GRUCell(0, 16).double()
    with torch.no_grad():
        cell.weight_hh.mul_(5.0)  # strong recurrence: several fixed points
    cell.requires_grad_(False)
    f = cell.vector_field
    box = [(-1.0, 1.0)] * 16
    g = torch.Generator().manual_seed(seed)
    ref_starts = torch.rand(2048, 16, dtype=torch.float64, generator=g) * 2 - 1
    (h, speed, _), t_ref = timed(lambda: levenberg_marquardt(f, ref_starts, max_iter=300))
    # roots in the box only: far outside, 1 - z rounds to 0 and f "vanishes" (not a root)
    ok = (speed < 1e-10) & (h.abs() <= 1).all(-1)
    roots = h[ok]
    reference = roots[deduplicate(roots, speed[ok], 1e-6)]
    ours, t_ours = timed(lambda: find_fixed_points(f, box, n_starts=256, generator=g))
    ours_pts = torch.stack([p.h for p in ours.fixed_points]) if ours.fixed_points else \
        torch.empty(0, 16, dtype=torch.float64)
    starts = torch.rand(1024, 16, dtype=torch.float64, generator=g) * 2 - 1
    gs, t_gs = timed(lambda: golub_sussillo(f, starts))
    gs_pts = gs[deduplicate(gs, torch.zeros(len(gs)), 1e-4)] if len(gs) else gs
    print(f"reference: {len(reference)} fixed points in {t_ref:.1f} s")
    print(f"ours:      recall {recall(ours_pts, reference):.2f} in {t_ours:.2f} s")
    print(f"GS (Adam): recall {recall(gs_pts, reference):.2f} in {t_gs:.2f} s")
    print(f"time ratio GS / ours: {t_gs / t_ours:.1f}x")


if __name__ == "__main__":
    torch.set_num_threads(1)
    presets_2d()
    random_16d()
