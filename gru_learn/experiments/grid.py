"""Grids of trained GRUs (systems x hidden sizes x seeds), resumable, on local processes or Ray.

A *run* is one (system, hidden size, seed): the GRUForecaster an independent ``fit`` with that
seed would train. A *cell* is every seed of one (system, hidden size) with a run to train,
trained by :func:`run_cell`, a pure function from a :class:`Cell` to its result: as one
:class:`~gru_learn.training.ensemble.GRUEnsemble` with the paper's method, else seed by seed with
:func:`gru_learn.training.loop.train_forecaster` (teacher forcing, curricula, mini-batches, ...:
:class:`TrainSettings`). Every backend (inline, a process pool, Ray tasks) executes that same
function, and only this process writes files.

On disk, each run is ``<out>/<system>/h<size>/seed<k>/`` holding its TensorBoard events,
``model.ckpt`` (loadable by ``GRUForecaster.load_from_checkpoint``) and ``result.json``. The
folder is assembled under a temporary name and renamed into place (:func:`gru_learn.files.atomic.
atomic_dir`), so a run folder either is complete or does not exist: an interrupted grid rerun
with the same command writes exactly the missing runs (and a run whose files were damaged
since, again), with the same numbers an uninterrupted run gives.

Worker processes never outlive the command: each one exits when the parent process ends, however
it ends (Ctrl-C, SIGTERM, SIGKILL): on Linux the kernel sends it SIGKILL
(``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread exits it when the pipe the
parent holds open reaches end-of-file, which the parent's death or interrupt handler causes.
Ray tasks are cancelled when the command is interrupted, and a local Ray instance (one
``ray.init`` starts, not ``--ray-address``) ends with the command, also after a SIGKILL
(:mod:`gru_learn.experiments.reaper` ends the raylet's agents, which would otherwise stay a minute).
"""

from __future__ import annotations

import ctypes
import dataclasses
import inspect
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import torch

from gru_learn.errors import UserError
from gru_learn.files.atomic import atomic_dir, remove_stale_temporaries, write_json_atomic
from gru_learn.files.torch_files import read_checkpoint
from gru_learn.gru.cell import Reset
from gru_learn.training.module import AlphaSchedule, Forcing, ForcingState

