"""The paper's hand-set GRUs (paper convention, ``reset="before"``, float64), by name.

Each preset is a function of named float parameters returning a :class:`GRUCell`; ``PRESETS``
maps a name to that function and its default parameters. ``build_preset`` validates names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gru_learn.errors import UserError
from gru_learn.gru.cell import GRUCell, Reset


def rotation(angle: float) -> torch.Tensor:
    """R(a) = [[cos a, -sin a], [sin a, cos a]]."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def bistable_pair(gain: float = 4.0) -> GRUCell:
    """Fig 2A: two independent bistable units, U_h = gain * I, so r = 1/2 and each unit solves
    h = tanh(gain h / 2): nine fixed points (four stable nodes) for gain > 2."""
    return GRUCell.from_weights(U_h=gain * torch.eye(2, dtype=torch.float64))


def hopf(alpha: float = math.pi / 3, beta: float = 3.0, s: float = 0.0,
         reset: Reset = "before") -> GRUCell:
    """Eq 8: U_h = beta R(alpha), b_r = s, all else zero. The origin is a fixed point with
    Jacobian (sigma(s) beta R(alpha) - I) / 2: Hopf at sigma(s) beta cos(alpha) = 1. With r the
    constant sigma(s), both reset conventions give the same field: U_h (r h) = r (U_h h)."""
    b_r = torch.tensor(s, dtype=torch.float64)
    return GRUCell.from_weights(U_h=beta * rotation(alpha), b_r=b_r, reset=reset)


def homoclinic(gamma: float = 0.054085) -> GRUCell:
    """Eq 9: U_h = 3 R(-pi/20), b_h = (0.32, gamma), all else zero."""
    return GRUCell.from_weights(
        U_h=3.0 * rotation(-math.pi / 20), b_h=torch.tensor([0.32, gamma], dtype=torch.float64)
    )


def one_d(u_h: float = 0.5, b_h: float = 0.0) -> GRUCell:
    """A 1-D GRU dh/dt = (tanh(u_h h / 2 + b_h) - h) / 2 (r = z = 1/2)."""
    return GRUCell.from_weights(
        U_h=torch.tensor([[u_h]], dtype=torch.float64), b_h=torch.tensor([b_h], dtype=torch.float64)
    )


def half_stable_bias(u_h: float) -> float:
    """The b_h at which the 1-D GRU has a half-stable node: with a = u_h / 2 > 1, tanh(a h + b)
    touches h at h* = sqrt(1 - 1/a) (slope a sech^2 = 1), so b = atanh(h*) - a h*."""
    a = u_h / 2
    h_star = math.sqrt(1.0 - 1.0 / a)
    return math.atanh(h_star) - a * h_star


def decoupled(u1: float = 4.0, b1: float = 0.0, u2: float = 4.0, b2: float = 0.0) -> GRUCell:
    """Two independent 1-D GRUs: U_h = diag(u1, u2), b_h = (b1, b2). Its fixed points are the
    products of the units' roots, the kinds the products of their 1-D stabilities: a unit at
    its half-stable bias (:func:`half_stable_bias`) times a stable root of the other is a
    saddle-node point of the first kind (a sink and a saddle fused), times an unstable root one
    of the second kind (a source and a saddle fused); both units at it give a codimension-2
    point, and biases just past it the four-point cluster of Fig 4."""
    return GRUCell.from_weights(U_h=torch.diag(torch.tensor([u1, u2], dtype=torch.float64)),
                                b_h=torch.tensor([b1, b2], dtype=torch.float64))


def cluster_bias(u_h: float, separation: float) -> float:
    """The bias b > b* = :func:`half_stable_bias` at which the 1-D GRU's near-tangent pair of
    roots of g(h) = tanh(a h + b) - h (a = u_h / 2, around h* = sqrt(1 - 1/a)) is
    ``separation`` apart, by bisection on b in 50-digit arithmetic (mpmath); to leading order
    the separation is 2 sqrt((b - b*) / (a^2 h*)) since g ~ (b - b*)/a - a h* (h - h*)^2."""
    import mpmath

    a = mpmath.mpf(u_h) / 2
    b_star = mpmath.mpf(half_stable_bias(u_h))
    with mpmath.workdps(50):
        b_star = mpmath.findroot(lambda b: mpmath.atanh(mpmath.sqrt(1 - 1 / a)) - a * mpmath.sqrt(
            1 - 1 / a) - b, b_star)
        h_star = mpmath.sqrt(1 - 1 / a)

        def gap(b: mpmath.mpf) -> mpmath.mpf:
            g = lambda h: mpmath.tanh(a * h + b) - h  # noqa: E731
            lo = mpmath.findroot(g, h_star - mpmath.sqrt(b - b_star))
            hi = mpmath.findroot(g, h_star + mpmath.sqrt(b - b_star))
            return hi - lo - separation

        lo, hi = b_star + mpmath.mpf(10) ** -40, b_star + mpmath.mpf("0.01")
        for _ in range(200):
            m = (lo + hi) / 2
            lo, hi = (m, hi) if gap(m) < 0 else (lo, m)
        return float((lo + hi) / 2)


