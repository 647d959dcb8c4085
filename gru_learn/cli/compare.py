"""``python -m gru_learn compare``: train a grid of GRUs (systems x hidden sizes x seeds), with
the paper's setting as vectorised ensembles or with a training method of ``fit``, and compare
their losses, as the paper's Fig 12.

Options are typed (jsonargparse): the grid lists,
``gru_learn.experiments.grid.TrainSettings``' fields
(training and the training method) and, under ``data``, TrajectoryDataModule's options; a YAML
``--config`` may set any of them, and options after it override it.

Outputs under ``--out``: one TensorBoard run and checkpoint per network
(``<system>/h<size>/seed<k>``), ``results.csv`` (a row per run per logged epoch),
``summary.json``, ``fig12_<system>.png`` (also in TensorBoard under ``figures``) and a printed
table of final losses (mean ± sample std over seeds). Rerunning the same command resumes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import statistics
import time
import typing
from pathlib import Path
from typing import Any, Literal

import jsonargparse

from gru_learn.cli.common import description
from gru_learn.errors import UserError
from gru_learn.experiments.grid import (
    BACKENDS,
    Grid,
    TrainSettings,
    analyze_runs,
    data_module,
    execute,
    load_runs,
    missing_runs,
    prepare,
    write_runs,
)
from gru_learn.files.atomic import atomic_dir, atomic_path, write_json_atomic, write_text_atomic

# the paper's grid: what the command trains with no --config
DEFAULTS: dict[str, Any] = {"systems": ["ring", "fhn"], "hidden_sizes": [2, 4, 8, 16],
                            "seeds": [0, 1, 2], "out": "logs/compare"}
GRID_OPTIONS = ("systems", "hidden_sizes", "seeds")  # lists: --seeds 0 1 2 or [0, 1, 2]
# short command-line forms of data options (as before the typed parser; still accepted)
DATA_ALIASES = {"n-train": "n_train", "n-val": "n_val", "n-test": "n_test",
                "horizon": "horizon", "data-seed": "seed", "cache-dir": "cache_dir"}
# TrajectoryDataModule options that are not shared data settings of a grid
DATA_SKIP = {"system", "batch_size"}
HELP = {
    "systems": "registered system names (fhn, ring, line, vdp, lorenz, or your own with "
               "--import)",
    "hidden_sizes": "GRU sizes d (--hidden-sizes works too)",
    "seeds": "model seeds (seed_everything before each network is built)",
    "epochs": "training epochs of every run",
    "log_every": "log train and validation loss every N epochs",
    "gradient_clip_val": "clip the gradient's global norm to this (null: no clipping)",
    "batch_size": "mini-batches of this many sequences (null: full batch, the paper)",
    "out": "output folder (TensorBoard: tensorboard --logdir OUT)",
    "workers": "cells trained (and runs analysed) in parallel",
    "backend": "local processes or Ray tasks",
    "address": "Ray cluster address (with --backend ray); default: start a local Ray "
               "instance with --workers CPUs",
    "force": "retrain every run of the grid",
    "analyze": "analyse every run with gru_learn.analysis",
    "forcing_alpha_final": "GTF's alpha at the end of the linear schedule",
    "forcing_alpha_decay": "aGTF: alpha's decay towards the estimate, per step",
    "curriculum_epochs": "epochs over which the curriculum's horizon grows to the data's",
}


def model_option_help() -> dict[str, str]:
    """GRUForecaster's documented options (its docstring's Args), one line each."""
    from gru_learn.training.module import GRUForecaster

    try:
        import docstring_parser
    except ImportError:  # help text only
        return {}
    out = {}
    for param in docstring_parser.parse(GRUForecaster.__doc__ or "").params:
        for name in param.arg_name.split(","):
            out[name.strip()] = " ".join((param.description or "").split())
    return out


def parser() -> jsonargparse.ArgumentParser:
    """The typed parser: grid lists, TrainSettings' fields (typed by the dataclass), the data
    options typed by TrajectoryDataModule's signature (group ``data``), and how to run."""
    from gru_learn.training.data import TrajectoryDataModule

    p = jsonargparse.ArgumentParser(
        prog="gru_learn compare", description=description(__doc__), exit_on_error=False,
        default_config_files=[])
    p.add_argument("--config", action=jsonargparse.ActionConfigFile,
                   help="YAML with any of the options below (see configs/compare/fig12.yaml); "
                        "options after it override it")
    for name in GRID_OPTIONS:
        p.add_argument(f"--{name}", type=list[str] if name == "systems" else list[int],
                       default=DEFAULTS[name], help=HELP[name])
    hints, documented = typing.get_type_hints(TrainSettings), model_option_help()
    for f in dataclasses.fields(TrainSettings):
        if f.name != "data":
            p.add_argument(f"--{f.name}", type=hints[f.name], default=f.default,
                           help=HELP.get(f.name) or documented.get(f.name)
                           or "GRUForecaster option (see its docstring)")
    p.add_class_arguments(TrajectoryDataModule, "data", skip=DATA_SKIP,
                          help="data options shared by every run of a system")
    # jsonargparse adds --data (a YAML file or inline mapping of the data options) with a
    # fixed generic help; say what it loads
    next(a for a in p._actions if a.option_strings == ["--data"]).help = (
        "YAML file (or inline mapping) with the data options below; --data.* after it "
        "override it")
    p.add_argument("--out", type=str, default=DEFAULTS["out"], help=HELP["out"])
    p.add_argument("--workers", type=int, default=1, help=HELP["workers"])
    p.add_argument("--backend", type=Literal[BACKENDS], default="local", help=HELP["backend"])
    p.add_argument("--address", type=str | None, default=None, help=HELP["address"])
    p.add_argument("--force", action="store_true", help=HELP["force"])
    p.add_argument("--analyze", action="store_true", help=HELP["analyze"])
    return p


