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
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

Reset = Literal["before", "after"]
RESET_CONVENTIONS: tuple[str, ...] = ("before", "after")


class Gates(NamedTuple):
    """A step's gates: reset r, update z, candidate n, and ``u = U_h h + b_hn``, the hidden
    side of n's pre-activation for ``reset="after"`` (None for "before", whose U_h acts on
    r * h)."""

    r: Tensor
    z: Tensor
    n: Tensor
    u: Tensor | None


class _Constants(NamedTuple):
    """The h-independent parts of a step at a given input x: ``c_rz = W_rz x + b_irz + b_hrz``
    (..., 2d); ``c_n = W_h x + b_in``, plus b_hn for "before"; U_rz^T, U_h^T; b_hn."""

    c_rz: Tensor
    c_n: Tensor
    u_rz_t: Tensor
    u_h_t: Tensor
    b_hn: Tensor
    reset: str


def gates_2d(h: Tensor, c: _Constants) -> Gates:
    """The one formula of the GRU step, for states h (N, d) and constants ``c``
    (``GRUCell._constants``; c_rz and c_n of shape (2d,), (d,) or (N, 2d), (N, d))::

        (r, z) = sigmoid(U_rz h + c_rz)
        before: n = tanh(U_h (r * h) + c_n)
        after:  n = tanh(c_n + r * u),  u = U_h h + b_hn

    Every step of a :class:`GRUCell` (``forward``, ``vector_field``, ``autonomous_map``) is
    computed here; ``gru_learn.gru.bptt`` is the training fast path with its own backward."""
    c_rz, c_n, u_rz_t, u_h_t, b_hn, reset = c
    r, z = torch.sigmoid(torch.addmm(c_rz, h, u_rz_t)).chunk(2, dim=-1)
    if reset == "before":
        return Gates(r, z, torch.tanh(torch.addmm(c_n, r * h, u_h_t)), None)
    u = torch.addmm(b_hn, h, u_h_t)
    return Gates(r, z, torch.tanh(torch.addcmul(c_n, r, u)), u)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of two shapes (``torch.broadcast_shapes`` imports sympy, a second)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b, strict=True)):
        raise RuntimeError(f"shapes {a} and {b} do not broadcast")
    return tuple(y if x == 1 else x for x, y in zip(a, b, strict=True))


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
    def _constants(self, x: Tensor | None, dtype: torch.dtype) -> _Constants:
        """Everything of a step that does not depend on h, in ``dtype`` (``.to`` is free when
        the dtypes already agree, and keeps the parameters' autograd graph): a float32 cell
        evaluated at float64 states, as the analysis does, works in float64."""
        d = self.hidden_size
        w_hh, b_ih, b_hh = (p.to(dtype) for p in (self.weight_hh, self.bias_ih, self.bias_hh))
        gi = b_ih if x is None else nn.functional.linear(x.to(dtype), self.weight_ih.to(dtype),
                                                        b_ih)
        c_rz = gi[..., : 2 * d] + b_hh[: 2 * d]
        c_n = gi[..., 2 * d :] + b_hh[2 * d :] if self.reset == "before" else gi[..., 2 * d :]
        return _Constants(c_rz, c_n, w_hh[: 2 * d].t(), w_hh[2 * d :].t(), b_hh[2 * d :],
                          self.reset)

    def gates(self, h: Tensor, x: Tensor | None = None) -> Gates:
        """The gates (r, z, n) at state h with input x (x=None: zero input), in h's dtype, for
        any leading batch shapes of x and h that broadcast; see :func:`gates_2d`."""
        c = self._constants(x, h.dtype)
        d = self.hidden_size
        if h.dim() == 2 and c.c_rz.dim() == 1:  # the common case: nothing to reshape
            return gates_2d(h, c)
        lead = _broadcast(h.shape[:-1], c.c_rz.shape[:-1])
        flat = _Constants(*(t.expand(*lead, t.shape[-1]).reshape(-1, t.shape[-1])
                            for t in (c.c_rz, c.c_n)), *c[2:])
        g = gates_2d(h.expand(*lead, d).reshape(-1, d), flat)
        return Gates(*(None if t is None else t.reshape(*lead, d) for t in g))

    def vector_field(self, h: Tensor, x: Tensor | None = None) -> Tensor:
        """f(h, x) = (1 - z) * (n(h, x) - h): the GRU read as an ODE dh/dt = f."""
        _, z, n, _ = self.gates(h, x)
        return (1.0 - z) * (n - h)

    def forward(self, x: Tensor | None, h: Tensor) -> Tensor:
        """One discrete GRU step: h + f(h, x) = (1 - z) * n + z * h = lerp(n, h, z)."""
        _, z, n, _ = self.gates(h, x)
        return torch.lerp(n, h, z)

    def autonomous_map(self) -> Callable[[Tensor], Tensor]:
        """h -> h + f(h, 0) for 2-D h (batch, d) in the parameters' dtype: the same formula
        (:func:`gates_2d`) and the same numbers as ``cell(None, h)``, with the h-independent
        constants computed once instead of every step, for long rollouts."""
        c = self._constants(None, self.weight_hh.dtype)

        def step(h: Tensor) -> Tensor:
            _, z, n, _ = gates_2d(h, c)
            return torch.lerp(n, h, z)

        return step

    def field_at(self, x: Tensor | None = None) -> Callable[[Tensor], Tensor]:
        """h -> f(h, x) at a constant input x, the same numbers as ``vector_field(h, x)``, with
        the h-independent constants computed once (in the parameters' dtype) for h (..., d) of
        that dtype and a 1-D or absent x: the analysis evaluates f tens of thousands of times,
        and at these sizes each evaluation costs its operations' overhead, not arithmetic.
        Other shapes and dtypes go through :meth:`vector_field`. The constants are frozen:
        change the parameters and ask for a new field."""
        with torch.no_grad():
            c = self._constants(x, self.weight_hh.dtype)
        fast = x is None or x.dim() == 1

        def f(h: Tensor) -> Tensor:
            if not (fast and h.dim() >= 1 and h.dtype == c.c_rz.dtype):
                return self.vector_field(h, x)
            if h.dim() == 2:  # the common case, without reshapes (each costs microseconds)
                _, z, n, _ = gates_2d(h, c)
                return torch.rsub(z, 1.0) * (n - h)
            flat = h.reshape(-1, h.shape[-1])
            _, z, n, _ = gates_2d(flat, c)
            return (torch.rsub(z, 1.0) * (n - flat)).reshape(h.shape)

        return f

    def ode(self, x: Tensor | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """The vector field at a constant input as ``func(t, h)``, the form torchdiffeq takes."""
        return lambda t, h: self.vector_field(h, x)

    # --- construction ----------------------------------------------------------------
    @classmethod
    def from_torch_weights(cls, weight_ih: Tensor, weight_hh: Tensor,
                           bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
                           reset: Reset = "after") -> GRUCell:
        """A cell holding these tensors, laid out as torch.nn.GRU / GRUCell store them
        (weight_ih (3d, p), weight_hh (3d, d), biases (3d,), gate order r, z, n; a missing
        bias is zero), in weight_hh's dtype and device. The one conversion every loader uses
        (:meth:`from_torch_gru`, :meth:`from_torch_gru_cell`, ``analysis.load``)."""
        cell = cls(weight_ih.shape[1], weight_hh.shape[1], reset=reset).to(weight_hh)
        with torch.no_grad():  # copied in the source's dtype: float64 weights stay exact
            for name, source in (("weight_ih", weight_ih), ("weight_hh", weight_hh),
                                 ("bias_ih", bias_ih), ("bias_hh", bias_hh)):
                if source is None:
                    getattr(cell, name).zero_()
                else:
                    getattr(cell, name).copy_(source.detach())
        return cell

    @classmethod
    def from_torch_gru(cls, gru: nn.GRU) -> GRUCell:
        """An ``reset="after"`` cell with the weights of a single-layer, unidirectional nn.GRU,
        in the GRU's dtype and device (the analysis computes in the dtype of the states it is
        given, so a float32 cell is read in float64 by ``gru_learn.analyze_gru``)."""
        if gru.num_layers != 1 or gru.bidirectional or gru.proj_size:
            raise ValueError("from_torch_gru needs a single-layer, unidirectional nn.GRU")
        return cls.from_torch_weights(gru.weight_ih_l0, gru.weight_hh_l0,
                                      getattr(gru, "bias_ih_l0", None),
                                      getattr(gru, "bias_hh_l0", None))

    @classmethod
    def from_torch_gru_cell(cls, gru_cell: nn.GRUCell) -> GRUCell:
        """An ``reset="after"`` cell with the weights of an ``nn.GRUCell`` (same layout)."""
        return cls.from_torch_weights(gru_cell.weight_ih, gru_cell.weight_hh, gru_cell.bias_ih,
                                      gru_cell.bias_hh)

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
