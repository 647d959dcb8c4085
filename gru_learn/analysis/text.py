"""An analysis summary in words: the one-line verdict and the markdown for TensorBoard's TEXT
tab. Both take an :class:`~gru_learn.analysis.result.AnalysisResult` or summary.json's dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gru_learn.analysis import timeline
from gru_learn.analysis.result import (
    AnalysisResult,
    ClosedLoop,
    Comparison,
    Memory,
    Side,
    Signature,
)

Summary = AnalysisResult | Mapping[str, Any]


def target_period(summary: Summary) -> float | None:
    """The period of the target's first stable limit cycle (None without one)."""
    return AnalysisResult.of(summary).target_period()


def _parts(summary: Summary) -> tuple[AnalysisResult, Side, Comparison, Signature, ClosedLoop]:
    """The result and its learned side, comparison, learned signature and closed loop (empty
    ones where the summary has none)."""
    res = AnalysisResult.of(summary)
    learned = res.main_side()
    comp = res.comparison if isinstance(res.comparison, Comparison) else Comparison()
    sig = learned.signature if isinstance(learned.signature, Signature) else Signature()
    loop = learned.closed_loop if isinstance(learned.closed_loop, ClosedLoop) else ClosedLoop()
    return res, learned, comp, sig, loop


def text_summary(summary: Summary) -> str:
    """The analysis as markdown for TensorBoard's TEXT tab: the one-line verdict, the topology
    of each side, periods in target time (GRU steps in brackets) and the timeline's events."""
    res, learned, comp, sig, loop = _parts(summary)
    lines = [f"**{one_line(res)}**", ""]
    lines.append(f"- learned: {timeline.describe(sig.to_json())}")
    if isinstance(res.target, Side) and res.target.to_json():
        target_sig = res.target.signature
        lines.append(f"- target: {timeline.describe(target_sig.to_json() if target_sig else {})}")
    if comp.topology_reason:
        lines.append(f"- topology: {comp.topology_verdict} ({comp.topology_reason})")
    memory = comp.memory if isinstance(comp.memory, Memory) else None
    if memory is not None and memory.median_error:
        errs = ", ".join(f"{e:.2g}" for e in memory.median_error)
        lines.append(f"- memory: median {memory.variable} error {errs} {memory.unit} after "
                     f"{', '.join(map(str, memory.horizon_multiples))} training horizons"
                     + (f"; ||phi||_inf {memory.phi_inf:.2g} {memory.unit} per time unit"
                        if memory.phi_inf is not None else ""))
        floor = (memory.target or {}).get("encoding_floor")
        if floor:
            lines.append(f"- memory floor: the best forecaster trained on this data errs by a "
                         f"median {floor['median']:.2g} {memory.unit} already at the start "
                         f"(noisy first observations, noise sd {floor['noise_std']:.2g}; "
                         f"estimated from {floor['prior_states']} initial states, halves "
                         f"differ by {floor.get('sampling_spread', 0):.2g})")
    for c in learned.stable_cycles():
        if c.period is not None:
            steps = c.period_steps if c.period_steps is not None else float("nan")
            lines.append(f"- learned ODE cycle: period {c.period:.4g} ({steps:.4g} GRU steps)")
    if loop.period is not None:
        lines.append(f"- closed loop ({loop.rollout}): period {loop.period:.4g} "
                     f"({loop.period_steps:.4g} GRU steps)")
    for k in ("d_stsp", "d_h", "cycle_hausdorff", "state_r2", "cycle_consistency"):
        if isinstance(getattr(comp, k), (int, float)):
            lines.append(f"- {k}: {getattr(comp, k):.4g}")
    events_ = (res.timeline or {}).get("events") or []
    if events_:
        lines += ["", "**topology over training**", ""]
        lines += [f"- {e}" for e in timeline.line(events_).splitlines()]
    lines += ["", f"({res.time_unit or ''})"]
    return "\n".join(lines)


def one_line(summary: Summary) -> str:
    """A short human summary of an analysis: topology, match, periods."""
    _, _, comp, sig, loop = _parts(summary)

    def count(k: str) -> Any:
        v = getattr(sig, k)
        return "?" if v is None else v

    parts = [f"{count('stable_points')} stable / {count('unstable_points')} "
             f"unstable points, {count('saddles')} saddles, "
             f"{count('stable_cycles')} stable cycles"]
    for kind in ("ring", "line", "plane"):
        if getattr(sig, f"{kind}_attractors"):
            parts[0] += f", {getattr(sig, f'{kind}_attractors')} {kind} attractor(s)"
    if "topology_match" in comp.order or comp.topology_match is not None:
        verdict = comp.topology_verdict
        parts.append(f"topology_match={comp.topology_match}"
                     + (f" ({verdict})" if verdict else ""))
    if loop.behaviour:
        parts.append(f"closed loop {loop.behaviour}")
    if comp.period_rel_error is not None:
        parts.append(f"period error {100 * comp.period_rel_error:.1f}%")
    memory = comp.memory if isinstance(comp.memory, Memory) else None
    if memory is not None and memory.at(10) is not None:
        parts.append(f"{memory.variable} error {memory.at(10):.2g} {memory.unit} after 10 "
                     f"horizons ({memory.at(100):.2g} after 100)")
    return "; ".join(parts)


def input_lines(summary: Summary) -> list[str]:
    """One line per input of a network's summary: 'input [0.0]: 1 stable points, 1 saddles'
    (the signature's non-zero counts), with the search's recall estimate when under 1."""
    lines = []
    for entry in AnalysisResult.of(summary).inputs:
        sig = entry.signature.to_json() if isinstance(entry.signature, Signature) else {}
        counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sig.items()
                           if v and k != "continuous_attractors") or "no fixed points"
        rec = (entry.search or {}).get("recall_estimate")
        lines.append(f"input {entry.input}: {counts}"
                     + (f" (recall estimate {rec:.2f})" if rec is not None and rec < 1 else "")
                     + saturation_note(entry.saturation))
    return lines


def saturation_note(saturation: dict[str, Any] | None, above: float = 0.5) -> str:
    """'; saturated: update gates at 97% of the states read (...)' when over ``above`` of a
    gate's values are saturated, else ''."""
    if not saturation:
        return ""
    heavy = [f"{k} {saturation[k]:.0%}" for k in ("update", "reset", "candidate")
             if (saturation.get(k) or 0) > above]
    if not heavy:
        return ""
    flat = " (the flow is flat where the update gate is closed: points there are " \
        "non-hyperbolic)" if (saturation.get("update_closed") or 0) > above else ""
    return f"; saturated gates: {', '.join(heavy)} of the states read{flat}"
