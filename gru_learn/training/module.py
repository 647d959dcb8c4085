"""The LightningModule of the paper's task: encode w(0) with one GRU step, roll the autonomous
GRU forward, read out affinely, and fit the whole horizon (paper Section 5, Eq 10)."""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from gru_learn.errors import UserError
from gru_learn.files.torch_files import check_fits
from gru_learn.gru.bptt import stacked_forecast, stacked_rollout
from gru_learn.gru.cell import GRUCell, Reset
from gru_learn.gru.rollout import (
    ADAPTIVE_METHODS,
    FIXED_STEP_METHODS,
    AlphaSchedule,
    Forcing,
    ForcingState,
    Rollout,
    adaptive_alpha,
    forced_forecast,
    rollout_hidden,
    training_rollout,
)
from gru_learn.runtime import check_memory
from gru_learn.training.data import cut_windows
from gru_learn.training.divergence import LastFinite
from gru_learn.training.method_options import check_method, check_regularisers


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam as every trainer here builds it: the fused kernel where this torch has one for the
    parameters' device (one call for all tensors instead of ~10 per tensor; same update)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # older torch: fused Adam is CUDA-only
        return torch.optim.Adam(params, lr=lr)


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
        lr_schedule: ``"constant"``, ``"cosine"`` (cosine decay to ``lr * 0.01`` over
            ``max_epochs``) or ``"exponential"`` (lr * 0.01^(epoch / max_epochs)).
        forcing: ``"none"`` (the paper: free running), ``"sparse"`` (the state is replaced by
            the one the data implies every ``forcing_interval`` steps: alpha = 1) or
            ``"generalized"`` (GTF: pulled by ``forcing_alpha`` every ``forcing_interval``
            steps). See :func:`forced_forecast` and docs/reconstruction.md.
        forcing_interval: tau, steps between forcings.
        forcing_alpha: GTF's alpha (the initial one when annealed).
        forcing_alpha_schedule: ``"constant"``; ``"linear"`` from ``forcing_alpha`` to
            ``forcing_alpha_final`` over ``max_epochs``; ``"adaptive"`` (aGTF: raised to the
            Jacobian-bound estimate when that is larger, else decayed towards it by
            ``forcing_alpha_decay`` per step).
        forcing_state: how an observation sets a hidden state: ``"projection"`` (replace the
            component in the readout's row space, keep the unobserved directions) or
            ``"pinv"`` (the reference code's C^+ (w - c), unobserved directions set to 0).
        curriculum_start: horizon at epoch 0; grows linearly to the data's horizon over
            ``curriculum_epochs`` (each sequence is cut into windows of the current horizon).
            None: the whole horizon from the start (the paper).
        readout_init: ``"default"`` (nn.Linear's) or ``"data"``: at the start of training the
            readout bias is set to the training data's mean and each readout row scaled by the
            data's standard deviation in that dimension (for targets far from unit scale, e.g.
            Lorenz-63; the tanh-bounded states then need no large weights).
        state_noise: standard deviation of Gaussian noise added to every hidden state of the
            training rollout (Sagodi et al. 2024 train with variance 0.01, i.e. 0.1); not in
            validation, test or analysis.
        slowness: weight of the slowness penalty: the mean of f(h_k)^2 (the squared speed of
            the learned field, per unit and GRU step) over the training rollout's states h_k,
            k > ``slowness_after`` (after the transient, where the data has reached its
            attractor); a GRU reading of Schmidt et al. 2021's manifold-attractor idea.
        slowness_after: the transient, in GRU steps, that the slowness penalty leaves out.
        mar_fraction, mar_weight: manifold-attractor regularisation adapted to the GRU (Schmidt
            et al. 2021, ICLR, regularise a subset of units towards perfect memory): adds
            ``mar_weight`` times the mean of (1 - z)^2 over the autonomous steps and the first
            ceil(``mar_fraction`` * hidden_size) units, pushing their update gates towards 1
            (h_{k+1} = h_k). The first step, which writes w(0) in, is not penalised.
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
        lr_schedule: Literal["constant", "cosine", "exponential"] = "constant",
        forcing: Forcing = "none",
        forcing_interval: int = 1,
        forcing_alpha: float = 1.0,
        forcing_alpha_schedule: AlphaSchedule = "constant",
        forcing_alpha_final: float = 0.0,
        forcing_alpha_decay: float = 0.999,
        forcing_state: ForcingState = "projection",
        curriculum_start: int | None = None,
        curriculum_epochs: int = 1000,
        readout_init: Literal["default", "data"] = "default",
        state_noise: float = 0.0,
        slowness: float = 0.0,
        slowness_after: int = 10,
        mar_fraction: float = 0.5,
        mar_weight: float = 0.0,
        obs_dim: int = 2,
        dt: float = 1.0,
        system: str | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("lr", lr), ("ode_step", ode_step), ("forcing_alpha", forcing_alpha),
                            ("forcing_alpha_final", forcing_alpha_final),
                            ("forcing_alpha_decay", forcing_alpha_decay),
                            ("state_noise", state_noise), ("slowness", slowness),
                            ("mar_fraction", mar_fraction), ("mar_weight", mar_weight),
                            ("dt", dt)):
            if not math.isfinite(value):
                raise UserError(f"{name} must be a finite number, got {value}")
        if hidden_size <= 0:
            raise UserError(f"hidden_size must be positive, got {hidden_size}")
        # the parameters, their gradients and Adam's two moments, before any is allocated
        n_params = 3 * hidden_size * (hidden_size + obs_dim + 2) + obs_dim * (hidden_size + 1)
        check_memory(4 * 4 * n_params, f"a {hidden_size}-unit network")
        if obs_dim <= 0:
            raise UserError(f"obs_dim must be positive, got {obs_dim}")
        if lr <= 0:
            raise UserError(f"lr must be positive, got {lr}")
        if rollout == "ode" and ode_method not in FIXED_STEP_METHODS + ADAPTIVE_METHODS:
            raise UserError(f"unknown ode_method {ode_method!r}; choose from "
                            f"{FIXED_STEP_METHODS + ADAPTIVE_METHODS}")
        if ode_step <= 0:
            raise UserError(f"ode_step must be positive, got {ode_step}")
        check_method(lr_schedule, rollout, forcing, forcing_interval, forcing_alpha,
                      forcing_alpha_schedule, forcing_alpha_final, forcing_alpha_decay,
                      forcing_state, curriculum_start, curriculum_epochs, readout_init)
        check_regularisers(rollout, forcing, state_noise, slowness, slowness_after,
                            mar_fraction, mar_weight)
        self.save_hyperparameters()
        self.cell = GRUCell(obs_dim, hidden_size, reset=reset)
        self.readout = nn.Linear(hidden_size, obs_dim)
        self.diverged: str | None = None  # why training stopped early (the divergence policy)
        self.divergence: LastFinite | None = None  # fit's divergence policy, once training runs
        # GTF's current alpha (the adaptive schedule's state; saved in checkpoints)
        self.alpha = forcing_alpha if forcing == "generalized" else 1.0
        self._predictions: list[dict[str, Tensor]] = []

    @classmethod
    def from_checkpoint(cls, ckpt: dict, path: str | Path = "the checkpoint") -> GRUForecaster:
        """The model of a checkpoint already read (``checkpoint_io.read_checkpoint``): built
        from its hyperparameters, its parameters checked (``check_fits``: names, shapes,
        finite) and loaded, ``on_load_checkpoint`` applied. What Lightning's
        ``load_from_checkpoint`` does, without reading the file again."""
        accepted = inspect.signature(cls.__init__).parameters
        model = cls(**{k: v for k, v in ckpt["hyper_parameters"].items() if k in accepted})
        check_fits(ckpt, model, path)
        model.load_state_dict(ckpt["state_dict"])
        model.on_load_checkpoint(ckpt)
        return model

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
        time, :mod:`gru_learn.gru.bptt`): (steps, 1, d, B)."""
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

    def init_readout_from(self, data: Tensor) -> None:
        """c = mean of ``data`` (..., p) per dimension; row i of C scaled by its sd."""
        flat = data.reshape(-1, data.shape[-1]).to(self.readout.weight)
        with torch.no_grad():
            self.readout.bias.copy_(flat.mean(0))
            self.readout.weight.mul_(flat.std(0)[:, None])

    def on_train_start(self) -> None:
        self.divergence, self.diverged = None, None
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and self.global_step == 0:
            self.warn_inert_options(dm.splits["train"].shape[1] - 1)
            if self.hparams.readout_init == "data":
                self.init_readout_from(dm.splits["train"])

    def inert_options(self, horizon: int) -> list[str]:
        """The training-method options that cannot act on training sequences of ``horizon``
        prediction steps T, one line each: a curriculum with ``curriculum_start >= T``
        (:meth:`horizon_at` is T at every epoch) and forcing with ``forcing_interval >= T``
        (:func:`forced_forecast` forces only at k = tau, 2 tau, ... < T)."""
        hp, out = self.hparams, []
        if hp.curriculum_start is not None and hp.curriculum_start >= horizon:
            out.append(f"curriculum_start={hp.curriculum_start} is not below the training "
                       f"horizon of {horizon} steps: no curriculum (the whole horizon from "
                       f"epoch 0)")
        if hp.forcing != "none" and hp.forcing_interval >= horizon:
            out.append(f"forcing_interval={hp.forcing_interval} is not below the training "
                       f"horizon of {horizon} steps: no step is forced (free running)")
        return out

    def warn_inert_options(self, horizon: int) -> None:
        """A UserWarning per :meth:`inert_options` line (old configs still train; the option
        just does nothing), at the start of training by ``fit`` and by the plain loop."""
        for message in self.inert_options(horizon):
            warnings.warn(message, UserWarning, stacklevel=2)

    def alpha_at(self, epoch: int, epochs: int | None = None) -> float:
        """The forcing strength at ``epoch`` of ``epochs`` (default: the Trainer's max_epochs):
        1 for sparse forcing, GTF's scheduled alpha (linear: alpha_0 + (alpha_final - alpha_0)
        * min(1, epoch / (epochs - 1)))."""
        hp = self.hparams
        if hp.forcing == "sparse":
            return 1.0
        if hp.forcing_alpha_schedule == "linear":
            epochs = self._max_epochs() if epochs is None else epochs
            frac = min(1.0, epoch / max(1, epochs - 1))
            return hp.forcing_alpha + frac * (hp.forcing_alpha_final - hp.forcing_alpha)
        return self.alpha

    def horizon_at(self, epoch: int, full: int) -> int:
        """The curriculum's training horizon at ``epoch`` (``full`` without a curriculum)."""
        hp = self.hparams
        if hp.curriculum_start is None:
            return full
        start = min(hp.curriculum_start, full)
        return start + int((full - start) * min(1.0, epoch / max(1, hp.curriculum_epochs)))

    def training_loss(self, batch: Tensor, epoch: int, epochs: int | None = None) -> Tensor:
        """The training method's loss on ``batch`` at ``epoch`` of ``epochs`` (default: the
        Trainer's max_epochs): the paper's free-running MSE (:meth:`loss`, the fast
        hand-written rollout) unless a curriculum or forcing is set. Forced rollouts step
        :class:`GRUCell` through plain autograd."""
        hp = self.hparams
        horizon = self.horizon_at(epoch, batch.shape[1] - 1)
        if horizon < batch.shape[1] - 1:
            batch = cut_windows(batch, horizon)
        if hp.forcing == "none":
            return self.loss(batch) if not self.regularised else self._regularised_loss(batch)
        if hp.forcing_alpha_schedule == "adaptive" and hp.forcing == "generalized":
            self._update_adaptive_alpha(batch)
        pred = forced_forecast(self.cell, self.readout, batch, self.alpha_at(epoch, epochs),
                               hp.forcing_interval, hp.forcing_state)
        return nn.functional.mse_loss(pred, batch[:, 1:])

    @property
    def regularised(self) -> bool:
        """Whether state noise, the slowness penalty or MAR acts on the training loss."""
        hp = self.hparams
        return hp.state_noise > 0 or hp.slowness > 0 or hp.mar_weight > 0

    def _regularised_loss(self, batch: Tensor) -> Tensor:
        """The free-running MSE of the (noisy) training rollout plus the penalties (see the
        class docstring), through plain autograd (:func:`training_rollout`)."""
        hp = self.hparams
        hidden, f, z = training_rollout(self.cell, batch[:, 0], batch.shape[1] - 1,
                                        hp.state_noise)
        loss = nn.functional.mse_loss(self.readout(hidden), batch[:, 1:])
        late = f[:, hp.slowness_after:]  # f(h_k) for k > slowness_after (f[:, j] is f(h_{j+1}))
        if hp.slowness > 0 and late.numel():
            loss = loss + hp.slowness * late.pow(2).mean()
        if hp.mar_weight > 0 and z.numel():
            units = math.ceil(hp.mar_fraction * hp.hidden_size)
            loss = loss + hp.mar_weight * (1.0 - z[..., :units]).pow(2).mean()
        return loss

    def _update_adaptive_alpha(self, batch: Tensor) -> None:
        """aGTF's update: alpha <- estimate if larger, else decay * alpha + (1 - decay) *
        estimate; the estimate from the Jacobians at the states the data implies."""
        with torch.no_grad():
            C, c = self.readout.weight, self.readout.bias
            states = (batch[:, 1:] - c) @ torch.linalg.pinv(C).T  # C^+ (w - c), (B, T, d)
            est = adaptive_alpha(self.cell.autonomous_map(), states)
        g = self.hparams.forcing_alpha_decay
        self.alpha = est if est > self.alpha else g * self.alpha + (1 - g) * est

    def _max_epochs(self) -> int:
        trainer = self._trainer if hasattr(self, "_trainer") else None
        return int(getattr(trainer, "max_epochs", None) or self.hparams.curriculum_epochs)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["forcing_alpha_now"] = self.alpha

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.alpha = checkpoint.get("forcing_alpha_now", self.alpha)

    # --- Lightning hooks ------------------------------------------------------------
    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor | None:
        loss = self.training_loss(batch, self.current_epoch)
        if self.divergence is None:  # the parameters as training starts (or resumes)
            self.divergence = LastFinite(self.parameters())
        self.divergence.check(loss, self.current_epoch, self.global_step)
        if self.divergence.all_stopped:  # no update (None), and the last one undone
            self.divergence.restore()
            self.diverged = self.divergence.message()
            self.trainer.should_stop = True
            return None
        self.log("loss/train", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        self.log("loss/val", self.loss(batch), prog_bar=True)

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        target = batch[:, 1:]
        err = ((self(batch[:, 0], target.shape[1]) - target) ** 2).mean(dim=(0, 2))
        self.log("loss/test", err.mean())
        for k in (1, len(err) // 2, len(err)):
            self.log(f"test/mse_step{k}", err[k - 1])

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
        sched = make_scheduler(opt, self.hparams.lr_schedule, self.trainer.max_epochs or 1)
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


def make_scheduler(opt: torch.optim.Optimizer, schedule: str, epochs: int):
    """None (constant), cosine decay to 1 % of the initial lr over ``epochs``, or exponential
    decay lr * 0.01^(epoch / epochs); stepped once an epoch."""
    epochs = max(1, epochs)
    if schedule == "constant":
        return None
    if schedule == "cosine":
        base = opt.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs, base * 0.01)
    return torch.optim.lr_scheduler.ExponentialLR(opt, 0.01 ** (1.0 / epochs))
