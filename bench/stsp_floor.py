"""How low can the binned d_stsp go on the paper-setting data of a limit-cycle system, and how
fast does it grow when a cycle is drawn slightly off? The true system itself, scored like a
trained model.

    python bench/stsp_floor.py [--systems fhn vdp] [--steps 20000]

Prints, per system (its paper-setting DataModule, as ``compare --evaluation`` evaluates):

- ``d_stsp`` (ours, the analysis' measure) of the true system at its nominal parameters,
  started from the analysis' initial states (the first 32 test states, 1250 steps, the first
  250 dropped), against the analysis' truth: the same states with *their own* parameters
  (FitzHugh-Nagumo draws I_ext per trajectory, sd 0.2); and of one half of the analysis' truth
  against the other (16 trajectories each);
- the reference D_stsp (30 bins) of one long nominal trajectory against another from a
  different state (the sampling floor), against trajectories with one parameter shifted by
  ``delta`` and against the nominal trajectory scaled about its mean by ``s`` (a cycle of the
  right shape and a wrong amplitude; FHN's learned cycles have peak-to-peak x 3.1-3.7 against
  3.84, s = 0.81-0.96).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from gru_learn.analysis import AnalysisConfig
from gru_learn.analysis.target import simulate_long
from gru_learn.dynamics.metrics import state_space_divergence, state_space_divergence_reference
from gru_learn.experiments.grid.evaluation import true_trajectory
from gru_learn.training.checkpoint import data_source
from gru_learn.training.data import TrajectoryDataModule

F64 = torch.float64
SHIFTS = {"fhn": ("I_ext", (0.02, 0.05, 0.1, 0.2)), "vdp": ("mu", (0.02, 0.05, 0.1, 0.2))}
SCALES = (0.99, 0.97, 0.95, 0.9, 0.85)


def floor(system: str, steps: int, drop: int = 1000) -> None:
    dm = TrajectoryDataModule(system=system)
    dm.setup()
    cls, dt, nominal = dm.system_cls, dm.dt, dm.spec["params"]
    cfg = AnalysisConfig()
    n, total = min(cfg.n_initial, len(dm.splits["test"])), int(1.25 * cfg.long_steps)
    cut = total - cfg.long_steps + 1
    clean = dm.blob["test_clean"].to(F64)
    band = simulate_long(data_source(dm), n, total)[:, cut:]
    nom = true_trajectory(cls, nominal, clean[:n, 0], dt, total + 1, substeps=8)
    nom = torch.as_tensor(nom.transpose(1, 0, 2)[:, cut:])
    print(f"{system}: d_stsp (ours), nominal parameters vs the analysis' truth: "
          f"{state_space_divergence(band, nom):.3g}; the analysis' truth, half vs half: "
          f"{state_space_divergence(band[: n // 2], band[n // 2:]):.3g}; nominal vs nominal "
          f"(other states): {state_space_divergence(nom[: n // 2], nom[n // 2:]):.3g}")
    name, deltas = SHIFTS[system]
    x0 = clean[:2, 0]
    long = true_trajectory(cls, nominal, x0, dt, steps + drop)[drop:]
    truth, other = long[:, 0], long[:, 1]
    print(f"  D_stsp (ref, 30 bins), nominal from test state 1 vs from test state 0: "
          f"{state_space_divergence_reference(truth, other):.3g}")
    starts = x0[:1].expand(len(deltas), -1)
    shifted = true_trajectory(cls, {**nominal, name: nominal[name] + torch.tensor(
        deltas, dtype=F64)}, starts, dt, steps + drop)[drop:]
    for k, d in enumerate(deltas):
        g = shifted[:, k]
        print(f"  {name} + {d}: D_stsp (ref) {state_space_divergence_reference(truth, g):.3g}, "
              f"peak-to-peak {np.ptp(g, 0).round(3).tolist()} (nominal "
              f"{np.ptp(truth, 0).round(3).tolist()})")
    mean = truth.mean(0)
    for s in SCALES:
        g = mean + s * (other - mean)
        print(f"  nominal scaled by {s}: D_stsp (ref) "
              f"{state_space_divergence_reference(truth, g):.3g}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", nargs="+", default=["fhn", "vdp"], choices=sorted(SHIFTS))
    p.add_argument("--steps", type=int, default=20000)
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("GRU_LEARN_NUM_THREADS", "1")))
    for system in args.systems:
        floor(system, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
