"""A grid's printed report (``compare`` prints it; ``summary.json`` holds the same numbers):
final losses per (system, hidden size), the Fig 12 ratios, the dynamics over seeds, the memory
of a ring or line (Fig 12 read by memory) and the common evaluation's reconstruction
measures. Every function reads :func:`gru_learn.experiments.grid.report.summarize`'s dict."""

from __future__ import annotations

from typing import Any

from gru_learn.experiments.grid.report import VERDICTS, memory_time_cell


def _fmt(stats: dict[str, Any], digits: str = ".2f") -> str:
    """``mean ± std`` or ``median [min, max]`` with ``(n)`` where values are missing."""
    if not stats["n"]:
        return "-"
    if "median" in stats:
        text = (f"{stats['median']:.3g} [{stats['min']:.3g}, {stats['max']:.3g}]"
                if stats["n"] > 1 else f"{stats['median']:.3g}")
    else:
        text = f"{stats['mean']:{digits}} ± {stats['std']:{digits}}"
    return text + (f" (n={stats['n']})" if stats["missing"] else "")


def format_table(summary: dict[str, Any]) -> str:
    """The printed report: final losses per (system, size), the Fig 12 ratios, and the
    dynamics and reconstruction measures where there are analyses."""
    lines = [f"{'system':<8}{'hidden':>7}{'runs':>6}   {'final train loss':<22}"
             f"{'final val loss':<22}"]
    for row in summary["table"]:
        lines.append(f"{row['system']:<8}{row['hidden_size']:>7}{row['runs']:>6}   "
                     f"{row['train_mean']:.4g} ± {row['train_std']:.2g}".ljust(43)
                     + f"{row['val_mean']:.4g} ± {row['val_std']:.2g}")
    for system, f in summary["finding"].items():
        lines.append(f"{system}: loss(largest size) / loss(smallest size) = "
                     f"{f['ratio_largest_to_smallest']:.3g}"
                     f"{' (falls with every size)' if f['decreases_monotonically'] else ''}")
    rows = [r for r in summary["table"] if "dynamics" in r]
    if rows:
        lines += ["", "dynamics over seeds (verdicts exact/approximate/mismatch; coverage of the "
                  "target's continuous attractor by the slow set (slower than one radius in "
                  "the analysis' long_steps), "
                  "by states slower than one radius per four training horizons (task) and by "
                  "the best learned attractor of its kind, mean ± sd; drift time in target "
                  "units, median [min, max]; learned continuous attractors by kind, summed "
                  "over seeds):",
                  f"{'system':<8}{'hidden':>7} {'analysed':>9} {'verdicts':>9} {'match':>6}  "
                  f"{'slow-set cov.':<14}{'task cov.':<14}{'attractor cov.':<15}"
                  f"{'drift time':<22}"
                  f"{'d_stsp':<16}{'d_h':<16}{'period err.':<14}learned attractors"]
        for row in rows:
            g = row["dynamics"]
            v = "/".join(str(g["verdicts"][k]) for k in VERDICTS)
            rate = g["topology_match_rate"]
            failed = (f" ({g['failed']} failed)" if g["failed"] else "") + (
                f" ({g['not_analysed']} not analysed)" if g["not_analysed"] else "")
            lines.append(
                f"{row['system']:<8}{row['hidden_size']:>7} {g['analysed']:>4}/{row['runs']:<4}"
                f"{v:>9} {'-' if rate is None else f'{rate:.2f}':>6}  "
                f"{_fmt(g['slow_coverage']):<14}{_fmt(g['task_coverage']):<14}"
                f"{_fmt(g['ca_coverage']):<15}"
                f"{_fmt(g['drift_time']):<22}{_fmt(g['d_stsp'], '.3g'):<16}"
                f"{_fmt(g['d_h'], '.2g'):<16}{_fmt(g['period_rel_error'], '.2f'):<14}"
                f"{' '.join(f'{k}:{n}' for k, n in g['learned_kinds'].items()) or '-'}{failed}")
    return "\n".join(lines + memory_table(summary) + evaluation_table(summary))


