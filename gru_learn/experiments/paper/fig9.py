"""Fig 9 as a step: presets fig9a / fig9b (a four-point cluster at the origin), their
homoclinic-like regions counted on a grid, one orbit per region (Fig 9C/D), and one orbit of
fig9a in float32, float64 and 50-digit arithmetic (:mod:`.precision`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from gru_learn.analysis.figures.paper import fig9_precision, fig9_regions
from gru_learn.experiments.paper.common import Claim, Settings, claim, read_json
from gru_learn.experiments.preset_studies import portrait
from gru_learn.files.atomic import write_json_atomic


def fig9(out: Path, s: Settings) -> list[Claim]:
    """Fig 9: presets fig9a / fig9b (a four-point cluster at the origin), their homoclinic-like
    regions counted on a grid, one orbit per region (Fig 9C/D), and one orbit of fig9a in
    float32, float64 and 50-digit arithmetic."""
    import numpy as np

    from gru_learn.dynamics.homoclinic_like import excursion, homoclinic_like_regions
    from gru_learn.experiments.paper.precision import (
        cluster_separation,
        exact_cluster,
        float32_eps,
        precision_orbits,
    )
    from gru_learn.gru.presets import build_preset

    grid = s.fig9_grid
    zero = torch.zeros(2, dtype=torch.float64)
    found: dict[str, Any] = {}
    for name in ("fig9a", "fig9b"):
        portrait(name, cycles=False, out=out / f"{name}.png", json=out / f"{name}.json")
        cell = build_preset(name)
        regions = homoclinic_like_regions(cell.vector_field, zero, ((-1.0, 1.0), (-1.0, 1.0)),
                                          grid=grid)
        orbits = []
        for reg in regions.regions:  # the region's cell nearest its centroid
            cells = torch.tensor(np.stack(np.nonzero(regions.labels == regions.components.index(
                reg) + 1), -1))
            pts = torch.stack([torch.tensor(regions.xs)[cells[:, 0]],
                               torch.tensor(regions.ys)[cells[:, 1]]], -1)
            h0 = pts[int((pts - torch.tensor(reg["centroid"])).norm(dim=-1).argmin())]
            fw, t, path = excursion(cell.vector_field, h0, zero, 1000.0, 0.1)
            bw, _, back = excursion(cell.vector_field, h0, zero, 1000.0, 0.1, backward=True)
            angles = {k: round(math.degrees(math.atan2(float(p[-1, 1]), float(p[-1, 0]))))
                      for k, p in (("leaves_along_deg", back), ("returns_along_deg", path))}
            orbits.append({"h0": h0.tolist(), "forward": fw.to_json(), "backward": bw.to_json(),
                           **angles, "t": t, "path": path, "back": back})
        cluster = exact_cluster(cell)
        found[name] = {"cell": cell, "regions": regions, "orbits": orbits, "cluster": cluster,
                       "portrait": read_json(out / f"{name}.json")["fixed_points"]}
    prec = {bw: precision_orbits(found["fig9a"]["cell"], found["fig9a"]["orbits"][0]["h0"],
                                 backward=bw) for bw in (False, True)}
    fig9_regions(found, out / "fig9.png")
    fig9_precision(prec, out / "fig9_precision.png")
    write_json_atomic(out / "fig9.json", {
        name: {"regions": v["regions"].to_json(), "cluster": [
            {k: p[k] for k in ("h", "kind", "eigenvalues")} for p in v["cluster"]],
            "orbits": [{k: o[k] for k in ("h0", "forward", "backward", "leaves_along_deg",
                                          "returns_along_deg")} for o in v["orbits"]]}
        for name, v in found.items()} | {"precision_fig9a": {
            "forward" if not bw else "backward": p["summary"] for bw, p in prec.items()},
            "float32_eps_fig9a": float32_eps(found["fig9a"]["cell"]),
            "cluster_float32_parameters_fig9a": [
                {k: q[k] for k in ("h", "kind")}
                for q in prec[False]["cluster_float32_parameters"]]})

    def describe(name: str) -> tuple[str, bool]:
        v = found[name]
        kinds = ", ".join(sorted(p["kind"] for p in v["cluster"]))
        regs = v["regions"].regions
        ok = all(o["forward"]["excursion"] >= 0.3 and o["forward"]["return_distance"] < 0.03
                 and o["backward"]["return_distance"] < 0.03 for o in v["orbits"])
        extents = ", ".join(f"{r['extent']:.2f}" for r in regs)
        text = (f"{len(regs)} region(s) of {', '.join(str(r['cells']) for r in regs)} "
                f"cells (grid {grid}^2, extent {extents}"
                f", touching the box edge: {any(r['touches_edge'] for r in regs)}; "
                f"{len(v['regions'].components) - len(regs)} smaller component(s) within "
                f"0.3 of the cluster); cluster in 50 digits: {kinds}, "
                f"d = {cluster_separation(v['cluster']):.2e}; one orbit per region: "
                + "; ".join(f"leaves along {o['leaves_along_deg']} deg, returns along "
                            f"{o['returns_along_deg']} deg, "
                            f"excursion {o['forward']['excursion']:.2f}, back within 0.03 "
                            f"after t = {o['forward']['return_time']:.0f}, ends "
                            f"{o['forward']['return_distance']:.1e} / (backward) "
                            f"{o['backward']['return_distance']:.1e} from it"
                            for o in v["orbits"]))
        return text, ok

    claims = []
    for name, fig, want in (("fig9a", "Fig 9A", 1), ("fig9b", "Fig 9B", 2)):
        text, ok = describe(name)
        claims.append(claim(
            fig, f"{'one bounded region' if want == 1 else 'two bounded regions'} of "
            "homoclinic-like orbits around a pseudo-codimension-2 point: trajectories "
            "started there flow into the point in both time directions",
            f"{want} region(s)", text,
            found[name]["regions"].count == want and ok
            and not any(r["touches_edge"] for r in found[name]["regions"].regions),
            f"preset {name}; a grid state is homoclinic-like when it is >= 0.1 from the "
            "cluster and its orbits forwards and backwards (RK4, t = 1000) end within 0.03 of "
            "it; regions: connected components reaching >= 0.3 from it (docs/catalogue.md)"))
    fw, bw = prec[False]["summary"], prec[True]["summary"]
    eps32, rounded = float32_eps(found["fig9a"]["cell"]), prec[False]["cluster_float32_parameters"]
    d = cluster_separation(found["fig9a"]["cluster"])
    hi = "50 digits"
    claims.append(claim(
        "Fig 9 (precision, fig9a)", "the homoclinic-like orbits go from the cluster's source "
        "to its sink; only finite precision makes them look homoclinic",
        "a finite-precision effect",
        "fig9a, one orbit to t = 1e11 (RK4, the same steps in each precision); forwards: "
        + "; ".join(f"{k}: ends {v['distance_to_nearest']:.1e} from the {v['nearest_kind']}, "
                    f"moved {v['moved_last_100_steps']:.0e} in its last 100 steps"
                    for k, v in fw.items())
        + "; backwards: " + "; ".join(f"{k}: {v['distance_to_nearest']:.1e} from the "
                                      f"{v['nearest_kind']}" for k, v in bw.items())
        + f"; excursion deviation from 50 digits: float64 "
        f"{fw['float64']['max_deviation_excursion']:.0e}, float32 "
        f"{fw['float32']['max_deviation_excursion']:.0e}; cluster d = {d:.1e}",
        fw[hi]["nearest_kind"] == "stable_node" and fw[hi]["distance_to_nearest"] < 0.01 * d
        and fw["float64"]["distance_to_nearest"] < 0.01 * d
        and bw[hi]["nearest_kind"] == "unstable_node"
        and fw["float32"]["moved_last_100_steps"] == 0.0
        and fw["float32"]["distance_to_nearest"] > d,
        "in 50 digits and float64 the orbit ends on a sink of the cluster (eps = 1e-9; "
        "float64's roundoff 1e-16 |h| is far below the field's eps |h| there); float32 "
        f"rounds eps = (1e-9, 1e-9) to ({eps32[0]:.1e}, {eps32[1]:.1e}) (its own cluster: "
        f"{', '.join(sorted(q['kind'] for q in rounded))}, spanning "
        f"{cluster_separation(rounded):.1e}) and f to exactly 0 before the orbit reaches any "
        "of the points: it stops (fig9_precision.png)"))
    return claims