BACKENDS = ("local", "ray")
SETTINGS_FILE = "compare.json"


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything besides the grid that decides what a run computes (kept in compare.json, so
    a resumed grid never mixes runs trained differently). The parser of ``compare`` is typed
    from these fields; every default is the paper's setting.

    ``epochs``, ``lr``, ``lr_schedule``, ``reset`` and the training-method options
    (``forcing`` ... ``readout_init``) are
    :class:`~gru_learn.training.module.GRUForecaster`'s options of
    the same names (see its docstring and docs/reconstruction.md); ``log_every``: train and
    validation loss every N epochs; ``gradient_clip_val``: clip the gradient's global norm to
    this (``fit``'s ``--trainer.gradient_clip_val``); ``batch_size``: mini-batches of this many
    sequences (None: full batch, the paper); ``data``: TrajectoryDataModule options shared by
    every run of a system (all but ``system`` and ``batch_size``).
    """

    epochs: int = 4000
    lr: float = 0.01
    lr_schedule: Literal["constant", "cosine", "exponential"] = "constant"
    reset: Reset = "before"
    log_every: int = 10
    forcing: Forcing = "none"
    forcing_interval: int = 1
    forcing_alpha: float = 1.0
    forcing_alpha_schedule: AlphaSchedule = "constant"
    forcing_alpha_final: float = 0.0
    forcing_alpha_decay: float = 0.999
    forcing_state: ForcingState = "projection"
    curriculum_start: int | None = None
    curriculum_epochs: int = 1000
    readout_init: Literal["default", "data"] = "default"
    gradient_clip_val: float | None = None
    batch_size: int | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # TrajectoryDataModule kwargs

    def model_options(self) -> dict[str, Any]:
        """The GRUForecaster keyword arguments these settings fix (all but the size and the
        data's obs_dim, dt and system)."""
        return {k: getattr(self, k) for k in MODEL_OPTIONS}

    @property
    def vectorised(self) -> bool:
        """Whether the runs train as one
        :class:`~gru_learn.training.ensemble.GRUEnsemble` (the paper's
        method: free running over the whole horizon, full batch, no clipping, default readout;
        any lr, lr schedule, reset convention and data window), else one plain loop per seed
        (:func:`gru_learn.training.loop.train_forecaster`)."""
        return (self.forcing == "none" and self.curriculum_start is None
                and self.readout_init == "default" and self.gradient_clip_val is None
                and self.batch_size is None)


# TrainSettings fields that are GRUForecaster options (the rest concern the loop or the data)
MODEL_OPTIONS = ("lr", "lr_schedule", "reset", "forcing", "forcing_interval", "forcing_alpha",
                 "forcing_alpha_schedule", "forcing_alpha_final", "forcing_alpha_decay",
                 "forcing_state", "curriculum_start", "curriculum_epochs", "readout_init")


def comparable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as compare.json holds them, made comparable across versions: options missing
    from an older file take their default (the only behaviour that version had), and data
    options equal to TrajectoryDataModule's defaults are dropped (given or not, the same data).
    """
    from gru_learn.training.data import TrajectoryDataModule

    defaults = {f.name: f.default for f in dataclasses.fields(TrainSettings)
                if f.default is not dataclasses.MISSING}
    data_defaults = {k: p.default for k, p in
                     inspect.signature(TrajectoryDataModule.__init__).parameters.items()
                     if p.default is not inspect.Parameter.empty}
    out = {**defaults, **settings}
    data = out.get("data") if isinstance(out.get("data"), dict) else {}
    out["data"] = {k: v for k, v in data.items()
                   if k not in data_defaults or v != data_defaults[k]}
    return out


@dataclasses.dataclass(frozen=True)
class Grid:
    systems: tuple[str, ...]
    hidden_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    settings: TrainSettings

    def check(self) -> None:
        """UserErrors for values no run could use."""
        from gru_learn.systems.registry import get_system
        from gru_learn.training.module import GRUForecaster

        if not self.systems or not self.hidden_sizes or not self.seeds:
            raise UserError("the grid needs at least one system, hidden size and seed")
        for name in self.systems:
            get_system(name)
        if min(self.hidden_sizes) <= 0:
            raise UserError(f"hidden sizes must be positive, got {list(self.hidden_sizes)}")
        s = self.settings
        if s.epochs <= 0 or s.log_every <= 0:
            raise UserError(f"epochs and log_every must be positive, got {s.epochs}, "
                            f"{s.log_every}")
        if s.batch_size is not None and s.batch_size <= 0:
            raise UserError(f"batch_size must be positive or null (full batch), got "
                            f"{s.batch_size}")
        if s.gradient_clip_val is not None and s.gradient_clip_val <= 0:
            raise UserError(f"gradient_clip_val must be positive or null, got "
                            f"{s.gradient_clip_val}")
        GRUForecaster(hidden_size=1, **s.model_options())  # its own checks: one-line errors


@dataclasses.dataclass(frozen=True)
class Cell:
    """The seeds of one (system, hidden size) that one ensemble trains."""

    system: str
    hidden_size: int
    seeds: tuple[int, ...]
    settings: TrainSettings


def run_dir(out: Path, system: str, hidden_size: int, seed: int) -> Path:
    return out / system / f"h{hidden_size}" / f"seed{seed}"


def data_module(system: str, settings: TrainSettings):
    """The grid's shared data of one system (same data for every size and seed, as in the
    paper); simulated once and cached."""
    from gru_learn.training.data import TrajectoryDataModule

    return TrajectoryDataModule(system=system, batch_size=settings.batch_size, **settings.data)


# --- the one function every backend runs ----------------------------------------------------
def run_cell(cell: Cell, progress: bool = False) -> dict[str, Any]:
    """Train a cell's seeds: returns per-seed loss curves, final losses on every split and
    GRUForecaster state dicts (plain tensors; no files are written here).

    The paper's method (``TrainSettings.vectorised``) trains all seeds as one ensemble; any
    other method trains each seed by :func:`gru_learn.training.loop.train_forecaster`. Both
    give ``train_loss`` (E, M), ``val_epochs`` (V,), ``val_loss`` (V, M), ``diverged_at`` (M,),
    ``final`` {split: (M,)} (free-running MSE of the final parameters), ``states`` and
    ``alpha`` (M forcing strengths at the end, for the checkpoint)."""
    from gru_learn.runtime import set_cpu_threads

    set_cpu_threads()
    start = time.perf_counter()
    dm = data_module(cell.system, cell.settings)
    dm.setup()
    train = _train_ensemble if cell.settings.vectorised else _train_each
    result = train(cell, dm, progress)
    return {**result, "obs_dim": dm.obs_dim, "dt": dm.dt, "data_hparams": dict(dm.hparams),
            "seconds": time.perf_counter() - start}


def _train_ensemble(cell: Cell, dm: Any, progress: bool) -> dict[str, Any]:
    """The paper's method: every seed of the cell as one GRUEnsemble."""
    from gru_learn.training.ensemble import GRUEnsemble, fit_ensemble

    s, M = cell.settings, len(cell.seeds)
    ens = GRUEnsemble.from_seeds([cell.hidden_size] * M, cell.seeds, dm.obs_dim, s.reset)
    curves = fit_ensemble(ens, dm.splits["train"], s.epochs, s.lr, s.lr_schedule,
                          val=dm.splits["val"] if len(dm.splits["val"]) else None,
                          val_every=s.log_every, progress=progress)
    final = {split: (ens.losses(x) if len(x) else torch.full((M,), math.nan))
             for split, x in dm.splits.items()}
    return {**curves, "final": final, "states": [ens.member_state(m) for m in range(M)],
            "alpha": [1.0] * M}


def _train_each(cell: Cell, dm: Any, progress: bool) -> dict[str, Any]:
    """Any other method: each seed's GRUForecaster (built after ``seed_everything(seed)``, as
    ``fit`` builds it) trained by the plain loop; the curves stacked as the ensemble's."""
    import lightning as L

    from gru_learn.training.loop import train_forecaster
    from gru_learn.training.module import GRUForecaster

    s = cell.settings
    runs, finals, states = [], [], []
    for seed in cell.seeds:
        L.seed_everything(seed, verbose=False)
        model = GRUForecaster(hidden_size=cell.hidden_size, obs_dim=dm.obs_dim, dt=dm.dt,
                              system=cell.system, **s.model_options())
        runs.append(train_forecaster(
            model, dm.splits["train"], s.epochs,
            val=dm.splits["val"] if len(dm.splits["val"]) else None, val_every=s.log_every,
            batch_size=s.batch_size, gradient_clip_val=s.gradient_clip_val,
            data_seed=dm.seed, progress=progress))
        with torch.no_grad():
            finals.append({split: float(model.loss(x)) if len(x) else math.nan
                           for split, x in dm.splits.items()})
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return {"train_loss": torch.stack([r["train_loss"] for r in runs], 1),
            "val_epochs": runs[0]["val_epochs"],
            "val_loss": torch.stack([r["val_loss"] for r in runs], 1),
            "diverged_at": torch.tensor([r["diverged_at"] for r in runs], dtype=torch.long),
            "final": {split: torch.tensor([f[split] for f in finals]) for split in dm.splits},
            "states": states, "alpha": [r["alpha"] for r in runs]}


# --- backends ---------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent: int, reader: Connection, writer: Connection) -> None:
    """Worker initializer: make this process end when ``parent`` does.

    On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill it at the parent's death
    (even by SIGKILL). Everywhere, a daemon thread waits on ``reader``: the parent holds the
    pipe's only other writable end, so end-of-file means the parent died or closed it on an
    interrupt. Ctrl-C in a terminal reaches the whole process group: the workers ignore it and
    leave it to the parent, which closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    writer.close()  # a forked worker's copy; only the parent's may keep the pipe open
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        try:
            reader.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


@contextmanager
def _submitter(backend: str, workers: int, address: str | None,
               fn: Callable[[Any], Any] = run_cell) -> Iterator[Callable[[Any], Future]]:
    """``submit(x) -> Future`` of ``fn(x)`` (``run_cell`` unless told) in a process pool or as
    a Ray task.
    Leaving the block by an exception (Ctrl-C included) ends every worker or Ray task at once."""
    if backend == "local":
        # fork where there is one: workers inherit the imports (seconds each), not redo them
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        reader, writer = context.Pipe(duplex=False)
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent,
                                   initargs=(os.getpid(), reader, writer))
        try:
            yield lambda cell: pool.submit(fn, cell)
        except BaseException:
            writer.close()  # every worker's watchdog sees end-of-file and exits now
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            writer.close()
            reader.close()
        return
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    started = not ray.is_initialized()
    reaper = None
    if started:
        kwargs = {"address": address} if address else {"num_cpus": workers}
        ours = signal.getsignal(signal.SIGTERM)
        if not address:  # the local instance this starts ends with the command
            reaper = _start_reaper()
        try:
            ray.init(**kwargs, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except BaseException:
            _stop_reaper(reaper)
            raise
        # Ray replaces the SIGTERM handler (its core's aborts): put back ours, so SIGTERM
        # cancels the tasks below and exits like an interrupt
        if callable(ours) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, ours)
    env = ray_runtime_env()  # the user's --import modules, in every task
    task = ray.remote(num_cpus=1, **({"runtime_env": env} if env else {}))(fn)
    refs: list[Any] = []

    def submit(cell: Cell) -> Future:
        refs.append(task.remote(cell))
        return refs[-1].future()

    try:
        yield submit
    except BaseException:
        for ref in refs:  # finished ones ignore this; running ones are killed
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        raise
    finally:
        if started:
            ray.shutdown()
        _stop_reaper(reaper)  # ends what shutdown left running


def _start_reaper() -> subprocess.Popen | None:
    """:mod:`gru_learn.experiments.reaper` watching this process (Linux): the local Ray instance's
    processes end with this command however it ends (its raylet's agents otherwise outlive a
    SIGKILL by a minute). Run by file path in isolated mode: no package import (torch), no
    module of the working directory."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen([sys.executable, "-I", str(Path(__file__).with_name("reaper.py")),
                             str(os.getpid())], stdin=subprocess.PIPE, close_fds=True)


