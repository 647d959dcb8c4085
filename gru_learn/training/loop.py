"""The one epoch loop of every plain (non-Lightning) trainer here, for M >= 1 members: what
``fit``'s Lightning Trainer does for one model, without Lightning (no logger, no checkpoints, no
callbacks). :func:`train_forecaster` runs it for one
:class:`~gru_learn.training.module.GRUForecaster` (any training method: ``compare``'s method
runs, ``bench/``), :func:`~gru_learn.training.ensemble.fit_ensemble` for the M stacked members
of a :class:`~gru_learn.training.ensemble.GRUEnsemble` (the paper's method in ``compare``).

Per epoch e = 0..E-1: the training split is served full batch (``batch_size=None``, the paper)
or as mini-batches in the order ``torch.randperm(N, generator=seed(data_seed + e))`` (what
``fit``'s :class:`~gru_learn.training.data.EpochSeededSampler` draws); for each batch the
members' losses (M,) are taken, the gradient of their sum (member m's parameters get that of
loss_m alone) is clipped to a global norm ``gradient_clip_val`` when given (Lightning's
``gradient_clip_algorithm="norm"``; one member only) and Adam
(:func:`~gru_learn.training.module.make_adam`) steps; the learning-rate schedule
(:func:`~gru_learn.training.module.make_scheduler` over E epochs) steps once an epoch. A member
whose loss is not finite stops with the parameters of its last finite one, as in ``fit``
(:class:`~gru_learn.training.divergence.LastFinite`, the one divergence policy).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from gru_learn.training.data import EpochSeededSampler
from gru_learn.training.divergence import LastFinite
from gru_learn.training.module import GRUForecaster, make_adam, make_scheduler


class Members(Protocol):
    """What the loop trains: parameters (with a leading member axis when ``stacked``) and the
    members' losses on a batch, (M,)."""

    stacked: bool

    def parameters(self) -> Any: ...

    def training_losses(self, batch: Tensor, epoch: int, epochs: int) -> Tensor:
        """The members' training losses at ``epoch`` of ``epochs``, differentiable."""

    def validation_losses(self, batch: Tensor) -> Tensor:
        """The members' free-running MSE (called without gradients)."""


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


def train_members(
    members: Members,
    train: Tensor,
    epochs: int,
    *,
    lr: float,
    lr_schedule: str = "constant",
    val: Tensor | None = None,
    val_every: int = 10,
    batch_size: int | None = None,
    gradient_clip_val: float | None = None,
    data_seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``members`` in place for ``epochs`` epochs on ``train`` (N, T+1, p).

    Returns ``train_loss`` (E, M): each member's batch-size weighted mean of the epoch's
    training losses (Lightning's epoch mean of ``loss/train``; full batch: the loss before the
    epoch's update), NaN from the epoch it stopped; ``val_epochs`` (V,) and ``val_loss``
    (V, M): the free-running MSE on ``val`` after the update of 0-based epoch e whenever
    (e + 1) % val_every == 0, and after the last epoch (NaN without ``val`` or once stopped);
    ``diverged_at`` (M,): the epoch whose loss was not finite, or -1.
    """
    params = list(members.parameters())
    policy = LastFinite(params, members.stacked)
    M = policy.members
    if gradient_clip_val and M > 1:
        raise ValueError("gradient clipping by a global norm would couple stacked members")
    opt = make_adam(params, lr)
    sched = make_scheduler(opt, lr_schedule, epochs)
    train_loss = torch.full((epochs, M), math.nan)
    val_epochs = validation_epochs(epochs, val_every)
    val_row = {e: i for i, e in enumerate(val_epochs)}
    val_loss = torch.full((len(val_epochs), M), math.nan)
    bar = EpochBar(progress, epochs, "1 run" if M == 1 else f"{M} members")
    step = 0
    try:
        for epoch in range(epochs):
            total, count = torch.zeros(M, dtype=torch.float64), 0
            for batch in _batches(train, batch_size, data_seed, epoch):
                opt.zero_grad(set_to_none=True)
                losses = members.training_losses(batch, epoch, epochs)
                policy.check(losses, epoch, step)
                if policy.all_stopped:
                    break
                losses.sum().backward()
                if gradient_clip_val:
                    nn.utils.clip_grad_norm_(params, gradient_clip_val)
                opt.step()
                policy.restore()
                total += losses.detach().double() * len(batch)
                count += len(batch)
                step += 1
            if policy.all_stopped:
                policy.restore()
                break
            train_loss[epoch] = total / count
            train_loss[epoch, policy.stopped] = math.nan
            if sched is not None:
                sched.step()
            if val is not None and len(val) and epoch in val_row:
                with torch.no_grad():
                    val_loss[val_row[epoch]] = members.validation_losses(val)
                val_loss[val_row[epoch], policy.stopped] = math.nan
            bar.update(epoch, float(train_loss[epoch].nanmean()))
    finally:
        bar.close()
    return {"train_loss": train_loss, "val_epochs": torch.tensor(val_epochs, dtype=torch.long),
            "val_loss": val_loss, "diverged_at": torch.tensor(policy.diverged_at)}


class _OneForecaster:
    """A GRUForecaster as the loop's one member: its training method's loss."""

    stacked = False

    def __init__(self, model: GRUForecaster) -> None:
        self.model = model

    def parameters(self) -> Any:
        return self.model.parameters()

    def training_losses(self, batch: Tensor, epoch: int, epochs: int) -> Tensor:
        return self.model.training_loss(batch, epoch, epochs).reshape(1)

    def validation_losses(self, batch: Tensor) -> Tensor:
        return self.model.loss(batch).reshape(1)


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
    """Train one ``model`` in place by :func:`train_members` with its own ``lr`` and
    ``lr_schedule``: ``GRUForecaster.training_loss(batch, e)`` (the paper's free-running MSE, or
    teacher forcing / the horizon curriculum of docs/reconstruction.md). As ``fit``: with
    ``readout_init="data"`` the readout is set from ``train`` first; a curriculum or forcing
    interval that cannot act on the split's horizon is a warning
    (:meth:`~gru_learn.training.module.GRUForecaster.inert_options`).

    Returns ``train_loss`` (E,), ``val_epochs`` (V,), ``val_loss`` (V,) as
    :func:`train_members` for one member, ``diverged_at`` (an int, -1 if none) and ``alpha``:
    the model's forcing strength at the end (aGTF's adapted alpha).
    """
    model.warn_inert_options(train.shape[1] - 1)
    hp = model.hparams
    if hp.readout_init == "data":
        model.init_readout_from(train)
    model.train()
    curves = train_members(_OneForecaster(model), train, epochs, lr=hp.lr,
                           lr_schedule=hp.lr_schedule, val=val, val_every=val_every,
                           batch_size=batch_size, gradient_clip_val=gradient_clip_val,
                           data_seed=data_seed, progress=progress)
    return {"train_loss": curves["train_loss"][:, 0], "val_epochs": curves["val_epochs"],
            "val_loss": curves["val_loss"][:, 0], "diverged_at": int(curves["diverged_at"][0]),
            "alpha": float(model.alpha)}


__all__ = ["EpochBar", "Members", "train_forecaster", "train_members", "validation_epochs"]
