"""M GRU forecasters trained as one batched model: same data, one Adam, one backward per epoch.

Member m is the :class:`~gru_learn.training.module.GRUForecaster` of hidden size d_m built after
``seed_everything(seed_m)``, with the discrete rollout. Its parameters are stacked along a
leading member axis and zero-padded to the largest size D, gate by gate (rows ``g*D + i`` of a
gate block hold unit i, i < d_m)::

    h_1 = GRU_m(w0, 0),  h_k = GRU_m(0, h_{k-1}),  w_hat_k = C_m h_k + c_m,
    loss_m = mean over (trajectories, k = 1..T, dims) of (w_hat_k - w_k)^2

Padding is exact: a padded unit has zero incoming weights and biases, so it stays at
h = 0 + z * (0 - 0) = 0; nothing reads it (zero readout columns and zero recurrent columns), so
its gradient, and every gradient into a padding entry, is exactly zero, and Adam (elementwise,
with zero state) never moves it. The members' parameters are disjoint, so the gradient of
sum_m loss_m with respect to member m's parameters is that of loss_m alone, and one elementwise
Adam over the stacked tensors takes each member's own Adam step. Each member therefore follows
its independent fit up to floating-point summation order (tested in tests/test_compare.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor, nn

from gru_learn.gru.bptt import stacked_forecast
from gru_learn.gru.cell import Reset
from gru_learn.training.loop import train_members
from gru_learn.training.module import GRUForecaster


class GRUEnsemble(nn.Module):
    """Stacked, zero-padded parameters of M GRU forecasters of hidden sizes ``hidden_sizes``.

    Shapes: ``weight_ih`` (M, 3D, p), ``weight_hh`` (M, 3D, D), ``bias_ih``/``bias_hh`` (M, 3D),
    ``readout_weight`` (M, p, D), ``readout_bias`` (M, p), gate order r, z, n as torch.nn.GRU.
    """

    def __init__(self, hidden_sizes: Sequence[int], obs_dim: int, reset: Reset = "before") -> None:
        super().__init__()
        if not hidden_sizes or min(hidden_sizes) <= 0 or obs_dim <= 0:
            raise ValueError(f"need hidden sizes > 0 and obs_dim > 0, got {hidden_sizes}, "
                             f"{obs_dim}")
        self.hidden_sizes = [int(d) for d in hidden_sizes]
        self.obs_dim, self.reset = obs_dim, reset
        M, D, p = len(hidden_sizes), max(hidden_sizes), obs_dim
        self.width = D
        self.weight_ih = nn.Parameter(torch.zeros(M, 3 * D, p))
        self.weight_hh = nn.Parameter(torch.zeros(M, 3 * D, D))
        self.bias_ih = nn.Parameter(torch.zeros(M, 3 * D))
        self.bias_hh = nn.Parameter(torch.zeros(M, 3 * D))
        self.readout_weight = nn.Parameter(torch.zeros(M, p, D))
        self.readout_bias = nn.Parameter(torch.zeros(M, p))

    @classmethod
    def from_seeds(
        cls, hidden_sizes: Sequence[int], seeds: Sequence[int], obs_dim: int,
        reset: Reset = "before",
    ) -> GRUEnsemble:
        """Member m initialised exactly as ``seed_everything(seeds[m])`` then
        ``GRUForecaster(hidden_size=hidden_sizes[m], obs_dim=obs_dim, reset=reset)``."""
        ens = cls(hidden_sizes, obs_dim, reset)
        for m, (d, seed) in enumerate(zip(ens.hidden_sizes, seeds, strict=True)):
            L.seed_everything(seed, verbose=False)
            ens.set_member(m, GRUForecaster(hidden_size=d, obs_dim=obs_dim, reset=reset))
        return ens

    # --- member <-> padded slices ---------------------------------------------------------
    def _gate_rows(self, m: int) -> Tensor:
        """Rows of the padded (3D, .) gate blocks that hold member m's (3 d_m, .) rows."""
        d, D = self.hidden_sizes[m], self.width
        return torch.cat([torch.arange(g * D, g * D + d) for g in range(3)])

    def set_member(self, m: int, model: GRUForecaster) -> None:
        """Copy a forecaster's parameters into member slot m (padding stays zero)."""
        d, rows, cell = self.hidden_sizes[m], self._gate_rows(m), model.cell
        with torch.no_grad():
            self.weight_ih[m, rows] = cell.weight_ih
            self.weight_hh[m, rows, :d] = cell.weight_hh
            self.bias_ih[m, rows] = cell.bias_ih
            self.bias_hh[m, rows] = cell.bias_hh
            self.readout_weight[m, :, :d] = model.readout.weight
            self.readout_bias[m] = model.readout.bias

    def member_state(self, m: int) -> dict[str, Tensor]:
        """Member m's parameters as a ``GRUForecaster`` state dict (``cell.*``, ``readout.*``)."""
        d, rows = self.hidden_sizes[m], self._gate_rows(m)
        return {k: v.detach().clone() for k, v in {
            "cell.weight_ih": self.weight_ih[m, rows],
            "cell.weight_hh": self.weight_hh[m, rows, :d],
            "cell.bias_ih": self.bias_ih[m, rows],
            "cell.bias_hh": self.bias_hh[m, rows],
            "readout.weight": self.readout_weight[m, :, :d],
            "readout.bias": self.readout_bias[m],
        }.items()}

    # --- the model: the stacked rollout of gru_learn.gru.bptt (hand-written BPTT) -------------
    stacked = True  # every parameter has the member axis first (for the epoch loop)

    def training_losses(self, batch: Tensor, epoch: int = 0, epochs: int = 1) -> Tensor:
        """Per-member MSE (M,) on a shared batch (N, T+1, p), differentiable: the paper's loss,
        the same at every epoch. The gradient of their sum gives member m's parameters that of
        loss_m alone (NaN only in a member whose loss is not finite)."""
        target = batch[:, 1:].permute(1, 2, 0)[:, None]  # (T, 1, p, N)
        pred = stacked_forecast(batch[:, 0], self.weight_ih, self.weight_hh, self.bias_ih,
                                self.bias_hh, self.readout_weight, self.readout_bias,
                                target.shape[0], self.reset)
        err = pred - target
        return err.pow(2).mean(dim=(0, 2, 3))

    def losses(self, batch: Tensor) -> Tensor:
        """Per-member MSE (M,) on a shared batch (N, T+1, p): GRUForecaster.loss for each."""
        with torch.no_grad():
            return self.training_losses(batch)

    validation_losses = losses


def fit_ensemble(
    ensemble: GRUEnsemble,
    train: Tensor,
    epochs: int,
    lr: float = 0.01,
    lr_schedule: str = "constant",
    val: Tensor | None = None,
    val_every: int = 10,
    progress: bool = False,
) -> dict[str, Tensor]:
    """Full-batch Adam on every member at once, as ``gru_learn fit`` trains one model: the epoch
    loop :func:`~gru_learn.training.loop.train_members` over the stacked members.

    Returns ``train_loss`` (E, M): member losses before the update of each epoch (what ``fit``
    logs as train_loss), NaN from the epoch a member diverged; ``val_epochs`` (V,) and
    ``val_loss`` (V, M): validation loss after the update of 0-based epoch e whenever
    (e + 1) % val_every == 0, and after the last epoch (NaN once diverged); ``diverged_at``
    (M,): the epoch whose loss was not finite, or -1. A diverged member keeps the parameters of
    its last finite loss, as ``fit`` does.
    """
    return train_members(ensemble, train, epochs, lr=lr, lr_schedule=lr_schedule, val=val,
                         val_every=val_every, progress=progress)