def normalize_argv(argv: list[str]) -> list[str]:
    """The command line in the parser's spelling: ``--hidden-sizes`` -> ``--hidden_sizes``
    (any top-level option), the short data options (``--n-train`` -> ``--data.n_train``, see
    DATA_ALIASES), and a grid list given as separate words (``--seeds 0 1 2``) as one YAML
    list (``--seeds [0, 1, 2]``), the form the typed list options parse."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg.startswith("--data."):
            out.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        name = f"data.{DATA_ALIASES[name]}" if name in DATA_ALIASES else name.replace("-", "_")
        if name in GRID_OPTIONS and eq and not value.lstrip().startswith("["):
            value = f"[{value}]"  # --seeds=3: one value, as argparse's nargs="+" took it
        out.append(f"--{name}{eq}{value}")
        if name in GRID_OPTIONS and not eq:
            words = []
            while i < len(argv) and not argv[i].startswith("--"):
                words.append(argv[i])
                i += 1
            single_list = len(words) == 1 and words[0].lstrip().startswith("[")
            if words:
                out.append(words[0] if single_list else f"[{', '.join(words)}]")
    return out


def _one_line(error: BaseException) -> str:
    """A parser error as one line, with a hint where a key moved."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if "data.batch_size" in message or ("'data'" in message and "batch_size" in message):
        message += " (batch_size is a training option in compare: give it at the top level, " \
                   "not under data)"
    return message[:400]


def parse(argv: list[str]) -> jsonargparse.Namespace:
    """Parsed and type-checked options; any problem (a missing or malformed config file, an
    unknown key, a value of the wrong type) is a one-line UserError."""
    try:
        return parser().parse_args(normalize_argv(argv))
    except jsonargparse.ArgumentError as e:
        raise UserError(_one_line(e)) from None
    except UnicodeDecodeError as e:  # a config file that is not text
        raise UserError(f"the config file is not UTF-8 text ({e.reason})") from None


def build_grid(cfg: jsonargparse.Namespace) -> tuple[Grid, Path]:
    """The grid from the parsed options (defaults < config file < later options)."""
    fields = {f.name: cfg[f.name] for f in dataclasses.fields(TrainSettings) if f.name != "data"}
    # strip_meta: a data YAML (--data FILE, or data: FILE in --config) records its __path__
    data = jsonargparse.strip_meta(cfg["data"]).as_dict() if cfg.get("data") is not None else {}
    grid = Grid(tuple(cfg.systems), tuple(cfg.hidden_sizes), tuple(cfg.seeds),
                TrainSettings(**fields, data=data))
    grid.check()
    return grid, Path(cfg.out)


