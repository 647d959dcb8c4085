"""A grid's report from its run records (:func:`gru_learn.experiments.grid.runs.load_runs`):
``results.csv`` (every logged loss), ``summary.json`` (per run and per (system, hidden size)
over seeds: final losses, the analyses' dynamics and memory, the evaluation's reconstruction
measures) and the Fig 12 figures (:mod:`gru_learn.analysis.figures.grid`); the printed tables
are :mod:`gru_learn.experiments.grid.tables`."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gru_learn.analysis.result import (
    AnalysisResult,
    ClosedLoop,
    Comparison,
    Coverage,
    Memory,
    Side,
    number,
)
from gru_learn.experiments.grid.evaluation import TRUTH_FILE
from gru_learn.experiments.grid.runs import read_json
from gru_learn.experiments.grid.settings import Grid, TrainSettings
from gru_learn.files.atomic import write_json_atomic, write_text_atomic


def write_results_csv(path: Path, runs: list[dict[str, Any]]) -> None:
    """A row per run per logged epoch: system, hidden_size, seed, epoch, train_loss, val_loss."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["system", "hidden_size", "seed", "epoch", "train_loss", "val_loss"])
    for run in runs:
        c = run["curve"]
        for row in zip(c["epoch"], c["train_loss"], c["val_loss"], strict=True):
            w.writerow([run["system"], run["hidden_size"], run["seed"], *row])
    write_text_atomic(path, buf.getvalue())


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (NaN, NaN when none)."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


VERDICTS = ("exact", "approximate", "mismatch")


def run_dynamics(run: dict[str, Any]) -> dict[str, Any]:
    """One run's dynamical reading from its ``analysis.json`` (``gru_learn.analysis`` schema,
    ``comparison`` block), flattened for aggregation.

    ``status``: ``analysed``, ``failed`` (the analysis raised; ``error`` says why) or
    ``not_analysed``. ``verdict``: exact / approximate / mismatch (None when the topology step
    itself failed). Where the target has a continuous attractor: ``slow_coverage`` = fraction
    of the target's attractor within the matching radius of the network's slow set (through
    the readout); ``ca_coverage`` = the same for the best learned continuous attractor of the
    target's kind (0 when the network has none); ``drift_time`` = that attractor's drift time in
    target time units (inf where it does not drift; None when there is no such attractor);
    ``task_coverage``: as ``slow_coverage`` with the looser speed threshold of the analysis
    (states that move less than one radius over four training horizons).
    ``learned_kinds``: the network's continuous attractors by kind (ring, line, plane, ...)
    from its signature. ``d_stsp``, ``d_h``: the statistics of long free runs;
    ``period_rel_error``: of the closed-loop oscillation against the target's (None where not
    computed)."""
    a = run.get("analysis")
    if a is None:
        return {"status": "not_analysed"}
    if "error" in a and "comparison" not in a:
        return {"status": "failed", "error": a["error"]}
    res = AnalysisResult.of(a)
    comp = res.comparison if isinstance(res.comparison, Comparison) else Comparison()
    learned = res.learned if isinstance(res.learned, Side) else Side()
    verdict = comp.topology_verdict
    if verdict not in VERDICTS and isinstance(comp.topology_match, bool):
        verdict = None  # an older schema: a match flag without a graded verdict
    out: dict[str, Any] = {"status": "analysed", "verdict": verdict,
                           "topology_match": comp.topology_match,
                           "d_stsp": number(comp.d_stsp), "d_h": number(comp.d_h),
                           "period_rel_error": number(comp.period_rel_error),
                           "slow_coverage": None, "task_coverage": None, "ca_coverage": None,
                           "drift_time": None, "learned_kinds": (
                               learned.signature.attractor_kinds() if learned.signature else {})}
    memory = comp.memory if isinstance(comp.memory, Memory) else None
    out["memory"] = None if memory is None else {
        "variable": memory.variable, "unit": memory.unit,
        **{f"error_{k}h": memory.at(k) for k in (1, 10, 100)},
        "phi_inf": number(memory.phi_inf), "capacity_bits": number(memory.capacity_bits)}
    if memory is not None:  # held to the end of the run: the last step stands in, counted
        for key in ("memory_time", "error_time"):
            t = getattr(memory, key)
            held = t is None and bool(memory.horizons)
            out["memory"][key] = memory.horizons[-1] if held else t
            out["memory"][f"{key}_held"] = held
    if isinstance(comp.continuous_attractor, Coverage):  # the target has one
        out["slow_coverage"] = number(comp.continuous_attractor.coverage)
        out["task_coverage"] = number(comp.continuous_attractor.coverage_task)
        best = comp.best_match()
        out["ca_coverage"] = 0.0 if best is None else number(best.coverage_of_target)
        if best is not None:
            drift = best.drift_time
            out["drift_time"] = math.inf if drift is None else number(drift)
    return out


