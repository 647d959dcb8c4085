"""``python -m gru_learn portrait``: a preset GRU's phase portrait (PNG) and its analysis (JSON).

Example: ``python -m gru_learn portrait --preset hopf --set alpha=0.7 --set beta=3 --out p.png
--json p.json``. 1-D presets draw the flow on the line and report their Fig 1 topology.
"""

from __future__ import annotations

from gru_learn.cli.common import (
    ArgumentParser,
    check_outputs,
    description,
    finite,
    parse_assignments,
    positive,
)
from gru_learn.experiments.preset_studies import portrait
from gru_learn.gru.presets import PRESETS
from gru_learn.runtime import check_memory


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn portrait", description=description(__doc__))
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a preset parameter (repeatable)")
    p.add_argument("--box", nargs=2, type=finite, metavar=("LO", "HI"), default=None,
                   help="analysis box on every axis (default: the preset's, (-1, 1))")
    p.add_argument("--t-end", type=positive, default=80.0, help="length of drawn trajectories")
    p.add_argument("--dt", type=positive, default=0.1, help="RK4 step for trajectories and cycles")
    p.add_argument("--no-cycles", action="store_true", help="skip the limit-cycle search")
    p.add_argument("--out", default="portrait.png", help="PNG path")
    p.add_argument("--json", default=None, help="write the analysis as JSON here")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    # the drawn trajectories: a few dozen, each t_end / dt RK4 states
    check_memory(64 * 8 * 8 * args.t_end / args.dt, f"--t-end {args.t_end:g} at --dt "
                 f"{args.dt:g}")
    check_outputs(args)
    out = portrait(args.preset, parse_assignments(args.set),
                   box=tuple(args.box) if args.box else None, t_end=args.t_end, dt=args.dt,
                   cycles=not args.no_cycles, out=args.out, json=args.json)
    n_fp = len(out.get("fixed_points", []))
    n_lc = len(out.get("limit_cycles", []))
    print(f"{args.preset}: {n_fp} fixed points, {n_lc} limit cycles -> {args.out}")
    return 0