def memory_table(summary: dict[str, Any]) -> list[str]:
    """Fig 12 read by memory: per (system, size), median [min, max] over seeds of the error
    of the remembered variable after 1, 10 and 100 training horizons, ||phi||_inf and the
    memory time (``analysis.memory``)."""
    rows = [r for r in summary["table"] if (r.get("dynamics") or {}).get("memory")]
    if not rows:
        return []
    unit = rows[0]["dynamics"]["memory"]["unit"]
    lines = ["", f"memory over seeds (median error of the remembered variable, {unit}, after "
             "1 / 10 / 100 training horizons from the model's closed loop started on the "
             "target's attractor; ||phi||_inf per target time unit; memory time: GRU steps "
             "until the median drift from each run's own value after one horizon reaches "
             "0.1 rad, or the same fraction of a line's length; median [min, max]):",
             f"{'system':<8}{'hidden':>7}  {'1 horizon':<26}{'10 horizons':<26}"
             f"{'100 horizons':<26}{'||phi||_inf':<28}memory time"]
    for row in rows:
        m = row["dynamics"]["memory"]
        lines.append(f"{row['system']:<8}{row['hidden_size']:>7}  {_fmt(m['error_1h']):<26}"
                     f"{_fmt(m['error_10h']):<26}{_fmt(m['error_100h']):<26}"
                     f"{_fmt(m['phi_inf']):<28}{memory_time_cell(m['memory_time'], _fmt)}")
    return lines


COLUMNS = (("d_stsp", "d_stsp (ours)"), ("d_stsp_nominal", "d_stsp vs nominal"),
           ("d_stsp_ref", "D_stsp (ref, 30 bins)"), ("d_stsp_gmm", "D_stsp (GMM)"),
           ("d_h_ref", "D_H (ref)"))


def evaluation_table(summary: dict[str, Any]) -> list[str]:
    """The reconstruction measures as a Markdown table (none without a common evaluation):
    mean ± sd (median) over seeds per (system, size), the true system's row first."""
    rows = [(r["system"], str(r["hidden_size"]), r["runs"], r["evaluation"])
            for r in summary["table"] if "evaluation" in r]
    if not rows:
        return []
    truth = summary.get("truth", {})
    rows = [*((s, "true system", 1, t) for s, t in truth.items()), *rows]
    head = ("| system | hidden | runs | topology match | "
            + " | ".join(h for _, h in COLUMNS) + " | period error | λ_max (target) | s/run |")
    lines = ["", "reconstruction measures on the common evaluation data (mean ± sd (median) "
             "over seeds; the true system's own scores first):", head,
             "|---" * (head.count("|") - 1) + "|"]

    def cell(row: dict, k: str, digits: int = 3) -> str:
        v = row.get(k)
        if v is None:
            return "–"
        if v["n"] == 1:
            return f"{v['mean']:.{digits}g}"
        return f"{v['mean']:.{digits}g} ± {v['sd']:.2g} (med {v['median']:.{digits}g})"

    for system, hidden, runs, r in rows:
        tm = r.get("topology_match")
        match = f"{round(tm['mean'] * tm['n'])}/{tm['n']}" if tm else "–"
        lam = cell(r, "lyapunov_max")
        if r.get("lyapunov_max_target") is not None:
            lam += f" ({r['lyapunov_max_target']:.3g})"
        secs = f"{r['seconds_per_run']:.0f}" if "seconds_per_run" in r else "–"
        lines.append(f"| {system} | {hidden} | {runs} | {match} | "
                     + " | ".join(cell(r, k) for k, _ in COLUMNS)
                     + f" | {cell(r, 'period_rel_error', 2)} | {lam} | {secs} |")
    return lines
