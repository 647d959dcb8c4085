"""Fig 9: the homoclinic-like criterion, the presets' regions, the exact cluster and the
precision study, each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from gru_learn.dynamics import find_fixed_points
from gru_learn.dynamics.homoclinic_like import excursion, homoclinic_like_regions
from gru_learn.experiments.paper.precision import (
    cluster_separation,
    exact_cluster,
    float32_eps,
    precision_orbits,
)
from gru_learn.gru.presets import build_preset, preset_parameters

ZERO = torch.zeros(2, dtype=torch.float64)
BOX = ((-1.0, 1.0), (-1.0, 1.0))
H0 = [-0.46875, -0.40625]  # a grid state in fig9a's region (reproduce's black orbit)


def numpy_field(name: str, **overrides: float):
    """The preset's GRU written out in numpy from its parameters (paper convention, z = 1/2):
    f = (tanh(U_h (r * h)) - h) / 2, r = sigma(U_r h + b_r), U_h = diag((1 + eps) / sigma(b_r))."""
    p = preset_parameters(name, overrides)
    u_r = np.array([[p["ur11"], p["ur12"]], [p["ur21"], p["ur22"]]])
    b_r = np.array([p["br1"], p["br2"]])
    r0 = 1 / (1 + np.exp(-b_r))
    u_h = np.diag((1 + np.array([p["eps1"], p["eps2"]])) / r0)

    def f(_t: float, h: np.ndarray) -> np.ndarray:
        r = 1 / (1 + np.exp(-(u_r @ h + b_r)))
        return 0.5 * (np.tanh(u_h @ (r * h)) - h)

    return f, p


@pytest.mark.parametrize(("name", "count"), [("fig9a", 1), ("fig9b", 2)])
def test_preset_regions(name: str, count: int) -> None:
    """The regions are counted the same at t = 1000 (grid 32) and t = 4000 (grid 24): returning
    orbits approach the cluster algebraically, and a too short t hides whole regions."""
    f = build_preset(name).vector_field
    reg = homoclinic_like_regions(f, ZERO, BOX, grid=32)
    assert reg.count == count
    for r in reg.regions:
        assert r["extent"] >= 0.6 and not r["touches_edge"] and r["cells"] >= 30
    assert homoclinic_like_regions(f, ZERO, BOX, grid=24, t_end=4000.0).count == count


def test_split_cluster_is_not_homoclinic_like() -> None:
    """eps = 0.1 splits the origin into four hyperbolic points at least 0.03 apart (certified by
    the exhaustive search, index sum 1): then no orbit leaves a point and comes back to it."""
    cell = build_preset("fig9a", {"eps1": 0.1, "eps2": 0.1})
    res = find_fixed_points(cell.vector_field, BOX, resolution=128)
    kinds = [p.kind for p in res.fixed_points]
    assert "non_hyperbolic" not in kinds and res.index_sum == 1
    near = [p.h for p in res.fixed_points if float(p.h.norm()) < 0.5]
    assert len(near) == 4
    assert min(float((a - b).norm()) for i, a in enumerate(near) for b in near[i + 1:]) > 0.03
    reg = homoclinic_like_regions(cell.vector_field, ZERO, BOX, grid=32)
    assert reg.count == 0


def test_return_matches_dop853() -> None:
    """One fig9a orbit from the region: scipy's DOP853 on the numpy field reproduces the
    excursion and both returns (forwards and backwards) that the RK4 criterion measured."""
    f, _ = numpy_field("fig9a")
    h0 = np.array(H0)
    fw = solve_ivp(f, (0, 1000), h0, method="DOP853", rtol=1e-11, atol=1e-13, dense_output=True)
    bw = solve_ivp(lambda t, h: -f(t, h), (0, 1000), h0, method="DOP853", rtol=1e-11,
                   atol=1e-13)
    t = np.linspace(0, 1000, 10001)
    ref = np.linalg.norm(fw.sol(t), axis=0)
    ours, _, _ = excursion(build_preset("fig9a").vector_field, torch.tensor(h0), ZERO, 1000.0,
                           0.1)
    back, _, _ = excursion(build_preset("fig9a").vector_field, torch.tensor(h0), ZERO, 1000.0,
                           0.1, backward=True)
    assert ours.excursion >= 0.3
    assert ours.excursion == pytest.approx(ref.max(), rel=1e-6)
    assert ours.return_distance == pytest.approx(np.linalg.norm(fw.y[:, -1]), rel=1e-6)
    assert back.return_distance == pytest.approx(np.linalg.norm(bw.y[:, -1]), rel=1e-6)
    assert np.linalg.norm(fw.y[:, -1]) < 0.03 and np.linalg.norm(bw.y[:, -1]) < 0.03
    first = t[np.argmax((t > t[ref.argmax()]) & (ref < 0.03))]
    assert ours.return_time == pytest.approx(first, abs=0.2)


@pytest.mark.parametrize("name", ["fig9a", "fig9b"])
def test_exact_cluster_matches_leading_order(name: str) -> None:
    """The four 50-digit points and their eigenvalues against the closed form of the leading
    order field 1/2 [eps_i h_i + h_i (M h)_i], M_ij = (1 + eps_i)(1 - r0_i) U_r,ij: 0 (eigen-
    values eps_i / 2), A = (-eps1 / M11, 0) (eigenvalues -eps1/2, (eps2 + M21 A_x) / 2),
    B = (0, -eps2 / M22), C = -M^-1 eps; relative agreement O(eps)."""
    _, p = numpy_field(name)
    eps = np.array([p["eps1"], p["eps2"]])
    r0 = 1 / (1 + np.exp(-np.array([p["br1"], p["br2"]])))
    m = ((1 + eps) * (1 - r0))[:, None] * np.array([[p["ur11"], p["ur12"]],
                                                   [p["ur21"], p["ur22"]]])
    ax, by = -eps[0] / m[0, 0], -eps[1] / m[1, 1]
    closed = [([0, 0], sorted(eps / 2)),
              ([ax, 0], sorted([-eps[0] / 2, (eps[1] + m[1, 0] * ax) / 2])),
              ([0, by], sorted([-eps[1] / 2, (eps[0] + m[0, 1] * by) / 2])),
              (list(-np.linalg.solve(m, eps)), None)]
    cluster = exact_cluster(build_preset(name))
    for (h, eig), q in zip(closed, cluster, strict=True):
        assert np.allclose(q["h"], h, rtol=1e-6, atol=1e-15)
        if eig is not None:
            assert np.allclose(sorted(e[0] for e in q["eigenvalues"]), eig, rtol=1e-6)
    assert sorted(q["kind"] for q in cluster) == ["saddle", "stable_node", "stable_node",
                                                  "unstable_node"]
    # below float32's resolution (machine epsilon 1.2e-7), far above float64's
    assert 1e-9 < cluster_separation(cluster) < torch.finfo(torch.float32).eps


def test_float32_stops_where_exact_arithmetic_reaches_the_sink() -> None:
    """fig9a (eps = 1e-9): in 50 digits and float64 the orbit ends on the cluster's sink and,
    backwards, on its source; in float32 (eps rounded beyond recognition, f to 0) it stops
    further out."""
    cell = build_preset("fig9a")
    assert max(abs(e - 1e-9) for e in float32_eps(cell)) > 1e-9  # float32 cannot hold eps
    fw = precision_orbits(cell, H0)
    d = cluster_separation(fw["cluster"])
    s = fw["summary"]
    sink = [q["h"] for q in fw["cluster"] if q["kind"] == "stable_node"]
    assert s["50 digits"]["nearest_kind"] == "stable_node"
    assert min(math.dist(s["50 digits"]["end"], h) for h in sink) < 1e-20
    assert s["float64"]["distance_to_nearest"] < 1e-6 * d
    assert s["float32"]["moved_last_100_steps"] == 0.0
    assert s["float32"]["distance_to_nearest"] > 3 * d
    assert s["float64"]["max_deviation_excursion"] < 1e-12
    bw = precision_orbits(cell, H0, backward=True)["summary"]
    assert bw["50 digits"]["nearest_kind"] == "unstable_node"
    assert bw["50 digits"]["distance_to_nearest"] < 1e-20


@pytest.mark.parametrize("name", ["fig9a", "fig9b"])
def test_cluster_and_far_points_satisfy_poincare_hopf(name: str) -> None:
    """At box scale the float64 search sees the cluster as one non-hyperbolic point at the
    origin plus hyperbolic points elsewhere; with the cluster's four exact points (index
    1 + 1 + 1 - 1 = 2) the index sum over the invariant box must be 1."""
    res = find_fixed_points(build_preset(name).vector_field, BOX, resolution=128)
    # ||f|| < 1e-10 (the search's tolerance) holds wherever q |h|^2 < 1e-10: within ~1e-5
    at_origin = [p for p in res.fixed_points if float(p.h.norm()) < 1e-4]
    far = [p for p in res.fixed_points if float(p.h.norm()) >= 1e-4]
    assert [p.kind for p in at_origin] == ["non_hyperbolic"]
    assert all(p.kind != "non_hyperbolic" for p in far) and min(
        float(p.h.norm()) for p in far) > 0.1
    far_index = sum(-1 if p.kind == "saddle" else 1 for p in far)
    cluster_index = sum(-1 if q["kind"] == "saddle" else 1
                        for q in exact_cluster(build_preset(name)))
    assert cluster_index == 2 and far_index + cluster_index == 1
