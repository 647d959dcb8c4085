"""``gru_learn.analyze_gru``: the analysis of any GRU from a notebook, in one call; and
``analyze_saved_network``, the same for a state dict file (``analyze --state-dict``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gru_learn.analysis.core import F64, AnalysisConfig
from gru_learn.analysis.load import network_from_module, read_state_dict
from gru_learn.analysis.network import NetworkAnalysis, analyze_network
from gru_learn.errors import UserError
from gru_learn.runtime import cpu_threads


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

    Runs on one intra-op CPU thread (``GRU_LEARN_NUM_THREADS`` sets another count; the
    caller's ``torch.get_num_threads()`` is restored afterwards): these searches are bound by
    per-operation overhead, and spinning OpenMP threads slow them many times beside any other
    busy process.

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
    with cpu_threads():
        return analyze_network(net.cell, inputs=inputs,
                               states=as_states(states, net.cell.hidden_size),
                               readout=net.observe(),
                               config=AnalysisConfig(cycles=cycles, n_starts=n_starts,
                                                     seed=seed),
                               figures=figures, source=net.source)


def load_array(path: Path, what: str) -> np.ndarray:
    """A numeric ``.npy`` array as float64 (no pickles), or a one-line UserError naming
    ``what`` it was for."""
    if not path.is_file():
        raise UserError(f"{what} file {str(path)!r} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"cannot read {path} as a .npy array: {type(e).__name__}") from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
        raise UserError(f"{path} must hold a numeric array")
    return arr.astype(np.float64)


def analyze_saved_network(path: Path, config: AnalysisConfig, *, reset: str | None = None,
                          input: Sequence[float] | None = None, inputs: Path | None = None,
                          states: Path | None = None) -> NetworkAnalysis:
    """``python -m gru_learn analyze --state-dict PATH`` without a system: the GRU (and
    readout) saved at ``path`` analysed alone at the constant ``input`` (one number per input
    unit), or at every row of the (K, p) array in the ``.npy`` file ``inputs`` (default:
    zeros), seeded by the hidden states (..., d) in the ``.npy`` file ``states``. Every file
    is checked before anything is analysed (one-line UserErrors)."""
    from gru_learn.analysis import network

    net = read_state_dict(path, reset)  # type: ignore[arg-type]
    p, d = net.cell.input_size, net.cell.hidden_size
    rows = None
    if input is not None:
        if len(input) != p:
            raise UserError(f"--input has {len(input)} numbers; the GRU takes {p} inputs")
        rows = as_inputs(input, p)
    elif inputs is not None:
        arr = load_array(inputs, "--inputs")
        if arr.ndim not in (1, 2) or arr.shape[-1] != p or arr.size == 0:
            raise UserError(f"--inputs must be a (K, {p}) array (one input per row); "
                            f"{inputs} has shape {arr.shape}")
        rows = as_inputs(arr, p)
    seeds = None
    if states is not None:
        arr = load_array(states, "--states")
        if arr.ndim < 1 or arr.shape[-1] != d:
            raise UserError(f"--states must be an array (..., {d}) of hidden states; "
                            f"{states} has shape {arr.shape}")
        seeds = as_states(arr, d)
    with cpu_threads():
        return network.analyze_network(net.cell, inputs=rows, states=seeds,
                                       readout=net.observe(), config=config,
                                       source=f"{path}: {net.source}")