def gru2d(uh11: float = 0.0, uh12: float = 0.0, uh21: float = 0.0, uh22: float = 0.0,
          ur11: float = 0.0, ur12: float = 0.0, ur21: float = 0.0, ur22: float = 0.0,
          bh1: float = 0.0, bh2: float = 0.0, br1: float = 0.0, br2: float = 0.0) -> GRUCell:
    """Any autonomous 2-D GRU with U_z = b_z = 0: U_h = [[uh11, uh12], [uh21, uh22]], U_r
    likewise, b_h = (bh1, bh2), b_r = (br1, br2) (the parameters of
    :mod:`gru_learn.gru.params`)."""
    from gru_learn.gru.params import cell_from_theta

    return cell_from_theta([uh11, uh12, uh21, uh22, ur11, ur12, ur21, ur22, bh1, bh2, br1, br2])


def origin_cluster(ur11: float = 0.0, ur12: float = 0.0, ur21: float = 0.0, ur22: float = 0.0,
                   br1: float = 0.0, br2: float = 0.0, eps1: float = 1e-9,
                   eps2: float = 1e-9) -> GRUCell:
    """Fig 9: a cluster of four fixed points at the origin. U_h = diag((1 + eps_i) / r0_i) with
    r0_i = sigma(br_i), b_h = 0, U_r and b_r free (paper convention). Expanding r = sigma(U_r h +
    b_r) and tanh about h = 0,

        f_i(h) = 1/2 [eps_i h_i + (1 + eps_i)(1 - r0_i) h_i (U_r h)_i] + O(|h|^3):

    at eps = 0 the Jacobian at the origin vanishes and f is a homogeneous quadratic
    (Lotka-Volterra) field; eps != 0 unfolds the origin into four fixed points within ~|eps|
    (the origin, one on each axis, one inside a quadrant; the axes are invariant). Between two
    axes where the quadratic flow leaves along one and returns along the other, every orbit
    leaves the origin and comes back to it: a homoclinic-like region, bounded by the cubic terms
    (tanh's saturation) far from the origin (docs/catalogue.md, Fig 9)."""
    r0 = torch.sigmoid(torch.tensor([br1, br2], dtype=torch.float64))
    u_h = torch.diag(torch.tensor([1.0 + eps1, 1.0 + eps2], dtype=torch.float64) / r0)
    return GRUCell.from_weights(
        U_h=u_h, U_r=torch.tensor([[ur11, ur12], [ur21, ur22]], dtype=torch.float64),
        b_r=torch.tensor([br1, br2], dtype=torch.float64))


# found by scanning random U_r ~ N(0, 4^2), b_r ~ N(0, 1) of `origin_cluster` for
# homoclinic-like regions (gru_learn.dynamics.homoclinic_like), then rounded to 2 decimals:
# one region (Fig 9A) and two regions (Fig 9B), the same counts at t = 1000 and 4000;
# eps = 1e-9 puts the cluster (1.5e-8 and 2.0e-9 across) below float32's resolution but not
# float64's (docs/catalogue.md)
FIG9A = {"ur11": -3.03, "ur12": 2.19, "ur21": -4.93, "ur22": 0.2, "br1": 0.46, "br2": 0.66,
         "eps1": 1e-9, "eps2": 1e-9}
FIG9B = {"ur11": -1.06, "ur12": -1.62, "ur21": -5.79, "ur22": -3.58, "br1": -0.47,
         "br2": 1.27, "eps1": 1e-9, "eps2": 1e-9}
# found by `search-topology --min-fixed-points 11 --seed 0` (docs/catalogue.md): 5 sinks,
# 5 saddles, 1 source, certified by the exhaustive search at two resolutions and the index sum
FIG3A = {"uh11": 5.439796777555957, "uh12": -1.6694500387022342, "uh21": 2.450102458895839,
         "uh22": 5.049796049760738, "ur11": -0.7383845238899627, "ur12": 4.580044008429109,
         "ur21": 5.570682213002463, "ur22": 6.775541808470644, "bh1": -0.7424493653469612,
         "bh2": 0.6078291301917005, "br1": 2.963009248450951, "br2": 4.022486046240726}
