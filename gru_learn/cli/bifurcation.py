"""``python -m gru_learn bifurcation``: continue a preset's fixed points along one parameter and
locate saddle-node, Hopf and homoclinic bifurcations (PNG diagram, JSON with errors).

Example: ``python -m gru_learn bifurcation --preset homoclinic --param gamma --range 0.05 0.055
--json b.json``.
"""

from __future__ import annotations

from gru_learn.cli.common import (
    ArgumentParser,
    check_outputs,
    description,
    finite,
    parse_assignments,
)
from gru_learn.errors import UserError
from gru_learn.experiments.preset_studies import bifurcation
from gru_learn.gru.presets import PRESETS

MAX_STEPS = 10_000  # grid values: each is a full fixed-point search (about 0.1 s)


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn bifurcation", description=description(__doc__))
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--param", required=True, help="the preset parameter to vary")
    p.add_argument("--range", nargs=2, type=finite, required=True, metavar=("LO", "HI"))
    p.add_argument("--steps", type=int, default=11, help="parameter values on the coarse grid")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="fix another preset parameter (repeatable)")
    p.add_argument("--cycles", action="store_true",
                   help="also search limit cycles at every grid value (slow)")
    p.add_argument("--no-homoclinic", action="store_true", help="skip the homoclinic search")
    p.add_argument("--out", default="bifurcation.png", help="PNG path")
    p.add_argument("--json", default=None, help="write the bifurcations as JSON here")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not 2 <= args.steps <= MAX_STEPS:
        raise UserError(f"--steps must be between 2 and {MAX_STEPS} (each value is a fixed-"
                        f"point search; bisection refines between them), got {args.steps}")
    check_outputs(args)
    lo, hi = args.range
    result, _ = bifurcation(args.preset, args.param, lo, hi, steps=args.steps,
                            overrides=parse_assignments(args.set), cycles=args.cycles,
                            homoclinic=not args.no_homoclinic, out=args.out, json=args.json)
    for b in result.bifurcations:
        print(f"{b.kind}: {b.parameter} = {b.value:.10g} +- {b.error:.2g}")
    if not result.bifurcations:
        print(f"no bifurcation found for {args.param} in [{lo}, {hi}]")
    return 0
