"""``python -m gru_learn search-topology``: find 2-D GRU parameters with a requested fixed-point
structure, certified by the exhaustive 2-D search and the index sum; writes the parameters as a
``gru2d`` preset (``--set`` lines), a phase portrait (PNG) and JSON with the search effort.

Example: ``python -m gru_learn search-topology --min-fixed-points 11 --time-budget 300
--out fig3a.png --json fig3a.json``. Exit code 1 when nothing certified was found in time.
"""

from __future__ import annotations

import math

from gru_learn.analysis.figures.dynamics import phase_portrait
from gru_learn.analysis.figures.style import save_png
from gru_learn.cli.common import ArgumentParser, check_outputs, description, write_json_atomic
from gru_learn.dynamics import analyze_vector_field
from gru_learn.errors import UserError
from gru_learn.experiments.topology_search import BOX, TopologyRequest, search
from gru_learn.gru.params import cell_from_theta, theta_dict
from gru_learn.runtime import check_memory


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn search-topology", description=description(__doc__))
    p.add_argument("--min-fixed-points", type=int, default=None)
    p.add_argument("--sinks", type=int, default=None, help="exact number of sinks")
    p.add_argument("--saddles", type=int, default=None, help="exact number of saddles")
    p.add_argument("--sources", type=int, default=None, help="exact number of sources")
    p.add_argument("--stable-cycle", action="store_true", help="require a stable limit cycle")
    p.add_argument("--saddle-node", type=int, choices=(1, 2), default=None,
                   help="end at a saddle-node point of the first (sink + saddle) or second "
                   "(source + saddle) kind")
    p.add_argument("--reset", choices=("before", "after"), default="before")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-budget", type=float, default=300.0, help="seconds")
    p.add_argument("--population", type=int, default=256)
    p.add_argument("--scale", type=float, default=4.0, help="sd of random parameters")
    p.add_argument("--out", default="search_topology.png", help="PNG path")
    p.add_argument("--json", default=None, help="write parameters, certificate, effort here")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    request = TopologyRequest(args.min_fixed_points, args.sinks, args.saddles, args.sources,
                              args.stable_cycle, args.saddle_node)
    if request == TopologyRequest():
        raise UserError("ask for something: --min-fixed-points, --sinks, --saddles, --sources, "
                        "--stable-cycle or --saddle-node")
    if args.time_budget <= 0 or args.population < 4 or args.scale <= 0:
        raise UserError("need --time-budget > 0, --population >= 4 and --scale > 0")
    if not (math.isfinite(args.time_budget) and math.isfinite(args.scale)):
        raise UserError("--time-budget and --scale must be finite numbers")
    # each member's parameters and its search state (measured: about 96 bytes a member)
    check_memory(128 * args.population, f"--population {args.population}")
    check_outputs(args)
    result = search(request, reset=args.reset, seed=args.seed, time_budget=args.time_budget,
                    population=args.population, elite=max(2, args.population // 16),
                    scale=args.scale)
    out = result.to_json()
    effort = (f"{result.seconds:.0f} s, {result.generations} generations, {result.evaluated} "
              f"parameter sets scored, {result.certified_tries} exhaustive certifications")
    if not result.found:
        if args.json:
            write_json_atomic(args.json, out)
        print(f"nothing certified found ({effort}); best proxy {result.best_proxy}")
        return 1
    cell = cell_from_theta(result.theta, args.reset)
    analysis = analyze_vector_field(cell.vector_field, BOX, step=lambda h: cell(None, h),
                                    cycles=args.stable_cycle)
    fig = phase_portrait(cell.vector_field, BOX, result=analysis,
                         title=f"found: {result.certificate.counts['total']} fixed points")
    save_png(fig, args.out)
    params = theta_dict(result.theta)
    out["preset"] = {"name": "gru2d", "set": [f"{k}={v!r}" for k, v in params.items()]}
    if args.json:
        write_json_atomic(args.json, out)
    c = result.certificate.counts
    print(f"found ({effort}): {c['total']} fixed points ({c['sinks']} sinks, {c['saddles']} "
          f"saddles, {c['sources']} sources, {c['non_hyperbolic']} non-hyperbolic) -> {args.out}")
    print("portrait --preset gru2d " + " ".join(f"--set {s}" for s in out["preset"]["set"]))
    return 0
