"""The toolkit's search on a d-unit GRU (fixed points + kinds + slow points, then continuous
attractors), now vs the code before issue 10, timed in the same run.

The baseline is the fixed-point module (and the stability module it imports) as they were at
commit ``BASE`` (read with ``git show`` into temporary modules, nothing copied into the repo),
run with the same seeds (the rollout states plus 128 uniform samples, today's default when
states are given; ``--baseline-defaults`` gives the baseline its own default of 512 uniform
samples instead). The baseline has no continuous-attractor finder, so the ratio is for fixed
points + kinds + slow points; the continuous-attractor time is printed beside it.

Seeds are what the end-of-fit analysis passes: states of closed-loop rollouts of the discrete
map (16 trajectories x 20 samples) plus 512 uniform box samples. The GRU is torch.nn.GRU's
initialisation with U scaled by 3 and 2 I added to U_h (self-excitation: many fixed points).
Every method is warmed up once on a 2-D cell first.

Run: ``python bench/bench_toolkit.py [--sizes 16 64 128] [--no-baseline]``.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gru_learn.dynamics import find_continuous_attractors, find_fixed_points, gru_jacobian
from gru_learn.gru.cell import GRUCell

BASE = "bf93e8a"  # main before issue 10
ROOT = Path(__file__).resolve().parents[1]


def load_baseline(tmp: Path):  # noqa: ANN201 - a module
    """The baseline fixed_points module, importing the baseline stability module."""
    for name in ("stability", "fixed_points"):
        src = subprocess.run(["git", "show", f"{BASE}:gru_learn/dynamics/{name}.py"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
        src = src.replace("gru_learn.dynamics.stability", "bench_base_stability")
        (tmp / f"bench_base_{name}.py").write_text(src)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("bench_base_fixed_points")


def gru(d: int, seed: int = 0) -> GRUCell:
    cell = GRUCell(0, d).double()
    cell.reset_parameters(generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        cell.weight_hh.mul_(3.0)
        cell.weight_hh[2 * d:] += 2.0 * torch.eye(d, dtype=torch.float64)
    return cell


def rollout_starts(cell: GRUCell, n: int = 16, steps: int = 400, keep: int = 20) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    h = torch.rand(n, cell.hidden_size, dtype=torch.float64, generator=g) * 2 - 1
    saved = []
    with torch.no_grad():
        for i in range(steps):
            h = cell(None, h)
            if i % (steps // keep) == 0:
                saved.append(h)
    return torch.cat(saved)


def timed(fn):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def one_size(d: int, base, n_base: int) -> None:  # noqa: ANN001 - base: a module or None
    cell = gru(d)
    f, step = cell.vector_field, (lambda h: cell(None, h))
    box = [(-1.0, 1.0)] * d
    starts = rollout_starts(cell)
    jac = gru_jacobian(cell)
    fixed, t_fp = timed(lambda: find_fixed_points(
        f, box, starts=starts, step=step, jac=jac, generator=torch.Generator().manual_seed(0)))
    manifolds, t_ca = timed(lambda: find_continuous_attractors(
        f, box, starts=starts, fixed=fixed, jac=jac, generator=torch.Generator().manual_seed(0)))
    line = f"{d:>4} {t_fp:>16.2f}s {t_ca:>16.2f}s {t_fp + t_ca:>6.2f}s"
    extra = ""
    if base is not None:
        old, t_old = timed(lambda: base.find_fixed_points(
            f, box, starts=starts, step=step, n_starts=n_base,
            generator=torch.Generator().manual_seed(0)))
        line += f" {t_old:>19.2f}s {t_old / t_fp:>5.1f}x"
        extra = f" (baseline {len(old.fixed_points)} points)"
    else:
        line += f" {'-':>20} {'-':>6}"
    kinds = sorted({p.kind for p in fixed.fixed_points})
    print(line + f"  {len(fixed.fixed_points)} points {kinds}, {len(fixed.slow_points)} "
          f"slow, {[m.kind for m in manifolds]}{extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline-defaults", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = None
    if not args.no_baseline:
        base = load_baseline(Path(tempfile.mkdtemp(prefix="bench_toolkit_")))
    warm = gru(2)
    find_continuous_attractors(warm.vector_field, [(-1.0, 1.0)] * 2,
                               fixed=find_fixed_points(warm.vector_field, [(-1.0, 1.0)] * 2))
    if base is not None:
        base.find_fixed_points(warm.vector_field, [(-1.0, 1.0)] * 2)
    print(f"{'d':>4} {'fixed+kinds+slow':>17} {'continuous attr.':>17} {'total':>7} "
          f"{'baseline (' + BASE + ')':>20} {'ratio':>6}  found")
    for d in args.sizes:
        one_size(d, base, 512 if args.baseline_defaults else 128)


if __name__ == "__main__":
    main()
