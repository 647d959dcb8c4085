"""Topology search benchmark: the batched winding-number proxy against the exhaustive
certification it stands in for (per parameter set, same run, same random GRUs, with their
agreement), then the time the search takes to find an 11-fixed-point GRU (Fig 3A) per seed.

Run: ``python bench/bench_topology_search.py [--n 256] [--n-certify 32] [--seeds 0 1]
[--budget 600]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from gru_learn.experiments.topology_search import TopologyRequest, certify, proxy_counts, search


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--n-certify", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--budget", type=float, default=600.0)
    args = parser.parse_args()
    thetas = 4.0 * torch.randn(args.n, 12, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(0))
    t = time.perf_counter()
    proxy = proxy_counts(thetas, grid=48)
    t_proxy = (time.perf_counter() - t) / args.n
    t = time.perf_counter()
    certs = [certify(thetas[i]) for i in range(args.n_certify)]
    t_cert = (time.perf_counter() - t) / args.n_certify
    agree = sum(c.ok and proxy[i, :3].tolist() == [c.counts["sinks"], c.counts["saddles"],
                                                    c.counts["sources"]]
                for i, c in enumerate(certs))
    n_ok = sum(c.ok for c in certs)
    print(f"proxy (grid 48, batch {args.n}): {t_proxy * 1e3:.2f} ms per parameter set")
    print(f"certification (exhaustive search at grids 64 and 128): {t_cert * 1e3:.0f} ms per "
          f"parameter set -> proxy is {t_cert / t_proxy:.0f}x cheaper")
    print(f"proxy counts equal the certified counts on {agree}/{n_ok} certified sets "
          f"({args.n_certify - n_ok} not certifiable)")
    for seed in args.seeds:
        r = search(TopologyRequest(min_fixed_points=11), seed=seed, time_budget=args.budget,
                   grid=48)
        what = (f"found {r.certificate.counts['total']} fixed points" if r.found
                else "not found")
        print(f"search for >= 11 fixed points, seed {seed}: {what} in {r.seconds:.0f} s "
              f"({r.generations} generations, {r.evaluated} sets scored, {r.certified_tries} "
              f"certifications, {r.restarts} restarts); at the certification rate alone the "
              f"{r.evaluated} sets would take {r.evaluated * t_cert:.0f} s")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
