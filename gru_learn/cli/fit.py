"""``python -m gru_learn fit|validate|test|predict``: LightningCLI over GRUForecaster and a
trajectory DataModule, with TensorBoard under ``logs/<system>/version_N`` by default."""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError
from lightning.pytorch.callbacks import Callback, Checkpoint, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from gru_learn.errors import UserError, find_user_error
from gru_learn.files.atomic import atomic_path, remove_stale_temporaries
from gru_learn.files.torch_files import check_fits, read_checkpoint
from gru_learn.runtime import set_cpu_threads  # noqa: F401 (also imported from here)
from gru_learn.training.callbacks import EpochProgressBar, LastCheckpoint
from gru_learn.training.data import _SplitDataModule
from gru_learn.training.dynamics_callback import DynamicsAnalysis
from gru_learn.training.hparams import final_metrics, hparams_summaries, run_hparams
from gru_learn.training.interruption import Interrupted, StopOnSignal
from gru_learn.training.module import GRUForecaster

AUTO_NAME = "<system>"  # replaced by the data's system name: logs/<system>/version_N
AUTO_DIR = "<default_root_dir>"  # replaced by --trainer.default_root_dir, or "logs"


def trainer_defaults() -> dict[str, Any]:
    """Fresh callback instances for every run (a ModelCheckpoint remembers its best score)."""
    return {
        "max_epochs": 4000,  # the paper's
        # one validation (with its best-checkpoint save) costs as much as ~5 training epochs:
        # every 50 epochs keeps that under a tenth of the time and still draws 80 points
        "check_val_every_n_epoch": 50,
        "log_every_n_steps": 1,
        "plugins": [{"class_path": "gru_learn.cli.fit.AtomicCheckpointIO"}],
        "logger": {
            "class_path": "gru_learn.cli.fit.RunLogger",
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


def remove_partial_analysis(trainer: Any) -> None:
    """An interrupted end-of-fit analysis leaves figures without summary.json (written last,
    atomically): remove that folder, so a run's ``analysis/`` is complete or absent."""
    log_dir = getattr(trainer, "log_dir", None) if trainer is not None else None
    folder = Path(log_dir) / "analysis" if log_dir else None
    if folder is not None and folder.is_dir() and not (folder / "summary.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)


# the splits each subcommand reads, checked for emptiness before anything is written
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                "predict": ("predict",)}
CKPT_KEYWORDS = ("last", "best", "hpc", "registry")  # Lightning's own ckpt_path values


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


def explicit_model_values(model: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """The model options the user chose: named on the command line (``--model.X``) or given a
    value other than GRUForecaster's default (by a --config file, say)."""
    named = {a[len("--model."):].split("=")[0] for a in argv if a.startswith("--model.")}
    defaults = {k: p.default for k, p in
                inspect.signature(GRUForecaster.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {k: v for k, v in model.items()
            if k in named or (k in defaults and v != defaults[k])}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written as every other file of ours (:func:`gru_learn.files.atomic.atomic_path`):
    into a temporary beside the target, flushed to disk, renamed onto it, the folder flushed.
    (Lightning's own writes a temporary in the system's temp folder and ``shutil.move``s it,
    which copies into the target when the two are on different file systems, a tmpfs /tmp:
    a kill during that copy leaves a truncated ``last.ckpt``.) Remote paths (``s3://``...)
    are left to Lightning."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        with atomic_path(path, suffix=".ckpt") as tmp:
            torch.save(checkpoint, tmp)
        return None


class RunLogger(TensorBoardLogger):
    """TensorBoard, without the ``epoch`` scalar Lightning adds to every logged step (a chart
    with one point per step that only repeats the x axis)."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)


class OptimizerCurves(Callback):
    """Per epoch: ``optim/lr`` (the first parameter group's learning rate) and
    ``optim/grad_norm``, the mean over the epoch's steps of the global gradient norm
    ||g||_2 = sqrt(sum_p ||grad p||^2), taken before the optimizer step."""

    def __init__(self) -> None:
        self._norms: list[torch.Tensor] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        grads = [p.grad.detach() for p in pl_module.parameters() if p.grad is not None]
        if grads:
            self._norms.append(torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g) for g in grads])))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.optimizers:
            pl_module.log("optim/lr", float(trainer.optimizers[0].param_groups[0]["lr"]),
                          on_step=False, on_epoch=True)
        if self._norms:
            pl_module.log("optim/grad_norm", float(torch.stack(self._norms).mean()),
                          on_step=False, on_epoch=True)
        self._norms = []


class ApplyLearningRate(Callback):
    """After a resumed checkpoint's optimizer state is restored (which brings back its learning
    rate), scale every parameter group to the model's ``lr``: schedules here are proportional
    to their base rate (lr_t = base * f(t)), so the resumed schedule continues from the new
    base."""

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        new = float(pl_module.hparams.lr)
        schedulers = {id(c.scheduler.optimizer): c.scheduler for c in trainer.lr_scheduler_configs}
        for opt in trainer.optimizers:
            sched = schedulers.get(id(opt))
            for i, group in enumerate(opt.param_groups):
                old = sched.base_lrs[i] if sched is not None else group.get("initial_lr",
                                                                             group["lr"])
                ratio = new / old
                group["lr"] *= ratio
                group["initial_lr"] = new
                if sched is not None:
                    sched.base_lrs[i] = new
                    if hasattr(sched, "eta_min"):
                        sched.eta_min *= ratio
                    if getattr(sched, "_last_lr", None):
                        sched._last_lr[i] = group["lr"]


class GRULearnCLI(LightningCLI):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._argv = list(kwargs.get("args") or [])
        self._ckpt: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(DynamicsAnalysis, "analysis")
        parser.link_arguments("data.obs_dim", "model.obs_dim", apply_on="instantiate")
        parser.link_arguments("data.dt", "model.dt", apply_on="instantiate")
        parser.link_arguments("data.system_name", "model.system", apply_on="instantiate")
        parser.add_argument(
            "--ckpt_override", type=bool, default=False,
            help="With --ckpt_path: explicit --model.* values replace the checkpoint's (e.g. "
                 "a new lr to fine-tune). Without it, a --model value that differs from the "
                 "checkpoint's is an error.")
        parser.add_argument(
            "--test_after_fit", type=bool, default=True,
            help="fit: evaluate the final parameters on the test split when training ends "
                 "(loss/test, and in TensorBoard's HPARAMS tab).")

    def _parse_ckpt_path(self) -> None:
        """Lightning's version loads the checkpoint's hyperparameters over the config, silently
        replacing explicit --model values. Here: the checkpoint is validated first (one-line
        errors), and a conflicting explicit value is an error unless --ckpt_override."""
        sub = self.config.get("subcommand")
        if not sub:
            return
        config = self.config[sub]
        path = config.get("ckpt_path")
        if not path or (path in CKPT_KEYWORDS and not Path(path).exists()):
            return
        self._ckpt = read_checkpoint(path)
        saved = {k: v for k, v in self._ckpt["hyper_parameters"].items()
                 if not k.startswith("_")}
        given = explicit_model_values(config.model.as_dict(), self._argv)
        conflicts = {k: (v, saved[k]) for k, v in given.items() if k in saved and v != saved[k]}
        override = bool(config.get("ckpt_override"))
        if conflicts and not override:
            listed = ", ".join(f"--model.{k} {v!r} (checkpoint: {c!r})"
                               for k, (v, c) in sorted(conflicts.items()))
            raise UserError(f"{listed} conflict with checkpoint {path}; drop them to continue "
                            "it as trained, or add --ckpt_override true to use them")
        values = {**saved, **(given if override else {})}
        self._new_lr = override and "lr" in conflicts
        try:
            self.config = self.parser.parse_object({sub: {"model": values}}, self.config)
        except (ArgumentError, ValueError, TypeError) as e:
            raise UserError(f"checkpoint {path}'s hyperparameters do not fit this version "
                            f"of the model: {str(e).splitlines()[0][:200]}") from None

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        logger = config.trainer.logger
        if getattr(getattr(logger, "init_args", None), "name", None) == AUTO_NAME:
            logger.init_args.name = config.data.init_args.get("system") or "file"
        if getattr(getattr(logger, "init_args", None), "save_dir", None) == AUTO_DIR:
            logger.init_args.save_dir = config.trainer.get("default_root_dir") or "logs"
        if config.trainer.enable_progress_bar is False:
            self.trainer_defaults["callbacks"] = [
                c for c in self.trainer_defaults["callbacks"] if not isinstance(c, ProgressBar)]
        if config.trainer.enable_checkpointing is False:
            # no checkpoint callbacks (Lightning refuses them); a signal then stops at once,
            # with nothing to resume from (StopOnSignal is one of them)
            self.trainer_defaults["callbacks"] = [
                c for c in self.trainer_defaults["callbacks"] if not isinstance(c, Checkpoint)]

    def _start_run(self) -> None:
        """Validate every input the run reads (data splits, checkpoint against model and data),
        then claim the run's folder: nothing is created for a run that cannot start."""
        sub = self.subcommand
        for split in STAGE_SPLITS[sub]:
            if split == "val" and sub == "fit" and not self.trainer.limit_val_batches:
                continue
            getattr(self.datamodule, f"{split}_dataloader")()  # UserError if it is empty
        if self._ckpt is not None:
            check_fits(self._ckpt, self.model, self.config[sub].ckpt_path,
                       getattr(self.datamodule, "obs_dim", None))
        logger = self.trainer.logger
        # TensorBoardLogger picks its version lazily (max + 1) and creates the folder later:
        # two runs started together would share one. Claim it now and hand it over.
        if getattr(logger, "_version", 0) is None and getattr(logger, "root_dir", None):
            # checkpoint temporaries of runs killed while saving (in their own run folders)
            remove_stale_temporaries(logger.root_dir, recursive=True)
            logger._version = claim_version(logger.root_dir)

    def before_fit(self) -> None:
        self._start_run()
        if getattr(self, "_new_lr", False):
            self.trainer.callbacks.append(ApplyLearningRate())
        if self.trainer.logger is not None:
            seed = self.config[self.subcommand].get("seed_everything")
            self.trainer.logger.log_hyperparams({"seed": seed})

    def before_validate(self) -> None:
        self._start_run()

    def before_test(self) -> None:
        self._start_run()

    def before_predict(self) -> None:
        self._start_run()

    def after_fit(self) -> None:
        self._log_run_summary()
        if self.model.diverged:
            last = [path for c in self.trainer.checkpoint_callbacks
                    if isinstance(c, LastCheckpoint) and c.dirpath
                    and (path := os.path.join(c.dirpath, "last.ckpt")) and os.path.isfile(path)]
            where = f"; checkpoint with them: {last[0]}" if last else ""
            raise UserError(self.model.diverged + where)


    def _log_run_summary(self) -> None:
        """Test the final parameters (unless --test_after_fit false, or training diverged),
        then log hyperparameters and final metrics (losses, and the end-of-fit analysis from
        ``<log_dir>/analysis/summary.json`` when it ran) for TensorBoard's HPARAMS tab."""
        trainer, config = self.trainer, self.config[self.subcommand]
        metrics = trainer.callback_metrics
        losses = {split: float(metrics[f"loss/{split}"]) for split in ("train", "val")
                  if f"loss/{split}" in metrics}
        if config.get("test_after_fit") and not self.model.diverged:
            (result,) = trainer.test(self.model, datamodule=self.datamodule, verbose=False)
            losses["test"] = result.get("loss/test")
        if trainer.logger is None or not trainer.is_global_zero:
            return
        summary = None
        path = Path(trainer.log_dir or trainer.default_root_dir) / "analysis" / "summary.json"
        if path.is_file():
            try:
                summary = json.loads(path.read_text())
            except ValueError:
                summary = None
        data = dict(getattr(self.datamodule, "hparams", {}))
        params = run_hparams(dict(self.model.hparams), data,
                             seed=config.get("seed_everything"), epochs=trainer.max_epochs,
                             epochs_done=trainer.current_epoch)
        logger, metrics, step = trainer.logger, final_metrics(losses, summary), trainer.global_step
        if isinstance(logger, TensorBoardLogger):  # the summaries with the table's order
            logger.hparams.update(params)
            logger.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step)
            writer = logger.experiment._get_file_writer()
            for part in hparams_summaries(params, metrics):
                writer.add_summary(part, step)
        else:
            logger.log_hyperparams(params, metrics, step=step)
        logger.finalize("success")  # flushed: the run's files are complete on return


def main(argv: list[str]) -> int:
    """Run a Lightning command; its exit code. SIGINT / SIGTERM: one line, 130 / 143, and for
    ``fit`` a ``last.ckpt`` with the state at the interruption
    (:mod:`gru_learn.training.interruption`)."""
    set_cpu_threads()
    # The default DataModule is TrajectoryDataModule; a --data or --config given later replaces it.
    argv = [argv[0], "--data=gru_learn.training.data.TrajectoryDataModule", *argv[1:]]
    UserError.last_raised = None
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    stop = StopOnSignal()
    defaults = trainer_defaults()
    defaults["callbacks"].append(stop)  # after the ModelCheckpoints: see StopOnSignal
    try:
        with stop.installed():
            GRULearnCLI(
                GRUForecaster,
                _SplitDataModule,
                subclass_mode_data=True,
                seed_everything_default=0,
                trainer_defaults=defaults,
                parser_kwargs={"exit_on_error": False, "default_config_files": []},
                args=argv,
                auto_configure_optimizers=False,
            )
    except Interrupted as e:
        remove_partial_analysis(stop.trainer)
        last = stop.last_checkpoint() if argv[0] == "fit" else None
        where = f"; resume with --ckpt_path {last}" if last else ""
        print(f"gru_learn {argv[0]}: {e.word}{where}", file=sys.stderr)
        return e.exit_code
    except SIGTERMException:  # Lightning's own stop, where ours is not installed (a thread)
        print(f"gru_learn {argv[0]}: terminated; resume with --ckpt_path "
              "<run>/checkpoints/last.ckpt", file=sys.stderr)
        return 143
    except UserError:
        raise
    except (ArgumentError, ValueError, TypeError) as e:
        cause = find_user_error(e)
        if cause is not None:
            raise cause from None
        if not isinstance(e, ArgumentError):
            raise  # a bug, not bad input: keep the traceback
        message = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        print(f"gru_learn: error: {message[:400]}", file=sys.stderr)
        return 2
    return 0