# --- reports ------------------------------------------------------------------------------
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
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


VERDICTS = ("exact", "approximate", "mismatch")


def _number(v: Any) -> float | None:
    """A finite float, or None (missing, null, not a number)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


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
    comp = a.get("comparison") or {}
    verdict = comp.get("topology_verdict")
    if verdict not in VERDICTS and isinstance(comp.get("topology_match"), bool):
        verdict = None  # an older schema: a match flag without a graded verdict
    out: dict[str, Any] = {"status": "analysed", "verdict": verdict,
                           "topology_match": comp.get("topology_match"),
                           "d_stsp": _number(comp.get("d_stsp")), "d_h": _number(comp.get("d_h")),
                           "period_rel_error": _number(comp.get("period_rel_error")),
                           "slow_coverage": None, "task_coverage": None, "ca_coverage": None,
                           "drift_time": None, "learned_kinds": {
                               k.removesuffix("_attractors"): int(n) for k, n in
                               ((a.get("learned") or {}).get("signature") or {}).items()
                               if k.endswith("_attractors") and k != "continuous_attractors"
                               and isinstance(n, int) and n}}
    if isinstance(comp.get("continuous_attractor"), dict):  # the target has one
        out["slow_coverage"] = _number(comp["continuous_attractor"].get("coverage"))
        out["task_coverage"] = _number(comp["continuous_attractor"].get("coverage_task"))
        rows = [r for r in comp.get("continuous_attractors") or [] if isinstance(r, dict)]
        best = max(rows, key=lambda r: _number(r.get("coverage_of_target")) or 0.0, default=None)
        out["ca_coverage"] = 0.0 if best is None else _number(best.get("coverage_of_target"))
        if best is not None:
            drift = best.get("drift_time")
            out["drift_time"] = math.inf if drift is None else _number(drift)
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
    }


def summarize(grid: Grid, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-run final losses, per (system, size) mean ± sample std over seeds, and the Fig 12
    question: does the loss fall with hidden size (ratio of largest to smallest size)? With
    analyses, each row also gets ``dynamics`` (``aggregate_dynamics``) and each run its
    ``run_dynamics``."""
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
        item = {k: v for k, v in r.items() if k not in ("curve", "analysis")}
        if "analysis" in r:  # gru_learn.analysis summary: periods in the target's time units
            comparison = r["analysis"].get("comparison", {})
            item["topology_match"] = comparison.get("topology_match")
            item["period"] = r["analysis"].get("learned", {}).get("closed_loop", {}).get("period")
            item["period_rel_error"] = comparison.get("period_rel_error")
            item["dynamics"] = run_dynamics(r)
        per_run.append(item)
    return {"systems": list(grid.systems), "hidden_sizes": list(grid.hidden_sizes),
            "seeds": list(grid.seeds), "settings": grid.settings.__dict__,
            "runs_finished": len(runs),
            "runs_expected": len(grid.systems) * len(grid.hidden_sizes) * len(grid.seeds),
            "table": table, "finding": finding, "runs": per_run}


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
    return "\n".join(lines)


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
    return ", ".join(parts)


def _loss_panel(ax, system: str, runs: list[dict[str, Any]], sizes: tuple[int, ...],
                method: str = "", forced: bool = False) -> None:
    """Training loss against epoch, log scale: seeds thin and light, mean per size bold."""
    import numpy as np

    for i, d in enumerate(sizes):
        group = [r for r in runs if r["system"] == system and r["hidden_size"] == d]
        if not group:
            continue
        color = f"C{i}"
        curves = np.array([r["curve"]["train_loss"] for r in group], dtype=float)
        epochs = group[0]["curve"]["epoch"]
        for c in curves:
            ax.plot(epochs, c, color=color, alpha=0.3, lw=0.8)
        ax.plot(epochs, np.nanmean(curves, axis=0), color=color, lw=2, label=f"{d} units")
    ax.set(yscale="log", xlabel="epoch",
           ylabel="training loss (teacher-forced MSE)" if forced else "training loss (MSE)",
           title=f"{system}\n{method}" if method else system)
    ax.legend(frameon=False)


