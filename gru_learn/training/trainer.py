"""The Trainer of ``python -m gru_learn fit|validate|test|predict`` without its command line: the
defaults (logger, callbacks, checkpoint IO), the checks every run makes before it creates
anything, the run's folder claimed, the checkpoint's hyperparameters against explicit
``--model`` values, and the run's summary for TensorBoard's HPARAMS tab. ``gru_learn.cli.fit``
wires these into LightningCLI.
"""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint, ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger

from gru_learn.analysis.result import AnalysisResult
from gru_learn.errors import UserError
from gru_learn.files.atomic import remove_stale_temporaries
from gru_learn.files.outputs import check_output_dir
from gru_learn.files.torch_files import check_fits
from gru_learn.systems.registry import folder_name
from gru_learn.training.callbacks import EpochProgressBar, LastCheckpoint, OptimizerCurves
from gru_learn.training.hparams import final_metrics, log_final, run_hparams
from gru_learn.training.module import GRUForecaster

AUTO_NAME = "<system>"  # replaced by the data's system name: logs/<system>/version_N
AUTO_DIR = "<default_root_dir>"  # replaced by --trainer.default_root_dir, or "logs"
# the splits each subcommand reads, checked for emptiness before anything is written
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                "predict": ("predict",)}
CKPT_KEYWORDS = ("last", "best", "hpc", "registry")  # Lightning's own ckpt_path values


