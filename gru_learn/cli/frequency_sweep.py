"""``python -m gru_learn frequency-sweep``: oscillation frequency of the Eq 8 GRU over an
(alpha, beta) grid for each reset bias s, every grid point integrated in one batched run
(paper Fig 6: the map for the first s, and the mean +- sd of the frequency against s).

Example: ``python -m gru_learn frequency-sweep --s 0 1 2 --grid 100 --out fig6.png --json f.json``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm import tqdm

from gru_learn.analysis.figures.dynamics import frequency_map
from gru_learn.cli.common import ArgumentParser, description, write_json_atomic
from gru_learn.dynamics.frequency import oscillation_frequency, stacked_field
from gru_learn.errors import UserError
from gru_learn.gru.presets import hopf


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn frequency-sweep", description=description(__doc__))
    p.add_argument("--s", nargs="+", type=float, default=[0.0], help="reset-gate biases b_r")
    p.add_argument("--grid", type=int, default=100, help="grid points per axis")
    p.add_argument("--alpha-range", nargs=2, type=float, default=[0.0, math.pi])
    p.add_argument("--beta-range", nargs=2, type=float, default=[1.0, 3.0])
    p.add_argument("--dt", type=float, default=0.2, help="RK4 step")
    p.add_argument("--t-transient", type=float, default=200.0)
    p.add_argument("--t-window", type=float, default=200.0)
    p.add_argument("--out", default="frequency_sweep.png", help="PNG path")
    p.add_argument("--json", default=None, help="write the frequency grids as JSON here")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    (a0, a1), (b0, b1) = args.alpha_range, args.beta_range
    if args.grid < 2 or not a0 < a1 or not b0 < b1 or args.dt <= 0:
        raise UserError("need --grid >= 2, increasing --alpha-range and --beta-range, --dt > 0")
    # open grid: the paper's ranges are open intervals
    alphas = np.linspace(a0, a1, args.grid + 2)[1:-1]
    betas = np.linspace(b0, b1, args.grid + 2)[1:-1]
    freqs: dict[float, np.ndarray] = {}
    for s in tqdm(args.s, desc="s values"):
        cells = [hopf(float(a), float(b), s) for a in alphas for b in betas]
        h0 = torch.tensor([0.3, 0.0], dtype=torch.float64).expand(len(cells), 2).clone()
        freq = oscillation_frequency(stacked_field(cells), h0, dt=args.dt,
                                     t_transient=args.t_transient, t_window=args.t_window)
        freqs[s] = freq.reshape(len(alphas), len(betas)).numpy()
    fig = frequency_map(alphas, betas, freqs)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    summary = []
    for s in args.s:
        f = freqs[s]
        ok = np.isfinite(f)
        summary.append({"s": s, "oscillating_fraction": float(ok.mean()),
                        "mean_frequency": float(f[ok].mean()) if ok.any() else None,
                        "variance_frequency": float(f[ok].var()) if ok.any() else None})
        print(f"s={s:g}: {ok.mean():.1%} of the grid oscillates, mean frequency "
              f"{summary[-1]['mean_frequency']}")
    if args.json:
        write_json_atomic(args.json, {
            "alpha": alphas.tolist(), "beta": betas.tolist(),
            "time_unit": "the vector field's time unit (one GRU step = 1)",
            "summary": summary,
            "frequency": {str(s): [[None if not math.isfinite(x) else x for x in row]
                                   for row in freqs[s].tolist()] for s in args.s},
        })
    return 0
