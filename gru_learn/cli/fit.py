"""``python -m gru_learn fit|validate|test|predict``: LightningCLI over GRUForecaster and a
trajectory DataModule, with TensorBoard under ``logs/<system>/version_N`` by default. The
Trainer's defaults, the checks before a run and its summary are :mod:`gru_learn.training.trainer`;
Ctrl-C and SIGTERM are :mod:`gru_learn.training.interruption`."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentError
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from gru_learn.cli.common import check_config_files
from gru_learn.errors import UserError, find_user_error
from gru_learn.files.outputs import resource_message
from gru_learn.files.torch_files import read_checkpoint
from gru_learn.runtime import set_cpu_threads  # noqa: F401 (also imported from here)
from gru_learn.training import trainer as run
from gru_learn.training.callbacks import ApplyLearningRate
from gru_learn.training.checkpoint_io import AtomicCheckpointIO  # noqa: F401 (old config.yaml)
from gru_learn.training.data import _SplitDataModule
from gru_learn.training.dynamics_callback import DynamicsAnalysis
from gru_learn.training.interruption import Interrupted, StopOnSignal
from gru_learn.training.module import GRUForecaster
from gru_learn.training.trainer import RunLogger  # noqa: F401 (named by old runs' config.yaml)


class GRULearnCLI(LightningCLI):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._argv = list(kwargs.get("args") or [])
        self._ckpt: dict[str, Any] | None = None
        self._new_lr = False
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # the callback's options for a module of one's own (rnn=, target=...) are not ours
        parser.callback_keys.append("analysis")
        parser.add_class_arguments(DynamicsAnalysis, "analysis", fail_untyped=False,
                                   sub_configs=True, skip=set(DynamicsAnalysis.MODULE_OPTIONS))
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
        """The one Lightning internal overridden here: Lightning's version loads the
        checkpoint's hyperparameters over the config, silently replacing explicit --model
        values. Here the checkpoint is validated first (one-line errors), and a conflicting
        explicit value is an error unless --ckpt_override."""
        sub = self.config.get("subcommand")
        config = self.config[sub] if sub else None
        path = config.get("ckpt_path") if config else None
        if not path or (path in run.CKPT_KEYWORDS and not Path(path).exists()):
            return
        self._ckpt = read_checkpoint(path)
        given = run.explicit_model_values(config.model.as_dict(), self._argv)
        override = bool(config.get("ckpt_override"))
        values = run.checkpoint_model_values(self._ckpt, given, override, path)
        saved_lr = self._ckpt["hyper_parameters"].get("lr", values.get("lr"))
        self._new_lr = override and values.get("lr") != saved_lr
        try:
            self.config = self.parser.parse_object({sub: {"model": values}}, self.config)
        except (ArgumentError, ValueError, TypeError) as e:
            raise UserError(f"checkpoint {path}'s hyperparameters do not fit this version "
                            f"of the model: {str(e).splitlines()[0][:200]}") from None

    def before_instantiate_classes(self) -> None:
        run.resolve_defaults(self.config[self.subcommand], self.trainer_defaults)

    def _start_run(self) -> None:
        """Validate every input the run reads, then claim the run's folder: nothing is created
        for a run that cannot start."""
        ckpt_path = self.config[self.subcommand].get("ckpt_path")
        run.check_inputs(self.trainer, self.datamodule, self.model, self.subcommand, self._ckpt,
                         ckpt_path)
        run.claim_logger_version(self.trainer.logger,
                                 ckpt_path if self.subcommand == "fit" else None)

    def before_fit(self) -> None:
        self._start_run()
        if self._new_lr:
            self.trainer.callbacks.append(ApplyLearningRate())
        if self.trainer.logger is not None:
            self.trainer.logger.log_hyperparams(
                {"seed": self.config[self.subcommand].get("seed_everything")})

    before_validate = before_test = before_predict = _start_run

    def after_fit(self) -> None:
        config = self.config[self.subcommand]
        run.log_run_summary(self.trainer, self.model, self.datamodule,
                            config.get("seed_everything"), bool(config.get("test_after_fit")))
        error = run.divergence_error(self.trainer, self.model)
        if error is not None:
            raise error


def main(argv: list[str]) -> int:
    """Run a Lightning command; its exit code. SIGINT / SIGTERM: one line, 130 / 143, and for
    ``fit`` a ``last.ckpt`` with the state at the interruption."""
    set_cpu_threads()
    check_config_files(argv, ("--config", "--data", "--model", "--trainer"))
    # The default DataModule is TrajectoryDataModule; a --data or --config given later replaces it.
    argv = [argv[0], "--data=gru_learn.training.data.TrajectoryDataModule", *argv[1:]]
    UserError.last_raised = None
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    stop = StopOnSignal()
    defaults = run.trainer_defaults()
    defaults["callbacks"].append(stop)  # after the ModelCheckpoints: see StopOnSignal
    try:
        with stop.installed():
            GRULearnCLI(GRUForecaster, _SplitDataModule, subclass_mode_data=True,
                        seed_everything_default=0, trainer_defaults=defaults,
                        parser_kwargs={"exit_on_error": False, "default_config_files": []},
                        save_config_kwargs={"overwrite": True},  # a resumed run's own folder
                        args=argv, auto_configure_optimizers=False)
    except Interrupted as e:
        run.remove_partial_analysis(stop.trainer)
        last = stop.last_checkpoint() if argv[0] == "fit" else None
        where = f"; continue with: {run.continue_command(stop.trainer, last)}" if last else ""
        print(f"gru_learn {argv[0]}: {e.word}{where}", file=sys.stderr)
        return e.exit_code
    except SIGTERMException:  # Lightning's own stop, where ours is not installed (a thread)
        print(f"gru_learn {argv[0]}: terminated; continue with: python -m gru_learn fit "
              "--config <run>/config.yaml --ckpt_path <run>/checkpoints/last.ckpt",
              file=sys.stderr)
        return 143
    except UserError:
        raise
    except MisconfigurationException as e:  # Lightning's word on a trainer option
        raise UserError(" ".join(str(e).split())[:400]) from None
    except (OSError, MemoryError, RuntimeError) as e:
        message = resource_message(e)
        if message is None:
            raise  # a bug, not the machine: keep the traceback
        run.remove_partial_analysis(stop.trainer)
        last = stop.last_checkpoint() if argv[0] == "fit" else None
        kept = (f"; kept the last good checkpoint {last}; continue with: "
                f"{run.continue_command(stop.trainer, last)}") if last else ""
        print(f"gru_learn {argv[0]}: error: {message}{kept}", file=sys.stderr)
        return 1
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