# found by `search-topology --saddle-node 1` (seed 0) and `--saddle-node 2 --seed 1`: a
# sink + saddle (first kind) and a source + saddle (second kind) fused, located to 1e-12 in
# the bias direction the search moved along (docs/catalogue.md)
SN1_FOUND = {"uh11": 5.256967861785598, "uh12": 0.24781192300060156,
             "uh21": -0.03298293934789408,
         "uh22": 6.241671869928061, "ur11": 7.545285152303437, "ur12": -1.2392930903115045,
         "ur21": 0.09648002904989703, "ur22": 8.077603253471011, "bh1": 0.6137289920824944,
         "bh2": -1.8640788172587852, "br1": 4.545095824117243, "br2": 2.727573201083254}
SN2_FOUND = {"uh11": 4.863883658653163, "uh12": 0.61524669596643,
             "uh21": -4.514156919025433,
         "uh22": 3.1538844139662734, "ur11": 2.61288180766893, "ur12": -5.640419164928536,
         "ur21": 4.837028605185962, "ur22": 2.2072857039550993, "bh1": -1.0733257197084565,
         "bh2": 2.011444664216097, "br1": 0.39951646303623123, "br2": 0.11463294643794245}
B_HALF = half_stable_bias(4.0)  # -0.53284...: u_h = 4 unit with a half-stable node at sqrt(1/2)
B_CLUSTER = -0.5328399682824843  # cluster_bias(4.0, 1e-4): its pair 1e-4 apart (tested)


@dataclass(frozen=True)
class Preset:
    build: Callable[..., GRUCell]
    defaults: dict[str, float]
    box: tuple[float, float] = (-1.0, 1.0)  # every axis; a GRU's fixed points lie in (-1, 1)^d
    description: str = ""


PRESETS: dict[str, Preset] = {
    "bistable_pair": Preset(bistable_pair, {"gain": 4.0}, description="Fig 2A"),
    "hopf": Preset(hopf, {"alpha": math.pi / 3, "beta": 3.0, "s": 0.0}, description="Eq 8"),
    "homoclinic": Preset(homoclinic, {"gamma": 0.054085}, description="Eq 9"),
    "fig1a": Preset(one_d, {"u_h": 0.5, "b_h": 0.0}, description="Fig 1A: one stable node"),
    "fig1b": Preset(
        one_d, {"u_h": 4.0, "b_h": half_stable_bias(4.0)}, description="Fig 1B: half-stable"
    ),
    "fig1c": Preset(one_d, {"u_h": 4.0, "b_h": 0.0}, description="Fig 1C: bistable"),
    "decoupled": Preset(decoupled, {"u1": 4.0, "b1": 0.0, "u2": 4.0, "b2": 0.0},
                        description="two independent 1-D GRUs"),
    "fig3_saddle_nodes": Preset(
        decoupled, {"u1": 4.0, "b1": B_HALF, "u2": 4.0, "b2": 0.0},
        description="Fig 3: saddle-node points of the first (x2) and second kind (x1)"),
    "fig3b": Preset(decoupled, {"u1": 4.0, "b1": B_HALF, "u2": 4.0, "b2": B_HALF},
                    description="Fig 3B: a codimension-2 point, a sink, two saddle-nodes "
                    "of the first kind"),
    "fig4": Preset(decoupled, {"u1": 4.0, "b1": B_CLUSTER, "u2": 4.0, "b2": B_CLUSTER},
                   description="Fig 4: sink, source and two saddles 1e-4 apart per axis"),
    "fig3a": Preset(gru2d, FIG3A, description="Fig 3A: 11 fixed points (5 sinks), found by "
                    "search"),
    "sn1_found": Preset(gru2d, SN1_FOUND, description="a saddle-node of the first kind, "
                        "found by search"),
    "sn2_found": Preset(gru2d, SN2_FOUND, description="a saddle-node of the second kind, "
                        "found by search"),
    "fig9a": Preset(origin_cluster, FIG9A, description="Fig 9A: one bounded region of "
                    "homoclinic-like orbits around a four-point cluster at the origin"),
    "fig9b": Preset(origin_cluster, FIG9B, description="Fig 9B: two bounded regions of "
                    "homoclinic-like orbits around a four-point cluster at the origin"),
    "gru2d": Preset(gru2d, {k: 0.0 for k in ("uh11", "uh12", "uh21", "uh22", "ur11", "ur12",
                                             "ur21", "ur22", "bh1", "bh2", "br1", "br2")},
                    description="any 2-D GRU (U_z = b_z = 0)"),
}


def preset_parameters(name: str, overrides: dict[str, float] | None = None) -> dict[str, float]:
    """A preset's defaults updated by ``overrides``; unknown names are a UserError."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    params = dict(PRESETS[name].defaults)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise UserError(
                f"preset {name!r} has no parameter {key!r}; it has {', '.join(params)}"
            )
        params[key] = float(value)
    return params


def build_preset(name: str, overrides: dict[str, float] | None = None) -> GRUCell:
    """The preset ``name`` built with its defaults updated by ``overrides``."""
    params = preset_parameters(name, overrides)
    return PRESETS[name].build(**params)
