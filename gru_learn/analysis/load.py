"""Networks trained elsewhere, as (cell, readout): from a torch module (``nn.GRU``,
``nn.GRUCell``, our ``GRUCell`` or ``GRUForecaster``; also ``nn.RNN`` / ``nn.RNNCell`` with
tanh and ``nn.LSTM`` / ``nn.LSTMCell``, read by ``gru_learn.gru.rnn_cells``) or from a saved
state dict.

A state dict may be an ``nn.GRU``'s (keys ``weight_ih_l0`` ...), an ``nn.GRUCell``'s or our
``GRUCell``'s (keys ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``), flat with any
prefix (``rnn.weight_ih_l0``) or nested (``{"gru": {...}, "readout": {...}}``), with at most
one ``nn.Linear`` readout beside it; the gates tell the architecture: weight_hh of 3d rows a
GRU, 4d an LSTM, d an RNN (read with tanh: a state dict does not say its nonlinearity).
Anything else (several layers, both directions, shapes that do not fit, non-finite weights)
is a ``UserError`` whose one line says what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gru_learn.analysis.core import F64, as_float64
from gru_learn.errors import UserError
from gru_learn.files.torch_files import load_torch_file
from gru_learn.gru.cell import GRUCell, Reset
from gru_learn.gru.rnn_cells import LSTMStateMap, TanhRNNCell

LAYER_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
CELL_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass
class Network:
    """A recurrent cell (a ``GRUCell``, ``TanhRNNCell`` or ``LSTMStateMap``) and its optional
    affine readout of the cell's state, both float64 on the CPU."""

    cell: GRUCell | TanhRNNCell | LSTMStateMap
    readout: nn.Linear | None
    source: str

    def observe(self) -> Any:
        """h -> readout(h) without gradients, or None without a readout."""
        if self.readout is None:
            return None
        readout = self.readout

        def observe(h: Tensor) -> Tensor:
            with torch.no_grad():
                return readout(h)

        return observe


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def network_from_state_dict(raw: Any, reset: Reset = "after", name: str = "the state dict"
                            ) -> Network:
    """A :class:`Network` from a (possibly nested) state dict; see the module docstring."""
    if not isinstance(raw, dict):
        raise UserError(f"{name} holds a {type(raw).__name__}, not a state dict")
    flat = {k: v for k, v in _flatten(raw).items() if isinstance(v, Tensor)}
    if not flat:
        raise UserError(f"{name} holds no tensors")
    if any("weight_hr_l0" in k for k in flat):
        raise UserError(f"{name}: a GRU with proj_size cannot be read as an ODE")
    if any(k.endswith("_reverse") for k in flat):
        raise UserError(f"{name}: a bidirectional GRU cannot be read as one ODE (it runs "
                        "backward in time too); analyse one direction's weights")
    layers = sorted({k.rsplit("_l", 1)[1] for k in flat if "weight_ih_l" in k})
    if len(layers) > 1:
        raise UserError(f"{name}: a {len(layers)}-layer GRU; only single-layer GRUs can be read "
                        "as one ODE (save one layer's weights)")
    ih = [k for k in flat if k.endswith("weight_ih_l0") or k.endswith("weight_ih")]
    if not ih:
        raise UserError(f"{name} has no GRU weights (no key ending in 'weight_ih_l0' "
                        f"(nn.GRU) or 'weight_ih' (nn.GRUCell)); keys: {_few(flat)}")
    if len(ih) > 1:
        raise UserError(f"{name} holds {len(ih)} recurrent layers ({', '.join(ih)}); "
                        "save exactly one GRU")
    key = ih[0]
    suffix = "_l0" if key.endswith("_l0") else ""
    prefix = key[: -len("weight_ih" + suffix)]
    w_ih, w_hh = flat[key], flat.get(f"{prefix}weight_hh{suffix}")
    if w_hh is None or w_ih.ndim != 2 or w_hh.ndim != 2:
        raise UserError(f"{name}: '{prefix}weight_hh{suffix}' is missing or not a matrix")
    rows, d = w_hh.shape
    gates = rows // d if rows % d == 0 and rows // d in (1, 3, 4) else None
    if gates is None or w_ih.shape[0] != rows:
        raise UserError(f"{name}: recurrent weights must be weight_ih (g d, p) and weight_hh "
                        "(g d, d) with g = 3 (GRU), 4 (LSTM) or 1 (RNN); got "
                        f"{tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    biases = {}
    for b in ("bias_ih", "bias_hh"):
        v = flat.get(f"{prefix}{b}{suffix}")
        if v is not None and tuple(v.shape) != (rows,):
            raise UserError(f"{name}: {prefix}{b}{suffix} has shape {tuple(v.shape)}, "
                            f"expected ({rows},)")
        biases[b] = None if v is None else v.to(F64)
    weights = (w_ih.to(F64), w_hh.to(F64), biases["bias_ih"], biases["bias_hh"])
    if gates == 3:
        cell: Any = GRUCell.from_torch_weights(*weights, reset=reset)
    else:
        cell = (LSTMStateMap if gates == 4 else TanhRNNCell).from_tensors(*weights)
    used = {f"{prefix}{k}{suffix}" for k in CELL_KEYS}
    rest = {k: v for k, v in flat.items() if k not in used}
    weights = [k for k, v in rest.items() if k.endswith("weight") and v.ndim == 2]
    readout = None
    if len(weights) > 1:
        raise UserError(f"{name}: found {len(weights)} linear layers beside the GRU "
                        f"({', '.join(weights)}); keep only the readout")
    if weights:
        w = rest[weights[0]]
        if w.shape[1] != d:
            raise UserError(f"{name}: readout '{weights[0]}' {tuple(w.shape)} does not fit a "
                            f"GRU with {d} hidden units (needs (outputs, {d}))")
        b = rest.get(weights[0][: -len("weight")] + "bias")
        readout = nn.Linear(d, w.shape[0], bias=True).to(F64)
        with torch.no_grad():
            readout.weight.copy_(w)
            readout.bias.copy_(torch.zeros(w.shape[0]) if b is None else b)
    _check_finite(cell, readout, name)
    kind = {3: "nn.GRU" if suffix else "nn.GRUCell / GRUCell",
            4: "nn.LSTM" if suffix else "nn.LSTMCell",
            1: ("nn.RNN" if suffix else "nn.RNNCell") + ", read with tanh"}[gates]
    return Network(as_float64(cell), None if readout is None else
                   as_float64(state_readout(readout, cell)),
                   f"{kind} state dict ({d} units, {cell.input_size} inputs, "
                   f"{'no readout' if readout is None else f'{readout.out_features} outputs'})")


def state_readout(readout: nn.Linear, cell: nn.Module) -> nn.Linear:
    """``readout`` as a map of the cell's whole state: an LSTM's reads h of s = (h, c), so its
    weight is [W, 0]; any other cell's state is h itself."""
    if not isinstance(cell, LSTMStateMap):
        return readout
    lin = nn.Linear(cell.hidden_size, readout.out_features).to(readout.weight)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[:, : cell.units].copy_(readout.weight)
        lin.bias.copy_(readout.bias)
    return lin


def _few(flat: dict[str, Any], n: int = 6) -> str:
    keys = list(flat)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def _check_finite(cell: nn.Module, readout: nn.Module | None, name: str) -> None:
    for mod in (cell, readout):
        for pname, p in (mod.named_parameters() if mod is not None else []):
            if not torch.isfinite(p).all():
                raise UserError(f"{name}: {pname} holds NaN or infinite values")


def read_state_dict(path: Path, reset: Reset | None = None) -> Network:
    """A :class:`Network` from a ``torch.save``d state dict file, or from a ``fit`` checkpoint
    (its ``state_dict``, read in the convention its hyperparameters record). ``reset``: the
    candidate-state convention; None: the checkpoint's own, else "after" (torch's)."""
    raw = load_torch_file(path, "state dict")
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):  # a checkpoint
        reset = reset or (raw.get("hyper_parameters") or {}).get("reset")
        raw = raw["state_dict"]
    return network_from_state_dict(raw, reset or "after", name=str(path))


