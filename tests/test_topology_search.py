"""Topology search: the batched field and the proxy against the GRU and the exhaustive search,
certificates against scipy from many starts, saddle-node pinching against the closed form."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import fsolve

from gru_learn.dynamics.bifurcation import saddle_node_pairs
from gru_learn.dynamics.fixed_points import find_fixed_points
from gru_learn.dynamics.frequency import linear_rotation
from gru_learn.dynamics.stability import saddle_node_kind
from gru_learn.experiments.topology_search import (
    TopologyRequest,
    batched_field,
    certify,
    pinch_saddle_node,
    proxy_counts,
    search,
)
from gru_learn.gru.params import cell_from_theta, theta_from_cell
from gru_learn.gru.precision import mp_gru_field
from gru_learn.gru.presets import build_preset, half_stable_bias
from tests.conftest import run_cli


def _random_thetas(n: int, seed: int, scale: float = 3.0) -> torch.Tensor:
    return scale * torch.randn(n, 12, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("reset", ["before", "after"])
def test_batched_field_is_the_gru_vector_field(reset):
    thetas = _random_thetas(5, 0)
    h = 2 * torch.rand(5, 7, 2, dtype=torch.float64) - 1
    got = batched_field(thetas, h, reset)
    for i in range(5):
        cell = cell_from_theta(thetas[i], reset)
        assert torch.allclose(got[i], cell.vector_field(h[i]).detach(), atol=1e-15)
        assert torch.equal(theta_from_cell(cell), thetas[i])


@pytest.mark.slow
def test_proxy_counts_match_certified_counts_on_random_grus():
    thetas = _random_thetas(30, 1)
    proxy = proxy_counts(thetas, grid=128)
    compared = 0
    for i in range(30):
        cert = certify(thetas[i], resolutions=(128,))
        if not cert.ok:
            continue
        c = cert.counts
        assert proxy[i, :3].tolist() == [c["sinks"], c["saddles"], c["sources"]], i
        compared += 1
    assert compared >= 20


def _scipy_roots(cell, n: int = 40) -> np.ndarray:
    """Every root scipy's fsolve reaches from an n x n grid of starts in (-1, 1)^2."""
    def f(h):
        with torch.no_grad():
            return cell.vector_field(torch.tensor(h, dtype=torch.float64)).numpy()

    roots = []
    for x in np.linspace(-0.999, 0.999, n):
        for y in np.linspace(-0.999, 0.999, n):
            r, _, ok, _ = fsolve(f, [x, y], full_output=True, xtol=1e-13)
            if ok == 1 and np.abs(f(r)).max() < 1e-12 and np.abs(r).max() < 1:
                if not any(np.linalg.norm(r - q) < 1e-7 for q in roots):
                    roots.append(r)
    return np.array(roots)


@pytest.mark.slow
def test_fig3a_certificate_agrees_with_scipy_from_1600_starts():
    cell = build_preset("fig3a")
    cert = certify(theta_from_cell(cell))
    assert cert.ok and cert.index_sum == 1
    assert cert.counts["total"] == 11 and cert.counts["sinks"] == 5
    ours = torch.stack([p.h for p in cert.result.fixed_points]).numpy()
    ref = _scipy_roots(cell)
    assert len(ref) == 11
    for r in ref:  # every scipy root is one of ours
        assert np.linalg.norm(ours - r, axis=1).min() < 1e-8


def test_certificate_refuses_non_hyperbolic_and_resolution_disagreement():
    cert = certify(theta_from_cell(build_preset("fig3_saddle_nodes")))
    assert not cert.ok and "non-hyperbolic" in cert.reason
    kinds = [saddle_node_kind(p.eigenvalues) for p in cert.result.fixed_points]
    assert kinds.count(1) == 2 and kinds.count(2) == 1
    # a pair 1e-4 apart is missed by a coarse grid's merge radius: the index sum says so
    fig4 = certify(theta_from_cell(build_preset("fig4")), resolutions=(64,), dedup_tol=1e-3)
    assert not fig4.ok


@pytest.mark.slow
def test_search_returns_only_certified_structures():
    r = search(TopologyRequest(min_fixed_points=7, sinks=4), seed=3, population=64, elite=8,
               time_budget=120)
    assert r.found and r.certificate.ok
    c = r.certificate.counts
    assert c["total"] >= 7 and c["sinks"] == 4
    again = find_fixed_points(cell_from_theta(r.theta).vector_field, [(-1.0, 1.0)] * 2,
                              resolution=256)
    assert len(again.fixed_points) == c["total"] and again.index_sum == 1


