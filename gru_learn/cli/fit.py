"""``python -m gru_learn fit|validate|test|predict``: LightningCLI over GRUForecaster and a
trajectory DataModule, with TensorBoard under ``logs/<system>/version_N`` by default."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch
from jsonargparse import ArgumentError
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from gru_learn.callbacks import DynamicsAnalysis, EpochProgressBar, LastCheckpoint
from gru_learn.data import _SplitDataModule
from gru_learn.errors import UserError, find_user_error
from gru_learn.model import GRUForecaster

AUTO_NAME = "<system>"  # replaced by the data's system name: logs/<system>/version_N


def set_cpu_threads() -> None:
    """One intra-op CPU thread unless GRU_LEARN_NUM_THREADS says otherwise.

    These networks are bound by per-operation overhead, not arithmetic: a second thread never
    pays for its synchronisation, and when any other process competes for the cores, OpenMP's
    spinning threads slow training by an order of magnitude (measured: bench/bench_fit.py).
    """
    torch.set_num_threads(int(os.environ.get("GRU_LEARN_NUM_THREADS", "1")))


def trainer_defaults() -> dict[str, Any]:
    """Fresh callback instances for every run (a ModelCheckpoint remembers its best score)."""
    return {
        "max_epochs": 4000,  # the paper's
        # one validation (with its best-checkpoint save) costs as much as ~5 training epochs:
        # every 50 epochs keeps that under a tenth of the time and still draws 80 points
        "check_val_every_n_epoch": 50,
        "log_every_n_steps": 1,
        "logger": {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": "logs", "name": AUTO_NAME, "default_hp_metric": False},
        },
        "callbacks": [
            ModelCheckpoint(monitor="val_loss", filename="best-{epoch}-{val_loss:.4g}",
                            save_top_k=1),
            LastCheckpoint(),
            EpochProgressBar(),
        ],
    }


class GRULearnCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(DynamicsAnalysis, "analysis")
        parser.link_arguments("data.obs_dim", "model.obs_dim", apply_on="instantiate")
        parser.link_arguments("data.dt", "model.dt", apply_on="instantiate")
        parser.link_arguments("data.system_name", "model.system", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        logger = config.trainer.logger
        if getattr(getattr(logger, "init_args", None), "name", None) == AUTO_NAME:
            logger.init_args.name = config.data.init_args.get("system") or "file"
        if config.trainer.enable_progress_bar is False:
            self.trainer_defaults["callbacks"] = [
                c for c in self.trainer_defaults["callbacks"] if not isinstance(c, ProgressBar)]

    def before_fit(self) -> None:
        if self.trainer.logger is not None:
            seed = self.config[self.subcommand].get("seed_everything")
            self.trainer.logger.log_hyperparams({"seed": seed})

    def after_fit(self) -> None:
        if self.model.diverged:
            last = [path for c in self.trainer.checkpoint_callbacks
                    if isinstance(c, LastCheckpoint) and c.dirpath
                    and (path := os.path.join(c.dirpath, "last.ckpt")) and os.path.isfile(path)]
            where = f"; checkpoint with them: {last[0]}" if last else ""
            raise UserError(self.model.diverged + where)


def main(argv: list[str]) -> int:
    set_cpu_threads()
    # The default DataModule is TrajectoryDataModule; a --data or --config given later replaces it.
    argv = [argv[0], "--data=gru_learn.data.TrajectoryDataModule", *argv[1:]]
    UserError.last_raised = None
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    try:
        GRULearnCLI(
            GRUForecaster,
            _SplitDataModule,
            subclass_mode_data=True,
            seed_everything_default=0,
            trainer_defaults=trainer_defaults(),
            parser_kwargs={"exit_on_error": False, "default_config_files": []},
            args=argv,
            auto_configure_optimizers=False,
        )
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


