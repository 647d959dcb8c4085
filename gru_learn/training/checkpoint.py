"""Our own checkpoints and the analysis of what training holds: the model and the DataModule
read back from a ``fit`` checkpoint, and both handed to the analysis as plain values
(``analysis_inputs``: the analysis itself never sees a LightningModule or a DataModule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from gru_learn.analysis.core import Analysis, AnalysisConfig
from gru_learn.analysis.inputs import DataSource, LearnedModel, SimulatedSystem
from gru_learn.analysis.learned_vs_target import analyze
from gru_learn.errors import UserError
from gru_learn.files.torch_files import read_checkpoint
from gru_learn.training.data import SPLITS, TrajectoryDataModule, _SplitDataModule
from gru_learn.training.module import GRUForecaster


def learned_model(model: nn.Module) -> LearnedModel:
    """The cell, readout and rollout (mode, ODE method and step) of a ``GRUForecaster``."""
    hp = getattr(model, "hparams", {})
    return LearnedModel(model.cell, model.readout, hp.get("rollout", "discrete"),
                        hp.get("ode_method", "euler"), hp.get("ode_step", 1.0))


def data_source(dm: _SplitDataModule) -> DataSource:
    """The test split and dt of ``dm`` (set up here if it is not yet), with the system, its
    parameters and clean trajectories when a registered system simulated the data."""
    dm.setup()
    system = None
    if isinstance(dm, TrajectoryDataModule):
        blob = dm.blob
        test_params = {k[len("test_param_"):]: v for k, v in blob.items()
                       if k.startswith("test_param_")}
        system = SimulatedSystem(
            name=str(dm.system_name), system=dm.system_cls, params=dm.spec["params"],
            clean={s: blob[f"{s}_clean"] for s in SPLITS if f"{s}_clean" in blob},
            test_params=test_params)
    return DataSource(dt=dm.dt, test=dm.splits["test"], system=system)


def analysis_inputs(model: nn.Module, dm: _SplitDataModule) -> tuple[LearnedModel, DataSource]:
    """What ``gru_learn.analysis.analyze`` reads, from a GRUForecaster and its DataModule."""
    return learned_model(model), data_source(dm)


def analyze_trained(model: nn.Module, dm: _SplitDataModule, config: AnalysisConfig | None = None,
                    figures: bool = True) -> Analysis:
    """``gru_learn.analysis.analyze`` of a GRUForecaster against the data behind ``dm``."""
    return analyze(*analysis_inputs(model, dm), config, figures=figures)


def load_checkpoint(path: str | Path) -> tuple[GRUForecaster, _SplitDataModule]:
    """The model and the DataModule it was trained on, rebuilt from a ``fit`` checkpoint (the
    file read once, tensors and plain values only; one-line UserErrors)."""
    import importlib
    import inspect

    ckpt = read_checkpoint(path)
    model = GRUForecaster.from_checkpoint(ckpt, path)
    # a checkpoint written outside `fit` may lack the data's settings: the system's defaults
    hp = dict(ckpt.get("datamodule_hyper_parameters") or {"system": model.hparams.system})
    module, _, name = str(hp.get("_class_path", "gru_learn.training.data.TrajectoryDataModule")) \
        .rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    accepted = inspect.signature(cls.__init__).parameters
    hp["dt"] = model.hparams.dt  # the resolved sampling interval lives with the model
    dm = cls(**{k: v for k, v in hp.items() if k in accepted})
    return model, dm


def checkpoint_inputs(path: str | Path) -> tuple[LearnedModel, DataSource]:
    """``analysis_inputs`` of a ``fit`` checkpoint; a file that cannot be rebuilt for any reason
    is a one-line UserError."""
    try:  # UserErrors for missing, unreadable, foreign or misfitting files
        model, dm = load_checkpoint(path)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot load {path} as a gru_learn checkpoint: "
                        f"{type(e).__name__}") from None
    return analysis_inputs(model, dm)


def analyze_checkpoint(path: str | Path, out_dir: str | Path,
                       config: AnalysisConfig | None = None) -> dict[str, Any]:
    """Analyse a saved GRUForecaster against its data; write ``out_dir``; return the summary."""
    model, dm = load_checkpoint(path)
    analysis = analyze_trained(model, dm, config)
    analysis.save(out_dir)
    analysis.close()
    return analysis.summary


def state_dict_against_system(path: Path, system: str, dt: float | None,
                              reset: str | None = None) -> tuple[LearnedModel, DataSource]:
    """A GRU + readout saved elsewhere (``analysis.load.read_state_dict``) and the data of a
    registered ``system`` sampled every ``dt`` (default: the system's own), for ``analyze``;
    one-line UserErrors when the readout is missing or does not fit the system."""
    from gru_learn.analysis.load import read_state_dict

    net = read_state_dict(path, reset)  # type: ignore[arg-type]
    if net.readout is None:
        raise UserError(f"{path} has no readout: a comparison with --system needs the "
                        "nn.Linear that maps hidden states to the system's observations")
    dm = TrajectoryDataModule(system=system, dt=dt)
    obs, p = net.readout.out_features, net.cell.input_size
    if dm.obs_dim != obs or p != obs:
        raise UserError(f"system {system!r} has {dm.obs_dim} observed dimensions; the GRU takes "
                        f"{p} inputs and its readout produces {obs}")
    return LearnedModel(net.cell, net.readout), data_source(dm)
