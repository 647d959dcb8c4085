"""The architectures a GRU is compared with, read the way the analysis reads a ``GRUCell``:
``TanhRNNCell`` (torch.nn.RNN / RNNCell with tanh) as a map and its ODE, ``LSTMStateMap``
(torch.nn.LSTM / LSTMCell) as a map of its state (h, c) only.

Both offer what the analysis calls on a cell: ``input_size``, ``hidden_size`` (the size of the
state the analysis searches), ``forward(x, h)`` (one step), ``vector_field(h, x)`` (one step's
displacement f = F(h, x) - h, so the map is h + f), ``field_at(x)``, ``autonomous_map()``, and
``reading``: ``"ode"`` where dh/dt = f is a reading of the network in its own right, ``"map"``
where only the map is read. What is GRU-specific (the paper's continuous-time reading
f = (1 - z)(n - h), with the update gate as a state-dependent time constant) is not claimed
for either: a tanh RNN's ODE dh/dt = -h + tanh(W h + b) is the leaky-rate reading with unit time
constant, and an LSTM is read as a map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


class _StepMap(nn.Module):
    """What the analysis calls on a cell, from its ``forward(x, state)`` (one step): the step's
    displacement F(s, x) - s (the ODE's right-hand side for a tanh RNN; for an LSTM only the
    roots matter, the map's fixed points), at a fixed input, and the input-free map."""

    def vector_field(self, s: Tensor, x: Tensor | None = None) -> Tensor:
        return self(x, s) - s

    def field_at(self, x: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        return lambda s: self.vector_field(s, x)

    def autonomous_map(self) -> Callable[[Tensor], Tensor]:
        return lambda s: self(None, s)

    @classmethod
    def from_tensors(cls, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
                     bias_hh: Tensor | None = None) -> Any:
        """A cell holding torch's tensors (a tanh RNN's weight_ih (d, p), weight_hh (d, d),
        biases (d,); an LSTM's (4d, p), (4d, d), (4d,); a missing bias is zero), in
        weight_hh's dtype and device."""
        return _copy(cls(weight_ih.shape[1], weight_hh.shape[1]),
                     (weight_ih, weight_hh, bias_ih, bias_hh))


class TanhRNNCell(_StepMap):
    """An Elman RNN: the map h -> tanh(W_ih x + b_ih + W_hh h + b_hh) and its ODE
    dh/dt = f(h, x) = -h + tanh(W_ih x + b_ih + W_hh h + b_hh) (the map is one Euler step of
    size 1 of the ODE, as for the GRU). Every fixed point lies in the open cube (-1, 1)^d."""

    reading = "ode"
    architecture = "RNN (tanh)"
    reset = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        d = hidden_size
        self.weight_ih = nn.Parameter(torch.zeros(d, input_size))
        self.weight_hh = nn.Parameter(torch.zeros(d, d))
        self.bias_ih = nn.Parameter(torch.zeros(d))
        self.bias_hh = nn.Parameter(torch.zeros(d))

    def _drive(self, x: Tensor | None, dtype: torch.dtype) -> Tensor:
        b = (self.bias_ih + self.bias_hh).to(dtype)
        return b if x is None else b + x.to(dtype) @ self.weight_ih.to(dtype).t()

    def forward(self, x: Tensor | None, h: Tensor) -> Tensor:
        """One step: tanh(W_ih x + b_ih + W_hh h + b_hh) (x=None: zero input)."""
        return torch.tanh(self._drive(x, h.dtype) + h @ self.weight_hh.to(h.dtype).t())

    @classmethod
    def from_torch(cls, rnn: nn.RNN | nn.RNNCell) -> TanhRNNCell:
        """The cell of a one-layer, one-direction ``nn.RNN`` or an ``nn.RNNCell`` with tanh, in
        its dtype and device; a ValueError for any other."""
        if getattr(rnn, "nonlinearity", "tanh") != "tanh":
            raise ValueError(f"an {type(rnn).__name__} with nonlinearity="
                             f"{rnn.nonlinearity!r}: only tanh RNNs are read here")
        suffix = "_l0" if isinstance(rnn, nn.RNN) else ""
        return cls.from_tensors(*_weights(rnn, suffix))


class LSTMStateMap(_StepMap):
    """An LSTM read as a map of its whole state s = (h, c) in R^(2d):
    (h, c) -> (o * tanh(c'), c') with c' = f * c + i * g, gates from W_ih x + b_ih + W_hh h + b_hh
    (torch's order i, f, g, o). Map reading only: the analysis finds the roots of
    F(s) - s (fixed points of the map) and classifies them by the map's multipliers; cycles of
    a flow are not searched (there is no flow to speak of)."""

    reading = "map"
    architecture = "LSTM"
    reset = None

    def __init__(self, input_size: int, units: int) -> None:
        super().__init__()
        self.input_size, self.units, self.hidden_size = input_size, units, 2 * units
        self.weight_ih = nn.Parameter(torch.zeros(4 * units, input_size))
        self.weight_hh = nn.Parameter(torch.zeros(4 * units, units))
        self.bias_ih = nn.Parameter(torch.zeros(4 * units))
        self.bias_hh = nn.Parameter(torch.zeros(4 * units))

    def forward(self, x: Tensor | None, s: Tensor) -> Tensor:
        """One step of the state s = [h, c]: [o * tanh(c'), c']."""
        d, dtype = self.units, s.dtype
        h, c = s[..., :d], s[..., d:]
        pre = (self.bias_ih + self.bias_hh).to(dtype) + h @ self.weight_hh.to(dtype).t()
        if x is not None:
            pre = pre + x.to(dtype) @ self.weight_ih.to(dtype).t()
        i, f, g, o = pre.split(d, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.cat([torch.sigmoid(o) * torch.tanh(c_new), c_new], dim=-1)

    @classmethod
    def from_torch(cls, lstm: nn.LSTM | nn.LSTMCell) -> LSTMStateMap:
        """The map of a one-layer, one-direction ``nn.LSTM`` without projection, or of an
        ``nn.LSTMCell``, in its dtype and device."""
        suffix = "_l0" if isinstance(lstm, nn.LSTM) else ""
        return cls.from_tensors(*_weights(lstm, suffix))


NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _weights(module: nn.Module, suffix: str) -> tuple[Tensor | None, ...]:
    return tuple(getattr(module, f"{name}{suffix}", None) for name in NAMES)


def _copy(cell: nn.Module, weights: tuple[Tensor | None, ...]) -> nn.Module:
    """``cell`` holding ``weights`` (in ``NAMES``' order; a missing bias is zero), in the
    recurrent weight's dtype and device."""
    cell = cell.to(weights[1])
    with torch.no_grad():
        for name, w in zip(NAMES, weights, strict=True):
            if w is not None:
                getattr(cell, name).copy_(w.detach())
    return cell
