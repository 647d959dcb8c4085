"""Our Lorenz-63 GRUs scored against the test series Hess et al. (2023) evaluate on:
``ICML2023_datasets/Lorenz63/lorenz63_test.npy`` of DurstewitzLab/GTF-shPLRNN (10^5 z-scored
states, sample spacing ~0.01), with their D_stsp setting (30 bins).

    python bench/lorenz_published_data.py --test lorenz63_test.npy --runs logs/reconstruction

D_stsp compares state distributions, so a series at another sample spacing (ours: dt = 0.05)
is comparable when both are long; D_H (a power spectrum over sample frequencies) is not, and is
not computed. Each series is z-scored with the mean and sd of our long true trajectory (the
attractor's), the same fixed transform for the true system and every model. Prints the
reference D_stsp of: our true trajectory (the calibration: both are the Lorenz attractor), and
the free run of every finished run under ``<runs>/lorenz/<method>/seed*``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reconstruction import Target, load_model  # noqa: E402

from gru_learn.dynamics.metrics import state_space_divergence_reference  # noqa: E402
from gru_learn.gru.rollout import rollout_hidden  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="lorenz63_test.npy of GTF-shPLRNN")
    p.add_argument("--runs", required=True, help="the reconstruction benchmark's --out")
    p.add_argument("--config", default="bench/reconstruction.yaml")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("GRU_LEARN_NUM_THREADS", "1")))
    published = np.load(args.test).astype(np.float64)
    cfg = yaml.safe_load(Path(args.config).read_text())
    target = Target("lorenz", cfg["systems"]["lorenz"], cfg.get("cache_dir", "datasets"),
                    Path(args.runs))
    mean, sd = target.truth.mean(0), target.truth.std(0)

    def score(x: np.ndarray) -> float:
        return state_space_divergence_reference(published, (x - mean) / sd, bins=30)

    print(f"published test series {published.shape}; true system (ours, dt 0.05, "
          f"{len(target.truth)} steps): D_stsp {score(target.truth):.3g}")
    w0 = target.dm.splits["test"][:1, 0].to(torch.float64)
    for method in sorted(p.name for p in (Path(args.runs) / "lorenz").iterdir() if p.is_dir()):
        vals = []
        for folder in sorted((Path(args.runs) / "lorenz" / method).glob("seed*")):
            model = load_model(folder).to(torch.float64).eval()
            with torch.no_grad():
                hs = rollout_hidden(model.cell, w0, target.steps + target.drop)[0, target.drop:]
                vals.append(score(model.readout(hs).numpy()))
        print(f"{method}: D_stsp {np.mean(vals):.3g} +- {np.std(vals, ddof=1):.2g} "
              f"(median {np.median(vals):.3g}; {len(vals)} seeds: "
              f"{np.round(vals, 3).tolist()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
