"""Time the analysis: the end-of-fit analysis (learned versus target, ``analyze``) of 16- and
64-unit networks against the code of a baseline commit in the same run, and the network read
alone (``analyze_gru``) at 16, 64 and 128 units.

    python bench/bench_analysis.py [--baseline bf93e8a] [--sizes 16 64] [--alone 16 64 128]

Networks: ``GRUForecaster`` on FHN (the default task) with torch's initialisation and the
recurrent weights multiplied by ``--scale`` (3: several fixed points and saddles, as trained
networks have), the same weights for both trees; each timing runs in its own process, on one
thread (OMP_NUM_THREADS=1); wall-clock and CPU seconds are printed (on a shared machine the
CPU time is what one idle core would take). Targets: 16 units < 15 s, 64 units < 60 s end of
fit; 128 units alone < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(tree: str, kind: str, size: int, scale: float, seed: int) -> None:
    sys.path.insert(0, tree)
    os.chdir(tempfile.mkdtemp())
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    if kind == "fit":
        from gru_learn.training.checkpoint import analyze_trained
        from gru_learn.training.data import TrajectoryDataModule
        from gru_learn.training.module import GRUForecaster

        model = GRUForecaster(hidden_size=size, obs_dim=2, dt=1.5, system="fhn")
        with torch.no_grad():
            model.cell.weight_hh.mul_(scale)
        dm = TrajectoryDataModule("fhn")
        dm.setup()
        start, cpu = time.perf_counter(), time.process_time()
        summary = analyze_trained(model, dm).summary
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        sig = summary["learned"].get("signature", {})
        errors = summary["errors"]
    else:
        import gru_learn

        rnn = torch.nn.GRU(3, size)
        with torch.no_grad():
            rnn.weight_hh_l0.mul_(scale)
        start, cpu = time.perf_counter(), time.process_time()
        res = gru_learn.analyze_gru(rnn)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        sig, errors = res.summary["inputs"][0]["signature"], res.summary["errors"]
    print(json.dumps({"seconds": seconds, "cpu": cpu,
                      "signature": {k: v for k, v in sig.items() if v}, "errors": errors,
                      "module": __import__("gru_learn").__file__}))


def run(tree: Path, kind: str, size: int, scale: float, seed: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, __file__, "--worker", str(tree), kind, str(size),
                          str(scale), str(seed)], capture_output=True, text=True, env=env,
                         timeout=1800)
    if out.returncode != 0:
        return {"seconds": float("nan"), "cpu": float("nan"),
                "errors": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, tree, kind, size, scale, seed = sys.argv
        worker(tree, kind, int(size), float(scale), int(seed))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--baseline", default="bf93e8a", help="commit whose analysis is timed too")
    p.add_argument("--sizes", type=int, nargs="*", default=[16, 64])
    p.add_argument("--alone", type=int, nargs="*", default=[16, 64, 128])
    p.add_argument("--scale", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as base:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "gru_learn"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        print(f"end-of-fit analysis (FHN, recurrent weights x {args.scale}, seed {args.seed}); "
              f"baseline = {args.baseline}")
        print(f"{'units':>5} {'baseline s':>11} {'now s':>8} {'ratio':>6}  (CPU s: baseline, "
              "now, ratio)  now: signature")
        for d in args.sizes:
            old = run(Path(base), "fit", d, args.scale, args.seed)
            new = run(ROOT, "fit", d, args.scale, args.seed)
            ratio = old["seconds"] / new["seconds"]
            print(f"{d:>5} {old['seconds']:>11.1f} {new['seconds']:>8.1f} {ratio:>6.2f}  "
                  f"({old['cpu']:.1f}, {new['cpu']:.1f}, {old['cpu'] / new['cpu']:.2f})  "
                  f"{new.get('signature')} {new.get('errors') or ''}", flush=True)
    if args.alone:
        print(f"network alone (nn.GRU(3, d), recurrent weights x {args.scale}, zero input)")
        for d in args.alone:
            new = run(ROOT, "alone", d, args.scale, args.seed)
            print(f"{d:>5} {new['seconds']:>8.1f} s (CPU {new['cpu']:.1f} s)  "
                  f"{new.get('signature')} {new.get('errors') or ''}", flush=True)


if __name__ == "__main__":
    main()
