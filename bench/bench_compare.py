"""The paper's Fig 12 grid (2 systems x 4 hidden sizes x 3 seeds, full batch, 667 trajectories x 29
steps) for E epochs: ``gru_learn compare`` (vectorised ensembles) against the same 24 runs as
separate ``gru_learn fit`` runs one after another (in-process ``gru_learn.cli.fit.main``,
TensorBoard to a temporary folder, checkpoints and validation as shipped, the
end-of-fit dynamics analysis off) and, as a second baseline, the same 24 runs as bare
GRUForecaster Adam loops, and the same 24 runs as plain ``torch.nn.GRU`` + ``nn.Linear`` Adam loops
(``reset="after"``, torch's own GRU kernels). Same process, same machine, same epochs. ``compare``
is timed with one worker and with ``--workers`` (default: one per CPU core); prints the ratios
(targets: >= 5x the separate fits, >= 8x the plain nn.GRU loops) and the extrapolated wall time
of the full grid at 4000 epochs.

Roofline: the grid's matrix products (forward and backward, counted from the hand-written
rollout's products, :func:`grid_flops`) over its time, against the single-thread GEMM peak
measured on the same product shapes in the same run (:func:`gemm_peak`, weighted by each shape's
share of the arithmetic) times the workers.

    python bench/bench_compare.py [--epochs 100] [--workers N] [--skip-fit]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import lightning as L
import torch
from torch import nn

from gru_learn.cli.compare import main as compare_main
from gru_learn.cli.fit import main as fit_main
from gru_learn.cli.fit import set_cpu_threads
from gru_learn.training.data import TrajectoryDataModule
from gru_learn.training.module import GRUForecaster

SYSTEMS, SIZES, SEEDS = ("ring", "fhn"), (2, 4, 8, 16), (0, 1, 2)
FULL_EPOCHS = 4000
N_TRAIN, HORIZON, OBS = 667, 29, 2  # the paper's training split: 667 trajectories x 29 steps


def products(D: int, M: int = len(SEEDS), N: int = N_TRAIN, T: int = HORIZON,
             p: int = OBS) -> list[tuple[int, int, int, int, int]]:
    """The (batch, rows, inner, cols, times per epoch) matrix products of one epoch of M stacked
    D-unit members (``reset="before"``), as :mod:`gru_learn.gru.bptt` issues them: forward gates
    [U_rz | b] [h; 1] and [U_h | b] [r h; 1], the readout, the first step's input; backward
    C^T dL/dpred, U_h^T dc, U_rz^T da, and the weight gradients summed over the steps."""
    return [(M, 2 * D, D + 1, N, T - 1), (M, D, D + 1, N, T - 1), (T * M, p, D + 1, N, 1),
            (M, 3 * D, p, N, 1),  # forward
            (M, D, p, N, T), (M, D, D, N, T - 1), (M, D, 2 * D, N, T - 1),
            (T * M, 2 * D, N, D + 1, 1), (T * M, D, N, D + 1, 1), (T * M, p, N, D + 1, 1),
            (M, 3 * D, N, p, 1)]  # backward


def grid_flops(epochs: int) -> float:
    """Floating-point operations of the grid's matrix products (2 per multiply-add)."""
    per_epoch = sum(2 * b * i * k * j * n for D in SIZES for b, i, k, j, n in products(D))
    return len(SYSTEMS) * epochs * per_epoch


def gemm_peak(repeats: int = 3) -> float:
    """Single-thread GFLOP/s of ``torch.bmm`` on the grid's product shapes (float32), the
    shapes weighted as in :func:`grid_flops`: total FLOPs over total best time."""
    flops = seconds = 0.0
    for D in SIZES:
        for b, i, k, j, n in products(D):
            x, y = torch.rand(b, i, k), torch.rand(b, k, j)
            out = torch.empty(b, i, j)
            reps = max(3, int(2e7 / (2 * b * i * k * j)))
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(reps):
                    torch.bmm(x, y, out=out)
                best = min(best, (time.perf_counter() - start) / reps)
            flops += 2 * b * i * k * j * n
            seconds += best * n
    return flops / seconds / 1e9


def ours(epochs: int, workers: int, root: str) -> float:
    """Seconds for `gru_learn compare` over the grid, outputs included."""
    args = ["--systems", *SYSTEMS, "--hidden-sizes", *map(str, SIZES), "--seeds",
            *map(str, SEEDS), "--epochs", str(epochs), "--workers", str(workers),
            "--out", f"{root}/compare-{epochs}-w{workers}", "--cache-dir", f"{root}/datasets"]
    start = time.perf_counter()
    compare_main(args)
    return time.perf_counter() - start


def separate_fits(epochs: int, root: str) -> float:
    """Seconds for the 24 runs as separate `gru_learn fit` runs, one after another."""
    start = time.perf_counter()
    for system in SYSTEMS:
        for d in SIZES:
            for seed in SEEDS:
                fit_main(["fit", f"--seed_everything={seed}", f"--model.hidden_size={d}",
                          f"--data.system={system}", f"--data.cache_dir={root}/datasets",
                          f"--trainer.max_epochs={epochs}", f"--trainer.default_root_dir={root}",
                          f"--trainer.logger.init_args.save_dir={root}/logs",
                          "--trainer.enable_progress_bar=false",
                          "--trainer.enable_model_summary=false", "--analysis.enabled=false"])
    return time.perf_counter() - start


