"""M GRU forecasters trained as one batched model: same data, one Adam, one backward per epoch.

Member m is the :class:`~gru_learn.model.GRUForecaster` of hidden size d_m built after
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

import math
from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor, nn

from gru_learn.gru import Reset
from gru_learn.model import GRUForecaster


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

    # --- the model: forward with a cache, hand-written backpropagation through time ---------
    # States are feature-major, (M, D, N): every gate slice then has the batch N as its
    # contiguous inner dimension, which keeps elementwise work vectorised for tiny D.
    def _rollout(self, batch: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-member losses (M,) and the cache for :meth:`_backward`.

        Time-major buffers, t = 0..T-1 for GRU steps k = t + 1: ``H[t]`` = h_{k-1} (H[T] = h_T),
        ``RZ[t]`` = (r, z), ``NN[t]`` = n and, per convention, ``extra[t]`` = r * h_{k-1}
        (before) or U_h h_{k-1} + b_hn (after). Step 1 reads w0 = batch[:, 0]; later steps have
        zero input, so their input part is the bias b_ih.
        """
        # bmm then an in-place broadcast add: baddbmm copies an expanded bias far more slowly
        M, D = len(self.hidden_sizes), self.width
        N, T = batch.shape[0], batch.shape[1] - 1
        w_rz, w_n = self.weight_hh[:, : 2 * D], self.weight_hh[:, 2 * D :]
        b_ih, b_hh = self.bias_ih[..., None], self.bias_hh[..., None]  # (M, 3D, 1)
        x0 = batch[:, 0].mT.expand(M, self.obs_dim, N)
        gi = torch.baddbmm(b_ih, self.weight_ih, x0)  # step 1's input part (M, 3D, N)
        H = batch.new_empty(T + 1, M, D, N)
        H[0] = 0.0
        RZ, NN = batch.new_empty(T, M, 2 * D, N), batch.new_empty(T, M, D, N)
        extra = batch.new_empty(T, M, D, N)
        b_rz, i_n = gi[:, : 2 * D] + b_hh[:, : 2 * D], gi[:, 2 * D :]
        for t in range(T):
            if t == 1:  # zero input from now on
                b_rz, i_n = b_ih[:, : 2 * D] + b_hh[:, : 2 * D], b_ih[:, 2 * D :]
            h = H[t]
            torch.sigmoid(torch.bmm(w_rz, h).add_(b_rz), out=RZ[t])
            r, z = RZ[t, :, :D], RZ[t, :, D:]
            if self.reset == "before":  # n = tanh(i_n + b_hn + U_h (r * h))
                torch.mul(r, h, out=extra[t])
                torch.tanh(torch.bmm(w_n, extra[t]).add_(i_n + b_hh[:, 2 * D :]), out=NN[t])
            else:  # n = tanh(i_n + r * (U_h h + b_hn))
                torch.bmm(w_n, h, out=extra[t]).add_(b_hh[:, 2 * D :])
                torch.tanh(torch.addcmul(i_n, r, extra[t]), out=NN[t])
            torch.lerp(NN[t], h, z, out=H[t + 1])  # h + f(h) = n + z * (h - n)
        # readout of every step at once: the (T, M) axes as one batch of matrices
        pred = _per_step(self.readout_weight, H[1:]).add_(self.readout_bias[:, :, None])
        err = pred - batch[:, 1:].permute(1, 2, 0)[:, None]  # (T, M, p, N)
        losses = err.pow(2).transpose(0, 1).flatten(1).mean(dim=1)
        return losses, {"x0": x0, "H": H, "RZ": RZ, "NN": NN, "extra": extra, "err": err}

    def _backward(self, cache: dict[str, Tensor]) -> None:
        """Set ``.grad`` of every parameter to d(sum_m loss_m)/d(parameter): member m's slices
        get the gradient of loss_m alone (NaN only in a member whose loss is not finite).

        Backpropagation through h_k = n + z (h_{k-1} - n), n = tanh(c), (r, z) = sigmoid(a),
        with g = dL/dh_k:  dc = g (1 - z) (1 - n^2),  da_z = g (h_{k-1} - n) z (1 - z),
        da_r = dr r (1 - r) and dL/dh_{k-1} = g z + U_rz^T da + (the path through c), where
        before: dr = h_{k-1} * (U_h^T dc), path r * (U_h^T dc);
        after:  dr = dc * (U_h h_{k-1} + b_hn), path U_h^T (r * dc).
        Weight gradients sum outer products over steps; only step 1 reaches W_ih.
        """
        D = self.width
        H, RZ, NN, extra, err = (cache[k] for k in ("H", "RZ", "NN", "extra", "err"))
        T, M, _, N = RZ.shape
        w_rz, w_n = self.weight_hh[:, : 2 * D].mT, self.weight_hh[:, 2 * D :].mT
        d_pred = err * (2.0 / err[:, 0].numel())  # (T, M, p, N)
        grads = {"readout_weight": _summed_outer(d_pred, H[1:]),
                 "readout_bias": d_pred.sum(dim=(0, 3))}
        dH = _per_step(self.readout_weight.mT, d_pred)  # (T, M, D, N)
        DA, DC = torch.empty_like(RZ), torch.empty_like(NN)  # d/d(r, z pre-activations), d/dc
        DU = torch.empty_like(NN) if self.reset == "after" else None  # d/d(U_h h + b_hn)
        g = torch.zeros_like(H[0])
        for t in reversed(range(T)):
            g = g + dH[t]
            h, n = H[t], NN[t]
            r, z = RZ[t, :, :D], RZ[t, :, D:]
            dz = g * (h - n)
            g_prev = g * z
            torch.mul(g - g_prev, 1.0 - n * n, out=DC[t])  # dn = g (1 - z), dc = dn (1 - n^2)
            if self.reset == "before":
                d_rh = torch.bmm(w_n, DC[t])
                dr = d_rh * h
                g_prev += d_rh * r
            else:
                torch.mul(DC[t], r, out=DU[t])
                dr = DC[t] * extra[t]
                g_prev += torch.bmm(w_n, DU[t])
            torch.mul(dr, r - r * r, out=DA[t, :, :D])
            torch.mul(dz, z - z * z, out=DA[t, :, D:])
            g = torch.bmm(w_rz, DA[t]).add_(g_prev)

        d_un = DU if DU is not None else DC  # d/d(U_h . + b_hn)
        grads["weight_hh"] = torch.cat([
            _summed_outer(DA, H[:T]),
            _summed_outer(d_un, extra if self.reset == "before" else H[:T])], dim=1)
        d_gi = torch.cat([DA[0], DC[0]], dim=1)  # only step 1 reads the input
        grads["weight_ih"] = torch.bmm(d_gi, cache["x0"].mT)
        d_a = DA.sum(dim=(0, 3))
        grads["bias_ih"] = torch.cat([d_a, DC.sum(dim=(0, 3))], dim=1)
        grads["bias_hh"] = torch.cat([d_a, d_un.sum(dim=(0, 3))], dim=1)
        for name, grad in grads.items():
            getattr(self, name).grad = grad

    def losses(self, batch: Tensor) -> Tensor:
        """Per-member MSE (M,) on a shared batch (N, T+1, p): GRUForecaster.loss for each."""
        with torch.no_grad():
            return self._rollout(batch)[0]

    def losses_and_grads(self, batch: Tensor) -> Tensor:
        """Per-member losses (M,), with every ``.grad`` set for one step of sum_m loss_m."""
        with torch.no_grad():
            losses, cache = self._rollout(batch)
            self._backward(cache)
        return losses


