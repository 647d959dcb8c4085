"""Training callbacks: a per-epoch progress bar for full-batch training."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from tqdm.auto import tqdm


class EpochProgressBar(ProgressBar):
    """One bar over epochs (full-batch training has one step per epoch), with the latest
    losses, refreshed every ``refresh_rate`` epochs so it costs nothing measurable."""

    def __init__(self, refresh_rate: int = 10) -> None:
        super().__init__()
        self.refresh_rate = refresh_rate
        self._enabled = True
        self.bar: tqdm | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled and trainer.is_global_zero:
            self.bar = tqdm(total=trainer.max_epochs, initial=trainer.current_epoch,
                            desc="fit", unit="epoch", dynamic_ncols=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is None:
            return
        done = trainer.current_epoch + 1
        if done % self.refresh_rate == 0 or done == trainer.max_epochs:
            metrics = {k: f"{float(v):.4g}" for k, v in self.get_metrics(trainer, pl_module).items()
                       if k != "v_num"}
            self.bar.set_postfix(metrics, refresh=False)
            self.bar.update(done - self.bar.n)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        return super().get_metrics(trainer, pl_module)
