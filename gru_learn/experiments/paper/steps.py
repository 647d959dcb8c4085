"""Regenerate the paper's figures with our code and write ``report.md``: every quantitative
claim of the paper beside our measured value, with agreement and the reason.

The work is a list of steps (figures); each writes its PNGs and JSON under ``DIR`` and records
its claims in ``DIR/steps/<step>.json`` atomically, so an interrupted run resumes where it
stopped. ``quick`` settings (fewer epochs and seeds, coarser grids) run in a few minutes;
``tiny`` runs every branch of the full run at toy sizes (tests).
"""

from __future__ import annotations

import time
from pathlib import Path

from gru_learn.experiments.paper.catalogue import fig3_4
from gru_learn.experiments.paper.common import (
    VERDICTS,
    Claim,
    Settings,
    Step,
    read_json,
)
from gru_learn.experiments.paper.fig6 import fig6, fig6_readings
from gru_learn.experiments.paper.fig9 import fig9
from gru_learn.experiments.paper.report import write_report
from gru_learn.experiments.paper.theory import eq8_saddle_nodes, fig1, fig2a, fig5, fig7_8
from gru_learn.experiments.paper.training import fig10, fig11, fig12, memory_claim
from gru_learn.files.atomic import write_json_atomic

__all__ = ["STEPS", "VERDICTS", "Settings", "fig6_readings", "reproduce"]

STEPS: tuple[Step, ...] = (
    Step("fig1", (0.1, 0.1), fig1),
    Step("fig2a", (0.2, 0.2), fig2a),
    Step("fig3_4", (0.6, 0.6), fig3_4),
    Step("fig9", (0.7, 1.0), fig9),
    Step("fig5", (0.5, 1.0), fig5),
    Step("eq8_sn", (1.0, 1.5), eq8_saddle_nodes),
    Step("fig6", (1.0, 10.0), fig6),
    Step("fig7_8", (1.0, 2.0), fig7_8),
    Step("fig11", (1.5, 15.0), fig11),
    Step("fig10", (0.2, 0.2), fig10),
    Step("fig12", (1.0, 12.0), fig12),
    Step("memory", (1.5, 30.0), memory_claim),
)


def _settings_of(record: dict) -> str:
    """The settings a step record was made with (records before ``settings`` say ``quick``)."""
    return record.get("settings") or ("quick" if record.get("quick") else "full")


def reproduce(out: Path, quick: bool = False, force: bool = False,
              settings: Settings | None = None) -> Path:
    """Run every step not yet done with these settings (default: quick or full), then write
    ``out/report.md``; returns its path."""
    s = settings or Settings.of("quick" if quick else "full")
    out.mkdir(parents=True, exist_ok=True)
    done_dir = out / "steps"
    col = 0 if s.quick else 1
    total = sum(step.minutes[col] for step in STEPS)
    print(f"reproduce: {len(STEPS)} steps, about {total:.0f} min on a 2-core CPU "
          f"({s.name}); output in {out}", flush=True)
    start = time.perf_counter()
    claims: list[Claim] = []
    for k, step in enumerate(STEPS, 1):
        record = done_dir / f"{step.name}.json"
        if record.is_file() and not force and _settings_of(read_json(record)) == s.name:
            claims += read_json(record)["claims"]
            print(f"[{k}/{len(STEPS)}] {step.name}: done earlier, skipped", flush=True)
            continue
        print(f"[{k}/{len(STEPS)}] {step.name} (about {step.minutes[col]:g} min) ...",
              flush=True)
        t0 = time.perf_counter()
        new = step.run(out, s)
        write_json_atomic(record, {"claims": new, "seconds": time.perf_counter() - t0,
                                   "quick": s.quick, "settings": s.name})
        claims += new
        print(f"[{k}/{len(STEPS)}] {step.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return write_report(out, claims, s, time.perf_counter() - start)
