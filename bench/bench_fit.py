"""Time per epoch of the paper's setting (2-D GRU, 667 trajectories x 29 steps, full batch):
``gru_learn fit`` (Lightning, our GRUCell, TensorBoard logging, checkpoints, validation
as shipped; the end-of-fit analysis off) against a plain PyTorch loop with
``torch.nn.GRU`` of the same size, in the same process, both on one thread. The two are run
alternately, ``--rounds`` times each, and the best time of each is compared (this machine's
speed drifts by +-20 % from minute to minute). Prints the ratio ours / plain (target: <= 0.5).

    python bench/bench_fit.py [--epochs 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch import nn

from gru_learn.cli.fit import main as fit_main
from gru_learn.training.data import TrajectoryDataModule


def plain_loop(data: torch.Tensor, epochs: int) -> float:
    """Seconds per epoch of a bare Adam loop over torch.nn.GRU on the same task."""
    torch.manual_seed(0)
    gru, readout = nn.GRU(2, 2, batch_first=True), nn.Linear(2, 2)
    opt = torch.optim.Adam([*gru.parameters(), *readout.parameters()], lr=0.01)
    w0, target = data[:, :1], data[:, 1:]
    inputs = torch.cat([w0, torch.zeros_like(target[:, 1:])], dim=1)  # w(0), then no input
    start = time.perf_counter()
    for _ in range(epochs):
        opt.zero_grad()
        out, _ = gru(inputs)
        loss = nn.functional.mse_loss(readout(out), target)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / epochs


def ours(epochs: int, root: str) -> float:
    """Seconds per epoch of `python -m gru_learn fit` with the shipped defaults."""
    args = ["fit", f"--trainer.max_epochs={epochs}", f"--trainer.default_root_dir={root}",
            f"--trainer.logger.init_args.save_dir={root}", "--trainer.enable_model_summary=false",
            "--analysis.enabled=false"]  # training only: the end-of-fit analysis is not an epoch
    # warm-up run so that imports and the data cache are not timed
    fit_main(["fit", "--trainer.max_epochs=2", f"--trainer.logger.init_args.save_dir={root}",
              "--analysis.enabled=false"])
    start = time.perf_counter()
    fit_main(args)
    return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as `fit` runs (GRU_LEARN_NUM_THREADS): same conditions for both
    dm = TrajectoryDataModule()
    dm.setup()
    bases, times = [], []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.rounds):
            bases.append(plain_loop(dm.splits["train"], args.epochs))
            times.append(ours(args.epochs, root))
    base, t = min(bases), min(times)
    print(f"plain torch.nn.GRU loop: {1e3 * base:.2f} ms/epoch  (rounds: "
          f"{', '.join(f'{1e3 * b:.2f}' for b in bases)})")
    print(f"gru_learn fit          : {1e3 * t:.2f} ms/epoch  (rounds: "
          f"{', '.join(f'{1e3 * b:.2f}' for b in times)})")
    print(f"ratio ours/plain       : {t / base:.2f}  (target <= 0.5)")


if __name__ == "__main__":
    main()
