"""An analysis summary in words: the one-line verdict and the markdown for TensorBoard's TEXT
tab."""

from __future__ import annotations

from typing import Any

from gru_learn.analysis import timeline


def target_period(summary: dict[str, Any]) -> float | None:
    cycles = [c for c in (summary.get("target") or {}).get("limit_cycles") or [] if c.get("stable")]
    return cycles[0].get("period") if cycles else None


def text_summary(summary: dict[str, Any]) -> str:
    """The analysis as markdown for TensorBoard's TEXT tab: the one-line verdict, the topology
    of each side, periods in target time (GRU steps in brackets) and the timeline's events."""
    learned, target = summary.get("learned") or {}, summary.get("target") or {}
    comp = summary.get("comparison") or {}
    lines = [f"**{one_line(summary)}**", ""]
    lines.append(f"- learned: {timeline.describe(learned.get('signature') or {})}")
    if target:
        lines.append(f"- target: {timeline.describe(target.get('signature') or {})}")
    if comp.get("topology_reason"):
        lines.append(f"- topology: {comp.get('topology_verdict')} ({comp['topology_reason']})")
    for c in learned.get("limit_cycles") or []:
        if c.get("stable") and c.get("period") is not None:
            lines.append(f"- learned ODE cycle: period {c['period']:.4g} "
                         f"({c.get('period_steps', float('nan')):.4g} GRU steps)")
    loop = learned.get("closed_loop") or {}
    if loop.get("period") is not None:
        lines.append(f"- closed loop ({loop.get('rollout')}): period {loop['period']:.4g} "
                     f"({loop['period_steps']:.4g} GRU steps)")
    for k in ("d_stsp", "d_h", "test_mse", "cycle_hausdorff"):
        if isinstance(comp.get(k), (int, float)):
            lines.append(f"- {k}: {comp[k]:.4g}")
    events_ = (summary.get("timeline") or {}).get("events") or []
    if events_:
        lines += ["", "**topology over training**", ""]
        lines += [f"- {e}" for e in timeline.line(events_).splitlines()]
    lines += ["", f"({summary.get('time_unit', '')})"]
    return "\n".join(lines)


def one_line(summary: dict[str, Any]) -> str:
    """A short human summary of an analysis: topology, match, periods."""
    comp, learned = summary.get("comparison") or {}, summary.get("learned") or {}
    sig = learned.get("signature") or {}
    parts = [f"{sig.get('stable_points', '?')} stable / {sig.get('unstable_points', '?')} "
             f"unstable points, {sig.get('saddles', '?')} saddles, "
             f"{sig.get('stable_cycles', '?')} stable cycles"]
    for kind in ("ring", "line", "plane"):
        if sig.get(f"{kind}_attractors"):
            parts[0] += f", {sig[f'{kind}_attractors']} {kind} attractor(s)"
    if "topology_match" in comp:
        verdict = comp.get("topology_verdict")
        parts.append(f"topology_match={comp['topology_match']}"
                     + (f" ({verdict})" if verdict else ""))
    loop = learned.get("closed_loop") or {}
    if loop.get("behaviour"):
        parts.append(f"closed loop {loop['behaviour']}")
    if comp.get("period_rel_error") is not None:
        parts.append(f"period error {100 * comp['period_rel_error']:.1f}%")
    return "; ".join(parts)

