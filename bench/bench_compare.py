"""The paper's Fig 12 grid (2 systems x 4 hidden sizes x 3 seeds, full batch, 667 trajectories x 29
steps) for E epochs: ``gru_learn compare`` (vectorised ensembles) against the same 24 runs as
separate ``gru_learn fit`` runs one after another (in-process ``gru_learn.cli.fit.main``,
TensorBoard to a temporary folder, checkpoints and validation every 10 epochs as shipped, the
end-of-fit dynamics analysis off) and, as a second baseline, the same 24 runs as bare
GRUForecaster Adam loops. Same process, same machine, same epochs; prints the ratios (target: >=
5x) and the extrapolated wall time of the full grid at 4000 epochs.

    python bench/bench_compare.py [--epochs 100] [--workers 1] [--skip-fit]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning as L
import torch

from gru_learn.cli.compare import main as compare_main
from gru_learn.cli.fit import main as fit_main
from gru_learn.cli.fit import set_cpu_threads
from gru_learn.data import TrajectoryDataModule
from gru_learn.model import GRUForecaster

SYSTEMS, SIZES, SEEDS = ("ring", "fhn"), (2, 4, 8, 16), (0, 1, 2)
FULL_EPOCHS = 4000


def ours(epochs: int, workers: int, root: str) -> float:
    """Seconds for `gru_learn compare` over the grid, outputs included."""
    args = ["--systems", *SYSTEMS, "--hidden-sizes", *map(str, SIZES), "--seeds",
            *map(str, SEEDS), "--epochs", str(epochs), "--workers", str(workers),
            "--out", f"{root}/compare-{epochs}", "--cache-dir", f"{root}/datasets"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="compare's --workers")
    parser.add_argument("--skip-fit", action="store_true", help="only the bare-loop baseline")
    args = parser.parse_args()
    set_cpu_threads()
    E = args.epochs
    with tempfile.TemporaryDirectory() as root:
        for system in SYSTEMS:  # simulate the data outside every timing
            TrajectoryDataModule(system, cache_dir=f"{root}/datasets").prepare_data()
        short = ours(10, args.workers, root)
        t_ours = ours(E, args.workers, root)
        t_plain = plain_loops(E, root)
        t_fit = None if args.skip_fit else separate_fits(E, root)
    per_epoch = (t_ours - short) / (E - 10)
    print(f"\ngrid: {len(SYSTEMS)} systems x {len(SIZES)} sizes x {len(SEEDS)} seeds, {E} epochs, "
          f"{torch.get_num_threads()} intra-op thread(s)")
    print(f"gru_learn compare (workers={args.workers}): {t_ours:8.1f} s")
    print(f"24 bare Adam loops         : {t_plain:8.1f} s   ratio {t_plain / t_ours:.2f}x")
    if t_fit is not None:
        print(f"24 separate gru_learn fit  : {t_fit:8.1f} s   ratio {t_fit / t_ours:.2f}x "
              "(target >= 5x)")
    full = short + (FULL_EPOCHS - 10) * per_epoch
    # the bare loops have no fixed cost per run, so they extrapolate linearly (a lower bound
    # for separate fits, whose per-run start-up does not grow with the epochs)
    print(f"full grid at {FULL_EPOCHS} epochs, extrapolated: compare {full / 60:.1f} min; "
          f"separate runs (bare loops) {t_plain * FULL_EPOCHS / E / 60:.1f} min")


if __name__ == "__main__":
    main()
