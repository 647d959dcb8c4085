"""``gru_learn.analyze_gru``: the analysis of any GRU from a notebook, in one call."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from gru_learn.analysis.core import F64, AnalysisConfig
from gru_learn.analysis.load import network_from_module
from gru_learn.analysis.network import NetworkAnalysis, analyze_network
from gru_learn.errors import UserError


def _float64(x: Any) -> Tensor:
    """A float64 CPU tensor from a tensor of any dtype and device, an array or a list."""
    if isinstance(x, Tensor):
        return x.detach().to(device="cpu", dtype=F64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def as_inputs(x: Any, input_size: int) -> Tensor | None:
    """A constant input (p,) or several (K, p) as a float64 (K, p) tensor; checked."""
    if x is None:
        return None
    t = _float64(x)
    if t.ndim > 2 or t.shape[-1:] != (input_size,) and not (t.ndim == 0 and input_size == 1):
        raise UserError(f"the input must have {input_size} entries per row (the GRU's "
                        f"input_size); got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise UserError("the input holds NaN or infinite values")
    return t.reshape(-1, input_size).to(F64)


def as_states(h: Any, hidden_size: int) -> Tensor | None:
    """Hidden states (..., d) as a float64 (n, d) tensor; checked."""
    if h is None:
        return None
    t = _float64(h)
    if t.ndim == 0 or t.shape[-1] != hidden_size or t.numel() == 0:
        raise UserError(f"states must have shape (..., {hidden_size}) (the GRU's hidden size); "
                        f"got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise UserError("the states hold NaN or infinite values")
    return t.reshape(-1, hidden_size)


def analyze_gru(rnn: Any, input: Any = None, states: Any = None, readout: Any = None, *,
                reset: str | None = None, cycles: bool = True, n_starts: int | None = None,
                seed: int = 0, figures: bool = False) -> NetworkAnalysis:
    """Fixed points, slow points, cycles and continuous attractors of a GRU at a constant input.

    Args:
        rnn: an ``nn.GRU`` (one layer, one direction), ``nn.GRUCell``, ``gru_learn.GRUCell``,
            ``GRUForecaster`` or a state dict; any dtype and device (read in float64 on CPU).
        input: the constant input x, shape (p,), or several (K, p): one analysis per row
            (default: zeros).
        states: hidden states from your own runs, (..., d): seeds of the search, and the box
            and projection of the figures.
        readout: an ``nn.Linear`` mapping hidden states to outputs (fixed points get ``obs``).
        reset: candidate-state convention; default "after" (torch) or the cell's own.
        cycles: also search limit cycles (the slowest part).
        n_starts: starts of the fixed-point search in d > 3.
        seed: seed of every random start.
        figures: draw the figures now (else ``.plot()`` draws them).

    Returns a :class:`NetworkAnalysis`: ``.summary`` / ``.to_json()`` (the content of
    summary.json), ``.fixed_points``, ``.plot()``, ``.save(folder)``.

    Example::

        res = gru_learn.analyze_gru(rnn, input=torch.zeros(3), states=H)
        res.fixed_points; res.plot()
    """
    net = network_from_module(rnn, readout, reset)  # type: ignore[arg-type]
    inputs = as_inputs(input, net.cell.input_size) if net.cell.input_size else None
    if input is not None and net.cell.input_size == 0:
        raise UserError("this GRU takes no input; leave input out")
    return analyze_network(net.cell, inputs=inputs, states=as_states(states,
                                                                     net.cell.hidden_size),
                           readout=net.observe(),
                           config=AnalysisConfig(cycles=cycles, n_starts=n_starts, seed=seed),
                           figures=figures, source=net.source)
