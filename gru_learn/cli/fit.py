"""``python -m gru_learn fit|validate|test|predict``: LightningCLI over GRUForecaster and a
trajectory DataModule, with TensorBoard under ``logs/<system>/version_N`` by default."""

from __future__ import annotations

import sys
from typing import Any

from jsonargparse import ArgumentError
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from gru_learn.callbacks import EpochProgressBar
from gru_learn.data import _SplitDataModule
from gru_learn.errors import UserError
from gru_learn.model import GRUForecaster



def trainer_defaults() -> dict[str, Any]:
    """Fresh callback instances for every run (a ModelCheckpoint remembers its best score)."""
    return {
        "max_epochs": 4000,  # the paper's
        "check_val_every_n_epoch": 10,
        "log_every_n_steps": 1,
        "callbacks": [
            ModelCheckpoint(monitor="val_loss", filename="best-{epoch}-{val_loss:.4g}",
                            save_last=True, save_top_k=1),
            EpochProgressBar(),
        ],
    }


class GRULearnCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.obs_dim", "model.obs_dim", apply_on="instantiate")
        parser.link_arguments("data.dt", "model.dt", apply_on="instantiate")
        parser.link_arguments("data.system_name", "model.system", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.trainer.logger in (None, True):
            data_args = config.data.init_args if "init_args" in config.data else config.data
            name = data_args.get("system") or "file"
            config.trainer.logger = {
                "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                "init_args": {"save_dir": "logs", "name": name, "default_hp_metric": False},
            }

    def before_fit(self) -> None:
        if self.trainer.logger is not None:
            seed = self.config[self.subcommand].get("seed_everything")
            self.trainer.logger.log_hyperparams({"seed": seed})

    def after_fit(self) -> None:
        if self.model.diverged:
            ckpt = self.trainer.checkpoint_callback
            where = f"; last good checkpoint: {ckpt.last_model_path}" if ckpt else ""
            raise UserError(self.model.diverged + where)


def main(argv: list[str]) -> int:
    # The default DataModule is TrajectoryDataModule; a --data or --config given later replaces it.
    argv = [argv[0], "--data=gru_learn.data.TrajectoryDataModule", *argv[1:]]
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
    except ArgumentError as e:
        print(f"gru_learn: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