def _per_step(w: Tensor, a: Tensor) -> Tensor:
    """w_m @ a[t, m] for every step t and member m: (M, i, k), (T, M, k, N) -> (T, M, i, N)."""
    T, M = a.shape[:2]
    return torch.bmm(w.expand(T, *w.shape).flatten(0, 1), a.flatten(0, 1)).view(T, M, -1,
                                                                                a.shape[-1])


def _summed_outer(a: Tensor, b: Tensor) -> Tensor:
    """sum_t a[t, m] @ b[t, m]^T: (T, M, i, N), (T, M, k, N) -> (M, i, k), a weight gradient."""
    T, M = a.shape[:2]
    return torch.bmm(a.flatten(0, 1), b.flatten(0, 1).mT).view(T, M, a.shape[2], -1).sum(0)


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
    """Full-batch Adam on every member at once, as ``gru_learn fit`` trains one model.

    Returns ``train_loss`` (E, M): member losses before the update of each epoch (what ``fit``
    logs as train_loss), NaN after a member diverged; ``val_epochs`` (V,) and ``val_loss``
    (V, M): validation loss after the update of 0-based epoch e whenever
    (e + 1) % val_every == 0, and after the last epoch; ``diverged_at`` (M,): the epoch whose
    loss was not finite, or -1. A diverged member keeps its last finite parameters, as ``fit``
    does (it skips that update and stops).
    """
    opt = torch.optim.Adam(ensemble.parameters(), lr=lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs), lr * 0.01)
             if lr_schedule == "cosine" else None)
    M = len(ensemble.hidden_sizes)
    train_loss = torch.full((epochs, M), math.nan)
    val_epochs = [e for e in range(epochs) if (e + 1) % val_every == 0 or e == epochs - 1]
    val_row = {e: i for i, e in enumerate(val_epochs)}
    val_loss = torch.full((len(val_epochs), M), math.nan)
    diverged_at = torch.full((M,), -1, dtype=torch.long)
    frozen: dict[int, list[Tensor]] = {}  # member -> its last finite parameters
    params = list(ensemble.parameters())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc=f"{M} members", unit="epoch", dynamic_ncols=True,
                   leave=False)
    for epoch in range(epochs):
        losses = ensemble.losses_and_grads(train)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            for m in (~finite).nonzero().flatten().tolist():
                if m not in frozen:
                    frozen[m] = [p[m].detach().clone() for p in params]
                    diverged_at[m] = epoch
            if len(frozen) == M:
                break
        train_loss[epoch] = losses
        opt.step()
        if frozen:
            with torch.no_grad():
                for m, saved in frozen.items():
                    for p, s in zip(params, saved, strict=True):
                        p[m] = s
                train_loss[epoch, list(frozen)] = math.nan
        if sched is not None:
            sched.step()
        if val is not None and epoch in val_row:
            val_loss[val_row[epoch]] = ensemble.losses(val)
        if bar is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == epochs):
            bar.set_postfix(loss=f"{float(losses.nanmean()):.4g}", refresh=False)
            bar.update(epoch + 1 - bar.n)
    if bar is not None:
        bar.close()
    return {"train_loss": train_loss, "val_epochs": torch.tensor(val_epochs, dtype=torch.long),
            "val_loss": val_loss, "diverged_at": diverged_at}
