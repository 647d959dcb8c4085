"""Is ``torch.compile`` a faster training step than the hand-written BPTT of
:mod:`gru_learn.gru.bptt`? One epoch's forward and backward (loss = the members' summed MSE over
29 steps of 667 trajectories, ``reset="before"``, float32, one thread) of M stacked GRUs, on
``fit``'s shape (1 member of 2 units) and ``compare``'s (3 seeds of 2, 4, 8, 16 units), by

- the hand-written rollout (``stacked_forecast``: one autograd node, fitted buffers),
- the same rollout in plain autograd ops (eager), and
- that plain rollout through ``torch.compile`` (Inductor: gates, nonlinearities and update
  fused into one C++ loop a step, forward and backward), its compile time (the first call,
  forward and backward) reported apart.

The three are timed alternately, ``--rounds`` times each, best of each; the ratios are from the
same run. Gradients of the compiled rollout are checked against the eager one. Where no
compiler works, one warning line and the eager routes alone.

    python bench/bench_compile.py [--sizes 2 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import torch
from torch import Tensor

from gru_learn.gru.bptt import stacked_forecast

N, T, P = 667, 29, 2  # the paper's training split: 667 trajectories x 29 steps, 2-D data


def plain_loss(x0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, C: Tensor,
               c: Tensor, target: Tensor) -> Tensor:
    """sum_m MSE of M stacked GRUs (``reset="before"``) by plain ops: h_1 = GRU(x0, 0),
    h_k = GRU(0, h_{k-1}), prediction C h_k + c; ``target`` (T, N, p)."""
    D = w_hh.shape[-1]
    gi = torch.einsum("mgp,np->mng", w_ih, x0) + b_ih[:, None]  # the first step's input
    b_rz, b_n = (b_ih + b_hh)[:, None, : 2 * D], (b_ih + b_hh)[:, None, 2 * D:]
    h = x0.new_zeros(w_hh.shape[0], x0.shape[0], D)
    preds = []
    for k in range(target.shape[0]):
        a = torch.einsum("mgd,mnd->mng", w_hh[:, : 2 * D], h)
        a = a + (gi[..., : 2 * D] + b_hh[:, None, : 2 * D] if k == 0 else b_rz)
        r, z = torch.sigmoid(a).split(D, dim=-1)
        cn = torch.einsum("mgd,mnd->mng", w_hh[:, 2 * D:], r * h)
        n = torch.tanh(cn + (gi[..., 2 * D:] + b_hh[:, None, 2 * D:] if k == 0 else b_n))
        h = n + z * (h - n)
        preds.append(torch.einsum("mpd,mnd->mnp", C, h) + c[:, None])
    return (torch.stack(preds) - target[:, None]).pow(2).mean(dim=(0, 2, 3)).sum()


def handwritten_loss(x0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor,
                     C: Tensor, c: Tensor, target: Tensor) -> Tensor:
    pred = stacked_forecast(x0, w_ih, w_hh, b_ih, b_hh, C, c, target.shape[0], "before")
    return (pred - target.permute(0, 2, 1)[:, None]).pow(2).mean(dim=(0, 2, 3)).sum()


def problem(M: int, D: int) -> tuple[Tensor, list[Tensor], Tensor]:
    """nn.GRU-style uniform(-1/sqrt(D), 1/sqrt(D)) parameters, random data; seeded."""
    g = torch.Generator().manual_seed(0)
    shapes = [(M, 3 * D, P), (M, 3 * D, D), (M, 3 * D), (M, 3 * D), (M, P, D), (M, P)]
    params = [((torch.rand(*s, generator=g) * 2 - 1) * D ** -0.5).requires_grad_()
              for s in shapes]
    return torch.randn(N, P, generator=g), params, 0.5 * torch.randn(T, N, P, generator=g)


def step(loss_fn, x0: Tensor, params: list[Tensor], target: Tensor) -> list[Tensor]:
    """One forward and backward; the gradients."""
    for p in params:
        p.grad = None
    loss_fn(x0, *params, target).backward()
    return [p.grad for p in params]


def try_compile(x0: Tensor, params: list[Tensor], target: Tensor):
    """The compiled plain rollout and its compile time (first forward and backward), or
    (None, why) where no compiler works."""
    torch._dynamo.reset()
    compiled = torch.compile(plain_loss, fullgraph=True, dynamic=False)
    start = time.perf_counter()
    try:
        step(compiled, x0, params, target)
    except Exception as err:  # no C++ compiler, an unsupported platform: eager only
        return None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return compiled, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 16],
                        help="compare's hidden sizes to time (3 members each); fit's 1 x 2 always")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"one epoch's forward + backward, {N} trajectories x {T} steps, float32, 1 thread "
          "(ms, best of rounds; compile = the first compiled call)")
    torch._logging.set_logs(dynamo=logging.CRITICAL, inductor=logging.CRITICAL)
    compiler_works = True
    for M, D in [(1, 2), *((3, d) for d in args.sizes)]:
        x0, params, target = problem(M, D)
        compiled = None
        if compiler_works:
            compiled, compile_s = try_compile(x0, params, target)
        if compiled is None and compiler_works:  # said once; the other shapes eager only
            compiler_works = False
            print(f"warning: torch.compile unavailable ({compile_s}); eager routes only",
                  file=sys.stderr, flush=True)
        routes = {"hand-written": handwritten_loss, "plain eager": plain_loss}
        if compiled is not None:
            routes["compiled"] = compiled
        reps = max(5, int(0.3 / max(1e-4, 1e-3 * M * D * D / 16)))
        best = dict.fromkeys(routes, float("inf"))
        for _ in range(args.rounds):
            for name, fn in routes.items():
                start = time.perf_counter()
                for _ in range(reps):
                    step(fn, x0, params, target)
                best[name] = min(best[name], (time.perf_counter() - start) / reps)
        line = f"M={M} D={D:2d}: " + ", ".join(f"{k} {1e3 * v:.2f}" for k, v in best.items())
        if compiled is not None:
            eager = step(plain_loss, x0, params, target)
            diff = max(float((a - b).abs().max())
                       for a, b in zip(eager, step(compiled, x0, params, target), strict=True))
            line += (f"; compiled/hand-written {best['compiled'] / best['hand-written']:.2f}, "
                     f"compiled/plain eager {best['compiled'] / best['plain eager']:.2f}; "
                     f"compile {compile_s:.1f} s; max |grad compiled - eager| {diff:.1e}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
