"""What a run trained outside Lightning's Trainer (a ``compare`` grid) needs to be the run
``fit`` would make: the model built after ``seed_everything(seed)``, and the checkpoint file
``fit`` writes (loadable by ``GRUForecaster.load_from_checkpoint``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from gru_learn.training.module import GRUForecaster


def seeded_forecaster(seed: int, **options: Any) -> GRUForecaster:
    """``GRUForecaster(**options)`` initialised as ``fit --seed_everything=seed`` builds it."""
    L.seed_everything(seed, verbose=False)
    return GRUForecaster(**options)


def save_checkpoint(path: Path, model: GRUForecaster, data_hparams: dict[str, Any],
                    epochs_done: int) -> None:
    """``model`` after ``epochs_done`` epochs of full-batch training, with the DataModule's
    hyperparameters, in the layout of Lightning's checkpoints (and the forcing strength
    reached, as ``GRUForecaster.on_save_checkpoint`` records it)."""
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": data_hparams,
                "pytorch-lightning_version": L.__version__, "epoch": epochs_done - 1,
                "global_step": epochs_done, "forcing_alpha_now": model.alpha}, path)