class RunLogger(TensorBoardLogger):
    """TensorBoard, without the ``epoch`` scalar Lightning adds to every logged step (a chart
    with one point per step that only repeats the x axis)."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)


def trainer_defaults() -> dict[str, Any]:
    """Fresh callback instances for every run (a ModelCheckpoint remembers its best score)."""
    return {
        "max_epochs": 4000,  # the paper's
        # one validation (with its best-checkpoint save) costs as much as ~5 training epochs:
        # every 50 epochs keeps that under a tenth of the time and still draws 80 points
        "check_val_every_n_epoch": 50,
        "log_every_n_steps": 1,
        "plugins": [{"class_path": "gru_learn.training.checkpoint_io.AtomicCheckpointIO"}],
        "logger": {
            "class_path": "gru_learn.training.trainer.RunLogger",
            "init_args": {"save_dir": AUTO_DIR, "name": AUTO_NAME, "default_hp_metric": False},
        },
        "callbacks": [
            ModelCheckpoint(monitor="loss/val", save_top_k=1, auto_insert_metric_name=False,
                            filename="best-epoch={epoch}-loss_val={loss/val:.4g}"),
            LastCheckpoint(),
            OptimizerCurves(),
            EpochProgressBar(),
        ],
    }


def resolve_defaults(config: Any, defaults: dict[str, Any]) -> None:
    """Fill the logger's automatic name and folder from the parsed ``config`` of a subcommand,
    and drop the default callbacks its trainer options turn off (Lightning refuses checkpoint
    callbacks without checkpointing; a signal then stops at once, with nothing to resume)."""
    init = getattr(config.trainer.logger, "init_args", None)
    if getattr(init, "name", None) == AUTO_NAME:
        init.name = folder_name(config.data.init_args.get("system") or "file")
    if getattr(init, "save_dir", None) == AUTO_DIR:
        init.save_dir = config.trainer.get("default_root_dir") or "logs"
    off = tuple(kind for kind, on in ((ProgressBar, config.trainer.enable_progress_bar),
                                      (Checkpoint, config.trainer.enable_checkpointing))
                if on is False)
    defaults["callbacks"] = [c for c in defaults["callbacks"] if not isinstance(c, off)]


def explicit_model_values(model: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """The model options the user chose: named on the command line (``--model.X``) or given a
    value other than GRUForecaster's default (by a --config file, say)."""
    named = {a[len("--model."):].split("=")[0] for a in argv if a.startswith("--model.")}
    defaults = {k: p.default for k, p in
                inspect.signature(GRUForecaster.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {k: v for k, v in model.items()
            if k in named or (k in defaults and v != defaults[k])}


def checkpoint_model_values(ckpt: dict[str, Any], given: dict[str, Any], override: bool,
                            path: str) -> dict[str, Any]:
    """The model's values for a run from checkpoint ``path``: its hyperparameters, with the
    explicit ``given`` ones over them when ``override``; a given value that differs from the
    checkpoint's is a UserError otherwise."""
    saved = {k: v for k, v in ckpt["hyper_parameters"].items() if not k.startswith("_")}
    conflicts = {k: (v, saved[k]) for k, v in given.items() if k in saved and v != saved[k]}
    if conflicts and not override:
        listed = ", ".join(f"--model.{k} {v!r} (checkpoint: {c!r})"
                           for k, (v, c) in sorted(conflicts.items()))
        raise UserError(f"{listed} conflict with checkpoint {path}; drop them to continue "
                        "it as trained, or add --ckpt_override true to use them")
    return {**saved, **(given if override else {})}


def check_inputs(trainer: Any, datamodule: Any, model: GRUForecaster, stage: str,
                 ckpt: dict[str, Any] | None, ckpt_path: str | None) -> None:
    """Every input a ``stage`` run reads, validated before anything is created (one-line
    UserErrors): its data splits are not empty, and the checkpoint fits model and data (and,
    to resume ``fit``, holds the trainer's state too), and the folders it writes in can be
    written (the run's, the data cache's when it must be made)."""
    check_output_folders(trainer, datamodule)
    for split in STAGE_SPLITS[stage]:
        if split == "val" and stage == "fit" and not trainer.limit_val_batches:
            continue
        getattr(datamodule, f"{split}_dataloader")()  # UserError if it is empty
    if ckpt is not None:
        check_fits(ckpt, model, ckpt_path, getattr(datamodule, "obs_dim", None))
        if stage == "fit" and "optimizer_states" not in ckpt:
            raise UserError(f"checkpoint {ckpt_path} holds the network only (a compare run's "
                            "model.ckpt, say), not the optimizer's state to resume training: "
                            "test, validate, predict or analyze it; fit resumes a fit "
                            "checkpoint (last.ckpt)")


def check_output_folders(trainer: Any, datamodule: Any) -> None:
    """The run's folder (the logger's, else ``default_root_dir``) and a data cache still to be
    written are folders this process can write in: one-line UserErrors, nothing created."""
    root = str(trainer.default_root_dir)
    save_dir = getattr(trainer.logger, "save_dir", None)
    if save_dir is not None and os.path.abspath(save_dir) != os.path.abspath(root):
        check_output_dir(save_dir, "--trainer.logger.init_args.save_dir")
    else:
        check_output_dir(root, "--trainer.default_root_dir")
    cache = getattr(datamodule, "cache_path", None)
    if isinstance(cache, Path) and not cache.is_file():
        check_output_dir(cache.parent, "--data.cache_dir")


def continue_command(trainer: Any, last: str) -> str:
    """The complete command that continues a stopped ``fit`` from ``last`` (its ``last.ckpt``)
    with the run's own saved options, in the run's own folder."""
    log_dir = getattr(trainer, "log_dir", None) if trainer is not None else None
    config = Path(log_dir) / "config.yaml" if log_dir else None
    options = f"--config {config} " if config is not None and config.is_file() else ""
    return f"python -m gru_learn fit {options}--ckpt_path {last}"


def claim_version(root: str | os.PathLike) -> int:
    """Create ``root/version_N`` for the first free N and return N. ``os.mkdir`` fails when
    the folder exists, so two runs started at the same moment can never take the same one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[8:]) for p in root.glob("version_*") if p.name[8:].isdigit()]
    n = max(taken, default=-1) + 1
    while True:
        try:
            (root / f"version_{n}").mkdir()
            return n
        except FileExistsError:
            n += 1


def claim_logger_version(logger: Any, ckpt_path: str | None = None) -> None:
    """Give a versioned logger (TensorBoard's, CSV's) a ``version_N`` folder of its own now;
    a ``fit`` resumed from a checkpoint in ``<root>/version_N/checkpoints/`` continues in
    ``version_N`` (its TensorBoard curves go on where they stopped).

    Lightning's loggers pick their version lazily (the largest + 1) and create the folder
    later, so two runs started together would share one: the only place here that sets a
    Lightning internal (``_version``), because the loggers take no claimed version otherwise.
    Checkpoint temporaries of runs killed while saving (in their run folders) go first."""
    if getattr(logger, "_version", 0) is None and getattr(logger, "root_dir", None):
        remove_stale_temporaries(logger.root_dir, recursive=True)
        own = resumed_version(logger.root_dir, ckpt_path)
        logger._version = own if own is not None else claim_version(logger.root_dir)


def resumed_version(root: str | os.PathLike, ckpt_path: str | None) -> int | None:
    """N when ``ckpt_path`` is a checkpoint of run ``root/version_N`` (None otherwise)."""
    if not ckpt_path or ckpt_path in CKPT_KEYWORDS:
        return None
    folder = Path(os.path.abspath(ckpt_path)).parent
    run = folder.parent
    if folder.name != "checkpoints" or run.parent != Path(os.path.abspath(root)):
        return None
    number = run.name[len("version_"):]
    return int(number) if run.name.startswith("version_") and number.isdigit() else None


def remove_partial_analysis(trainer: Any) -> None:
    """An interrupted end-of-fit analysis leaves figures without summary.json (written last,
    atomically): remove that folder, so a run's ``analysis/`` is complete or absent."""
    log_dir = getattr(trainer, "log_dir", None) if trainer is not None else None
    folder = Path(log_dir) / "analysis" if log_dir else None
    if folder is not None and folder.is_dir() and not (folder / "summary.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)


def divergence_error(trainer: Any, model: GRUForecaster) -> UserError | None:
    """The one-line error of a run whose training diverged, naming its ``last.ckpt`` (which
    holds the parameters the divergence policy kept); None when it did not diverge."""
    if not model.diverged:
        return None
    last = [path for c in trainer.checkpoint_callbacks
            if isinstance(c, LastCheckpoint) and c.dirpath
            and (path := os.path.join(c.dirpath, "last.ckpt")) and os.path.isfile(path)]
    return UserError(model.diverged + (f"; checkpoint with them: {last[0]}" if last else ""))


def log_run_summary(trainer: Any, model: GRUForecaster, datamodule: Any, seed: int | None,
                    test_after_fit: bool) -> None:
    """Test the final parameters (unless ``test_after_fit`` is false, or training diverged),
    then log hyperparameters and final metrics (losses, and the end-of-fit analysis from
    ``<log_dir>/analysis/summary.json`` when it ran) for TensorBoard's HPARAMS tab."""
    metrics = trainer.callback_metrics
    losses = {split: float(metrics[f"loss/{split}"]) for split in ("train", "val")
              if f"loss/{split}" in metrics}
    if test_after_fit and not model.diverged:
        (result,) = trainer.test(model, datamodule=datamodule, verbose=False)
        losses["test"] = result.get("loss/test")
    if trainer.logger is None or not trainer.is_global_zero:
        return
    summary = None
    path = Path(trainer.log_dir or trainer.default_root_dir) / "analysis" / "summary.json"
    if path.is_file():
        try:
            summary = AnalysisResult.read(path)
        except (ValueError, TypeError):  # damaged: the losses alone
            summary = None
    params = run_hparams(dict(model.hparams), dict(getattr(datamodule, "hparams", {})),
                         seed=seed, epochs=trainer.max_epochs, epochs_done=trainer.current_epoch)
    logger = trainer.logger
    log_final(logger, params, final_metrics(losses, summary), trainer.global_step)
    logger.finalize("success")  # flushed: the run's files are complete on return
