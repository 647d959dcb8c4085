"""The LightningModule of the paper's task: encode w(0) with one GRU step, roll the autonomous
GRU forward, read out affinely, and fit the whole horizon (paper Section 5, Eq 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torchdiffeq import odeint

from gru_learn.bptt import stacked_forecast, stacked_rollout
from gru_learn.errors import UserError
from gru_learn.gru import GRUCell, Reset

Rollout = Literal["discrete", "ode"]


def rollout_hidden(
    cell: GRUCell,
    w0: Tensor,
    steps: int,
    mode: Rollout = "discrete",
    ode_method: str = "euler",
    ode_step: float = 1.0,
) -> Tensor:
    """Hidden states h_1..h_steps, shape (B, steps, d), from h_0 = 0 and h_1 = GRU(w0, h_0).

    After the first step there is no input: ``discrete`` iterates the GRU map h <- h + f(h),
    ``ode`` integrates dh/dt = f(h) over one unit of time per sample with torchdiffeq
    (``euler`` with ``ode_step=1`` is the discrete map again).
    """
    h = cell(w0, w0.new_zeros(w0.shape[0], cell.hidden_size))
    if mode == "discrete":
        hs, step = [h], cell.autonomous_map()
        for _ in range(steps - 1):
            h = step(h)
            hs.append(h)
        return torch.stack(hs, dim=1)
    t = torch.arange(steps, dtype=h.dtype, device=h.device)
    options = {"step_size": ode_step} if ode_method in FIXED_STEP_METHODS else None
    return odeint(cell.ode(), h, t, method=ode_method, options=options).transpose(0, 1)


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam as every trainer here builds it: the fused kernel where this torch has one for the
    parameters' device (one call for all tensors instead of ~10 per tensor; same update)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # older torch: fused Adam is CUDA-only
        return torch.optim.Adam(params, lr=lr)


FIXED_STEP_METHODS = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")
ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


class GRUForecaster(L.LightningModule):
    """A GRU with an affine readout trained to predict T steps from the first observation.

    Loss: mean squared error over trajectories, steps k = 1..T and observed dimensions. The
    paper's Eq 10 sums over trajectories and dimensions instead, i.e. Eq 10 = N * p * ours;
    Adam is invariant to that constant (up to its epsilon), so training follows the same path.

    Args:
        hidden_size: GRU dimension d.
        reset: ``"before"`` (paper) or ``"after"`` (torch.nn.GRU) candidate-state convention.
        rollout: ``"discrete"`` (the GRU map, as the paper trained) or ``"ode"``.
        ode_method, ode_step: torchdiffeq method and fixed step (in GRU steps) for ``ode``.
        lr: Adam's learning rate.
        lr_schedule: ``"constant"`` or ``"cosine"`` (cosine decay to ``lr * 0.01`` over
            ``max_epochs``).
        obs_dim, dt, system: set from the data by the CLI (observed dimension, sampling
            interval = one GRU step in the target's time units, and the system's name).
    """

    def __init__(
        self,
        hidden_size: int = 2,
        reset: Reset = "before",
        rollout: Rollout = "discrete",
        ode_method: str = "euler",
        ode_step: float = 1.0,
        lr: float = 0.01,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        obs_dim: int = 2,
        dt: float = 1.0,
        system: str | None = None,
    ) -> None:
        super().__init__()
        if hidden_size <= 0:
            raise UserError(f"hidden_size must be positive, got {hidden_size}")
        if obs_dim <= 0:
            raise UserError(f"obs_dim must be positive, got {obs_dim}")
        if lr <= 0:
            raise UserError(f"lr must be positive, got {lr}")
        if rollout == "ode" and ode_method not in FIXED_STEP_METHODS + ADAPTIVE_METHODS:
            raise UserError(f"unknown ode_method {ode_method!r}; choose from "
                            f"{FIXED_STEP_METHODS + ADAPTIVE_METHODS}")
        if ode_step <= 0:
            raise UserError(f"ode_step must be positive, got {ode_step}")
        self.save_hyperparameters()
        self.cell = GRUCell(obs_dim, hidden_size, reset=reset)
        self.readout = nn.Linear(hidden_size, obs_dim)
        self.diverged: str | None = None
        self._predictions: list[dict[str, Tensor]] = []

    # --- the model ------------------------------------------------------------------
    def hidden(self, w0: Tensor, steps: int) -> Tensor:
        """Hidden states h_1..h_steps, shape (B, steps, d)."""
        hp = self.hparams
        if hp.rollout == "discrete":
            return self._hidden_feature_major(w0, steps)[:, 0].permute(2, 0, 1)
        return rollout_hidden(self.cell, w0, steps, hp.rollout, hp.ode_method, hp.ode_step)

    def forward(self, w0: Tensor, steps: int) -> Tensor:
        """Predictions w_hat(1..steps) = C h_k + c, shape (B, steps, p)."""
        if self.hparams.rollout == "discrete":
            return self._predict_feature_major(w0, steps)[:, 0].permute(2, 0, 1)
        return self.readout(self.hidden(w0, steps))

    def _hidden_feature_major(self, w0: Tensor, steps: int) -> Tensor:
        """The discrete rollout as one autograd node (hand-written backpropagation through
        time, :mod:`gru_learn.bptt`): (steps, 1, d, B)."""
        return stacked_rollout(w0, *self._cell_as_stack(), steps, self.cell.reset)

    def _predict_feature_major(self, w0: Tensor, steps: int) -> Tensor:
        """Discrete-rollout predictions, (steps, 1, p, B), rollout and readout in one node."""
        return stacked_forecast(w0, *self._cell_as_stack(), self.readout.weight[None],
                                self.readout.bias[None], steps, self.cell.reset)

    def _cell_as_stack(self) -> tuple[Tensor, ...]:
        """The cell's parameters as a stack of one member (views, so gradients flow back)."""
        c = self.cell
        return c.weight_ih[None], c.weight_hh[None], c.bias_ih[None], c.bias_hh[None]

    def vector_field(self, h: Tensor) -> Tensor:
        """The continuous counterpart with zero input: dh/dt = f(h) (time in GRU steps)."""
        return self.cell.vector_field(h)

    def observe(self, h: Tensor) -> Tensor:
        """Hidden states to observation space by the affine readout."""
        return self.readout(h)

    def loss(self, batch: Tensor) -> Tensor:
        target = batch[:, 1:]
        if self.hparams.rollout == "discrete":  # in the rollout's own layout: no copies
            pred = self._predict_feature_major(batch[:, 0], target.shape[1])[:, 0]
            return nn.functional.mse_loss(pred, target.permute(1, 2, 0))
        return nn.functional.mse_loss(self(batch[:, 0], target.shape[1]), target)

    # --- Lightning hooks ------------------------------------------------------------
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor | None:
        loss = self.loss(batch)
        if not torch.isfinite(loss):
            # no update, and the one that led here undone: the parameters (and every checkpoint
            # written from now on) are the last ones whose loss was finite
            self.diverged = f"loss became {loss.item()} at epoch {self.current_epoch}; " \
                            "training stopped, parameters " + self._restore_last_finite()
            self.trainer.should_stop = True
            return None
        with torch.no_grad():  # a few small tensors: negligible next to the step itself
            self.last_finite = {"params": [p.detach().clone() for p in self.parameters()],
                                "loss": loss.detach(), "epoch": self.current_epoch,
                                "step": self.global_step}
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def _restore_last_finite(self) -> str:
        """Put back the parameters of the last step whose loss was finite; says which."""
        kept = getattr(self, "last_finite", None)
        if kept is None:
            return "left at their initial values"
        with torch.no_grad():
            for p, v in zip(self.parameters(), kept["params"], strict=True):
                p.copy_(v)
        return (f"restored to the last ones with a finite loss ({float(kept['loss']):.6g}, "
                f"epoch {kept['epoch']})")

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        self.log("val_loss", self.loss(batch), prog_bar=True)

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        target = batch[:, 1:]
        err = ((self(batch[:, 0], target.shape[1]) - target) ** 2).mean(dim=(0, 2))
        self.log("test_loss", err.mean())
        for k in (1, len(err) // 2, len(err)):
            self.log(f"test_mse_step{k}", err[k - 1])

    def predict_step(self, batch: Tensor, batch_idx: int) -> dict[str, Tensor]:
        out = {"truth": batch, "prediction": self(batch[:, 0], batch.shape[1] - 1)}
        self._predictions.append({k: v.detach().cpu() for k, v in out.items()})
        return out

    def on_predict_epoch_end(self) -> None:
        if not self._predictions:
            return
        arrays = {k: torch.cat([p[k] for p in self._predictions]).numpy()
                  for k in self._predictions[0]}
        self._predictions.clear()
        out = Path(self.trainer.log_dir or ".") / "predictions.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, **arrays, dt=np.float64(self.hparams.dt))
        print(f"closed-loop predictions saved to {out} (truth: N x (T+1) x p, "
              "prediction: N x T x p for steps 1..T)")

    def configure_optimizers(self):
        opt = make_adam(self.parameters(), self.hparams.lr)
        if self.hparams.lr_schedule == "constant":
            return opt
        epochs = max(1, self.trainer.max_epochs or 1)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs, self.hparams.lr * 0.01)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