def plain_loops(epochs: int, root: str) -> float:
    """Seconds for the 24 runs as bare full-batch Adam loops over GRUForecaster."""
    start = time.perf_counter()
    for system in SYSTEMS:
        dm = TrajectoryDataModule(system, cache_dir=f"{root}/datasets")
        dm.setup()
        data = dm.splits["train"]
        for d in SIZES:
            for seed in SEEDS:
                L.seed_everything(seed, verbose=False)
                model = GRUForecaster(hidden_size=d, obs_dim=dm.obs_dim)
                opt = torch.optim.Adam(model.parameters(), lr=0.01)
                for _ in range(epochs):
                    opt.zero_grad()
                    model.loss(data).backward()
                    opt.step()
    return time.perf_counter() - start


def plain_gru_loops(epochs: int, root: str) -> float:
    """Seconds for the 24 runs as plain ``torch.nn.GRU`` + ``nn.Linear`` full-batch Adam loops
    (input w(0), then zeros), one after another."""
    start = time.perf_counter()
    for system in SYSTEMS:
        dm = TrajectoryDataModule(system, cache_dir=f"{root}/datasets")
        dm.setup()
        data = dm.splits["train"]
        w0, target = data[:, :1], data[:, 1:]
        inputs = torch.cat([w0, torch.zeros_like(target[:, 1:])], dim=1)
        for d in SIZES:
            for seed in SEEDS:
                torch.manual_seed(seed)
                gru, readout = nn.GRU(dm.obs_dim, d, batch_first=True), nn.Linear(d, dm.obs_dim)
                opt = torch.optim.Adam([*gru.parameters(), *readout.parameters()], lr=0.01)
                for _ in range(epochs):
                    opt.zero_grad()
                    out, _ = gru(inputs)
                    nn.functional.mse_loss(readout(out), target).backward()
                    opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="compare's --workers for the second timing (default: CPU cores)")
    parser.add_argument("--skip-fit", action="store_true", help="only the bare-loop baseline")
    args = parser.parse_args()
    set_cpu_threads()
    E = args.epochs
    counts = sorted({1, args.workers})
    with tempfile.TemporaryDirectory() as root:
        for system in SYSTEMS:  # simulate the data outside every timing
            TrajectoryDataModule(system, cache_dir=f"{root}/datasets").prepare_data()
        short = {w: ours(10, w, root) for w in counts}
        t_ours = {w: ours(E, w, root) for w in counts}
        t_plain = plain_loops(E, root)
        t_gru = plain_gru_loops(E, root)
        t_fit = None if args.skip_fit else separate_fits(E, root)
        peak = gemm_peak()
    print(f"\ngrid: {len(SYSTEMS)} systems x {len(SIZES)} sizes x {len(SEEDS)} seeds, {E} epochs, "
          f"{torch.get_num_threads()} intra-op thread(s) per process")
    print(f"24 bare Adam loops, one after another: {t_plain:8.1f} s")
    print(f"24 plain nn.GRU Adam loops           : {t_gru:8.1f} s")
    if t_fit is not None:
        print(f"24 separate gru_learn fit runs       : {t_fit:8.1f} s")
    for w in counts:
        line = f"gru_learn compare --workers {w}       : {t_ours[w]:8.1f} s   " \
               f"{t_plain / t_ours[w]:.2f}x the bare loops"
        if t_fit is not None:
            line += f", {t_fit / t_ours[w]:.2f}x the separate fits (target >= 5x)"
        print(line)
    # the bare loops have no fixed cost per run, so they extrapolate linearly (a lower bound
    # for separate fits, whose per-run start-up does not grow with the epochs)
    full = {w: short[w] + (FULL_EPOCHS - 10) * (t_ours[w] - short[w]) / (E - 10) for w in counts}
    w = max(counts)
    print(f"compare --workers {w} vs plain nn.GRU loops: {t_gru / t_ours[w]:.2f}x  (target >= 8x)")
    flops = grid_flops(FULL_EPOCHS)
    print(f"roofline: {flops / 1e12:.2f} TFLOP of matrix products in the grid at {FULL_EPOCHS} "
          f"epochs; compare --workers {w} (extrapolated) {flops / full[w] / 1e9:.1f} GFLOP/s "
          f"against the GEMM peak on the same shapes {peak:.1f} GFLOP/s x {w} = "
          f"{flops / full[w] / 1e9 / (peak * w):.0%}  (target >= 30%); arithmetic limit "
          f"{flops / (peak * w) / 1e9:.0f} s")
    for w in counts:
        print(f"full grid at {FULL_EPOCHS} epochs, extrapolated: compare --workers {w} "
              f"{full[w] / 60:.1f} min; separate runs (bare loops) "
              f"{t_plain * FULL_EPOCHS / E / 60:.1f} min")


if __name__ == "__main__":
    main()
