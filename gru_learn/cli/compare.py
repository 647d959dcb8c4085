"""``python -m gru_learn compare``: train a grid of GRUs (systems x hidden sizes x seeds) as
vectorised ensembles and compare their losses, as the paper's Fig 12.

Outputs under ``--out``: one TensorBoard run and checkpoint per network
(``<system>/h<size>/seed<k>``), ``results.csv`` (a row per run per logged epoch),
``summary.json``, ``fig12_<system>.png`` (also in TensorBoard under ``figures``) and a printed
table of final losses (mean ± sample std over seeds). Rerunning the same command resumes.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path
from typing import Any

import yaml

from gru_learn.atomic import atomic_dir, atomic_path, write_json_atomic, write_text_atomic
from gru_learn.cli.common import ArgumentParser
from gru_learn.errors import UserError
from gru_learn.sweep import (
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

# the paper's grid: what the command trains with no --config
DEFAULTS: dict[str, Any] = {"systems": ["ring", "fhn"], "hidden_sizes": [2, 4, 8, 16],
                            "seeds": [0, 1, 2], "out": "logs/compare"}
DATA_OPTIONS = {"n_train": "n_train", "n_val": "n_val", "n_test": "n_test",
                "horizon": "horizon", "data_seed": "seed", "cache_dir": "cache_dir"}


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="gru_learn compare", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML with any of the options below (see "
                   "configs/compare/fig12.yaml); command-line options override it")
    p.add_argument("--systems", nargs="+")
    p.add_argument("--hidden-sizes", nargs="+", type=int)
    p.add_argument("--seeds", nargs="+", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-schedule", choices=("constant", "cosine"))
    p.add_argument("--reset", choices=("before", "after"))
    p.add_argument("--log-every", type=int, help="log train/val loss every N epochs (10)")
    for option in DATA_OPTIONS:
        p.add_argument(f"--{option.replace('_', '-')}",
                       type=str if option == "cache_dir" else int,
                       help="data option shared by every run of a system")
    p.add_argument("--out", help="output folder (logs/compare)")
    p.add_argument("--workers", type=int, default=1, help="cells trained in parallel")
    p.add_argument("--backend", choices=BACKENDS, default="local")
    p.add_argument("--address", help="Ray cluster address (with --backend ray); default: "
                   "start a local Ray instance with --workers CPUs")
    p.add_argument("--force", action="store_true", help="retrain finished runs")
    p.add_argument("--analyze", action="store_true",
                   help="analyse every run with gru_learn.analysis when installed")
    return p


def load_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as e:
        raise UserError(f"cannot read config {path!r}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise UserError(f"config {path!r} is not valid YAML: {str(e).splitlines()[0]}") from None
    known = {*DEFAULTS, *(f.name for f in TrainSettings.__dataclass_fields__.values())}
    if not isinstance(config, dict) or set(config) - known:
        unknown = sorted(set(config) - known) if isinstance(config, dict) else config
        raise UserError(f"config {path!r} has unknown keys {unknown}; known: {sorted(known)}")
    return config


def build_grid(args: Any) -> tuple[Grid, Path]:
    """The grid from defaults < config file < command-line options."""
    config = {**DEFAULTS, **load_config(args.config)}
    for key in ("systems", "hidden_sizes", "seeds", "out", "epochs", "lr", "lr_schedule",
                "reset", "log_every"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    data = dict(config.get("data") or {})
    for option, key in DATA_OPTIONS.items():
        if getattr(args, option) is not None:
            data[key] = getattr(args, option)
    fields = {k: config[k] for k in TrainSettings.__dataclass_fields__ if k in config}
    grid = Grid(tuple(config["systems"]), tuple(int(d) for d in config["hidden_sizes"]),
                tuple(int(s) for s in config["seeds"]), TrainSettings(**{**fields, "data": data}))
    grid.check()
    return grid, Path(config["out"])


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


def summarize(grid: Grid, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-run final losses, per (system, size) mean ± sample std over seeds, and the Fig 12
    question: does the loss fall with hidden size (ratio of largest to smallest size)?"""
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
            matches = [r["analysis"]["comparison"]["topology_match"] for r in group
                       if "topology_match" in r.get("analysis", {}).get("comparison", {})]
            if matches:
                row["topology_match_rate"] = sum(map(bool, matches)) / len(matches)
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
        per_run.append(item)
    return {"systems": list(grid.systems), "hidden_sizes": list(grid.hidden_sizes),
            "seeds": list(grid.seeds), "settings": grid.settings.__dict__,
            "runs_finished": len(runs),
            "runs_expected": len(grid.systems) * len(grid.hidden_sizes) * len(grid.seeds),
            "table": table, "finding": finding, "runs": per_run}


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
    return "\n".join(lines)


def fig12(system: str, runs: list[dict[str, Any]], sizes: tuple[int, ...]):
    """Training loss against epoch, log scale: seeds thin and light, mean per size bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5, 3.6))
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
    ax.set(yscale="log", xlabel="epoch", ylabel="training loss (MSE)", title=system)
    ax.legend(frameon=False)
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
            fig = fig12(system, runs, grid.hidden_sizes)
            path = out / f"fig12_{system}.png"
            with atomic_path(path, suffix=".png") as tmp:
                fig.savefig(tmp, dpi=120)
            writer.add_figure(f"fig12/{system}", fig, grid.settings.epochs)
            plt.close(fig)
            paths.append(path)
        writer.close()
    return paths


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
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
        analyze_runs(out, grid)
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
