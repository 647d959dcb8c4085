"""Networks trained elsewhere, as (GRUCell, readout): from a torch module (``nn.GRU``,
``nn.GRUCell``, our ``GRUCell`` or ``GRUForecaster``) or from a saved state dict.

A state dict may be an ``nn.GRU``'s (keys ``weight_ih_l0`` ...), an ``nn.GRUCell``'s or our
``GRUCell``'s (keys ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``), flat with any
prefix (``rnn.weight_ih_l0``) or nested (``{"gru": {...}, "readout": {...}}``), with at most
one ``nn.Linear`` readout beside it. Anything else (several layers, both directions, an
LSTM's four gates, shapes that do not fit, non-finite weights) is a ``UserError`` whose one
line says what was found.
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

LAYER_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
CELL_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass
class Network:
    """A GRU cell and its optional affine readout, both float64 on the CPU."""

    cell: GRUCell
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
    if rows == 4 * d:
        raise UserError(f"{name} looks like an LSTM (4 gates: weight_hh is {tuple(w_hh.shape)});"
                        " only GRUs (3 gates) can be read here")
    if rows != 3 * d or w_ih.shape[0] != 3 * d:
        raise UserError(f"{name}: GRU weights must be weight_ih (3d, p) and weight_hh (3d, d); "
                        f"got {tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    biases = {}
    for b in ("bias_ih", "bias_hh"):
        v = flat.get(f"{prefix}{b}{suffix}")
        if v is not None and tuple(v.shape) != (3 * d,):
            raise UserError(f"{name}: {prefix}{b}{suffix} has shape {tuple(v.shape)}, "
                            f"expected ({3 * d},)")
        biases[b] = None if v is None else v.to(F64)
    cell = GRUCell.from_torch_weights(w_ih.to(F64), w_hh.to(F64), biases["bias_ih"],
                                      biases["bias_hh"], reset=reset)
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
    kind = "nn.GRU" if suffix else "nn.GRUCell / GRUCell"
    return Network(as_float64(cell), None if readout is None else as_float64(readout),
                   f"{kind} state dict ({d} units, {cell.input_size} inputs, "
                   f"{'no readout' if readout is None else f'{readout.out_features} outputs'})")


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
        raise UserError(f"a {type(rnn).__name__} is not a GRU; only GRUs can be analysed here")
    else:
        raise UserError(f"cannot read a {type(rnn).__name__} as a GRU: pass an nn.GRU, an "
                        "nn.GRUCell, a gru_learn GRUCell or a state dict")
    if readout is not None:
        if not isinstance(readout, nn.Linear):
            raise UserError(f"readout must be an nn.Linear, got {type(readout).__name__}")
        if readout.in_features != net.cell.hidden_size:
            raise UserError(f"readout takes {readout.in_features} features; the GRU has "
                            f"{net.cell.hidden_size} hidden units")
        lin = nn.Linear(readout.in_features, readout.out_features).to(F64)
        with torch.no_grad():
            lin.weight.copy_(readout.weight.detach().to("cpu", F64))
            lin.bias.copy_(readout.bias.detach().to("cpu", F64) if readout.bias is not None
                           else torch.zeros(readout.out_features, dtype=F64))
        _check_finite(net.cell, lin, "the readout")
        net.readout = as_float64(lin)
    _check_finite(net.cell, None, "the GRU")
    return net
