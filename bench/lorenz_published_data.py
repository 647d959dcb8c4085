"""Our Lorenz-63 GRUs scored against the test series Hess et al. (2023) evaluate on:
``ICML2023_datasets/Lorenz63/lorenz63_test.npy`` of DurstewitzLab/GTF-shPLRNN (10^5 z-scored
states, sample spacing ~0.01), with their D_stsp setting (30 bins).

    python bench/lorenz_published_data.py --test lorenz63_test.npy \
        --runs logs/reconstruction_lorenz_paper logs/reconstruction_lorenz_gtf ...

D_stsp compares state distributions, so a series at another sample spacing (ours: dt = 0.05)
is comparable when both are long; D_H (a power spectrum over sample frequencies) is not, and is
not computed. Each series is z-scored with the mean and sd of our long true trajectory (the
attractor's), the same fixed transform for the true system and every model. Prints the
reference D_stsp of: our true trajectory (the calibration: both are the Lorenz attractor), and
the free run of every finished run of each grid (``compare --config
configs/compare/reconstruction_lorenz_*.yaml --analyze``; its evaluation settings and true
trajectories are the ones ``--analyze`` stored under ``<runs>/lorenz``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from gru_learn.dynamics.metrics import state_space_divergence_reference
from gru_learn.experiments.grid.evaluation import TRUTH_FILE, Evaluation, Target
from gru_learn.gru.rollout import rollout_hidden
from gru_learn.training.module import GRUForecaster


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="lorenz63_test.npy of GTF-shPLRNN")
    p.add_argument("--runs", required=True, nargs="+",
                   help="compare --out folders of Lorenz grids analysed with --evaluation")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("GRU_LEARN_NUM_THREADS", "1")))
    published = np.load(args.test).astype(np.float64)
    target = None
    for runs in map(Path, args.runs):
        settings = json.loads((runs / "lorenz" / TRUTH_FILE).read_text())["settings"]
        data = json.loads((runs / "compare.json").read_text()).get("data", {})
        target = Target("lorenz", Evaluation(**settings), runs / "lorenz" / "evaluation.npz",
                        data.get("cache_dir"))
        mean, sd = target.truth.mean(0), target.truth.std(0)

        def score(x: np.ndarray, mean=mean, sd=sd) -> float:
            return state_space_divergence_reference(published, (x - mean) / sd, bins=30)

        print(f"{runs}: published test series {published.shape}; true system (ours, dt "
              f"{target.dm.dt:g}, {len(target.truth)} steps): D_stsp {score(target.truth):.3g}")
        w0 = target.dm.splits["test"][:1, 0].to(torch.float64)
        for size in sorted((runs / "lorenz").glob("h*")):
            vals = []
            for ckpt in sorted(size.glob("seed*/model.ckpt")):
                model = GRUForecaster.load_from_checkpoint(ckpt).to(torch.float64).eval()
                with torch.no_grad():
                    hs = rollout_hidden(model.cell, w0, target.steps + target.drop)[
                        0, target.drop:]
                    vals.append(score(model.readout(hs).numpy()))
            print(f"  {size.name}: D_stsp {np.mean(vals):.3g} +- {np.std(vals, ddof=1):.2g} "
                  f"(median {np.median(vals):.3g}; {len(vals)} seeds: "
                  f"{np.round(vals, 3).tolist()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
