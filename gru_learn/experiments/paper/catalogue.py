"""Figs 3-4 as a step: the catalogue of 2-D fixed-point structures (presets found by
``search-topology`` or built from 1-D units), certified in this run, and the Fig 4 cluster's
separation against what float32 and float64 resolve (40-digit arithmetic as the reference)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from gru_learn.experiments.paper.common import Claim, Settings, claim, read_json
from gru_learn.experiments.preset_studies import portrait


def _certified_counts(name: str) -> tuple[Any, Any]:
    """(certificate, cell) of a 2-D preset by the exhaustive search at two resolutions."""
    from gru_learn.experiments.topology_search import certify
    from gru_learn.gru.params import theta_from_cell
    from gru_learn.gru.presets import build_preset

    cell = build_preset(name)
    return certify(theta_from_cell(cell)), cell


def fig3_4(out: Path, s: Settings) -> list[Claim]:
    """The catalogue of Fig 3 (presets found by search or built from 1-D units), certified in
    this run, and the Fig 4 cluster's separation against float32 / float64 precision."""
    from gru_learn.dynamics.stability import saddle_node_kind

    for preset in ("fig3a", "fig3_saddle_nodes", "fig3b", "fig4"):
        portrait(preset, cycles=False, out=out / f"{preset}.png", json=out / f"{preset}.json")
    claims = []
    cert, _ = _certified_counts("fig3a")
    c = cert.counts
    claims.append(claim(
        "Fig 3A", "a 2-D GRU with 11 fixed points (5 stable: a continuous analogue of 5 "
        "discrete states)", "11 fixed points", f"{c['total']} fixed points: {c['sinks']} "
        f"sinks, {c['saddles']} saddles, {c['sources']} sources; index sum {cert.index_sum}; "
        f"{'certified' if cert.ok else 'NOT certified: ' + cert.reason}",
        cert.ok and c["total"] == 11 and c["sinks"] == 5,
        "preset fig3a, found by search-topology (docs/catalogue.md); certified here by the "
        "exhaustive 2-D search at grids 64 and 128 and the index sum"))
    basic = read_json(out / "fig2a.json")["fixed_points"]  # the bistable_pair preset
    kinds = {p["kind"] for p in basic}
    claims.append(claim("Fig 3", "sinks, sources and saddles", "all three",
                        ", ".join(sorted(kinds)) + " (bistable_pair)",
                        {"stable_node", "unstable_node", "saddle"} <= kinds))
    sn = [saddle_node_kind(_eig(p)) for p in read_json(out / "fig3_saddle_nodes.json")[
        "fixed_points"]]
    sides = _sides("fig3_saddle_nodes", "b1", 1e-3)
    claims.append(claim(
        "Fig 3 (footnote)", "saddle-node points of the first kind (sink + saddle fused) and "
        "of the second kind (source + saddle fused)", "both kinds exist",
        f"{sn.count(1)} of the first kind, {sn.count(2)} of the second; b1 -/+ 1e-3: "
        f"{sides}", sn.count(1) == 2 and sn.count(2) == 1
        and sides == "3 (index 1) / 9 (index 1)",
        "preset fig3_saddle_nodes: unit x at its half-stable bias (closed form), unit y "
        "bistable; kinds from the non-zero eigenvalue's sign"))
    found = {}
    for name in ("sn1_found", "sn2_found"):
        portrait(name, cycles=False, out=out / f"{name}.png", json=out / f"{name}.json")
        found[name] = [saddle_node_kind(_eig(p)) for p in read_json(out / f"{name}.json")[
            "fixed_points"]]
    claims.append(claim(
        "Fig 3 (footnote)", "saddle-node points of both kinds, found by search-topology",
        "both kinds exist", f"sn1_found: kinds {sorted(k for k in found['sn1_found'] if k)}; "
        f"sn2_found: kinds {sorted(k for k in found['sn2_found'] if k)}",
        1 in found["sn1_found"] and 2 in found["sn2_found"],
        "parameters from `search-topology --saddle-node 1|2` (docs/catalogue.md); kinds "
        "recomputed here from the eigenvalues"))
    fps = read_json(out / "fig3b.json")["fixed_points"]
    codim2 = sum(all(abs(e[0]) < 1e-6 for e in p["eigenvalues"]) for p in fps)
    first = sum(saddle_node_kind(_eig(p)) == 1 for p in fps)
    sinks = sum(p["kind"] == "stable_node" for p in fps)
    claims.append(claim("Fig 3B", "a pseudo-codimension-2 point, a sink and two saddle-node "
                        "points of the first kind", "1 + 1 + 2",
                        f"{codim2} double-zero point, {sinks} sink, {first} first-kind "
                        "saddle-nodes", codim2 == 1 and sinks == 1 and first == 2,
                        "preset fig3b: both units at the half-stable bias, so the point is "
                        "codimension-2 up to float64 rounding of the bias"))
    claims += _cluster_precision(out)
    return claims


def _eig(p: dict[str, Any]) -> torch.Tensor:
    return torch.tensor([complex(*e) for e in p["eigenvalues"]])


