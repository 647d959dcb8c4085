"""Closed-form Jacobian of a GRU's zero-input vector field f(h) = (1 - z) * (n - h).

With a_g = b_ig + U_g h + b_hg and g = sigmoid(a_g) for the gates r and z,

- ``reset="before"``: n = tanh(b_in + U_n (r * h) + b_hn),
  dn/dh = diag(1 - n^2) U_n (diag(r) + diag(h r (1 - r)) U_r);
- ``reset="after"``: n = tanh(b_in + r * (U_n h + b_hn)),
  dn/dh = diag(1 - n^2) (diag(r) U_n + diag((U_n h + b_hn) r (1 - r)) U_r);

and df/dh = diag(1 - z) (dn/dh - I) - diag((n - h) z (1 - z)) U_z.

The cell is read by duck typing (``hidden_size``, ``reset``, ``weight_hh``, ``bias_ih``,
``bias_hh`` laid out as torch.nn.GRU's, gates r, z, n), so the toolkit imports no model code.
Batched over h (n, d): O(n d^2) for ``after``, one (n, d, d) x (d, d) product for ``before``;
far cheaper than autograd per point in 64-128 dimensions (bench/bench_toolkit.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def gru_jacobian(cell: Any) -> Callable[[Tensor], Tensor]:
    """h (n, d) -> df/dh (n, d, d) for the zero-input vector field of ``cell``, in h's dtype."""
    d = cell.hidden_size
    reset = cell.reset

    def jac(h: Tensor) -> Tensor:
        dt = h.dtype
        with torch.no_grad():
            w = cell.weight_hh.detach().to(dt)
            b = (cell.bias_ih + cell.bias_hh).detach().to(dt)
            b_in, b_hn = cell.bias_ih.detach().to(dt)[2 * d:], cell.bias_hh.detach().to(dt)[2 * d:]
            u_r, u_z, u_n = w[:d], w[d:2 * d], w[2 * d:]
            r = torch.sigmoid(h @ u_r.T + b[:d])
            z = torch.sigmoid(h @ u_z.T + b[d:2 * d])
            gate = 1 - z
            if reset == "before":
                n = torch.tanh((r * h) @ u_n.T + b_in + b_hn)
                c = (gate * (1 - n * n))[:, :, None]
                out = (c * u_n) * r[:, None, :]
                out.baddbmm_(c * u_n * (h * r * (1 - r))[:, None, :], u_r.expand(len(h), d, d))
            else:
                pre = h @ u_n.T + b_hn
                n = torch.tanh(b_in + r * pre)
                c = gate * (1 - n * n)
                out = (c * r)[:, :, None] * u_n
                out.addcmul_((c * pre * r * (1 - r))[:, :, None], u_r)
            out.addcmul_((-(n - h) * z * (1 - z))[:, :, None], u_z)
            out.diagonal(dim1=1, dim2=2).sub_(gate)
            return out

    return jac