def _size_panel(ax, sizes: list[int], values: list[list[float]], centre: str, ylabel: str,
                log: bool = False, color: str = "k", label: str | None = None) -> None:
    """A measure against hidden size: each seed a light dot, the mean (or median) bold.
    Infinite values (no drift) are drawn at the top edge as open triangles."""
    import numpy as np

    finite = [v for vs in values for v in vs if math.isfinite(v)]
    top = (max(finite) * (3 if log else 1.1)) if finite else 1.0
    for d, vs in zip(sizes, values, strict=True):
        inf = [v for v in vs if not math.isfinite(v)]
        fin = [v for v in vs if math.isfinite(v)]
        ax.plot([d] * len(fin), fin, "o", color=color, alpha=0.3, ms=4)
        ax.plot([d] * len(inf), [top] * len(inf), "^", mfc="none", color=color, alpha=0.5, ms=6)
    if not any(values):
        ax.text(0.5, 0.5, "none found", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    xs = [d for d, vs in zip(sizes, values, strict=True) if vs]
    ys = [float(np.median(vs)) if centre == "median" else float(np.mean(vs))
          for vs in values if vs]
    ax.plot(xs, [min(y, top) for y in ys], "-o", color=color, lw=2, ms=5,
            label=label or centre)
    ax.set(xscale="log", xticks=sizes, xlabel="hidden units", ylabel=ylabel)
    ax.set_xticklabels([str(d) for d in sizes])
    ax.minorticks_off()
    if log and finite and min(finite) > 0 and max(finite) > 10 * min(finite):
        ax.set_yscale("log")  # only where the values span more than a decade


def fig12(system: str, runs: list[dict[str, Any]], sizes: tuple[int, ...],
          settings: TrainSettings | None = None):
    """The loss curves (the paper's Fig 12) and, with analyses, the dynamics against hidden
    size beside them: fraction of exact / approximate topology matches, coverage of the
    target's continuous attractor by the slow set, drift time along the learned attractor
    (median bold), closed-loop period error where there is one, d_stsp (mean bold); seeds as
    light dots. ``settings``: the grid's, to name a training method other than the paper's in
    the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [r for r in runs if r["system"] == system]
    dyn = {d: [run_dynamics(r) for r in mine if r["hidden_size"] == d] for d in sizes}
    dyn = {d: [x for x in v if x["status"] == "analysed"] for d, v in dyn.items()}
    ds = [d for d in sizes if dyn[d]]
    panels: list[tuple[str, str, str, bool]] = []  # key, centre, label, log
    if ds:
        if any(x["slow_coverage"] is not None for d in ds for x in dyn[d]):
            panels += [("slow_coverage", "mean", "coverage of the target's\nattractor "
                        "by the slow set", False),
                       ("drift_time", "median", "drift time along learned\nattractor "
                        "(target units)", True)]
        if any(x["period_rel_error"] is not None for d in ds for x in dyn[d]):
            panels.append(("period_rel_error", "mean", "closed-loop period\nrelative error",
                           False))
        panels.append(("d_stsp", "mean", "d_stsp", True))
    n = 1 + (1 if ds else 0) + len(panels)
    fig, axes = plt.subplots(1, n, figsize=(5 + 3.1 * (n - 1), 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": [1.6] + [1] * (n - 1)})
    axes = axes[0]
    _loss_panel(axes[0], system, runs, sizes, method_label(settings) if settings else "",
                forced=settings is not None and settings.forcing != "none")
    if ds:
        ax = axes[1]
        bottom = [0.0] * len(ds)
        for verdict, color in zip(VERDICTS, ("tab:green", "tab:olive", "tab:red"), strict=True):
            frac = [sum(x["verdict"] == verdict for x in dyn[d]) / len(dyn[d]) for d in ds]
            ax.bar(range(len(ds)), frac, bottom=bottom, color=color, label=verdict, width=0.6)
            bottom = [b + f for b, f in zip(bottom, frac, strict=True)]
        ax.set(xticks=range(len(ds)), xticklabels=[str(d) for d in ds], ylim=(0, 1.3),
               yticks=[0, 0.25, 0.5, 0.75, 1], xlabel="hidden units",
               ylabel="fraction of analysed seeds", title="topology verdict")
        ax.legend(frameon=False, fontsize=7, loc="upper center", ncol=3, handlelength=1)
        for ax, (key, centre, label, log) in zip(axes[2:], panels, strict=True):
            values = [[x[key] for x in dyn[d] if x[key] is not None] for d in ds]
            _size_panel(ax, ds, values, centre, label, log)
            if key == "slow_coverage":  # and at the looser speed: four training horizons
                ax.lines[-1].set_label("slow set")
                _size_panel(ax, ds, [[x["task_coverage"] for x in dyn[d]
                                      if x["task_coverage"] is not None] for d in ds],
                            "mean", label, color="tab:blue",
                            label="< 1 radius in 4 horizons")
                ax.set_ylim(-0.05, 1.05)
                ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def write_figures(out: Path, grid: Grid, runs: list[dict[str, Any]]) -> list[Path]:
    """fig12_<system>.png per system, and the same figures in TensorBoard run ``figures``."""
    import matplotlib.pyplot as plt
    from torch.utils.tensorboard import SummaryWriter

    paths = []
    with atomic_dir(out / "figures") as tb:
        writer = SummaryWriter(log_dir=str(tb))
        for system in grid.systems:
            fig = fig12(system, runs, grid.hidden_sizes, grid.settings)
            path = out / f"fig12_{system}.png"
            with atomic_path(path, suffix=".png") as tmp:
                fig.savefig(tmp, dpi=120)
            writer.add_figure(f"fig12/{system}", fig, grid.settings.epochs)
            plt.close(fig)
            paths.append(path)
        writer.close()
    return paths


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.workers <= 0:
        raise UserError(f"--workers must be positive, got {args.workers}")
    if args.address and args.backend != "ray":
        raise UserError("--address needs --backend ray")
    grid, out = build_grid(args)
    for system in grid.systems:  # simulate (or load) each system's data once, here
        data_module(system, grid.settings).prepare_data()
    out.mkdir(parents=True, exist_ok=True)
    cells = prepare(out, grid, args.force)
    n_runs = missing_runs(out, cells)
    again = sum(len(c.seeds) for c in cells) - n_runs
    alongside = (f"; {again} finished run(s) retrained alongside, so that every run is "
                 "computed as in one uninterrupted grid" if again else "")
    print(f"compare: {n_runs} run(s) to train in {len(cells)} cell(s) "
          f"({args.backend}, {args.workers} worker(s)){alongside}; output in {out}")
    from tqdm.auto import tqdm

    with tqdm(total=len(cells), desc="cells", unit="cell", dynamic_ncols=True) as bar:
        for cell, result in execute(cells, args.backend, args.workers, args.address):
            write_runs(out, cell, result)
            bar.set_postfix_str(f"{cell.system} h{cell.hidden_size}: {result['seconds']:.0f} s")
            bar.update()
    if args.analyze:
        start = time.perf_counter()
        n = analyze_runs(out, grid, args.backend, args.workers, args.address)
        if n:
            print(f"compare: analysed {n} run(s) in {time.perf_counter() - start:.0f} s "
                  f"({args.workers} worker(s))")
    runs = load_runs(out, grid)
    write_results_csv(out / "results.csv", runs)
    summary = summarize(grid, runs)
    write_json_atomic(out / "summary.json", summary)
    write_figures(out, grid, runs)
    print(format_table(summary))
    print(f"wrote {out / 'results.csv'}, {out / 'summary.json'}, "
          f"{', '.join(str(out / f'fig12_{s}.png') for s in grid.systems)}; "
          f"tensorboard --logdir {out}")
    return 0
