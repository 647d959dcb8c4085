"""``python -m gru_learn portrait``: a preset GRU's phase portrait (PNG) and its analysis (JSON).

Example: ``python -m gru_learn portrait --preset hopf --set alpha=0.7 --set beta=3 --out p.png
--json p.json``. 1-D presets draw the flow on the line and report their Fig 1 topology.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from gru_learn.analysis.figures.dynamics import flow_1d, phase_portrait
from gru_learn.cli.common import ArgumentParser, description, parse_assignments, write_json_atomic
from gru_learn.dynamics import analyze_vector_field, classify_1d
from gru_learn.errors import UserError
from gru_learn.gru.presets import PRESETS, build_preset, preset_parameters


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn portrait", description=description(__doc__))
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a preset parameter (repeatable)")
    p.add_argument("--box", nargs=2, type=float, metavar=("LO", "HI"), default=None,
                   help="analysis box on every axis (default: the preset's, (-1, 1))")
    p.add_argument("--t-end", type=float, default=80.0, help="length of drawn trajectories")
    p.add_argument("--dt", type=float, default=0.1, help="RK4 step for trajectories and cycles")
    p.add_argument("--no-cycles", action="store_true", help="skip the limit-cycle search")
    p.add_argument("--out", default="portrait.png", help="PNG path")
    p.add_argument("--json", default=None, help="write the analysis as JSON here")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    params = preset_parameters(args.preset, parse_assignments(args.set))
    lo, hi = args.box if args.box else PRESETS[args.preset].box
    if not lo < hi or args.dt <= 0 or args.t_end <= 0:
        raise UserError("need --box LO < HI, --dt > 0 and --t-end > 0")
    cell = build_preset(args.preset, params)
    dim = cell.hidden_size
    title = f"{args.preset}: " + ", ".join(f"{k}={v:.6g}" for k, v in params.items())
    out = {"preset": args.preset, "parameters": params, "reset": cell.reset}
    if dim == 1:
        topo = classify_1d(cell.vector_field, (lo, hi))
        out.update(topo.to_json())
        fig = flow_1d(cell.vector_field, (lo, hi), topo, title=title)
    else:
        result = analyze_vector_field(
            cell.vector_field, [(lo, hi)] * dim, step=lambda h: cell(None, h),
            cycles=not args.no_cycles, dt=args.dt,
        )
        out.update(result.to_json())
        fig = phase_portrait(cell.vector_field, [(lo, hi)] * dim, result=result,
                             t_end=args.t_end, dt=args.dt, title=title)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    if args.json:
        write_json_atomic(args.json, out)
    n_fp = len(out.get("fixed_points", []))
    n_lc = len(out.get("limit_cycles", []))
    print(f"{args.preset}: {n_fp} fixed points, {n_lc} limit cycles -> {args.out}")
    return 0
