"""The one function every backend runs: :func:`train_group`, a pure function from a
:class:`~gru_learn.experiments.grid.settings.RunGroup` to its result (curves, final losses,
state dicts; no files). The paper's method trains the group's seeds as one
:class:`~gru_learn.training.ensemble.GRUEnsemble`; any other method trains seed by seed with
:func:`gru_learn.training.loop.train_forecaster`."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from gru_learn.experiments.grid.settings import RunGroup, data_module


def train_group(group: RunGroup, progress: bool = False) -> dict[str, Any]:
    """Train a run group's seeds: returns per-seed loss curves, final losses on every split and
    GRUForecaster state dicts (plain tensors; no files are written here).

    The paper's method (``TrainSettings.vectorised``) trains all seeds as one ensemble; any
    other method trains each seed by :func:`gru_learn.training.loop.train_forecaster`. Both
    give ``train_loss`` (E, M), ``val_epochs`` (V,), ``val_loss`` (V, M), ``diverged_at`` (M,),
    ``final`` {split: (M,)} (free-running MSE of the final parameters), ``states`` and
    ``alpha`` (M forcing strengths at the end, for the checkpoint)."""
    from gru_learn.runtime import set_cpu_threads

    set_cpu_threads()
    start = time.perf_counter()
    dm = data_module(group.system, group.settings)
    dm.setup()
    train = _train_ensemble if group.settings.vectorised else _train_each
    result = train(group, dm, progress)
    return {**result, "obs_dim": dm.obs_dim, "dt": dm.dt, "data_hparams": dict(dm.hparams),
            "seconds": time.perf_counter() - start}


def _train_ensemble(group: RunGroup, dm: Any, progress: bool) -> dict[str, Any]:
    """The paper's method: every seed of the group as one GRUEnsemble."""
    from gru_learn.training.ensemble import GRUEnsemble, fit_ensemble

    s, M = group.settings, len(group.seeds)
    ens = GRUEnsemble.from_seeds([group.hidden_size] * M, group.seeds, dm.obs_dim, s.reset)
    curves = fit_ensemble(ens, dm.splits["train"], s.epochs, s.lr, s.lr_schedule,
                          val=dm.splits["val"] if len(dm.splits["val"]) else None,
                          val_every=s.log_every, progress=progress)
    final = {split: (ens.losses(x) if len(x) else torch.full((M,), math.nan))
             for split, x in dm.splits.items()}
    return {**curves, "final": final, "states": [ens.member_state(m) for m in range(M)],
            "alpha": [1.0] * M}


def _train_each(group: RunGroup, dm: Any, progress: bool) -> dict[str, Any]:
    """Any other method: each seed's GRUForecaster (built after ``seed_everything(seed)``, as
    ``fit`` builds it) trained by the plain loop; the curves stacked as the ensemble's."""
    from gru_learn.training.loop import train_forecaster
    from gru_learn.training.standalone import seeded_forecaster

    s = group.settings
    runs, finals, states = [], [], []
    for seed in group.seeds:
        model = seeded_forecaster(seed, hidden_size=group.hidden_size, obs_dim=dm.obs_dim,
                                  dt=dm.dt, system=group.system, **s.model_options())
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


