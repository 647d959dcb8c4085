"""Training methods side by side: a grid run once per method (``compare``'s ``methods``), each
method's runs under ``<out>/<method>``, and one table and figure of them all.

A method is a name and the :class:`~gru_learn.experiments.grid.settings.TrainSettings` fields it
changes (``data`` merged into the grid's data options); ``{}`` is the grid's own settings (the
paper's, unless the config changes them). Every method is an ordinary grid, so it resumes,
analyses and reports as one; this module only splits and joins."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from gru_learn.errors import UserError
from gru_learn.experiments.grid.report import memory_time_cell, method_label
from gru_learn.experiments.grid.settings import Grid, TrainSettings
from gru_learn.files.atomic import write_json_atomic
from gru_learn.systems.registry import folder_name

METHODS_FILE = "methods.json"
# per (method, system, size): what the table shows, from the method's summary.json rows
COLUMNS = ("error_1h", "error_10h", "error_100h", "phi_inf", "memory_time", "error_time")


def method_grids(grid: Grid, methods: dict[str, dict[str, Any]]) -> list[tuple[str, Grid]]:
    """One grid per method: the grid's settings with the method's fields replaced (UserError
    for a field that is not a training option, or a name that cannot be a folder)."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    out = []
    for name, changes in methods.items():
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise UserError(f"method name {name!r}: use letters, digits, '-' and '_' (it names "
                            "the method's folder)")
        changes = dict(changes or {})
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise UserError(f"method {name!r}: {', '.join(unknown)} is not a training option; "
                            f"choose from {', '.join(sorted(fields))}")
        data = {**grid.settings.data, **(changes.pop("data", None) or {})}
        g = dataclasses.replace(grid, settings=dataclasses.replace(grid.settings, **changes,
                                                                   data=data))
        g.check()
        out.append((name, g))
    return out


def method_rows(name: str, grid: Grid, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (system, size) of a method's ``summary.json``: runs, verdicts, the memory
    measures (median [min, max] over seeds), d_stsp and the final validation loss."""
    rows = []
    for row in summary["table"]:
        dyn = row.get("dynamics") or {}
        memory = dyn.get("memory") or {}
        rows.append({"method": name, "settings": method_label(grid.settings) or "paper",
                     "system": row["system"], "hidden_size": row["hidden_size"],
                     "runs": row["runs"], "val_mean": row["val_mean"],
                     "verdicts": dyn.get("verdicts"), "d_stsp": dyn.get("d_stsp"),
                     "learned_kinds": dyn.get("learned_kinds"), "unit": memory.get("unit"),
                     **{k: memory.get(k) for k in COLUMNS}})
    return rows


def _cell(stats: dict[str, Any] | None, digits: int = 3) -> str:
    if not stats or not stats.get("n"):
        return "–"
    if stats["n"] == 1:
        return f"{stats['median']:.{digits}g}"
    return f"{stats['median']:.{digits}g} [{stats['min']:.2g}, {stats['max']:.2g}]"


def methods_table(rows: list[dict[str, Any]]) -> list[str]:
    """The methods side by side as a Markdown table, per system and size."""
    head = ("| system | hidden | method | runs | error 1 h | error 10 h | error 100 h | "
            "‖φ‖∞ | memory time | error time | verdicts e/a/m | d_stsp | val loss |")
    lines = ["methods side by side (memory: median [min, max] over seeds of the median error "
             "of the remembered variable after 1 / 10 / 100 training horizons of the "
             "evaluation data; ‖φ‖∞ per target time unit; memory time: GRU steps until the median "
             "drift from each run's value after one horizon reaches 0.1 rad or the same "
             "fraction of a line; error time: until the error does):",
             head, "|---" * (head.count("|") - 1) + "|"]
    for r in sorted(rows, key=lambda r: (r["system"], r["hidden_size"])):
        v = r["verdicts"]
        verdicts = "–" if not v else "/".join(str(v.get(k, 0)) for k in
                                             ("exact", "approximate", "mismatch"))
        lines.append(f"| {r['system']} | {r['hidden_size']} | {r['method']} | {r['runs']} | "
                     + " | ".join(memory_time_cell(r[k], _cell) if k.endswith("_time")
                                  else _cell(r[k]) for k in COLUMNS)
                     + f" | {verdicts} | {_mean(r['d_stsp'])} | "
                     f"{r['val_mean']:.3g} |")
    return lines


def _mean(stats: dict[str, Any] | None) -> str:
    if not stats or not stats.get("n"):
        return "–"
    return f"{stats['mean']:.3g} ± {stats['std']:.2g}"


def write_methods_report(out: Path, rows: list[dict[str, Any]],
                         methods: dict[str, dict[str, Any]]) -> list[Path]:
    """``<out>/methods.json`` (the rows and each method's changes) and, where the runs were
    read by memory, ``<out>/memory_<system>.png``; returns the figures written."""
    from gru_learn.analysis.figures.methods import methods_memory_figure

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / METHODS_FILE, {"methods": methods, "rows": rows})
    written = []
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system and r["error_1h"]
                and r["error_1h"].get("n")]
        if mine:
            written.append(methods_memory_figure(out / f"memory_{folder_name(system)}.png",
                                                 system, mine))
    return written
