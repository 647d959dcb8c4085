"""Training callbacks: a per-epoch progress bar for full-batch training, the resumable last
checkpoint, the optimizer's curves, a new learning rate for a resumed run, and one path for
figures and text to every logger that takes them."""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from matplotlib.figure import Figure
from tqdm.auto import tqdm


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the newest state every ``every_n_epochs`` and at the end of training, so a
    run can be resumed (exactly) from where it stopped. (ModelCheckpoint's own ``save_last``
    only refreshes it when a new best is saved.)

    Every 100 epochs by default: an epoch of the paper's task takes ~10 ms and a checkpoint
    ~10 ms, so saving every 10 epochs cost a tenth of the training time; 100 epochs of work is
    what an interrupted run can lose."""

    def __init__(self, every_n_epochs: int = 100) -> None:
        super().__init__(filename="last", monitor=None, save_top_k=1,
                         every_n_epochs=every_n_epochs, save_on_train_epoch_end=True,
                         enable_version_counter=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # ModelCheckpoint deep-copies every logged metric at every epoch end before it looks at
        # the epoch number; do that only on the epochs that save
        if (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            super().on_train_epoch_end(trainer, pl_module)

    # ModelCheckpoint's public hooks save only at the times it was configured for: these two
    # call its internals (_save_checkpoint, _last_global_step_saved), here and nowhere else
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after a divergence the model restored its last finite parameters: always save those
        diverged = bool(getattr(pl_module, "diverged", None))
        if not trainer.fast_dev_run and (diverged or
                                         self._last_global_step_saved != trainer.global_step):
            self._save_checkpoint(trainer, self.format_checkpoint_name({}))

    def save_now(self, trainer: L.Trainer) -> str | None:
        """Write ``last.ckpt`` now unless this step's is on disk already; its path (None in a
        ``fast_dev_run``, which writes nothing)."""
        if trainer.fast_dev_run:
            return None
        path = self.format_checkpoint_name({})
        if self._last_global_step_saved != trainer.global_step or not os.path.isfile(path):
            self._save_checkpoint(trainer, path)
        return path

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        """After a divergence, every checkpoint holds the last parameters whose loss was
        finite (restored by the model): label it with their epoch and step (the number of
        updates they have had) and the reason, not with the epoch training stopped at."""
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        policy = getattr(pl_module, "divergence", None)
        if getattr(pl_module, "diverged", None) and policy is not None:
            checkpoint["epoch"], checkpoint["global_step"] = policy.kept_epoch[0], \
                policy.kept_step[0]
            checkpoint["diverged"] = pl_module.diverged


class OptimizerCurves(Callback):
    """Per epoch: ``optim/lr`` (the first parameter group's learning rate) and
    ``optim/grad_norm``, the mean over the epoch's steps of the global gradient norm
    ||g||_2 = sqrt(sum_p ||grad p||^2), taken before the optimizer step.

    Written to the loggers directly, at the step Lightning gives its epoch metrics (that of the
    epoch's last update): a ``LightningModule.log`` call costs ~0.4 ms on CPU (its result
    collection walks every stored metric), which two curves a step made a fifth of a 2-unit
    epoch. Nothing is computed without a logger."""

    def __init__(self) -> None:
        self._sum: torch.Tensor | None = None
        self._steps = 0

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: Any) -> None:
        if not trainer.loggers:
            return
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach())
                                                         for g in grads]))
            self._sum = norm if self._sum is None else self._sum + norm
            self._steps += 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {}
        if trainer.optimizers:
            metrics["optim/lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        if self._sum is not None:
            metrics["optim/grad_norm"] = float(self._sum) / self._steps
        self._sum, self._steps = None, 0
        if metrics and not trainer.sanity_checking:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=max(0, trainer.global_step - 1))


class ApplyLearningRate(Callback):
    """After a resumed checkpoint's optimizer state is restored (which brings back its learning
    rate), scale every parameter group to the model's ``lr``: schedules here are proportional
    to their base rate (lr_t = base * f(t)), so the resumed schedule continues from the new
    base."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        new = float(pl_module.hparams.lr)
        schedulers = {id(c.scheduler.optimizer): c.scheduler for c in trainer.lr_scheduler_configs}
        for opt in trainer.optimizers:
            sched = schedulers.get(id(opt))
            for i, group in enumerate(opt.param_groups):
                old = sched.base_lrs[i] if sched is not None else group.get("initial_lr",
                                                                             group["lr"])
                ratio = new / old
                group["lr"] *= ratio
                group["initial_lr"] = new
                if sched is not None:
                    sched.base_lrs[i] = new
                    if hasattr(sched, "eta_min"):
                        sched.eta_min *= ratio
                    if getattr(sched, "_last_lr", None):
                        sched._last_lr[i] = group["lr"]


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


def log_figure(loggers: list[Any], name: str, fig: Figure, step: int) -> None:
    """Send ``fig`` to every logger that can show images: TensorBoard (``add_figure``),
    Weights & Biases (``log_image``) and MLflow (``log_figure`` on the run); others skip."""
    for logger in loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_figure"):
            experiment.add_figure(name, fig, global_step=step, close=False)
        elif hasattr(logger, "log_image"):  # WandbLogger: an RGB array (a documented format)
            fig.canvas.draw()
            logger.log_image(key=name, images=[np.asarray(fig.canvas.buffer_rgba())[..., :3]],
                             step=step)
        elif hasattr(experiment, "log_figure") and hasattr(logger, "run_id"):  # MLflowLogger
            experiment.log_figure(logger.run_id, fig, f"{name}_{step}.png")


def log_text(loggers: list[Any], name: str, text: str, step: int) -> None:
    """Send ``text`` (markdown) to every logger with a text view (TensorBoard's TEXT tab);
    others skip."""
    for logger in loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_text"):
            experiment.add_text(name, text, global_step=step)