def _stop_reaper(reaper: subprocess.Popen | None) -> None:
    """Close the reaper's pipe: it kills what it recorded and still runs, then exits."""
    if reaper is not None:
        reaper.stdin.close()
        reaper.wait()


def ray_runtime_env() -> dict[str, Any]:
    """The Ray ``runtime_env`` that gives each task the modules of ``--import`` (empty when
    there are none): ``GRU_LEARN_IMPORT`` (``get_system`` imports them in the task the first
    time it meets a name it does not know) and ``PYTHONPATH`` extended by the folders they
    were imported from here (a Ray worker does not start in this process's working directory).
    On a multi-node cluster those folders must exist on every node (or install the module)."""
    from gru_learn.systems.user_modules import ENV

    names = [n for n in os.environ.get(ENV, "").split(",") if n]
    if not names:
        return {}
    roots = []
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            root = Path(file).resolve().parent  # the folder above the top-level package
            for _ in range(name.count(".") + (Path(file).name == "__init__.py")):
                root = root.parent
            roots.append(str(root))
    paths = [*roots, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {"env_vars": {ENV: ",".join(names), "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}}


def execute(cells: list[Cell], backend: str = "local", workers: int = 1,
            address: str | None = None) -> Iterator[tuple[Cell, dict[str, Any]]]:
    """Yield ``(cell, run_cell(cell))`` as cells finish. Inline for one local worker (with an
    epoch progress bar), else the same function in ``workers`` processes or on Ray."""
    if backend == "local" and workers == 1:
        for cell in cells:
            yield cell, run_cell(cell, progress=True)
        return
    with _submitter(backend, workers, address) as submit:
        futures = {submit(cell): cell for cell in cells}
        for future in as_completed(futures):
            yield futures[future], _result(future)


def _result(future: Future) -> Any:
    """A worker's result; a UserError raised in a Ray task (which Ray re-raises as its own
    subclass of it, the task's traceback in the message) comes back as the one-line original."""
    try:
        return future.result()
    except UserError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, UserError) and cause is not e:
            raise UserError(str(cause)) from None
        raise


# --- files ------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def missing_runs(out: Path, cells: list[Cell]) -> int:
    """How many runs of ``cells`` have no complete folder under ``out``."""
    return sum(not run_is_complete(run_dir(out, c.system, c.hidden_size, seed))
               for c in cells for seed in c.seeds)


def run_is_complete(path: Path) -> bool:
    """A run folder whose result.json and model.ckpt are both readable (anything less is
    retrained: a file damaged after the folder was written is never trusted)."""
    if not isinstance(_read_json(path / "result.json"), dict):
        return False
    try:
        read_checkpoint(path / "model.ckpt")
    except UserError:  # missing, truncated or foreign: retrain
        return False
    return True


def prepare(out: Path, grid: Grid, force: bool) -> list[Cell]:
    """Check the output folder against the grid's settings, clear leftovers of interrupted
    writes (temporaries of dead processes anywhere under ``out``, damaged runs and analyses),
    and return the cells with runs still to train (all of them with ``force``).

    A cell holds every seed of its (system, size), finished ones included: an ensemble
    member's float32 numbers depend (in the last bit) on how many members it is trained with,
    so retraining a whole cell is what makes every rerun run identical to an uninterrupted
    one. :func:`write_runs` writes only the missing ones."""
    settings = dataclasses.asdict(grid.settings)
    saved_path = out / SETTINGS_FILE
    if saved_path.exists() and not force:
        saved = _read_json(saved_path)
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
    cells = []
    for system in grid.systems:
        for d in grid.hidden_sizes:
            missing = False
            for seed in grid.seeds:
                path = run_dir(out, system, d, seed)
                if path.exists() and (force or not run_is_complete(path)):
                    shutil.rmtree(path)
                analysis = path / "analysis.json"
                if analysis.exists() and not isinstance(_read_json(analysis), dict):
                    analysis.unlink()  # damaged: analysed again with --analyze
                missing = missing or not path.exists()
            if missing:  # the whole cell: see write_runs
                cells.append(Cell(system, d, grid.seeds, grid.settings))
    write_json_atomic(saved_path, settings)
    # largest networks first, so parallel workers finish together
    return sorted(cells, key=lambda c: -c.hidden_size * len(c.seeds))


def write_runs(out: Path, cell: Cell, result: dict[str, Any]) -> list[Path]:
    """Write every seed of a finished cell that has no complete run folder yet (TensorBoard
    events, model.ckpt, result.json), each assembled under a temporary name, flushed and
    renamed into place; complete ones are left as they are."""
    import lightning as L
    from torch.utils.tensorboard import SummaryWriter

    from gru_learn.training.hparams import final_metrics, hparams_summaries, run_hparams
    from gru_learn.training.module import GRUForecaster

    s = cell.settings
    train, val, val_epochs = result["train_loss"], result["val_loss"], result["val_epochs"]
    logged = val_epochs.tolist()
    written = []
    for m, seed in enumerate(cell.seeds):
        final = run_dir(out, cell.system, cell.hidden_size, seed)
        if run_is_complete(final):
            continue
        model = GRUForecaster(hidden_size=cell.hidden_size, obs_dim=result["obs_dim"],
                              dt=result["dt"], system=cell.system, **s.model_options())
        model.load_state_dict(result["states"][m])
        model.alpha = result["alpha"][m]
        diverged_at = int(result["diverged_at"][m])
        epochs_done = s.epochs if diverged_at < 0 else diverged_at
        curve = {"epoch": logged, "train_loss": [float(train[e, m]) for e in logged],
                 "val_loss": [float(v) for v in val[:, m]]}
        finals = {f"final_{k}_loss": float(v[m]) for k, v in result["final"].items()}
        record = {"system": cell.system, "hidden_size": cell.hidden_size, "seed": seed,
                  **finals, "diverged_at": diverged_at if diverged_at >= 0 else None,
                  "cell_seconds": result["seconds"], "curve": curve}
        hp = run_hparams(dict(model.hparams), result["data_hparams"], seed=seed,
                         epochs=s.epochs, epochs_done=epochs_done,
                         **({"gradient_clip_val": s.gradient_clip_val}
                            if s.gradient_clip_val is not None else {}))
        # every metric name is registered for HPARAMS; the analysis' values come later
        # (analyze_runs -> log_analysis), so only the finite losses are written here
        metrics = final_metrics({k: float(v[m]) for k, v in result["final"].items()})
        with atomic_dir(final) as tmp:  # the run exists only once complete
            torch.save({"state_dict": model.state_dict(),
                        "hyper_parameters": dict(model.hparams),
                        "datamodule_hyper_parameters": result["data_hparams"],
                        "pytorch-lightning_version": L.__version__, "epoch": epochs_done - 1,
                        "global_step": epochs_done, "forcing_alpha_now": model.alpha},
                       tmp / "model.ckpt")
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
    """The finished runs of the grid (result.json, plus analysis.json when present), in grid
    order."""
    runs = []
    for system in grid.systems:
        for d in grid.hidden_sizes:
            for seed in grid.seeds:
                path = run_dir(out, system, d, seed)
                run = _read_json(path / "result.json")
                if isinstance(run, dict):
                    analysis = _read_json(path / "analysis.json")
                    if isinstance(analysis, dict):
                        run["analysis"] = analysis
                    runs.append(run)
    return runs


def analysis_hook() -> Callable[[str, str], dict] | None:
    """``gru_learn.analysis.analyze_checkpoint(path, out_dir) -> dict`` when it exists."""
    from gru_learn.training.checkpoint import analyze_checkpoint

    return analyze_checkpoint


def _analyze_one(path: str) -> dict[str, Any]:
    """The analysis hook on one run folder; a failure becomes ``{"error": "Type: message"}``
    (counted as such by ``compare``'s summary, not retried on resume; ``--force`` retrains)."""
    from gru_learn.runtime import set_cpu_threads

    set_cpu_threads()
    analyze = analysis_hook()
    assert analyze is not None
    try:
        return analyze(str(Path(path) / "model.ckpt"), str(Path(path) / "analysis"))
    except Exception as e:  # noqa: BLE001 - one bad network must not stop the grid's others
        return {"error": f"{type(e).__name__}: {e}".splitlines()[0]}


def log_analysis(run: Path, analysis: Any, grid: Grid) -> None:
    """The analysis' finite HPARAMS metrics (``gru_learn.training.hparams``) as scalars in the run's
    TensorBoard folder, at the last epoch, where the HPARAMS tab reads them."""
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


def analyze_runs(out: Path, grid: Grid, backend: str = "local", workers: int = 1,
                 address: str | None = None) -> int:
    """Run the analysis hook on every finished run that has no analysis.json yet, in the same
    kind of worker pool as training (``workers`` processes or Ray tasks; inline for one local
    worker). Returns how many runs were analysed."""
    if analysis_hook() is None:
        return 0
    paths = [run_dir(out, r["system"], r["hidden_size"], r["seed"]) for r in load_runs(out, grid)]
    todo = [str(p) for p in paths if not (p / "analysis.json").is_file()]
    if backend == "local" and workers == 1:
        for path in todo:
            result = _analyze_one(path)
            write_json_atomic(Path(path) / "analysis.json", result)
            log_analysis(Path(path), result, grid)
        return len(todo)
    with _submitter(backend, min(workers, max(len(todo), 1)), address, _analyze_one) as submit:
        futures = {submit(path): path for path in todo}
        for future in as_completed(futures):
            result = _result(future)
            write_json_atomic(Path(futures[future]) / "analysis.json", result)
            log_analysis(Path(futures[future]), result, grid)
    return len(todo)
