"""``compare --analyze``: every finished run analysed by :mod:`gru_learn.analysis` against its
target (``analysis.json`` and figures in the run's folder), in the same kind of worker pool as
training; with an :class:`~gru_learn.experiments.grid.evaluation.Evaluation`, on the grid's
common evaluation data and scored by the reconstruction measures too (``evaluation.json``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from gru_learn.experiments.grid.backends import result_of, submitter
from gru_learn.experiments.grid.evaluation import (
    RUN_FILE,
    TRUTH_FILE,
    Evaluation,
    Target,
    free_run_measures,
    truth_measures,
)
from gru_learn.experiments.grid.runs import load_runs, read_json, run_dir
from gru_learn.experiments.grid.settings import Grid
from gru_learn.files.atomic import write_json_atomic

TARGET_CACHE = "evaluation.npz"  # <out>/<system>/: the evaluation's true trajectories


def analysis_hook() -> Callable[[str, str], dict] | None:
    """``analyze_checkpoint(path, out_dir) -> dict`` of the run's model on its own data."""
    from gru_learn.training.checkpoint import analyze_checkpoint

    return analyze_checkpoint


@dataclasses.dataclass(frozen=True)
class Job:
    """One run to analyse: its folder, and the grid's evaluation (None: the run's own data)."""

    path: str
    system: str
    evaluation: Evaluation | None = None
    cache_dir: str | None = None


def analyze_run(job: Job) -> dict[str, Any]:
    """``{"analysis": summary}`` (plus ``"evaluation"``: the measures, with the evaluation's
    settings, when the job has one); a failure becomes the analysis ``{"error": "Type:
    message"}`` (counted as such by the summary, not retried on resume; ``--force``
    retrains)."""
    from gru_learn.runtime import set_cpu_threads

    set_cpu_threads()
    run = Path(job.path)
    try:
        if job.evaluation is None:
            analyze = analysis_hook()
            assert analyze is not None
            return {"analysis": analyze(str(run / "model.ckpt"), str(run / "analysis"))}
        from gru_learn.training.checkpoint import analyze_trained, load_checkpoint

        target = Target(job.system, job.evaluation, run.parents[1] / TARGET_CACHE,
                        job.cache_dir)
        model, _ = load_checkpoint(run / "model.ckpt")
        analysis = analyze_trained(model, target.dm)
        analysis.save(run / "analysis")
        analysis.close()
        measures = free_run_measures(model, target)
        return {"analysis": analysis.summary,
                "evaluation": {"settings": dataclasses.asdict(job.evaluation), **measures}}
    except Exception as e:  # noqa: BLE001 - one bad network must not stop the grid's others
        return {"analysis": {"error": f"{type(e).__name__}: {e}".splitlines()[0]}}


def log_analysis(run: Path, analysis: Any, grid: Grid) -> None:
    """The analysis' finite HPARAMS metrics (``gru_learn.training.hparams``) as scalars in the
    run's TensorBoard folder, at the last epoch, where the HPARAMS tab reads them."""
    from torch.utils.tensorboard import SummaryWriter

    from gru_learn.training.hparams import PREFIX, final_metrics

    if not isinstance(analysis, dict) or "comparison" not in analysis:
        return
    values = {k: v for k, v in final_metrics({}, analysis).items()
              if not k.startswith(f"{PREFIX}loss_") and math.isfinite(v)}
    if values:
        with SummaryWriter(log_dir=str(run)) as writer:
            for k, v in values.items():
                writer.add_scalar(k, v, grid.settings.epochs)


def _needs_analysis(run: Path, evaluation: Evaluation | None) -> bool:
    """No analysis.json yet, or one made on other data than the grid's evaluation asks for."""
    if not (run / "analysis.json").is_file():
        return True
    saved = read_json(run / RUN_FILE)
    if evaluation is None:
        return saved is not None  # analysed on an evaluation's data, now wanted on its own
    return not isinstance(saved, dict) or saved.get("settings") != dataclasses.asdict(evaluation)


def score_truth(out: Path, grid: Grid, evaluation: Evaluation) -> None:
    """``<out>/<system>/truth.json``: the true system's own scores (written when missing or
    made with other evaluation settings); builds each system's cached true trajectories."""
    settings = dataclasses.asdict(evaluation)
    for system in grid.systems:
        path = out / system / TRUTH_FILE
        saved = read_json(path)
        if isinstance(saved, dict) and saved.get("settings") == settings:
            continue
        target = Target(system, evaluation, out / system / TARGET_CACHE,
                        grid.settings.data.get("cache_dir"))
        write_json_atomic(path, {"settings": settings, **truth_measures(target)})


def analyze_runs(out: Path, grid: Grid, backend: str = "local", workers: int = 1,
                 address: str | None = None, evaluation: Evaluation | None = None) -> int:
    """Analyse every finished run that needs it (``workers`` processes or Ray tasks; inline for
    one local worker); with ``evaluation``, score the true systems first. Returns how many runs
    were analysed."""
    if analysis_hook() is None:
        return 0
    if evaluation is not None:
        score_truth(out, grid, evaluation)
    cache_dir = grid.settings.data.get("cache_dir")
    jobs = [Job(str(run_dir(out, r["system"], r["hidden_size"], r["seed"])), r["system"],
                evaluation, cache_dir) for r in load_runs(out, grid)]
    todo = [j for j in jobs if _needs_analysis(Path(j.path), evaluation)]

    def write(job: Job, result: dict[str, Any]) -> None:
        run = Path(job.path)
        if "evaluation" in result:
            write_json_atomic(run / RUN_FILE, result["evaluation"])
        else:
            (run / RUN_FILE).unlink(missing_ok=True)
        write_json_atomic(run / "analysis.json", result["analysis"])  # last: marks it done
        log_analysis(run, result["analysis"], grid)

    if backend == "local" and workers == 1:
        for job in todo:
            write(job, analyze_run(job))
        return len(todo)
    with submitter(backend, min(workers, max(len(todo), 1)), address, analyze_run) as submit:
        futures = {submit(job): job for job in todo}
        for future in as_completed(futures):
            write(futures[future], result_of(future))
    return len(todo)