def _stats(values: list[float | None], centre: str = "mean") -> dict[str, Any]:
    """``n`` values present (the rest missing), and mean ± sample std (``centre="mean"``) or
    median with min and max (``"median"``, for heavy-tailed drift times; inf allowed)."""
    present = [v for v in values if v is not None]
    out: dict[str, Any] = {"n": len(present), "missing": len(values) - len(present)}
    if centre == "median":
        out.update(median=statistics.median(present) if present else None,
                   min=min(present, default=None), max=max(present, default=None))
    else:
        out["mean"], out["std"] = _mean_std(present) if present else (None, None)
    return out


def aggregate_dynamics(group: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per (system, size) over seeds: analysis counts, graded verdict counts, topology match
    rate (exact + approximate over runs with a verdict), mean ± std of coverages, d_stsp, d_h,
    median drift time. None when no run of the group has an analysis."""
    dyn = [run_dynamics(r) for r in group]
    if all(d["status"] == "not_analysed" for d in dyn):
        return None
    ok = [d for d in dyn if d["status"] == "analysed"]
    verdicts = [d["verdict"] for d in ok if d["verdict"] is not None]
    matches = [d["topology_match"] for d in ok if isinstance(d["topology_match"], bool)]
    return {
        "analysed": len(ok), "failed": sum(d["status"] == "failed" for d in dyn),
        "not_analysed": sum(d["status"] == "not_analysed" for d in dyn),
        "verdicts": {v: verdicts.count(v) for v in VERDICTS},
        "no_verdict": len(ok) - len(verdicts),
        "learned_kinds": {k: sum(d["learned_kinds"].get(k, 0) for d in ok)
                          for k in sorted({k for d in ok for k in d["learned_kinds"]})},
        "topology_match_rate": sum(matches) / len(matches) if matches else None,
        "slow_coverage": _stats([d["slow_coverage"] for d in ok]),
        "task_coverage": _stats([d["task_coverage"] for d in ok]),
        "ca_coverage": _stats([d["ca_coverage"] for d in ok]),
        "drift_time": _stats([d["drift_time"] for d in ok], "median"),
        "d_stsp": _stats([d["d_stsp"] for d in ok]),
        "d_h": _stats([d["d_h"] for d in ok]),
        "period_rel_error": _stats([d["period_rel_error"] for d in ok]),
        "memory": _memory_stats([d["memory"] for d in ok if d.get("memory")]),
    }


def _memory_stats(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Per (system, size): median [min, max] over seeds of the memory error after 1, 10 and
    100 training horizons, of ||phi||_inf and of the memory time (None without memory); a run
    that held its value to the end counts at its last step, and ``memory_time["held"]`` says
    how many did (their times are only lower bounds); ``error_time`` the same on the error."""
    if not rows:
        return None
    keys = ("error_1h", "error_10h", "error_100h", "phi_inf", "memory_time", "error_time")
    out: dict[str, Any] = {"variable": rows[0]["variable"], "unit": rows[0]["unit"]}
    out.update({k: _stats([r.get(k) for r in rows], "median") for k in keys})
    for key in ("memory_time", "error_time"):
        out[key]["held"] = sum(bool(r.get(f"{key}_held")) for r in rows)
    return out


def memory_time_cell(stats: dict[str, Any] | None, cell: Callable[[Any], str]) -> str:
    """A memory-time statistic as ``cell`` writes it, with how many runs held their value to
    the end of the run (for them the time is a lower bound)."""
    held = (stats or {}).get("held") or 0
    return cell(stats) + (f" ({held} held to the end)" if held else "")


# the reconstruction measures a common evaluation gives each run (gru_learn.experiments.grid.
# evaluation); topology_match counts as 0 / 1, so its mean is the match rate
MEASURES = ("topology_match", "d_stsp", "d_stsp_nominal", "d_stsp_ref", "d_stsp_gmm", "d_h",
            "d_h_ref", "period_rel_error", "lyapunov_max")


def evaluation_row(run: dict[str, Any]) -> dict[str, Any] | None:
    """One run's scores on the common evaluation data (None without one): the analysis'
    topology match and reason, period error, d_stsp, d_h and largest Lyapunov exponents (of the
    learned map and of the target, per target time unit), and ``evaluation.json``'s measures."""
    measures = run.get("evaluation")
    if not isinstance(measures, dict):
        return None
    res = AnalysisResult.of(run.get("analysis"))
    comp = res.comparison if isinstance(res.comparison, Comparison) else Comparison()
    row = {k: getattr(comp, k) for k in ("topology_match", "topology_reason",
                                         "period_rel_error", "d_stsp", "d_h")}
    row["lyapunov_max"] = res.learned.lyapunov_max if isinstance(res.learned, Side) else None
    row["lyapunov_max_target"] = (res.target.lyapunov_max if isinstance(res.target, Side)
                                  else None)
    return {**row, **{k: v for k, v in measures.items() if k != "settings"}}


def aggregate_measures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, median, sample sd and count of each finite measure of MEASURES over ``rows``, and
    the target's mean largest Lyapunov exponent where every row has one."""
    out: dict[str, Any] = {}
    for k in MEASURES:
        values = [float(r[k]) for r in rows if isinstance(r.get(k), (int, float, bool))]
        values = [v for v in values if math.isfinite(v)]
        if values:
            out[k] = {"mean": statistics.fmean(values), "median": statistics.median(values),
                      "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                      "n": len(values)}
    targets = [r.get("lyapunov_max_target") for r in rows]
    if targets and all(isinstance(v, float) for v in targets):
        out["lyapunov_max_target"] = statistics.fmean(targets)
    return out


def read_truth(out: Path, grid: Grid) -> dict[str, dict[str, Any]]:
    """The true systems' own scores, ``<out>/<system>/truth.json``, where written."""
    found = {s: read_json(out / s / TRUTH_FILE) for s in grid.systems}
    return {s: t for s, t in found.items() if isinstance(t, dict)}


def summarize(grid: Grid, runs: list[dict[str, Any]],
              truth: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per-run final losses, per (system, size) mean ± sample std over seeds, and the Fig 12
    question: does the loss fall with hidden size (ratio of largest to smallest size)? With
    analyses, each row also gets ``dynamics`` (``aggregate_dynamics``) and each run its
    ``run_dynamics``; with a common evaluation, each row ``evaluation`` (``aggregate_measures``
    of the runs' ``evaluation_row``) and the summary ``truth``: the true systems' own scores
    (``read_truth``), every measure's floor."""
    table, finding = [], {}
    for system in grid.systems:
        means = {}
        for d in grid.hidden_sizes:
            group = [r for r in runs if r["system"] == system and r["hidden_size"] == d]
            if not group:
                continue
            row: dict[str, Any] = {"system": system, "hidden_size": d, "runs": len(group)}
            for split in ("train", "val", "test"):
                row[f"{split}_mean"], row[f"{split}_std"] = _mean_std(
                    [r[f"final_{split}_loss"] for r in group])
            dynamics = aggregate_dynamics(group)
            if dynamics is not None:
                if dynamics["topology_match_rate"] is not None:
                    row["topology_match_rate"] = dynamics["topology_match_rate"]
                row["dynamics"] = dynamics
            evaluations = [e for e in map(evaluation_row, group) if e is not None]
            if evaluations:
                row["evaluation"] = {**aggregate_measures(evaluations),
                                     "seconds_per_run": statistics.fmean(
                                         r["cell_seconds"] / len(grid.seeds) for r in group)}
            table.append(row)
            means[d] = row["train_mean"]
        if len(means) > 1:
            losses = [means[d] for d in sorted(means)]
            finding[system] = {
                "train_loss_by_size": {str(d): means[d] for d in sorted(means)},
                "ratio_largest_to_smallest": losses[-1] / losses[0],
                "decreases_monotonically": all(
                    b < a for a, b in zip(losses, losses[1:], strict=False)),
            }
    per_run = []
    for r in runs:
        item = {k: v for k, v in r.items()
                if k not in ("curve", "analysis", "evaluation")}
        if "analysis" in r:  # gru_learn.analysis summary: periods in the target's time units
            res = AnalysisResult.of(r["analysis"])
            comparison = res.comparison or Comparison()
            loop = (res.learned.closed_loop if isinstance(res.learned, Side) else None) or \
                ClosedLoop()
            item["topology_match"] = comparison.topology_match
            item["period"] = loop.period
            item["period_rel_error"] = comparison.period_rel_error
            item["dynamics"] = run_dynamics(r)
        if "evaluation" in r:
            item["evaluation"] = evaluation_row(r)
        per_run.append(item)
    return {"systems": list(grid.systems), "hidden_sizes": list(grid.hidden_sizes),
            "seeds": list(grid.seeds), "settings": grid.settings.__dict__,
            "runs_finished": len(runs),
            "runs_expected": len(grid.systems) * len(grid.hidden_sizes) * len(grid.seeds),
            "table": table, "finding": finding, "runs": per_run,
            **({"truth": {system: aggregate_measures([t]) for system, t in truth.items()}}
               if truth else {})}


def method_label(settings: TrainSettings) -> str:
    """The training method in a few words ("" for the paper's), for figure titles."""
    s, parts = settings, []
    if s.forcing == "sparse":
        parts.append(f"sparse TF τ={s.forcing_interval}")
    elif s.forcing == "generalized":
        alpha = {"linear": f"{s.forcing_alpha:g}→{s.forcing_alpha_final:g}",
                 "adaptive": "adaptive"}.get(s.forcing_alpha_schedule, f"{s.forcing_alpha:g}")
        parts.append(f"GTF α={alpha}" + (f" τ={s.forcing_interval}"
                                          if s.forcing_interval > 1 else ""))
    if s.data.get("window") is not None:
        parts.append(f"windows of {s.data['window']}")
    if s.curriculum_start is not None:
        parts.append(f"curriculum from {s.curriculum_start}")
    if s.batch_size is not None:
        parts.append(f"batches of {s.batch_size}")
    if s.gradient_clip_val is not None:
        parts.append(f"clip {s.gradient_clip_val:g}")
    if s.readout_init != "default":
        parts.append(f"readout from {s.readout_init}")
    if s.data.get("horizon") not in (None, 29):
        parts.append(f"horizon {s.data['horizon']}")
    if s.state_noise > 0:
        parts.append(f"state noise {s.state_noise:g}")
    if s.slowness > 0:
        parts.append(f"slowness {s.slowness:g} after {s.slowness_after}")
    if s.mar_weight > 0:
        parts.append(f"MAR {s.mar_weight:g} on {s.mar_fraction:.0%}")
    return ", ".join(parts)




def write_report(out: Path, grid: Grid, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``results.csv``, ``summary.json`` (returned) and ``fig12_<system>.png`` (also in
    TensorBoard) under ``out``."""
    from gru_learn.analysis.figures.grid import write_figures

    write_results_csv(out / "results.csv", runs)
    summary = summarize(grid, runs, read_truth(out, grid))
    write_json_atomic(out / "summary.json", summary)
    write_figures(out, grid.systems, grid.hidden_sizes, with_dynamics(runs),
                  grid.settings.epochs, method_label(grid.settings),
                  grid.settings.forcing != "none")
    return summary


def with_dynamics(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs, each with its ``dynamics`` (``run_dynamics``), as the figures read them."""
    return [{**r, "dynamics": run_dynamics(r)} for r in runs]
