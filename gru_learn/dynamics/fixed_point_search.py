"""The fixed-point search with its evidence: where no search is exhaustive (d > 3), how
complete it is (starts, hits per point, a split-half recall estimate, the slowest misses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from gru_learn.dynamics.fixed_points import (
    FixedPointResult,
    find_fixed_points,
    levenberg_marquardt,
)

ROOT_TOL = 1e-10  # ||f|| of a fixed point (find_fixed_points' default)
HIT_RADIUS = 1e-5  # a search endpoint this close to a fixed point (or a root) found it
F64 = torch.float64


def fixed_point_search(f: Callable[[Tensor], Tensor], step: Callable[[Tensor], Tensor],
                       box: tuple[tuple[float, float], ...], states: Tensor, n_starts: int,
                       generator: torch.Generator, jac: Callable[[Tensor], Tensor] | None = None
                       ) -> tuple[FixedPointResult, dict[str, Any]]:
    """Fixed and slow points of f in ``box`` with the evidence of the search.

    d <= 3: the toolkit's exhaustive grid search (plus ``states`` as extra starts). d > 3:
    ``n_starts`` starts, half of them ``states`` (jittered by 1 % of the box), half uniform in
    the box, are driven to minima of ||f||^2 once; the endpoints are handed to
    ``find_fixed_points`` (deduplication, kinds) and also tell how often each point was hit.
    Recall: the starts are split into two random halves A and B; with n_A, n_B points found by
    each and m by both, the Chapman estimate of the number of reachable points is
    N = (n_A + 1)(n_B + 1)/(m + 1) - 1 and the recall estimate is (points found) / N.
    """
    d = len(box)
    if d <= 3:
        res = find_fixed_points(f, box, starts=states, step=step, generator=generator, jac=jac)
        return res, {"method": "grid (exhaustive in the box)", "n_starts": None,
                     "recall_estimate": 1.0}
    lo = torch.tensor([b[0] for b in box], dtype=F64)
    hi = torch.tensor([b[1] for b in box], dtype=F64)
    n_traj = min(len(states), n_starts // 2)
    pick = torch.randperm(len(states), generator=generator)[:n_traj]
    jitter = 0.01 * (hi - lo) * torch.randn(n_traj, d, dtype=F64, generator=generator)
    uniform = lo + (hi - lo) * torch.rand(n_starts - n_traj, d, dtype=F64, generator=generator)
    seeds = torch.cat([(states[pick] + jitter).clamp(lo, hi), uniform])
    ends, speed, converged = levenberg_marquardt(f, seeds, jac=jac)
    res = find_fixed_points(f, box, starts=ends, n_starts=0, step=step, generator=generator,
                            jac=jac)
    points = torch.stack([p.h for p in res.fixed_points]) if res.fixed_points else \
        torch.empty(0, d, dtype=F64)
    if len(points):
        dist = torch.cdist(ends, points)
        near, which = dist.min(1)
        # a root the deduplication merged into a reported point is a hit on that point
        hit = (near < HIT_RADIUS) | (speed < ROOT_TOL)
    else:
        which = torch.zeros(len(ends), dtype=torch.long)
        hit = torch.zeros(len(ends), dtype=torch.bool)
    half = torch.randperm(len(seeds), generator=generator) < len(seeds) // 2
    hits = [int(((which == k) & hit).sum()) for k in range(len(points))]
    in_a = {int(k) for k in which[hit & half].tolist()}
    in_b = {int(k) for k in which[hit & ~half].tolist()}
    m = len(in_a & in_b)
    n_est = (len(in_a) + 1) * (len(in_b) + 1) / (m + 1) - 1
    found = len(points)
    miss = ~hit & torch.isfinite(speed)
    order = torch.argsort(speed[miss])
    cand, kept = ends[miss][order], []
    for i in range(len(cand)):
        if len(kept) == 5:
            break
        if all(float((cand[i] - cand[j]).norm()) > 1e-3 for j in kept):
            kept.append(i)
    cand_speed, cand_conv = speed[miss][order], converged[miss][order]
    slowest = [{"speed": float(cand_speed[i]),
                "reached_minimum_of_speed": bool(cand_conv[i]),
                "distance_to_nearest_fixed_point": float(torch.cdist(cand[i:i + 1], points).min())
                if len(points) else None,
                "h": cand[i].tolist()} for i in kept]
    evidence = {
        "method": "Levenberg-Marquardt from trajectory states (jittered) and uniform starts",
        "n_starts": len(seeds),
        "n_from_states": n_traj,
        "n_converged_to_fixed_points": int(hit.sum()),
        "hits_per_point": hits,
        "points_found_once": sum(h == 1 for h in hits),
        "split_half": {"found_by_a": len(in_a), "found_by_b": len(in_b), "found_by_both": m},
        "estimated_total": n_est,
        "recall_estimate": 1.0 if found == 0 and n_est <= 0 else min(1.0, found / max(n_est,
                                                                                       1e-12)),
        "slowest_unconverged": slowest,
        "note": "a search in d > 3 cannot be exhaustive: points no start is attracted to (under "
                "the Levenberg-Marquardt iteration) stay unseen; the recall estimate assumes "
                "both halves sample the same basins",
    }
    return res, evidence
