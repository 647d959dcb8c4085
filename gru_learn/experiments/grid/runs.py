"""A grid's run folders: which runs are missing (:func:`prepare`), writing a finished group's
runs (:func:`write_runs`) and reading them back (:func:`load_runs`).

Each run is ``<out>/<system>/h<size>/seed<k>/`` holding its TensorBoard events, ``model.ckpt``
(loadable by ``GRUForecaster.load_from_checkpoint``) and ``result.json``. The folder is
assembled under a temporary name and renamed into place (:func:`gru_learn.files.atomic.
atomic_dir`), so a run folder either is complete or does not exist: an interrupted grid rerun
with the same command writes exactly the missing runs (and a run whose files were damaged
since, again), with the same numbers an uninterrupted run gives.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

from gru_learn.errors import UserError
from gru_learn.experiments.grid.settings import (
    SETTINGS_FILE,
    Grid,
    RunGroup,
    comparable_settings,
)
from gru_learn.files.atomic import atomic_dir, remove_stale_temporaries, write_json_atomic
from gru_learn.files.torch_files import read_checkpoint
from gru_learn.systems.registry import folder_name


def run_dir(out: Path, system: str, hidden_size: int, seed: int) -> Path:
    """``<out>/<system>/h<size>/seed<k>``: one run's folder."""
    return out / folder_name(system) / f"h{hidden_size}" / f"seed{seed}"



def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def missing_runs(out: Path, groups: list[RunGroup]) -> int:
    """How many runs of ``groups`` have no complete folder under ``out``."""
    return sum(not run_is_complete(run_dir(out, g.system, g.hidden_size, seed))
               for g in groups for seed in g.seeds)


def run_is_complete(path: Path) -> bool:
    """A run folder whose result.json and model.ckpt are both readable (anything less is
    retrained: a file damaged after the folder was written is never trusted)."""
    if not isinstance(read_json(path / "result.json"), dict):
        return False
    try:
        read_checkpoint(path / "model.ckpt")
    except UserError:  # missing, truncated or foreign: retrain
        return False
    return True


def prepare(out: Path, grid: Grid, force: bool) -> list[RunGroup]:
    """Check the output folder against the grid's settings, clear leftovers of interrupted
    writes (temporaries of dead processes anywhere under ``out``, damaged runs and analyses),
    and return the run groups with runs still to train (all of them with ``force``).

    A group holds every seed of its (system, size), finished ones included: an ensemble
    member's float32 numbers depend (in the last bit) on how many members it is trained with,
    so retraining a whole group is what makes every rerun run identical to an uninterrupted
    one. :func:`write_runs` writes only the missing ones."""
    settings = dataclasses.asdict(grid.settings)
    saved_path = out / SETTINGS_FILE
    if saved_path.exists() and not force:
        saved = read_json(saved_path)
        if not isinstance(saved, dict):
            raise UserError(f"{saved_path} is unreadable or damaged, so the settings of the "
                            "runs in it are unknown; use --force to retrain or choose another "
                            "--out")
        old, new = comparable_settings(saved), comparable_settings(settings)
        if old != new:
            changed = sorted(k for k in {*old, *new} - {"data"} if old.get(k) != new.get(k))
            changed += sorted(f"data.{k}" for k in {*old["data"], *new["data"]}
                              if old["data"].get(k) != new["data"].get(k))
            raise UserError(f"{out} holds runs trained with other settings ({', '.join(changed)}"
                            "); use --force to retrain or choose another --out")
    remove_stale_temporaries(out, recursive=True)
    groups = []
    for system in grid.systems:
        for d in grid.hidden_sizes:
            missing = False
            for seed in grid.seeds:
                path = run_dir(out, system, d, seed)
                if path.exists() and (force or not run_is_complete(path)):
                    shutil.rmtree(path)
                analysis = path / "analysis.json"
                if analysis.exists() and not isinstance(read_json(analysis), dict):
                    analysis.unlink()  # damaged: analysed again with --analyze
                missing = missing or not path.exists()
            if missing and grid.settings.data_per_seed:  # each seed its own data: its own group
                groups += [RunGroup(system, d, (seed,), grid.settings.for_seed(seed))
                           for seed in grid.seeds if not run_dir(out, system, d, seed).exists()]
            elif missing:  # the whole group: see write_runs
                groups.append(RunGroup(system, d, grid.seeds, grid.settings))
    write_json_atomic(saved_path, settings)
    # largest networks first, so parallel workers finish together
    return sorted(groups, key=lambda g: -g.hidden_size * len(g.seeds))