def test_pinch_finds_the_closed_form_saddle_node():
    # x bistable (u = 4), y monostable (u = 1): sink, saddle, sink; raising b1 fuses the
    # left sink with the saddle (first kind) at b1 = -b* with the state x = -sqrt(1/2)
    theta = theta_from_cell(build_preset("decoupled", {"u2": 1.0}))
    cert = certify(theta)
    assert cert.ok and cert.counts["total"] == 3
    sn = pinch_saddle_node(theta, cert, 1)
    assert sn is not None and sn["kind"] == 1
    assert sn["direction"][8] == 1.0  # moved along b_h1
    assert abs(sn["shift"] + half_stable_bias(4.0)) < 1e-9
    assert abs(sn["state"][0] + math.sqrt(0.5)) < 1e-4
    assert sn["counts_before"]["total"] == 3 and sn["counts_after"]["total"] == 1
    assert pinch_saddle_node(theta, cert, 2) is None  # no source here


@pytest.mark.slow
def test_saddle_node_pairs_vanish_together_at_the_closed_form_value():
    # two bistable units: raising b1 past -b* removes three pairs at once (x's left pair
    # times y's three roots)
    def family(b1):
        return build_preset("decoupled", {"b1": b1}).vector_field

    box = [(-1.0, 1.0)] * 2
    more, fewer = find_fixed_points(family(0.5), box), find_fixed_points(family(0.6), box)
    pairs = saddle_node_pairs(family, 0.5, 0.6, more, fewer)
    assert len(pairs) == 3
    for p in pairs:
        assert abs(p["value"] + half_stable_bias(4.0)) < 1e-8
        assert abs(p["state"][0] + math.sqrt(0.5)) < 1e-4


def test_mp_field_is_the_gru_field():
    cell = cell_from_theta(_random_thetas(1, 4)[0])
    cell.bias_hh.data[2:4] = torch.tensor([0.3, -0.2], dtype=torch.float64)  # z not 1/2
    cell.weight_hh.data[2:4] = torch.tensor([[0.5, -1.0], [2.0, 0.1]], dtype=torch.float64)
    h = [0.3, -0.7]
    mp = [float(x) for x in mp_gru_field(cell)(h)]
    ref = cell.vector_field(torch.tensor([h], dtype=torch.float64))[0].tolist()
    assert max(abs(a - b) for a, b in zip(mp, ref, strict=True)) < 1e-15


def test_eq8_rotation_rate_is_the_closed_form():
    alpha, beta, s = 0.6, 2.5, 1.3
    cell = build_preset("hopf", {"alpha": alpha, "beta": beta, "s": s})
    jac = torch.func.jacrev(cell.vector_field)(torch.zeros(2, dtype=torch.float64))
    flow, step = linear_rotation(jac.detach()[None])
    g = beta / (1 + math.exp(-s))
    assert abs(float(flow[0]) - g * math.sin(alpha) / 2) < 1e-14
    lam = complex((g * math.cos(alpha) - 1) / 2, g * math.sin(alpha) / 2)
    assert abs(float(step[0]) - abs(np.angle(1 + lam))) < 1e-14


@pytest.mark.slow
def test_cli_search_topology(in_tmp: Path):
    bad = run_cli("search-topology", cwd=in_tmp)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    r = run_cli("search-topology", "--min-fixed-points", "5", "--time-budget", "60",
                "--population", "64", "--json", "s.json", "--out", "s.png", cwd=in_tmp)
    assert r.returncode == 0, r.stderr[-1000:]
    out = json.loads((in_tmp / "s.json").read_text())
    assert out["found"] and out["certificate"]["ok"]
    assert len(out["certificate"]["fixed_points"]) >= 5
    assert (in_tmp / "s.png").stat().st_size > 5000
    params = dict(kv.split("=") for kv in out["preset"]["set"])
    cell = build_preset("gru2d", {k: float(v) for k, v in params.items()})
    assert certify(theta_from_cell(cell)).counts["total"] == len(
        out["certificate"]["fixed_points"])


def test_stable_cycle_search_finds_an_oscillating_gru():
    from gru_learn.dynamics import integrate

    r = search(TopologyRequest(stable_cycle=True), seed=0, time_budget=120)
    assert r.found and r.cycle_period is not None and r.certificate.counts["sinks"] == 0
    # independently: a trajectory from the box's corner keeps oscillating with that period
    f = cell_from_theta(r.theta).vector_field
    _, path = integrate(f, torch.tensor([[0.9, -0.9]], dtype=torch.float64), 600.0, 0.05)
    x = path[-int(4 * r.cycle_period / 0.05):, 0, 0]
    assert float(x.max() - x.min()) > 0.05
    crossings = ((x[:-1] - x.mean()) * (x[1:] - x.mean()) < 0).sum()
    assert abs(int(crossings) / 2 - 4) <= 1  # four periods in the window
