"""The layers of a user's recurrent network analysed at constant inputs, and an optional target
beside them: a registered system (its own fixed points, cycles and Lyapunov exponent, found by
the same toolkit, and the topology compared by counts) or the target's true states paired
sample by sample with the network's hidden states (state R^2 and cycle consistency)."""

from __future__ import annotations

from typing import Any

import torch

from gru_learn.analysis.api import as_inputs, as_states
from gru_learn.analysis.core import F64, AnalysisConfig, Recorder
from gru_learn.analysis.inputs import DataSource, SimulatedSystem
from gru_learn.analysis.load import Network
from gru_learn.analysis.network import NetworkAnalysis, analyze_network
from gru_learn.errors import UserError
from gru_learn.runtime import cpu_threads

TARGET_TRAJECTORIES, TARGET_STEPS = 16, 400  # simulated from a named target for its analysis


def _layer(net: Network, x: Any, states: Any, config: AnalysisConfig,
           figures: bool) -> NetworkAnalysis:
    cell = net.cell
    inputs = as_inputs(x, cell.input_size) if x is not None and cell.input_size else None
    seeds = None
    if states is not None and torch.as_tensor(states).shape[-1] == cell.hidden_size:
        seeds = as_states(states, cell.hidden_size)
    return analyze_network(cell, inputs=inputs, states=seeds, readout=net.observe(),
                           config=config, figures=figures, source=net.source)


def _merge(parts: list[tuple[int, NetworkAnalysis]]) -> NetworkAnalysis:
    """One analysis of several layers: inputs tagged with their ``layer``, errors and seconds
    and figures prefixed ``layer<k>``."""
    if len(parts) == 1:
        return parts[0][1]
    top = parts[-1][1].summary["network"]
    summary: dict[str, Any] = {"network": {"hidden_size": top["hidden_size"],
                                           "input_size": top["input_size"],
                                           "read": "each layer alone", "layers": []},
                               "inputs": [], "errors": {}, "seconds": {}}
    figures, points = {}, []
    for k, a in parts:
        summary["network"]["layers"].append({"layer": k, **a.summary["network"]})
        summary["inputs"] += [{"layer": k, **entry} for entry in a.summary["inputs"]]
        for key in ("errors", "seconds"):
            summary[key].update({f"layer{k}/{n}": v for n, v in a.summary[key].items()})
        figures.update({f"layer{k}_{n}": fig for n, fig in a.figures.items()})
        points += a.points
    for key in ("time_unit", "read_as"):
        summary[key] = parts[0][1].summary[key]
    return NetworkAnalysis(summary, figures, points=points)


def analyze_layers(nets: list[tuple[int, Network]], *, input: Any = None, states: Any = None,
                   target: Any = None, config: AnalysisConfig | None = None,
                   figures: bool = True) -> NetworkAnalysis:
    """Each (layer, network) of ``nets`` read alone (``analyze_network``; ``input`` is the
    first one's constant input, the others are read at zero input; ``states`` (..., d) seed
    the layer whose hidden size is d), then the ``target`` beside them (see the module
    docstring): a system name adds ``target`` and ``comparison.topology_*`` to the summary,
    an array of true states (N, T, k) paired with ``states`` (N, T, d) adds
    ``comparison.state_r2`` and ``comparison.cycle_consistency``."""
    cfg = config or AnalysisConfig()
    with cpu_threads():
        parts = [(k, _layer(net, input if i == 0 else None, states, cfg, figures))
                 for i, (k, net) in enumerate(nets)]
        analysis = _merge(parts)
        if target is not None:
            rec = Recorder()
            analysis.summary.update(_beside(target, states, analysis, cfg, rec))
            analysis.summary["errors"].update(rec.errors)
            analysis.summary["seconds"].update(rec.seconds)
    return analysis


def _beside(target: Any, states: Any, analysis: NetworkAnalysis, cfg: AnalysisConfig,
            rec: Recorder) -> dict[str, Any]:
    """The ``target`` and ``comparison`` entries of the summary."""
    if isinstance(target, str):
        return _named_target(target, analysis, cfg, rec)
    from gru_learn.dynamics.metrics import (
        DSA_SETTINGS,
        cycle_consistency,
        dsa_available,
        dsa_distance,
        state_r2,
    )

    if states is None:
        raise UserError("target states need the network's hidden states at the same samples "
                        "(states=, shape (N, T, d) beside the target's (N, T, k))")
    h = torch.as_tensor(states, dtype=F64) if not isinstance(states, torch.Tensor) \
        else states.detach().to("cpu", F64)
    z = torch.as_tensor(target, dtype=F64) if not isinstance(target, torch.Tensor) \
        else target.detach().to("cpu", F64)
    if h.shape[:-1] != z.shape[:-1]:
        raise UserError(f"states {tuple(h.shape)} and target states {tuple(z.shape)} must pair "
                        "sample by sample: same shape but the last dimension")
    comp = {
        "state_r2": rec("state_r2", lambda: state_r2(h, z)),
        "cycle_consistency": rec("cycle_consistency", lambda: cycle_consistency(h, z)),
        "measures": "state_r2: R^2 of the target states from an affine map of the hidden "
                    "states; cycle_consistency: R^2 of the hidden states brought back through "
                    "the target's (variance-weighted, in sample); dsa: Dynamical Similarity "
                    "Analysis of trials (N, T, .) (dsa-metric, when installed; docs/analysis.md)",
        "samples": int(h[..., 0].numel())}
    if dsa_available() and h.ndim == 3:
        comp["dsa"] = rec("dsa", lambda: dsa_distance(h, z))
        comp["dsa_settings"] = DSA_SETTINGS
    return {"comparison": comp}


def target_data(name: str, seed: int = 0) -> DataSource:
    """Clean trajectories of the registered system ``name`` at its default parameters and dt
    (``TARGET_TRAJECTORIES`` of ``TARGET_STEPS`` steps from its initial-state box), as the
    target side of the analysis reads them."""
    from gru_learn.systems.registry import get_system
    from gru_learn.systems.simulate import simulate_system

    system = get_system(name)
    out = simulate_system(system, TARGET_TRAJECTORIES, TARGET_STEPS, system.dt,
                          params=system.params, param_noise_std={}, obs_noise_std=0.0,
                          process_noise_std=0.0, ic_low=system.ic_low, ic_high=system.ic_high,
                          generator=torch.Generator().manual_seed(seed))
    clean = out["clean"]
    return DataSource(system.dt, clean, SimulatedSystem(name, system, dict(system.params),
                                                        {"test": clean}))


def _named_target(name: str, analysis: NetworkAnalysis, cfg: AnalysisConfig,
                  rec: Recorder) -> dict[str, Any]:
    from gru_learn.analysis.target import target_side
    from gru_learn.analysis.topology import topology_match

    tside = target_side(target_data(name, cfg.seed), cfg, rec)
    entries = analysis.summary["inputs"]
    top = max(e.get("layer", 0) for e in entries)
    learned = next(e for e in entries if e.get("layer", 0) == top)["signature"]
    match, reason = topology_match(learned, tside.summary["signature"])
    return {"target": tside.summary, "comparison": {
        "topology_match": match, "topology_reason": reason,
        "topology_read_as": "counts of hyperbolic points by unstable directions, stable "
                            "cycles and continuous attractors: the network's ODE at its "
                            "first input (top layer read) against the target's vector "
                            "field; times differ (GRU steps against the target's units)"}}
