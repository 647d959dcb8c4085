"""``python -m gru_learn frequency-sweep``: oscillation frequency of the Eq 8 GRU over an
(alpha, beta) grid for each reset bias s, every grid point integrated in one batched run
(paper Fig 6: the map for the first s, and the mean +- sd of the frequency against s).

Example: ``python -m gru_learn frequency-sweep --s 0 1 2 --grid 100 --out fig6.png --json f.json``.
"""

from __future__ import annotations

import math

from gru_learn.cli.common import ArgumentParser, check_outputs, description, finite, positive
from gru_learn.errors import UserError
from gru_learn.experiments.preset_studies import frequency_sweep
from gru_learn.runtime import check_memory


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn frequency-sweep", description=description(__doc__))
    p.add_argument("--s", nargs="+", type=finite, default=[0.0], help="reset-gate biases b_r")
    p.add_argument("--grid", type=int, default=100, help="grid points per axis")
    p.add_argument("--alpha-range", nargs=2, type=finite, default=[0.0, math.pi])
    p.add_argument("--beta-range", nargs=2, type=finite, default=[1.0, 3.0])
    p.add_argument("--dt", type=positive, default=0.2, help="RK4 step")
    p.add_argument("--t-transient", type=positive, default=200.0)
    p.add_argument("--t-window", type=positive, default=200.0)
    p.add_argument("--out", default="frequency_sweep.png", help="PNG path")
    p.add_argument("--json", default=None, help="write the frequency grids as JSON here")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.grid < 2:
        raise UserError(f"--grid must be at least 2, got {args.grid}")
    # every grid point's state and its recorded window, integrated together (float64)
    steps = args.t_window / args.dt
    check_memory(8 * 2 * args.grid ** 2 * (8 + steps), f"--grid {args.grid} over --t-window "
                 f"{args.t_window:g} at --dt {args.dt:g}")
    check_outputs(args)
    data = frequency_sweep(args.s, grid=args.grid, alpha_range=tuple(args.alpha_range),
                           beta_range=tuple(args.beta_range), dt=args.dt,
                           t_transient=args.t_transient, t_window=args.t_window,
                           out=args.out, json=args.json)
    for row in data["summary"]:
        print(f"s={row['s']:g}: {row['oscillating_fraction']:.1%} of the grid oscillates, "
              f"mean frequency {row['mean_frequency']}")
    return 0