def write_runs(out: Path, group: RunGroup, result: dict[str, Any]) -> list[Path]:
    """Write every seed of a finished group that has no complete run folder yet (TensorBoard
    events, model.ckpt, result.json), each assembled under a temporary name, flushed and
    renamed into place; complete ones are left as they are."""
    from torch.utils.tensorboard import SummaryWriter

    from gru_learn.training.hparams import final_metrics, hparams_summaries, run_hparams
    from gru_learn.training.module import GRUForecaster
    from gru_learn.training.standalone import save_checkpoint

    s = group.settings
    train, val, val_epochs = result["train_loss"], result["val_loss"], result["val_epochs"]
    logged = val_epochs.tolist()
    written = []
    for m, seed in enumerate(group.seeds):
        final = run_dir(out, group.system, group.hidden_size, seed)
        if run_is_complete(final):
            continue
        model = GRUForecaster(hidden_size=group.hidden_size, obs_dim=result["obs_dim"],
                              dt=result["dt"], system=group.system, **s.model_options())
        model.load_state_dict(result["states"][m])
        model.alpha = result["alpha"][m]
        diverged_at = int(result["diverged_at"][m])
        epochs_done = s.epochs if diverged_at < 0 else diverged_at
        curve = {"epoch": logged, "train_loss": [float(train[e, m]) for e in logged],
                 "val_loss": [float(v) for v in val[:, m]]}
        finals = {f"final_{k}_loss": float(v[m]) for k, v in result["final"].items()}
        record = {"system": group.system, "hidden_size": group.hidden_size, "seed": seed,
                  **finals, "diverged_at": diverged_at if diverged_at >= 0 else None,
                  "cell_seconds": result["seconds"],  # the whole group's time (older key name)
                  "curve": curve}
        hp = run_hparams(dict(model.hparams), result["data_hparams"], seed=seed,
                         epochs=s.epochs, epochs_done=epochs_done,
                         **({"gradient_clip_val": s.gradient_clip_val}
                            if s.gradient_clip_val is not None else {}))
        # every metric name is registered for HPARAMS; the analysis' values come later
        # (analyze_runs -> log_analysis), so only the finite losses are written here
        metrics = final_metrics({k: float(v[m]) for k, v in result["final"].items()})
        with atomic_dir(final) as tmp:  # the run exists only once complete
            save_checkpoint(tmp / "model.ckpt", model, result["data_hparams"], epochs_done)
            writer = SummaryWriter(log_dir=str(tmp))
            for e, tl, vl in zip(logged, curve["train_loss"], curve["val_loss"], strict=True):
                if math.isfinite(tl):
                    writer.add_scalar("loss/train", tl, e)
                if math.isfinite(vl):
                    writer.add_scalar("loss/val", vl, e)
            for summary in hparams_summaries(hp, metrics):
                writer.file_writer.add_summary(summary)
            for k, v in metrics.items():
                if math.isfinite(v):
                    writer.add_scalar(k, v, s.epochs)
            writer.close()
            write_json_atomic(tmp / "result.json", record)
        written.append(final)
    return written


def load_runs(out: Path, grid: Grid) -> list[dict[str, Any]]:
    """The finished runs of the grid (result.json, plus analysis.json and evaluation.json when
    present), in grid order."""
    runs = []
    for system in grid.systems:
        for d in grid.hidden_sizes:
            for seed in grid.seeds:
                path = run_dir(out, system, d, seed)
                run = read_json(path / "result.json")
                if isinstance(run, dict):
                    for key in ("analysis", "evaluation"):  # analysis.json, evaluation.json
                        extra = read_json(path / f"{key}.json")
                        if isinstance(extra, dict):
                            run[key] = extra
                    runs.append(run)
    return runs