def _sides(name: str, param: str, delta: float) -> str:
    """Certified counts of a preset with ``param`` moved by -delta and +delta."""
    from gru_learn.experiments.topology_search import certify
    from gru_learn.gru.params import theta_from_cell
    from gru_learn.gru.presets import PRESETS

    base = PRESETS[name].defaults
    texts = []
    for sign in (-1, 1):
        params = {**base, param: base[param] + sign * delta}
        c = certify(theta_from_cell(PRESETS[name].build(**params)), resolutions=(64,))
        texts.append(f"{c.counts['total']} (index {c.index_sum})" if c.ok else c.reason)
    return " / ".join(texts)


def _cluster_precision(out: Path) -> list[Claim]:
    """Fig 4 (preset fig4): the four points exactly (each unit's pair of roots in 40-digit
    arithmetic), their separation d against the width within which f is below each
    precision's roundoff, what a float64 search and f's signs in float32 / float64 see, and an
    orbit from inside the cluster in float32, float64 and 40-digit arithmetic."""
    import mpmath

    from gru_learn.dynamics import find_fixed_points, integrate
    from gru_learn.gru.precision import mp_gru_field, mp_rk4, resolution_radius, sign_changes
    from gru_learn.gru.presets import PRESETS, build_preset

    cell = build_preset("fig4")
    b = PRESETS["fig4"].defaults["b1"]
    h_star = math.sqrt(0.5)
    with mpmath.workdps(40):
        g = lambda h: mpmath.tanh(2 * h + mpmath.mpf(b)) - h  # noqa: E731 - unit x (= unit y)
        u, w = (mpmath.findroot(g, h_star + sgn * 5e-5) for sgn in (-1, 1))
    gap = float(w - u)
    d = math.sqrt(2) * gap  # sink (w, w) to source (u, u)
    c = float((u + w) / 2)
    centre = torch.tensor([c, c], dtype=torch.float64)
    portrait("fig4", box=(c - 3 * gap, c + 3 * gap), t_end=1e5, dt=100.0, cycles=False,
             out=out / "fig4_zoom.png")
    res = find_fixed_points(cell.vector_field, [(c - 3 * gap, c + 3 * gap)] * 2,
                            resolution=64, dedup_tol=0.1 * gap)
    kinds = sorted(p.kind for p in res.fixed_points)
    curv = 2.0 * h_star / 2  # f_x = g / 2 with g ~ (b - b*)/a - a h* (h - h*)^2, a = 2
    width = {name: 2 * resolution_radius(curv, dt)
             for name, dt in (("float32", torch.float32), ("float64", torch.float64))}
    seg = [torch.tensor([c + k * 2 * gap, c], dtype=torch.float64) for k in (-1, 1)]
    signs = {name: sign_changes(build_preset("fig4").to(dt).vector_field, *seg, 0, dt)
             for name, dt in (("float32", torch.float32), ("float64", torch.float64))}
    claims = [claim(
        "Fig 4", "a sink, a source and two saddles closer together than machine precision "
        "resolves act as one fixed point", "d below machine precision",
        f"d = {d:.3e} (40 digits); float64 search of the zoomed box: {len(kinds)} points "
        f"({', '.join(kinds)}); f_x along x through the cluster (4001 points): float64 "
        f"{signs['float64'][0]} sign changes, {signs['float64'][1]} zeros; float32 "
        f"{signs['float32'][0]} sign changes, {signs['float32'][1]} zeros (exact: 2, 0); "
        f"f below roundoff over a width {width['float32']:.1e} (float32), "
        f"{width['float64']:.1e} (float64)",
        len(kinds) == 4 and width["float64"] < d < width["float32"]
        and signs["float64"][0] == 2 and signs["float32"][0] != 2,
        "preset fig4 (pair gap 1e-4 per axis, bias by mpmath bisection); a float64 bias "
        "cannot put the pair closer than ~1e-8 (one ulp of b moves it by that much)")]
    sink = torch.tensor([float(w), float(w)], dtype=torch.float64)
    t_end, dt = 1e5, 100.0
    exact = mp_rk4(mp_gru_field(cell), [mpmath.mpf(c), mpmath.mpf(c)],
                   [dt] * int(t_end / dt))[-1]
    ends = {"40 digits": torch.tensor(exact, dtype=torch.float64)}
    for name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        _, path = integrate(build_preset("fig4").to(dtype).vector_field,
                            centre.to(dtype)[None], t_end, dt)
        ends[name] = path[-1, 0].to(torch.float64)
    dist = {k: float((v - sink).norm()) for k, v in ends.items()}
    moved = {k: float((v - centre).norm()) for k, v in ends.items()}
    claims.append(claim(
        "Fig 9 (precision)", "near the cluster, orbits from the source go to the sink in "
        "exact arithmetic; whether a program sees it depends on its precision",
        "a finite-precision effect", "orbit from the cluster's centre, t = 1e5 (RK4 step 100): "
        + "; ".join(f"{k}: moved {moved[k]:.1e}, ends {dist[k]:.1e} from the sink"
                    for k in ends),
        dist["40 digits"] < 0.1 * d and dist["float64"] < 0.1 * d
        and dist["float32"] > 0.3 * d,
        "float64 follows the 40-digit orbit into the sink; in float32 f is rounding noise "
        "inside the cluster, so the four points act as one (the fig9a/fig9b orbits: row "
        "'Fig 9 (precision, fig9a)' of step fig9)"))
    return claims