def _module_network(cell: GRUCell, reset: Reset | None, kind: str) -> Network:
    """A torch module's cell (converted by ``GRUCell.from_torch_gru*``) as a float64 CPU
    Network, read in ``reset`` (default: torch's "after")."""
    cell = as_float64(cell)
    cell.reset = reset or "after"
    return Network(cell, None, f"{kind} ({cell.hidden_size} units, {cell.input_size} inputs, "
                               f"{cell.reset})")


def network_from_module(rnn: Any, readout: Any = None, reset: Reset | None = None) -> Network:
    """A :class:`Network` from what a user has in a notebook: ``nn.GRU`` (one layer, one
    direction), ``nn.GRUCell``, our ``GRUCell``, a ``GRUForecaster`` (its cell and readout) or
    a state dict. ``readout``: an ``nn.Linear`` (or None). Any dtype and device. A model that
    holds a GRU as ``.cell`` beside an ``nn.Linear`` ``.readout`` (``GRUForecaster``) is read as
    both."""
    if isinstance(getattr(rnn, "cell", None), nn.Module) and hasattr(rnn, "readout"):
        readout = rnn.readout if readout is None else readout
        rnn = rnn.cell
    if isinstance(rnn, dict):
        net = network_from_state_dict(rnn, reset or "after")
    elif isinstance(rnn, GRUCell):
        cell = as_float64(rnn)
        cell.reset = reset or cell.reset
        net = Network(cell, None, f"GRUCell ({cell.reset})")
    elif isinstance(rnn, nn.GRU):
        if rnn.num_layers != 1 or rnn.bidirectional or rnn.proj_size:
            raise UserError(f"an nn.GRU with num_layers={rnn.num_layers}, bidirectional="
                            f"{rnn.bidirectional}, proj_size={rnn.proj_size}: only single-layer, "
                            "unidirectional GRUs without projection can be read as one ODE")
        net = _module_network(GRUCell.from_torch_gru(rnn), reset, "nn.GRU")
    elif isinstance(rnn, nn.GRUCell):
        net = _module_network(GRUCell.from_torch_gru_cell(rnn), reset, "nn.GRUCell")
    elif isinstance(rnn, (nn.LSTM, nn.LSTMCell, nn.RNN, nn.RNNCell)):
        net = _other_network(rnn)
    else:
        raise UserError(f"cannot read a {type(rnn).__name__} as a recurrent network: pass an "
                        "nn.GRU, nn.GRUCell, nn.RNN (tanh), nn.LSTM (or their cells), a "
                        "gru_learn GRUCell or a state dict")
    if readout is not None:
        if not isinstance(readout, nn.Linear):
            raise UserError(f"readout must be an nn.Linear, got {type(readout).__name__}")
        units = getattr(net.cell, "units", net.cell.hidden_size)
        if readout.in_features != units:
            raise UserError(f"readout takes {readout.in_features} features; the network has "
                            f"{units} hidden units")
        lin = nn.Linear(readout.in_features, readout.out_features).to(F64)
        with torch.no_grad():
            lin.weight.copy_(readout.weight.detach().to("cpu", F64))
            lin.bias.copy_(readout.bias.detach().to("cpu", F64) if readout.bias is not None
                           else torch.zeros(readout.out_features, dtype=F64))
        _check_finite(net.cell, lin, "the readout")
        net.readout = as_float64(state_readout(lin, net.cell))
    _check_finite(net.cell, None, "the network")
    return net


def _other_network(rnn: nn.Module) -> Network:
    """An ``nn.RNN`` / ``nn.RNNCell`` (tanh) or ``nn.LSTM`` / ``nn.LSTMCell`` as a Network."""
    kind = type(rnn).__name__
    if getattr(rnn, "num_layers", 1) != 1 or getattr(rnn, "bidirectional", False) \
            or getattr(rnn, "proj_size", 0):
        raise UserError(f"an nn.{kind} with num_layers={rnn.num_layers}, bidirectional="
                        f"{rnn.bidirectional}, proj_size={getattr(rnn, 'proj_size', 0)}: read "
                        "one layer, one direction, no projection (gru_learn.analyze_module "
                        "takes layer=)")
    try:
        cell = (TanhRNNCell if isinstance(rnn, (nn.RNN, nn.RNNCell)) else LSTMStateMap
                ).from_torch(rnn)
    except ValueError as e:
        raise UserError(str(e)) from None
    cell = as_float64(cell)
    return Network(cell, None, f"nn.{kind} ({getattr(cell, 'units', cell.hidden_size)} units, "
                               f"{cell.input_size} inputs, read as "
                               f"{'a map of (h, c)' if cell.reading == 'map' else 'map and ODE'})")
