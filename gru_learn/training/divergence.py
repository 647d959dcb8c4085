"""The one divergence policy of every trainer here: ``fit``'s Lightning step and the epoch loop
for M >= 1 members (:mod:`gru_learn.training.loop`).

A step whose loss is not finite makes no update for that member, the update that led to it is
undone, and the member stops training: its parameters (and every checkpoint written from then
on) are the last ones whose loss was finite, or its initial ones when no loss was.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class LastFinite:
    """Keeps, for each of M members, the parameters of its last step whose loss was finite.

    ``params`` are the trained tensors, taken as they are now (before the first update). With
    ``stacked`` their axis 0 is the member (M = its length, as in
    :class:`~gru_learn.training.ensemble.GRUEnsemble`); otherwise they are one member's (M = 1).

    Each step: :meth:`check` with the step's losses (M,), before the update, keeps the live
    members whose loss is finite and stops the others; after the optimizer's step,
    :meth:`restore` puts the kept parameters back into every stopped member (undoing the update
    that led to the non-finite loss, and any later one).
    """

    def __init__(self, params: Iterable[Tensor], stacked: bool = False) -> None:
        self.params = list(params)
        self.stacked = stacked
        self.members = self.params[0].shape[0] if stacked else 1
        with torch.no_grad():
            self.kept = [p.detach().clone() for p in self.params]
        M = self.members
        self.diverged_at = [-1] * M  # the epoch each member stopped at, -1 while it trains
        self.kept_any = [False] * M  # False: the kept parameters are the initial ones
        self.kept_epoch, self.kept_step = [0] * M, [0] * M
        self.kept_losses: Tensor | None = None  # (M,), on the losses' device: no sync a step
        self.bad_loss: list[float] = [float("nan")] * M

    @property
    def stopped(self) -> list[int]:
        """The members that stopped training."""
        return [m for m, e in enumerate(self.diverged_at) if e >= 0]

    @property
    def all_stopped(self) -> bool:
        return min(self.diverged_at) >= 0

    def check(self, losses: Tensor, epoch: int, step: int) -> None:
        """Before the update of ``step`` (in ``epoch``): keep the parameters of every live member
        whose loss in ``losses`` (M,) is finite; stop the live members whose loss is not."""
        losses = losses.detach().reshape(-1)
        finite = torch.isfinite(losses)
        if bool(finite.all()) and max(self.diverged_at) < 0:  # the usual step: keep everything
            with torch.no_grad():
                for k, p in zip(self.kept, self.params, strict=True):
                    k.copy_(p)
            self.kept_losses = losses
            kept = range(self.members)
        else:
            finite = finite.cpu()
            live = torch.tensor([e < 0 for e in self.diverged_at])
            keep = finite & live
            with torch.no_grad():
                for k, p in zip(self.kept, self.params, strict=True):
                    if self.stacked:
                        k[keep] = p[keep]
                    elif bool(keep[0]):
                        k.copy_(p)
            before = losses if self.kept_losses is None else self.kept_losses
            self.kept_losses = torch.where(keep.to(losses.device), losses, before)
            kept = keep.nonzero().flatten().tolist()
            for m in (~finite & live).nonzero().flatten().tolist():
                self.diverged_at[m] = epoch
                self.bad_loss[m] = float(losses[m])
        for m in kept:
            self.kept_any[m], self.kept_epoch[m], self.kept_step[m] = True, epoch, step

    def restore(self) -> None:
        """Put the kept parameters back into every stopped member."""
        stopped = self.stopped
        if not stopped:
            return
        with torch.no_grad():
            for k, p in zip(self.kept, self.params, strict=True):
                if self.stacked:
                    p[stopped] = k[stopped]
                else:
                    p.copy_(k)

    def message(self, m: int = 0) -> str:
        """One line on member m's stop: the loss and epoch, and which parameters it kept."""
        if not self.kept_any[m] or self.kept_losses is None:
            kept = "left at their initial values"
        else:
            kept = (f"restored to the last ones with a finite loss "
                    f"({float(self.kept_losses[m]):.6g}, epoch {self.kept_epoch[m]})")
        return (f"loss became {self.bad_loss[m]} at epoch {self.diverged_at[m]}; "
                f"training stopped, parameters {kept}")
