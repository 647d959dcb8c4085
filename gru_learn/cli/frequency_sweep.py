"""``python -m gru_learn frequency-sweep``: oscillation frequency of the Eq 8 GRU over an
(alpha, beta) grid for each reset bias s, every grid point integrated in one batched run
(paper Fig 6: the map for the first s, and the mean +- sd of the frequency against s).

Example: ``python -m gru_learn frequency-sweep --s 0 1 2 --grid 100 --out fig6.png --json f.json``.
"""

from __future__ import annotations

import math

from gru_learn.cli.common import ArgumentParser, description
from gru_learn.experiments.preset_studies import frequency_sweep


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
    data = frequency_sweep(args.s, grid=args.grid, alpha_range=tuple(args.alpha_range),
                           beta_range=tuple(args.beta_range), dt=args.dt,
                           t_transient=args.t_transient, t_window=args.t_window,
                           out=args.out, json=args.json)
    for row in data["summary"]:
        print(f"s={row['s']:g}: {row['oscillating_fraction']:.1%} of the grid oscillates, "
              f"mean frequency {row['mean_frequency']}")
    return 0
