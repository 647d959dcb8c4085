"""Time per step of a long autonomous rollout h <- h + f(h, 0) with ``GRUCell.autonomous_map``
(the analysis's free runs, Lyapunov exponents and forced training rollouts use it), at several
hidden sizes and both candidate-state conventions, float64, one thread.

Two baselines, each measured in the same run:

- stepping ``cell(None, h)`` (the general step, constants recomputed every step);
- with ``--baseline-tree DIR`` (a copy of another commit, e.g. ``git archive OLD | tar -x -C
  DIR``), the same rollout with that tree's ``gru_learn``: each tree is timed in its own
  process, alternately, ``--rounds`` times, and the best time of each is compared (this
  machine's speed drifts by +-20 % from minute to minute).

    python bench/bench_rollout.py [--steps 10000] [--sizes 2 64] [--batch 32] [--rounds 3]
                                  [--baseline-tree /tmp/old]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial


def time_rollouts(sizes: list[int], steps: int, batch: int) -> dict[str, dict[str, float]]:
    """Seconds per step of ``autonomous_map`` and of ``cell(None, h)``, keyed by "d/reset"."""
    import torch

    from gru_learn import GRUCell

    torch.set_num_threads(1)
    out = {}
    for d in sizes:
        for reset in ("before", "after"):
            torch.manual_seed(0)
            cell = GRUCell(0, d, reset=reset).double()
            h0 = torch.rand(batch, d, dtype=torch.float64) * 2 - 1
            times = {}
            with torch.no_grad():
                for name, step in (("map", cell.autonomous_map()),
                                   ("cell", partial(cell, None))):
                    h = h0
                    for _ in range(100):  # warm-up
                        h = step(h)
                    start = time.perf_counter()
                    h = h0
                    for _ in range(steps):
                        h = step(h)
                    times[name] = (time.perf_counter() - start) / steps
            out[f"{d}/{reset}"] = times
    return out


def in_tree(tree: str | None, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """:func:`time_rollouts` in a fresh process importing ``gru_learn`` from ``tree`` (None:
    the installed one)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([tree, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, __file__, "--worker", "--steps", str(args.steps), "--batch",
           str(args.batch), "--sizes", *map(str, args.sizes)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                         cwd="/" if tree is not None else None)
    return json.loads(res.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 64])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-tree", metavar="DIR")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(time_rollouts(args.sizes, args.steps, args.batch)))
        return
    trees = {"this": None} | ({"baseline": args.baseline_tree} if args.baseline_tree else {})
    best: dict[str, dict[str, dict[str, float]]] = {}
    for _ in range(args.rounds):
        for label, tree in trees.items():
            for key, times in in_tree(tree, args).items():
                for name, t in times.items():
                    slot = best.setdefault(label, {}).setdefault(key, {})
                    slot[name] = min(t, slot.get(name, float("inf")))
    print(f"{args.steps} steps, batch {args.batch}, float64, best of {args.rounds} rounds "
          "(us per step)")
    for key, times in best["this"].items():
        line = (f"d={key:<10} autonomous_map {1e6 * times['map']:7.2f}   cell(None, h) "
                f"{1e6 * times['cell']:7.2f}   map/cell {times['map'] / times['cell']:.2f}")
        if "baseline" in best:
            old = best["baseline"][key]
            line += (f"   baseline: map {1e6 * old['map']:7.2f} cell {1e6 * old['cell']:7.2f}"
                     f"   this/baseline: map {times['map'] / old['map']:.2f} cell "
                     f"{times['cell'] / old['cell']:.2f}")
        print(line)


if __name__ == "__main__":
    main()
