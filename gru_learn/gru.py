"""The GRU cell and its continuous-time counterpart.

One GRU step is one forward-Euler step of size 1 of a vector field::

    h_t = h_{t-1} + f(h_{t-1}, x_t),   f(h, x) = (1 - z) * (n(h, x) - h)

with z = sigmoid(W_z x + b_iz + U_z h + b_hz), r = sigmoid(W_r x + b_ir + U_r h + b_hr) and

- ``reset="before"`` (Cho et al. 2014, the paper's Eq 4):
  n = tanh(W_h x + b_in + U_h (r * h) + b_hn)
- ``reset="after"`` (torch.nn.GRU / cuDNN):
  n = tanh(W_h x + b_in + r * (U_h h + b_hn))

Parameters are stored exactly as ``torch.nn.GRU`` stores them (gate order r, z, n), so a
trained ``torch.nn.GRU`` loads without any reshuffling, and the paper's b_h is b_in + b_hn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

Reset = Literal["before", "after"]
RESET_CONVENTIONS: tuple[str, ...] = ("before", "after")


class GRUCell(nn.Module):
    """A GRU cell that is also a vector field ``f(h, x) = (1 - z) * (n - h)``.

    ``cell(x, h)`` is one discrete step ``h + f(h, x)``; ``cell.vector_field(h, x)`` is f.
    Inputs may carry any leading batch shape: ``x`` is ``(..., input_size)`` and ``h`` is
    ``(..., hidden_size)``.
    """

    def __init__(self, input_size: int, hidden_size: int, reset: Reset = "before") -> None:
        super().__init__()
        if reset not in RESET_CONVENTIONS:
            raise ValueError(f"reset must be one of {RESET_CONVENTIONS}, got {reset!r}")
        if input_size < 0 or hidden_size <= 0:
            raise ValueError(
                f"need input_size >= 0 and hidden_size > 0, got {input_size} and {hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.reset = reset
        d = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * d, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * d, d))
        self.bias_ih = nn.Parameter(torch.empty(3 * d))
        self.bias_hh = nn.Parameter(torch.empty(3 * d))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """torch.nn.GRU's initialisation: every parameter uniform on ±1/sqrt(hidden_size)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound, generator=generator)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset={self.reset!r}"

    # --- the mathematics -------------------------------------------------------------
    def _gates(self, h: Tensor, x: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Return (r, z, n) at state h with input x (x=None means zero input).

        Computed in the dtype of ``h``: a float32 cell (say from ``from_torch_gru``) evaluated
        at float64 states, as the analysis does, works in float64 (``.to`` is free when the
        dtypes already agree)."""
        d = self.hidden_size
        dt = h.dtype
        b_ih = self.bias_ih.to(dt)
        gi = b_ih if x is None else nn.functional.linear(x.to(dt), self.weight_ih.to(dt), b_ih)
        w_r, w_z, w_n = self.weight_hh.to(dt).split(d)
        b_r, b_z, b_n = self.bias_hh.to(dt).split(d)
        i_r, i_z, i_n = gi.split(d, dim=-1)
        r = torch.sigmoid(i_r + nn.functional.linear(h, w_r, b_r))
        z = torch.sigmoid(i_z + nn.functional.linear(h, w_z, b_z))
        if self.reset == "before":
            n = torch.tanh(i_n + nn.functional.linear(r * h, w_n, b_n))
        else:
            n = torch.tanh(i_n + r * nn.functional.linear(h, w_n, b_n))
        return r, z, n

    def vector_field(self, h: Tensor, x: Tensor | None = None) -> Tensor:
        """f(h, x) = (1 - z) * (n(h, x) - h): the GRU read as an ODE dh/dt = f."""
        _, z, n = self._gates(h, x)
        return (1.0 - z) * (n - h)

    def forward(self, x: Tensor | None, h: Tensor) -> Tensor:
        """One discrete GRU step: h + f(h, x) = (1 - z) * n + z * h."""
        _, z, n = self._gates(h, x)
        return n + z * (h - n)

    def autonomous_map(self) -> Callable[[Tensor], Tensor]:
        """h -> h + f(h, 0) for 2-D h (batch, d), with the constant parts hoisted out of the
        step: the same map as ``cell(None, h)`` in fewer operations, for long rollouts."""
        d = self.hidden_size
        w_rz, w_n = self.weight_hh[: 2 * d].t(), self.weight_hh[2 * d :].t()
        b_rz = self.bias_ih[: 2 * d] + self.bias_hh[: 2 * d]
        b_in, b_hn = self.bias_ih[2 * d :], self.bias_hh[2 * d :]
        if self.reset == "before":
            b_n = b_in + b_hn

            def step(h: Tensor) -> Tensor:
                r, z = torch.sigmoid(torch.addmm(b_rz, h, w_rz)).chunk(2, dim=-1)
                return torch.lerp(torch.tanh(torch.addmm(b_n, r * h, w_n)), h, z)
        else:

            def step(h: Tensor) -> Tensor:
                r, z = torch.sigmoid(torch.addmm(b_rz, h, w_rz)).chunk(2, dim=-1)
                return torch.lerp(torch.tanh(torch.addcmul(b_in, r, torch.addmm(b_hn, h, w_n))),
                                  h, z)

        return step

    def ode(self, x: Tensor | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """The vector field at a constant input as ``func(t, h)``, the form torchdiffeq takes."""
        return lambda t, h: self.vector_field(h, x)

    # --- construction ----------------------------------------------------------------
    @classmethod
    def from_torch_gru(cls, gru: nn.GRU) -> GRUCell:
        """An ``reset="after"`` cell with the weights of a single-layer, unidirectional nn.GRU,
        in the GRU's dtype and device (the analysis computes in the dtype of the states it is
        given, so a float32 cell is read in float64 by ``gru_learn.analyze_gru``)."""
        if gru.num_layers != 1 or gru.bidirectional or gru.proj_size:
            raise ValueError("from_torch_gru needs a single-layer, unidirectional nn.GRU")
        cell = cls(gru.input_size, gru.hidden_size, reset="after")
        with torch.no_grad():
            cell.weight_ih.copy_(gru.weight_ih_l0)
            cell.weight_hh.copy_(gru.weight_hh_l0)
            if gru.bias:
                cell.bias_ih.copy_(gru.bias_ih_l0)
                cell.bias_hh.copy_(gru.bias_hh_l0)
            else:
                cell.bias_ih.zero_()
                cell.bias_hh.zero_()
        return cell.to(gru.weight_hh_l0)

    @classmethod
    def from_torch_gru_cell(cls, gru_cell: nn.GRUCell) -> GRUCell:
        """An ``reset="after"`` cell with the weights of an ``nn.GRUCell`` (same layout)."""
        cell = cls(gru_cell.input_size, gru_cell.hidden_size, reset="after")
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                source = getattr(gru_cell, name)  # None for the biases of bias=False
                if source is None:
                    getattr(cell, name).zero_()
                else:
                    getattr(cell, name).copy_(source)
        return cell.to(gru_cell.weight_hh)

    @classmethod
    def from_weights(
        cls,
        U_h: Tensor,
        U_z: Tensor | None = None,
        U_r: Tensor | None = None,
        b_h: Tensor | None = None,
        b_z: Tensor | None = None,
        b_r: Tensor | None = None,
        W: Tensor | None = None,
        reset: Reset = "before",
        dtype: torch.dtype = torch.float64,
    ) -> GRUCell:
        """A cell from the paper's named weights (Eqs 2-4); anything left out is zero.

        ``W`` is the stacked input weight ``[W_r; W_z; W_h]`` of shape (3d, p); without it the
        cell has input_size 0 (an autonomous GRU, as in the paper's Sections 3-4).
        """
        U_h = torch.as_tensor(U_h, dtype=dtype)
        d = U_h.shape[0]

        def mat(a: Tensor | None) -> Tensor:
            return torch.zeros(d, d, dtype=dtype) if a is None else torch.as_tensor(a, dtype=dtype)

        def vec(a: Tensor | None) -> Tensor:
            if a is None:
                return torch.zeros(d, dtype=dtype)
            return torch.as_tensor(a, dtype=dtype).expand(d).clone()

        p = 0 if W is None else W.shape[1]
        cell = cls(p, d, reset=reset).to(dtype)
        with torch.no_grad():
            cell.weight_hh.copy_(torch.cat([mat(U_r), mat(U_z), U_h]))
            cell.bias_ih.copy_(torch.cat([vec(b_r), vec(b_z), vec(b_h)]))
            cell.bias_hh.zero_()
            if W is not None:
                cell.weight_ih.copy_(torch.as_tensor(W, dtype=dtype))
        return cell
