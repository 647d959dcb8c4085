"""Closed-form Jacobian of a GRU's zero-input vector field f(h) = (1 - z) * (n - h).

With a_g = b_ig + U_g h + b_hg and g = sigmoid(a_g) for the gates r and z,

- ``reset="before"``: n = tanh(b_in + U_n (r * h) + b_hn),
  dn/dh = diag(1 - n^2) U_n (diag(r) + diag(h r (1 - r)) U_r);
- ``reset="after"``: n = tanh(b_in + r * (U_n h + b_hn)),
  dn/dh = diag(1 - n^2) (diag(r) U_n + diag((U_n h + b_hn) r (1 - r)) U_r);

and df/dh = diag(1 - z) (dn/dh - I) - diag((n - h) z (1 - z)) U_z.

The cell is read by duck typing (``hidden_size``, ``reset``, ``weight_hh`` laid out as
torch.nn.GRU's, gates r, z, n, and ``gates(h)``, the cell's one step formula, for the gate
values), so the toolkit imports no model code.
Batched over h (n, d): O(n d^2) for ``after``, one (n, d, d) x (d, d) product for ``before``;
far cheaper than autograd per point in 64-128 dimensions (bench/bench_toolkit.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def gru_jacobian(cell: Any) -> Callable[[Tensor], Tensor]:
    """h (n, d) -> df/dh (n, d, d) for the zero-input vector field of ``cell``, in h's dtype.
    The gates r, z, n (and U_n h + b_hn) come from the cell's own step, ``cell.gates``."""
    d = cell.hidden_size
    reset = cell.reset

    def jac(h: Tensor) -> Tensor:
        with torch.no_grad():
            r, z, n, pre = cell.gates(h)
            u_r, u_z, u_n = cell.weight_hh.detach().to(h.dtype).split(d)
            gate = 1 - z
            c = gate * (1 - n * n)
            if reset == "before":
                c = c[:, :, None]
                out = (c * u_n) * r[:, None, :]
                out.baddbmm_(c * u_n * (h * r * (1 - r))[:, None, :], u_r.expand(len(h), d, d))
            else:
                out = (c * r)[:, :, None] * u_n
                out.addcmul_((c * pre * r * (1 - r))[:, :, None], u_r)
            out.addcmul_((-(n - h) * z * (1 - z))[:, :, None], u_z)
            out.diagonal(dim1=1, dim2=2).sub_(gate)
            return out

    return jac
