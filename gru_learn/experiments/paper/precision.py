"""Fig 9's cluster in three precisions: its exact fixed points, and orbits in float32, float64
and 50-digit arithmetic.

For the preset family :func:`gru_learn.gru.presets.origin_cluster` (paper convention, b_h = 0,
U_h = diag((1 + eps_i) / r0_i)), to leading order f_i = 1/2 [eps_i h_i + h_i (M h)_i] with
M_ij = (1 + eps_i)(1 - r0_i) U_r,ij, so the four fixed points near the origin are 0,
A = (-eps_1 / M_11, 0), B = (0, -eps_2 / M_22) and C = -M^-1 eps. :func:`exact_cluster` refines
these seeds with Newton's method (mpmath.findroot) in ``dps`` digits on the field written with
mpmath functions (:func:`gru_learn.gru.precision.mp_gru_field`) and classifies each point
from
its ``dps``-digit Jacobian (central differences).

:func:`precision_orbits` integrates one orbit with the same RK4 time grid in every precision:
steps dt_k = min(1 / max |lambda|, max(dt0, growth t_k)), fine during the excursion, geometric
afterwards and capped where the cluster's fastest eigenvalue (from :func:`exact_cluster`) would
make RK4 unstable (|lambda| dt > 2.8), so that t = 1e11 takes about 3000 steps. A float32
orbit uses the cell with its parameters rounded to float32, whose own unfolding
eps32_i = U_ii,32 sigma(b_r,i,32) - 1 (:func:`float32_eps`) differs from eps when |eps| is below
float32's unit roundoff.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import torch
from torch import Tensor

from gru_learn.dynamics import classify
from gru_learn.dynamics.integrate import rk4_step
from gru_learn.gru.cell import GRUCell
from gru_learn.gru.precision import mp_gru_field, mp_rk4


def _lv_matrix(cell: GRUCell) -> tuple[Tensor, Tensor]:
    """(M, eps) of the leading-order field 1/2 [eps_i h_i + h_i (M h)_i] of an origin cluster."""
    w = cell.weight_hh.detach().double()
    b = (cell.bias_ih + cell.bias_hh).detach().double()
    d = cell.hidden_size
    u_r, u_h, b_r = w[:d], w[2 * d:], b[:d]
    r0 = torch.sigmoid(b_r)
    eps = u_h.diagonal() * r0 - 1.0
    return (1.0 + eps)[:, None] * (1.0 - r0)[:, None] * u_r, eps


def float32_eps(cell: GRUCell) -> list[float]:
    """eps_i = U_h,ii sigma(b_r,i) - 1 of the cell's parameters rounded to float32 (computed in
    float64 from the rounded values): the unfolding a float32 program actually integrates."""
    _, eps = _lv_matrix(copy.deepcopy(cell).to(torch.float32).to(torch.float64))
    return eps.tolist()


def exact_cluster(cell: GRUCell, dps: int = 50) -> list[dict[str, Any]]:
    """The four fixed points near the origin in ``dps`` digits: position, kind, eigenvalues."""
    import mpmath

    m, eps = _lv_matrix(cell)
    seeds = [[0.0, 0.0], [-float(eps[0] / m[0, 0]), 0.0], [0.0, -float(eps[1] / m[1, 1])],
             (-torch.linalg.solve(m, eps)).tolist()]
    f = mp_gru_field(cell, dps)
    out = []
    with mpmath.workdps(dps):
        for seed in seeds:
            root = mpmath.findroot(lambda x, y: f([x, y]), [mpmath.mpf(s) for s in seed],
                                   tol=mpmath.mpf(10) ** (-2 * dps + 10))
            h = [root[0], root[1]]
            step = mpmath.mpf(10) ** (-dps // 2)
            cols = []
            for j in range(2):
                hp, hm = list(h), list(h)
                hp[j] += step
                hm[j] -= step
                cols.append([(a - b) / (2 * step) for a, b in zip(f(hp), f(hm), strict=True)])
            jac = torch.tensor([[float(cols[j][i]) for j in range(2)] for i in range(2)],
                               dtype=torch.float64)
            st = classify(jac, tol=1e-6 * float(jac.abs().max()))
            out.append({"h": [float(x) for x in h], "h_mp": h, "kind": st.kind,
                        "eigenvalues": [[float(e.real), float(e.imag)]
                                        for e in st.eigenvalues]})
    return out


def time_grid(t_end: float, dt0: float = 0.05, growth: float = 0.01,
              dt_max: float = math.inf) -> list[float]:
    """Step sizes dt_k = min(dt_max, max(dt0, growth t_k)) summing to t_end (the last one
    shortened)."""
    steps, t = [], 0.0
    while t < t_end:
        dt = min(max(dt0, growth * t), dt_max, t_end - t)
        steps.append(dt)
        t += dt
    return steps


@torch.no_grad()
def torch_orbit(cell: GRUCell, h0: list[float], steps: list[float], dtype: torch.dtype,
                backward: bool = False) -> Tensor:
    """RK4 on ``steps`` with the cell and the state in ``dtype``: the path (len(steps)+1, 2)."""
    c = copy.deepcopy(cell).to(dtype)  # Module.to works in place
    sign = -1.0 if backward else 1.0

    def f(h: Tensor) -> Tensor:
        return sign * c.vector_field(h)

    h = torch.tensor([h0], dtype=dtype)
    path = [h[0]]
    for dt in steps:
        h = rk4_step(f, h, dt)
        path.append(h[0])
    return torch.stack(path).to(torch.float64)


def mp_orbit(cell: GRUCell, h0: list[float], steps: list[float], dps: int = 50,
             backward: bool = False) -> Tensor:
    """The same RK4 on the same steps in ``dps``-digit arithmetic; the path in float64."""
    path = mp_rk4(mp_gru_field(cell, dps), h0, steps, dps, backward)
    return torch.tensor(path, dtype=torch.float64)


def precision_orbits(cell: GRUCell, h0: list[float], t_end: float = 1e11,
                     excursion_end: float = 200.0, dps: int = 50,
                     backward: bool = False) -> dict[str, Any]:
    """One orbit from ``h0`` in float32, float64 and ``dps`` digits on one time grid: paths,
    times, each one's largest deviation from the ``dps``-digit path up to ``excursion_end``,
    its end point at ``t_end``, the exact cluster point nearest to that end and the distance,
    and how far its last 100 steps moved; also the exact cluster of the parameters rounded to
    float32 (the system a float32 program integrates, up to its arithmetic)."""
    cluster = exact_cluster(cell, dps)
    fastest = max(math.hypot(*e) for q in cluster for e in q["eigenvalues"])
    steps = time_grid(t_end, dt_max=1.0 / fastest)  # |lambda| dt <= 1 at the cluster
    times = torch.tensor([0.0] + list(itertools.accumulate(steps)), dtype=torch.float64)
    paths = {"float32": torch_orbit(cell, h0, steps, torch.float32, backward),
             "float64": torch_orbit(cell, h0, steps, torch.float64, backward),
             f"{dps} digits": mp_orbit(cell, h0, steps, dps, backward)}
    rounded = exact_cluster(copy.deepcopy(cell).to(torch.float32).to(torch.float64), dps)
    pts = torch.tensor([p["h"] for p in cluster], dtype=torch.float64)
    ref = paths[f"{dps} digits"]
    early = times <= excursion_end
    summary = {}
    for name, path in paths.items():
        end = path[-1]
        dist = (pts - end).norm(dim=-1)
        k = int(dist.argmin())
        summary[name] = {
            "max_deviation_excursion": float((path[early] - ref[early]).norm(dim=-1).max()),
            "excursion": float(path[early].norm(dim=-1).max()),
            "end": end.tolist(), "end_norm": float(end.norm()),
            "nearest_point": k, "nearest_kind": cluster[k]["kind"],
            "distance_to_nearest": float(dist[k]),
            "moved_last_100_steps": float((path[-1] - path[-101]).norm()),
        }
    return {"times": times, "paths": paths, "cluster": cluster,
            "cluster_float32_parameters": rounded, "summary": summary,
            "t_end": t_end, "steps": len(steps)}


def cluster_separation(cluster: list[dict[str, Any]]) -> float:
    """The largest distance between two of the cluster's points (the paper's d, Fig 4)."""
    return max(math.dist(a["h"], b["h"]) for a in cluster for b in cluster)
