"""The paper's rollout for M stacked GRUs at once, with hand-written backpropagation through
time: one autograd node for the whole recurrence instead of ~15 per step.

The task (paper Section 5): h_0 = 0, h_1 = GRU(w(0), h_0), h_{k+1} = GRU(0, h_k). Networks this
small are bound by per-operation overhead and memory traffic, not arithmetic, so:

- states are feature-major, (M, D, N): every gate slice keeps the batch N contiguous;
- each state carries a constant row of ones, so one ``bmm`` applies weights and biases together
  (the weight matrices are augmented with their bias column);
- tanh(c) is computed as 2 sigmoid(2c) - 1 (the factor 2 folded into the weights): the same
  function, about 3x cheaper than ``torch.tanh`` on CPU for the larger states, with an
  absolute error below 2e-7 in float32 (3e-16 in float64);
- the backward pass's gradient-independent factors are computed for all steps at once;
- every buffer lives in a :class:`_Workspace` that is reused from call to call (one per shape),
  so an epoch allocates, and page-faults, almost nothing.

A forward step costs 6 tensor operations in either convention; a backward step 7
(``reset="before"``) or 5 (``"after"``), plus one when the readout's gradient enters.
Parameters are stacked along a leading member axis exactly as :class:`~gru_learn.gru.cell.GRUCell`
stores them (gate order r, z, n): ``weight_ih`` (M, 3D, p), ``weight_hh`` (M, 3D, D),
``bias_ih`` and ``bias_hh`` (M, 3D).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from gru_learn.gru.cell import RESET_CONVENTIONS, Reset


def stacked_rollout(
    x0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
    steps: int,
    reset: Reset = "before",
) -> Tensor:
    """Hidden states h_1..h_steps of M GRUs driven by the shared first input ``x0`` (N, p).

    Returns a (steps, M, D, N) tensor (feature-major: ``out[k - 1, m, :, n]`` is member m's
    h_k for trajectory n), differentiable with respect to every argument (once).
    """
    return _apply(x0, weight_ih, weight_hh, bias_ih, bias_hh, None, None, steps, reset)


def stacked_forecast(
    x0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
    readout_weight: Tensor,
    readout_bias: Tensor,
    steps: int,
    reset: Reset = "before",
) -> Tensor:
    """Predictions C_m h_k + c_m, k = 1..steps, of M GRU forecasters: ``readout_weight``
    (M, p, D) and ``readout_bias`` (M, p) give a (steps, M, p, N) tensor. The readout is part of
    the same autograd node, so its backward costs no extra pass over the states."""
    return _apply(x0, weight_ih, weight_hh, bias_ih, bias_hh, readout_weight, readout_bias,
                  steps, reset)


def _apply(*args) -> Tensor:
    steps, reset = args[-2:]
    if reset not in RESET_CONVENTIONS:
        raise ValueError(f"reset must be one of {RESET_CONVENTIONS}, got {reset!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return _StackedRollout.apply(*args)


class _Workspace:
    """Every buffer of one rollout shape, with the per-step views the loops index."""

    def __init__(self, key: tuple) -> None:
        T, M, D, N, dtype, device, reset = key
        self.key, self.generation, self.free = key, 0, False
        new = lambda *shape: torch.empty(*shape, dtype=dtype, device=device)  # noqa: E731
        self.one, self.minus_one = (torch.tensor(v, dtype=dtype, device=device) for v in (1, -1))
        self.Hb = new(T + 1, M, D + 1, N)  # [h_0..h_T; 1]
        self.Hb[:, :, D] = 1.0
        self.Hb[0, :, :D] = 0.0
        self.RZ, self.NN = new(T, M, 2 * D, N), new(T, M, D, N)  # sigmoid(2c) while running
        self.H, self.Hh = self.Hb.unbind(0), self.Hb[:, :, :D].unbind(0)
        self.R, self.Z = self.RZ[:, :, :D].unbind(0), self.RZ[:, :, D:].unbind(0)
        self.rz, self.n = self.RZ.unbind(0), self.NN.unbind(0)
        # backward: gradient-independent factors and the per-step gradients
        self.Cn, self.Az, self.Ar, self.tmp = (new(T, M, D, N) for _ in range(4))
        self.Cnl, self.Azl, self.Arl = self.Cn.unbind(0), self.Az.unbind(0), self.Ar.unbind(0)
        if reset == "before":
            self.E = new(T, M, D + 1, N)  # [r * h_{k-1}; 1]
            self.E[:, :, D] = 1.0
            self.e, self.Eh = self.E.unbind(0), self.E[:, :, :D].unbind(0)
            self.DA, self.DC = new(T, M, 2 * D, N), new(T, M, D, N)  # d(a_r, a_z), dc
            self.da, self.dc = self.DA.unbind(0), self.DC.unbind(0)
            self.da_r, self.da_z = self.DA[:, :, :D].unbind(0), self.DA[:, :, D:].unbind(0)
        else:
            self.GG = new(T, M, 3 * D, N)  # [U_rz h + b_rz; U_h h + b_hn]
            self.g, self.g_rz = self.GG.unbind(0), self.GG[:, :, : 2 * D].unbind(0)
            self.g_n = self.GG[:, :, 2 * D :].unbind(0)
            self.DG, self.G = new(T, M, 3 * D, N), new(T, M, D, N)  # d(a_r, a_z, G_n), dL/dh
            self.dg, self.gl = self.DG.unbind(0), self.G.unbind(0)
            self.dg_r, self.dg_z = self.DG[:, :, :D].unbind(0), self.DG[:, :, D : 2 * D].unbind(0)
            self.dg_n = self.DG[:, :, 2 * D :].unbind(0)


POOL_SHAPES = 4  # workspace shapes kept for reuse; a curriculum changes shape every epoch
_POOL: OrderedDict[tuple, list[_Workspace]] = OrderedDict()


def _take(key: tuple) -> _Workspace:
    """A free workspace of this shape; its generation changes, so a graph still pointing at it
    can tell that its contents were overwritten."""
    free = _POOL.get(key)
    ws = free.pop() if free else _Workspace(key)
    ws.generation += 1
    ws.free = False
    return ws


def _give(ws: _Workspace) -> None:
    """Back to the pool; its contents stay valid until the next :func:`_take`. (A workspace
    whose graph is dropped without a backward pass is simply garbage-collected.)"""
    if not ws.free:
        ws.free = True
        _POOL.setdefault(ws.key, []).append(ws)
        _POOL.move_to_end(ws.key)
        while len(_POOL) > POOL_SHAPES:  # the least recently used shape goes
            _POOL.popitem(last=False)


class _StackedRollout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0, weight_ih, weight_hh, bias_ih, bias_hh, readout_w, readout_b, steps,
                reset):
        M, D, N = weight_hh.shape[0], weight_hh.shape[-1], x0.shape[0]
        ws = _take((steps, M, D, N, weight_hh.dtype, weight_hh.device, reset))
        x0T = x0.mT.to(weight_hh).expand(M, -1, -1)  # (M, p, N)
        gi0 = torch.bmm(weight_ih, x0T).add_(bias_ih[..., None])  # step 1's input part
        (_forward_before if reset == "before" else _forward_after)(ws, gi0, weight_hh, bias_ih,
                                                                     bias_hh)
        if readout_w is None:
            out, readout = ws.Hb[1:, :, :D].clone(), None
        else:  # [C | c] [h; 1] for every step and member in one bmm
            readout = torch.cat([readout_w, readout_b[..., None]], dim=2)
            out = torch.bmm(readout.expand(steps, -1, -1, -1).flatten(0, 1),
                            ws.Hb[1:].flatten(0, 1)).view(steps, M, -1, N)
        if any(ctx.needs_input_grad):
            ctx.ws, ctx.generation, ctx.reset = ws, ws.generation, reset
            ctx.save_for_backward(x0T, weight_ih, weight_hh, readout)
        else:
            _give(ws)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out):
        ws = ctx.ws
        if ws.generation != ctx.generation:  # a second backward after another forward
            raise RuntimeError("gru_learn.gru.bptt: this graph's buffers were reused by a later "
                               "forward pass; run the forward again before this backward")
        x0T, weight_ih, weight_hh, readout = ctx.saved_tensors
        d_out = d_out.contiguous()
        D = weight_hh.shape[-1]
        d_rw = d_rb = None
        if readout is None:  # d_out is dL/dh_k
            inject = d_out.unbind(0).__getitem__
        else:  # d_out is dL/d(prediction k): dL/dh_k gets C^T d_out[k]
            CT, d_pred = readout[..., :D].mT, d_out.unbind(0)
            inject = lambda t: torch.bmm(CT, d_pred[t])  # noqa: E731
            d_readout = _summed_outer(d_out, ws.Hb[1:])  # [dC | dc]
            d_rw, d_rb = d_readout[..., :D].contiguous(), d_readout[..., D].contiguous()
        bwd = _backward_before if ctx.reset == "before" else _backward_after
        d_gi0, d_w_hh, d_b_ih, d_b_hh = bwd(ws, inject, weight_hh)
        _give(ws)
        d_w_ih = torch.bmm(d_gi0, x0T.mT)
        d_x0 = None
        if ctx.needs_input_grad[0]:
            d_x0 = torch.bmm(weight_ih.mT, d_gi0).sum(dim=0).mT
        return d_x0, d_w_ih, d_w_hh, d_b_ih, d_b_hh, d_rw, d_rb, None, None


def _tanh_from_sigmoid(ws: _Workspace, s: Tensor, out: Tensor) -> Tensor:
    """tanh(c) = 2 sigmoid(2c) - 1, given s = sigmoid(2c)."""
    return torch.add(ws.minus_one, s, alpha=2.0, out=out)


def _forward_before(ws: _Workspace, gi0, w_hh, b_ih, b_hh) -> None:
    """n = tanh(W_in x + b_in + U_h (r * h) + b_hn). Fills H, (r, z), n and [r * h; 1]."""
    T, D = len(ws.n), w_hh.shape[-1]
    w_rz = torch.cat([w_hh[:, : 2 * D], (b_ih[:, : 2 * D] + b_hh[:, : 2 * D])[..., None]], dim=2)
    w_n2 = 2.0 * torch.cat([w_hh[:, 2 * D :], (b_ih[:, 2 * D :] + b_hh[:, 2 * D :])[..., None]],
                           dim=2)  # 2 c, for tanh(c) = 2 sigmoid(2c) - 1
    H, Hh, R, Z, rz, n, e, Eh = ws.H, ws.Hh, ws.R, ws.Z, ws.rz, ws.n, ws.e, ws.Eh
    # step 1: h_0 = 0, so only the biases and the input reach the gates
    torch.sigmoid(gi0[:, : 2 * D] + b_hh[:, : 2 * D, None], out=rz[0])
    Eh[0].zero_()
    _tanh_from_sigmoid(ws, torch.sigmoid(2.0 * (gi0[:, 2 * D :] + b_hh[:, 2 * D :, None])), n[0])
    torch.lerp(n[0], Hh[0], Z[0], out=Hh[1])
    for t in range(1, T):
        torch.bmm(w_rz, H[t], out=rz[t]).sigmoid_()
        torch.mul(R[t], Hh[t], out=Eh[t])
        _tanh_from_sigmoid(ws, torch.bmm(w_n2, e[t], out=n[t]).sigmoid_(), n[t])
        torch.lerp(n[t], Hh[t], Z[t], out=Hh[t + 1])  # h + f(h) = n + z (h - n)


def _forward_after(ws: _Workspace, gi0, w_hh, b_ih, b_hh) -> None:
    """n = tanh(W_in x + b_in + r * (U_h h + b_hn)). Fills H, (r, z), n and the hidden-side
    pre-activations [U_rz h + b_rz; U_h h + b_hn]."""
    T, D = len(ws.n), w_hh.shape[-1]
    bias = torch.cat([b_ih[:, : 2 * D] + b_hh[:, : 2 * D], b_hh[:, 2 * D :]], dim=1)
    w_all = torch.cat([w_hh, bias[..., None]], dim=2)
    b_in2 = 2.0 * b_ih[:, 2 * D :, None]
    H, Hh, R, Z, rz, n, g, g_rz, g_n = ws.H, ws.Hh, ws.R, ws.Z, ws.rz, ws.n, ws.g, ws.g_rz, ws.g_n
    # step 1: h_0 = 0, so the hidden side is its bias alone and the input enters
    torch.add(gi0[:, : 2 * D], b_hh[:, : 2 * D, None], out=g_rz[0])
    g_n[0].copy_(b_hh[:, 2 * D :, None].expand_as(g_n[0]))
    torch.sigmoid(g_rz[0], out=rz[0])
    _tanh_from_sigmoid(ws, torch.addcmul(2.0 * gi0[:, 2 * D :], R[0], g_n[0], value=2.0).sigmoid_(),
                       n[0])
    torch.lerp(n[0], Hh[0], Z[0], out=Hh[1])
    for t in range(1, T):
        torch.bmm(w_all, H[t], out=g[t])
        torch.sigmoid(g_rz[t], out=rz[t])
        _tanh_from_sigmoid(ws, torch.addcmul(b_in2, R[t], g_n[t], value=2.0, out=n[t]).sigmoid_(),
                           n[t])
        torch.lerp(n[t], Hh[t], Z[t], out=Hh[t + 1])


def _coefficients(ws: _Workspace) -> None:
    """The gradient-independent factors of h_k = n + z (h_{k-1} - n), for all steps:
    Cn = (1 - z)(1 - n^2) (dL/dc = g Cn for n = tanh(c)) and Az = (h_{k-1} - n) z (1 - z)
    (dL/da_z = g Az); ``tmp`` is left holding 1 - r."""
    D = ws.NN.shape[2]
    Hh, R, Z, NN = ws.Hb[:-1, :, :D], ws.RZ[:, :, :D], ws.RZ[:, :, D:], ws.NN
    one_z = torch.sub(ws.one, Z, out=ws.tmp)
    torch.addcmul(ws.one, NN, NN, value=-1.0, out=ws.Cn).mul_(one_z)
    torch.sub(Hh, NN, out=ws.Az).mul_(Z).mul_(one_z)
    torch.sub(ws.one, R, out=ws.tmp)


def _backward_before(ws: _Workspace, inject, w_hh: Tensor):
    """Through n = tanh(c), c = U_h (r * h) + ...: dL/d(r * h) = U_h^T dc, so
    dL/da_r = (U_h^T dc) h r (1 - r) and dL/dh_{k-1} = g z + r (U_h^T dc) + U_rz^T da."""
    T, _, D, _ = ws.NN.shape
    _coefficients(ws)
    torch.mul(ws.tmp, ws.RZ[:, :, :D], out=ws.Ar).mul_(ws.Hb[:-1, :, :D])  # h r (1 - r)
    R, Z, Cn, Az, Ar = ws.R, ws.Z, ws.Cnl, ws.Azl, ws.Arl
    da, dc, da_r, da_z = ws.da, ws.dc, ws.da_r, ws.da_z
    U_nT, U_rzT = w_hh[:, 2 * D :].mT, w_hh[:, : 2 * D].mT
    g = inject(T - 1)
    for t in range(T - 1, 0, -1):
        torch.mul(g, Cn[t], out=dc[t])
        torch.mul(g, Az[t], out=da_z[t])
        d_rh = torch.bmm(U_nT, dc[t])
        torch.mul(d_rh, Ar[t], out=da_r[t])
        g = torch.baddbmm(torch.addcmul(inject(t - 1), g, Z[t]).addcmul_(d_rh, R[t]), U_rzT, da[t])
    torch.mul(g, Cn[0], out=dc[0])
    torch.mul(g, Az[0], out=da_z[0])
    da_r[0].zero_()  # r multiplies h_0 = 0
    d_rz = _summed_outer(ws.DA, ws.Hb[:-1])  # (M, 2D, D + 1): [dU_rz | d bias_rz]
    d_n = _summed_outer(ws.DC, ws.E)  # (M, D, D + 1): [dU_h | d(b_in + b_hn)]
    d_w_hh = torch.cat([d_rz[..., :D], d_n[..., :D]], dim=1)
    d_bias = torch.cat([d_rz[..., D], d_n[..., D]], dim=1)
    return torch.cat([da[0], dc[0]], dim=1), d_w_hh, d_bias, d_bias.clone()


def _backward_after(ws: _Workspace, inject, w_hh: Tensor):
    """Through n = tanh(c), c = b_in + r * G_n with G_n = U_h h + b_hn: dL/dG_n = dc r and
    dL/da_r = dc G_n r (1 - r), so dL/dh_{k-1} = g z + U_hh^T [da_r; da_z; dG_n]."""
    T, _, D, _ = ws.NN.shape
    _coefficients(ws)
    R = ws.RZ[:, :, :D]
    torch.mul(ws.tmp, R, out=ws.Ar).mul_(ws.GG[:, :, 2 * D :]).mul_(ws.Cn)  # Cn G_n r (1 - r)
    Cr = torch.mul(ws.Cn, R, out=ws.tmp)  # dL/dG_n = g Cn r
    Z, Crl, Az, Ar, gl = ws.Z, Cr.unbind(0), ws.Azl, ws.Arl, ws.gl
    dg, dg_r, dg_z, dg_n = ws.dg, ws.dg_r, ws.dg_z, ws.dg_n
    U_hhT = w_hh.mT
    gl[T - 1].copy_(inject(T - 1))
    for t in range(T - 1, -1, -1):
        g = gl[t]
        torch.mul(g, Ar[t], out=dg_r[t])
        torch.mul(g, Az[t], out=dg_z[t])
        torch.mul(g, Crl[t], out=dg_n[t])
        if t:
            torch.baddbmm(torch.addcmul(inject(t - 1), g, Z[t]), U_hhT, dg[t], out=gl[t - 1])
    DC = torch.mul(ws.G, ws.Cn, out=ws.tmp)  # dL/d(b_in + ...) at every step
    d_all = _summed_outer(ws.DG, ws.Hb[:-1])  # (M, 3D, D + 1): [dU_hh | d(b_rz, b_hn)]
    d_b_ih = torch.cat([d_all[:, : 2 * D, D], DC.sum(dim=(0, 3))], dim=1)
    return (torch.cat([dg[0][:, : 2 * D], DC[0]], dim=1), d_all[..., :D].contiguous(), d_b_ih,
            d_all[..., D].contiguous())


def _summed_outer(a: Tensor, b: Tensor) -> Tensor:
    """sum_t a[t, m] @ b[t, m]^T: (T, M, i, N), (T, M, k, N) -> (M, i, k), a weight gradient."""
    T, M = a.shape[:2]
    return torch.bmm(a.flatten(0, 1), b.flatten(0, 1).mT).view(T, M, a.shape[2], -1).sum(0)
