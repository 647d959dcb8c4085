"""Speed of one network's whole analysis, against a baseline commit in the same run, alone and
beside one busy process (issue 20, item 7).

    python bench/bench_analysis_speed.py [--baseline ad416a2] [--repeat 1] [--modes cli library]

Networks (made here, nothing committed is needed): the 16-unit 3-bit flip-flop GRU of
docs/analysis.md ("A complete example"), trained by that script (seed 0, 600 Adam steps, about
15 s), with its readout; and ``nn.GRU(4, 128)`` (seed 0) with its recurrent weights x 3, at zero
input. Each is analysed by the baseline's tree (``git archive``) and by the working tree, each
in its own process:

- ``cli``: ``python -m gru_learn analyze --state-dict FILE`` (the command sets its own
  threads; the environment's OMP_NUM_THREADS is removed), timed by the command's wall clock and
  by the analysis's own ``summary.json["seconds"]`` per piece;
- ``library``: ``gru_learn.analyze_gru(rnn, readout=...)`` in a fresh process with torch's
  default thread count (what a notebook gets), timed around the call.

"busy": the same beside one ``python -c "while True: pass"`` started for it. The table gives
seconds per piece (fixed_points, limit_cycles, continuous_attractors, figures), their sum
(``analysis``), the process's wall clock and CPU seconds (start-up and imports included; on a
shared machine the CPU time is what an idle core would take), the ratio baseline / now, and
for the working tree busy / alone. Targets: flip-flop analysis <= 1 s, 128 units <= 3 s,
busy <= 2 x alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIECES = ("fixed_points", "limit_cycles", "continuous_attractors", "figures")


def make_networks(folder: Path) -> dict[str, Path]:
    """The two networks as state-dict files in ``folder`` (plain torch, no gru_learn)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rnn, head = torch.nn.GRU(3, 16, batch_first=True), torch.nn.Linear(16, 3)

    def batch(n: int = 64, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
        pulses = torch.randint(-1, 2, (n, steps, 3)) * (torch.rand(n, steps, 3) < 0.05)
        held = pulses.clone()
        for t in range(1, steps):
            held[:, t] = torch.where(pulses[:, t] != 0, pulses[:, t], held[:, t - 1])
        return pulses.float(), held.float()

    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=0.01)
    for _ in range(600):
        x, y = batch()
        loss = ((head(rnn(x)[0]) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    paths = {"flipflop16": folder / "flipflop.pt", "gru128x3": folder / "gru128.pt"}
    torch.save({"gru": rnn.state_dict(), "readout": head.state_dict()}, paths["flipflop16"])
    torch.manual_seed(0)
    big = torch.nn.GRU(4, 128)
    with torch.no_grad():
        big.weight_hh_l0.mul_(3)
    torch.save(big.state_dict(), paths["gru128x3"])
    print(f"flip-flop trained: final loss {loss.item():.4f}", flush=True)
    return paths


def library_worker(path: str) -> None:
    """Time ``analyze_gru`` on the saved network (the tree is first on sys.path)."""
    import torch

    import gru_learn

    saved = torch.load(path, weights_only=True)
    gru = saved.get("gru", saved)
    d, p = gru["weight_hh_l0"].shape[1], gru["weight_ih_l0"].shape[1]
    rnn = torch.nn.GRU(p, d)
    rnn.load_state_dict(gru)
    readout = None
    if "readout" in saved:
        readout = torch.nn.Linear(d, saved["readout"]["weight"].shape[0])
        readout.load_state_dict(saved["readout"])
    start = time.perf_counter()
    res = gru_learn.analyze_gru(rnn, readout=readout, figures=True)
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "seconds": res.summary["seconds"],
                      "signature": res.summary["inputs"][0]["signature"],
                      "threads_after": torch.get_num_threads()}))


def run(tree: Path, mode: str, path: Path, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "GRU_LEARN_NUM_THREADS")}
    env.update(PYTHONPATH=str(tree), PYTHONWARNINGS="ignore")
    if mode == "cli":
        cmd = [sys.executable, "-m", "gru_learn", "analyze", "--state-dict", str(path),
               "--out", str(out)]
    else:
        cmd = [sys.executable, __file__, "--worker", str(path)]
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out.parent,
                          timeout=1800)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    if mode == "cli":
        summary = json.loads((out / "summary.json").read_text())
        return {"wall": wall, "cpu": cpu_s, "seconds": summary["seconds"],
                "signature": summary["inputs"][0]["signature"]}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "cpu": cpu_s}


def timed(tree: Path, mode: str, path: Path, out: Path, busy: bool, repeat: int) -> dict:
    """The fastest of ``repeat`` runs (by analysis seconds), beside a busy process if asked."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        runs = [run(tree, mode, path, out / f"r{k}") for k in range(repeat)]
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    for r in good:
        r["analysis"] = sum(r["seconds"].get(p, 0.0) for p in PIECES)
    return min(good, key=lambda r: r["analysis"])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        library_worker(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="ad416a2", help="commit timed beside the tree")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is shown")
    ap.add_argument("--modes", nargs="*", default=["cli", "library"])
    ap.add_argument("--nets", nargs="*", default=["flipflop16", "gru128x3"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, work = Path(tmp) / "baseline", Path(tmp) / "work"
        base.mkdir()
        work.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "gru_learn"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        nets = make_networks(work)
        head = (f"{'network':<11} {'mode':<7} {'load':<5} {'tree':<8} "
                + " ".join(f"{p[:12]:>12}" for p in PIECES)
                + f" {'analysis':>9} {'wall':>7} {'cpu':>7}")
        print(f"baseline = {args.baseline}; seconds (fastest of {args.repeat}); "
              f"ratio = baseline / now")
        print(head)
        rows = []
        for name in args.nets:
            for mode in args.modes:
                for busy in (False, True):
                    cell = {}
                    for tree_name, tree in (("baseline", base), ("now", ROOT)):
                        out = work / f"{name}-{mode}-{busy}-{tree_name}"
                        out.mkdir()
                        r = timed(tree, mode, nets[name], out, busy, args.repeat)
                        cell[tree_name] = r
                        load = "busy" if busy else "alone"
                        if "error" in r:
                            print(f"{name:<11} {mode:<7} {load:<5} {tree_name:<8} "
                                  f"error: {r['error']}", flush=True)
                            continue
                        print(f"{name:<11} {mode:<7} {load:<5} {tree_name:<8} "
                              + " ".join(f"{r['seconds'].get(p, float('nan')):>12.2f}"
                                         for p in PIECES)
                              + f" {r['analysis']:>9.2f} {r['wall']:>7.2f} {r['cpu']:>7.2f}",
                              flush=True)
                    if all("error" not in r for r in cell.values()):
                        ratio = cell["baseline"]["analysis"] / cell["now"]["analysis"]
                        wall = cell["baseline"]["wall"] / cell["now"]["wall"]
                        print(f"{'':<11} {'':<7} {'':<5} {'ratio':<8} analysis {ratio:.2f}, "
                              f"wall {wall:.2f}", flush=True)
                    rows.append((name, mode, busy, cell))
        print("working tree, busy / alone (analysis seconds):")
        for name in args.nets:
            for mode in args.modes:
                pair = [c["now"] for n, m, _, c in rows if n == name and m == mode]
                if len(pair) == 2 and all("analysis" in r for r in pair):
                    print(f"  {name:<11} {mode:<7} {pair[1]['analysis'] / pair[0]['analysis']:.2f}"
                          f" ({pair[0]['analysis']:.2f} s alone, {pair[1]['analysis']:.2f} s busy)")


if __name__ == "__main__":
    main()
