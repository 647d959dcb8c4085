"""One GRUForecaster trained by a plain loop over its training method: what ``fit``'s Lightning
Trainer does for the model, without Lightning (no logger, no checkpoints, no callbacks).

Per epoch e = 0..E-1: the training split is served full batch (``batch_size=None``, the paper)
or as mini-batches in the order ``torch.randperm(N, generator=seed(data_seed + e))`` (what
``fit``'s :class:`~gru_learn.training.data.EpochSeededSampler` draws); for each batch the loss is
``GRUForecaster.training_loss(batch, e)`` (the paper's free-running MSE, or teacher forcing /
the horizon curriculum of docs/reconstruction.md), its gradient is clipped to a global norm
``gradient_clip_val`` when given (Lightning's ``gradient_clip_algorithm="norm"``) and Adam
(:func:`~gru_learn.training.module.make_adam`) steps; the learning-rate schedule
(:func:`~gru_learn.training.module.make_scheduler` over E epochs) steps once an epoch. With
``readout_init="data"`` the readout is set from the training split first; a curriculum or
forcing interval that cannot act on the split's horizon is a warning
(:meth:`~gru_learn.training.module.GRUForecaster.inert_options`), as in ``fit``. A non-finite loss
stops training with the parameters of the last finite one, as ``fit`` does.

Used by ``compare`` for every grid whose method is not the paper's (the paper's trains as the
vectorised :class:`~gru_learn.training.ensemble.GRUEnsemble`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gru_learn.training.data import EpochSeededSampler
from gru_learn.training.module import GRUForecaster, make_adam, make_scheduler


def validation_epochs(epochs: int, every: int) -> list[int]:
    """The 0-based epochs after whose update the validation loss is taken: every ``every``-th
    and the last."""
    return [e for e in range(epochs) if (e + 1) % every == 0 or e == epochs - 1]


class EpochBar:
    """A tqdm bar over epochs (nothing when ``enabled`` is false), refreshed every 10 epochs
    with the latest loss."""

    def __init__(self, enabled: bool, epochs: int, desc: str) -> None:
        self.epochs, self.bar = epochs, None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs, desc=desc, unit="epoch", dynamic_ncols=True,
                            leave=False)

    def update(self, epoch: int, loss: float) -> None:
        if self.bar is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == self.epochs):
            self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            self.bar.update(epoch + 1 - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _batches(train: Tensor, batch_size: int | None, seed: int, epoch: int) -> list[Tensor]:
    """The epoch's batches: the whole split, or mini-batches in a permutation seeded by
    ``seed + epoch`` (the order of fit's ``EpochSeededSampler``; the last batch may be smaller)."""
    n = len(train)
    if batch_size is None or batch_size >= n:
        return [train]
    sampler = EpochSeededSampler(n, seed)
    sampler.set_epoch(epoch)
    order = torch.tensor(list(sampler))
    return [train[order[i:i + batch_size]] for i in range(0, n, batch_size)]


def train_forecaster(
    model: GRUForecaster,
    train: Tensor,
    epochs: int,
    *,
    val: Tensor | None = None,
    val_every: int = 10,
    batch_size: int | None = None,
    gradient_clip_val: float | None = None,
    data_seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``model`` in place for ``epochs`` epochs on ``train`` (N, T+1, p).

    Returns ``train_loss`` (E,): the batch-size weighted mean of the epoch's training losses
    (Lightning's epoch mean of ``loss/train``; full batch: the loss before the epoch's
    update), NaN from the epoch training stopped; ``val_epochs`` (V,) and ``val_loss`` (V,):
    the free-running MSE (:meth:`GRUForecaster.loss`) on ``val`` after the update of 0-based
    epoch e whenever (e + 1) % val_every == 0, and after the last epoch (NaN without ``val``
    or after divergence); ``diverged_at``: the epoch whose loss was not finite, or -1; and
    ``alpha``: the model's forcing strength at the end (aGTF's adapted alpha).
    """
    # the linear alpha schedule runs over the trainer's max_epochs; there is no trainer here
    model._max_epochs = lambda: epochs  # noqa: SLF001
    bar: EpochBar | None = None
    try:
        model.warn_inert_options(train.shape[1] - 1)
        opt = make_adam(model.parameters(), model.hparams.lr)
        sched = make_scheduler(opt, model.hparams.lr_schedule, epochs)
        if model.hparams.readout_init == "data":
            model.init_readout_from(train)
        train_loss = torch.full((epochs,), math.nan)
        val_epochs = validation_epochs(epochs, val_every)
        val_row = {e: i for i, e in enumerate(val_epochs)}
        val_loss = torch.full((len(val_epochs),), math.nan)
        diverged_at = -1
        last_finite = [p.detach().clone() for p in model.parameters()]
        bar = EpochBar(progress, epochs, "1 run")
        model.train()
        for epoch in range(epochs):
            total, count = 0.0, 0
            for batch in _batches(train, batch_size, data_seed, epoch):
                opt.zero_grad(set_to_none=True)
                loss = model.training_loss(batch, epoch)
                if not torch.isfinite(loss):
                    diverged_at = epoch
                    break
                with torch.no_grad():
                    last_finite = [p.detach().clone() for p in model.parameters()]
                loss.backward()
                if gradient_clip_val:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clip_val)
                opt.step()
                total += float(loss.detach()) * len(batch)
                count += len(batch)
            if diverged_at >= 0:
                with torch.no_grad():  # the parameters whose loss was the last finite one
                    for p, v in zip(model.parameters(), last_finite, strict=True):
                        p.copy_(v)
                break
            train_loss[epoch] = total / count
            if sched is not None:
                sched.step()
            if val is not None and len(val) and epoch in val_row:
                with torch.no_grad():
                    val_loss[val_row[epoch]] = model.loss(val)
            bar.update(epoch, float(train_loss[epoch]))
    finally:  # also when training raises: the model must not keep this override
        if bar is not None:
            bar.close()
        del model._max_epochs  # noqa: SLF001 - back to the class's (a Trainer's max_epochs)
    return {"train_loss": train_loss, "val_epochs": torch.tensor(val_epochs, dtype=torch.long),
            "val_loss": val_loss, "diverged_at": diverged_at, "alpha": float(model.alpha)}


__all__ = ["EpochBar", "train_forecaster", "validation_epochs"]
