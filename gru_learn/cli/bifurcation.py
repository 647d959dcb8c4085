"""``python -m gru_learn bifurcation``: continue a preset's fixed points along one parameter and
locate saddle-node, Hopf and homoclinic bifurcations (PNG diagram, JSON with errors).

Example: ``python -m gru_learn bifurcation --preset homoclinic --param gamma --range 0.05 0.055
--json b.json``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from gru_learn.analysis.figures.dynamics import bifurcation_diagram
from gru_learn.cli.common import ArgumentParser, description, parse_assignments, write_json_atomic
from gru_learn.dynamics.analyze import cycle_starts
from gru_learn.dynamics.bifurcation import find_bifurcations
from gru_learn.dynamics.cycles import find_limit_cycles
from gru_learn.errors import UserError
from gru_learn.gru.presets import PRESETS, build_preset, preset_parameters


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn bifurcation", description=description(__doc__))
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--param", required=True, help="the preset parameter to vary")
    p.add_argument("--range", nargs=2, type=float, required=True, metavar=("LO", "HI"))
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
    fixed = preset_parameters(args.preset, parse_assignments(args.set))
    if args.param not in fixed:
        raise UserError(f"preset {args.preset!r} has no parameter {args.param!r}; "
                        f"it has {', '.join(fixed)}")
    lo, hi = args.range
    if not lo < hi or args.steps < 2:
        raise UserError("need --range LO HI with LO < HI and --steps >= 2")

    def family(value: float):  # noqa: ANN202 - a vector field
        return build_preset(args.preset, {**fixed, args.param: value}).vector_field

    dim = build_preset(args.preset, fixed).hidden_size
    box = [PRESETS[args.preset].box] * dim
    values = np.linspace(lo, hi, args.steps).tolist()
    result = find_bifurcations(family, args.param, values, box,
                               homoclinic=not args.no_homoclinic, progress=True)
    if args.cycles and dim >= 2:
        result.cycles = [
            find_limit_cycles(family(v), cycle_starts(tuple(box), r), dt=0.1,
                              t_transient=200.0, t_window=300.0)
            for v, r in zip(values, result.fixed_points, strict=False)
        ]
    fig = bifurcation_diagram(result)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    out = {"preset": args.preset, "parameters": fixed, **result.to_json()}
    if args.json:
        write_json_atomic(args.json, out)
    for b in result.bifurcations:
        print(f"{b.kind}: {b.parameter} = {b.value:.10g} +- {b.error:.2g}")
    if not result.bifurcations:
        print(f"no bifurcation found for {args.param} in [{lo}, {hi}]")
    return 0
