"""Our own checkpoints: the model and the DataModule it was trained on, and their analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gru_learn.analysis.core import AnalysisConfig
from gru_learn.analysis.learned_vs_target import analyze
from gru_learn.files.torch_files import read_checkpoint
from gru_learn.training.data import _SplitDataModule
from gru_learn.training.module import GRUForecaster


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


def analyze_checkpoint(path: str | Path, out_dir: str | Path,
                       config: AnalysisConfig | None = None) -> dict[str, Any]:
    """Analyse a saved GRUForecaster against its data; write ``out_dir``; return the summary."""
    model, dm = load_checkpoint(path)
    analysis = analyze(model, dm, config)
    analysis.save(out_dir)
    analysis.close()
    return analysis.summary
