"""A recurrent network inside anyone's model: found by a dotted attribute path or a callable,
split into the layers to read, and analysed at constant inputs (``analyze_module``, the one call
behind ``gru_learn.analyze_module`` and the ``DynamicsAnalysis`` callback on a user's own
LightningModule). Nothing here assumes our model, our data or Lightning.

``rnn="encoder.gru"`` walks attributes (``"layers.0"`` indexes an ``nn.ModuleList`` or
``nn.Sequential``); a callable ``rnn(model)`` returns the recurrent module, or the pair
(recurrent module, readout). A multi-layer ``nn.GRU`` is read one layer at a time: ``layer=k``
(layer k as its own GRU, at a constant input of its own input size; zeros by default) or
``layer="each"``. A layer above the first is fed by the layer below, so reading it at a
constant input is a reading of that layer alone, not of the stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from gru_learn.analysis.core import AnalysisConfig
from gru_learn.analysis.load import Network, network_from_module
from gru_learn.errors import UserError

RECURRENT = (nn.GRU, nn.GRUCell, nn.RNN, nn.LSTM)
Locator = str | Callable[[nn.Module], Any] | None
Layer = int | str | None


def _walk(model: nn.Module, path: str, what: str) -> Any:
    """``model.<path>`` (dotted; integer parts index module lists), or a one-line UserError
    naming the submodules where the path broke off."""
    obj: Any = model
    for i, part in enumerate(path.split(".")):
        here = ".".join(path.split(".")[:i]) or type(model).__name__
        if part.isdigit() and isinstance(obj, (nn.ModuleList, nn.Sequential)):
            if int(part) >= len(obj):
                raise UserError(f"{what}={path!r}: {here} has only {len(obj)} entries")
            obj = obj[int(part)]
            continue
        if not hasattr(obj, part):
            children = [n for n, _ in obj.named_children()] if isinstance(obj, nn.Module) else []
            raise UserError(f"{what}={path!r}: {here} has no attribute {part!r}"
                            + (f" (its submodules: {', '.join(children)})" if children else ""))
        obj = getattr(obj, part)
    return obj


def _recurrent_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, RECURRENT)]


def locate(model: nn.Module, rnn: Locator, readout: Locator = None
           ) -> tuple[nn.Module, nn.Module | None]:
    """The recurrent module and the readout of ``model`` named by ``rnn`` and ``readout`` (dotted
    paths or callables of the model); one-line UserErrors for anything that is not there or not
    a recurrent network, saying which recurrent modules the model does hold."""
    if rnn is None:
        found = _recurrent_names(model)
        raise UserError("name the recurrent network to analyse, e.g. rnn="
                        + (repr(found[0]) if found else "'encoder'")
                        + (f" ({type(model).__name__} holds: {', '.join(found)})" if found
                           else f" ({type(model).__name__} holds no nn.GRU, nn.RNN or nn.LSTM)"))
    net = rnn(model) if callable(rnn) else _walk(model, rnn, "rnn")
    if isinstance(net, tuple) and len(net) == 2:
        net, readout = net[0], net[1] if readout is None else readout
    if not isinstance(net, (*RECURRENT, nn.GRUCell)) and not _is_gru_cell(net):
        found = _recurrent_names(model)
        raise UserError(f"rnn={rnn if isinstance(rnn, str) else 'the callable'!r} is a "
                        f"{type(net).__name__}, not an nn.GRU, nn.GRUCell, nn.RNN or nn.LSTM; "
                        + (f"{type(model).__name__} holds: {', '.join(found)}" if found
                           else f"{type(model).__name__} holds no recurrent network"))
    if isinstance(readout, str):
        readout = _walk(model, readout, "readout")
    elif callable(readout) and not isinstance(readout, nn.Module):
        readout = readout(model)
    if readout is not None and not isinstance(readout, nn.Linear):
        raise UserError(f"readout must name an nn.Linear; got a {type(readout).__name__}")
    return net, readout


def _is_gru_cell(net: Any) -> bool:
    from gru_learn.gru.cell import GRUCell

    return isinstance(net, GRUCell)


def layer_count(net: nn.Module) -> int:
    return int(getattr(net, "num_layers", 1))


def check_layer(net: nn.Module, layer: Layer) -> list[int]:
    """The layers of ``net`` to read: ``layer`` checked against its depth (one-line
    UserErrors; a multi-layer network needs ``layer``)."""
    n = layer_count(net)
    if layer is None:
        if n > 1:
            raise UserError(f"the {type(net).__name__} has {n} layers: pass layer=0..{n - 1} "
                            "(the layer to analyse) or layer='each'")
        return [0]
    if layer == "each":
        return list(range(n))
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n:
        raise UserError(f"layer must be 0..{n - 1} or 'each' (the {type(net).__name__} has "
                        f"{n} layer{'s' if n > 1 else ''}); got {layer!r}")
    return [layer]


def layer_module(net: nn.Module, k: int) -> nn.Module:
    """Layer ``k`` of a stacked ``nn.GRU`` / ``nn.RNN`` / ``nn.LSTM`` as a one-layer module of
    the same kind holding that layer's weights (``net`` itself for a one-layer network)."""
    if layer_count(net) == 1:
        return net
    if getattr(net, "bidirectional", False) or getattr(net, "proj_size", 0):
        raise UserError(f"a bidirectional or projected {type(net).__name__} cannot be read as "
                        "one dynamical system")
    d = net.hidden_size
    p = net.input_size if k == 0 else d
    kwargs = {"nonlinearity": net.nonlinearity} if isinstance(net, nn.RNN) else {}
    one = type(net)(p, d, num_layers=1, bias=net.bias, batch_first=net.batch_first, **kwargs)
    one.load_state_dict({name.replace(f"_l{k}", "_l0"): w.detach()
                         for name, w in net.named_parameters() if name.endswith(f"_l{k}")})
    return one.to(next(net.parameters()))


def networks(model: nn.Module, rnn: Locator, readout: Locator = None, layer: Layer = None,
             reset: str | None = None) -> list[tuple[int, Network]]:
    """(layer index, :class:`Network`) for each layer to read; the readout goes with the top
    layer only (it reads the top layer's states)."""
    net, lin = locate(model, rnn, readout)
    layers = check_layer(net, layer)
    top = layer_count(net) - 1
    out = []
    for k in layers:
        one = network_from_module(layer_module(net, k), lin if k == top else None,
                                  reset)  # type: ignore[arg-type]
        if top:
            one.source = f"layer {k} of {top + 1}: {one.source}"
        out.append((k, one))
    return out


@dataclass
class ModuleSpec:
    """Where the recurrent network of a user's model is and how to read it (see the module
    docstring); ``input``: constant input(s) of the first layer read, (p,) or (K, p)."""

    rnn: Locator
    readout: Locator = None
    layer: Layer = None
    input: Any = None
    reset: str | None = None

    def networks(self, model: nn.Module) -> list[tuple[int, Network]]:
        return networks(model, self.rnn, self.readout, self.layer, self.reset)

    def check(self, model: nn.Module) -> None:
        """Everything that can be checked before training: the network is there and readable,
        the layer exists, the input fits (one-line UserErrors)."""
        from gru_learn.analysis.api import as_inputs

        found = self.networks(model)
        if self.input is not None:
            as_inputs(self.input, found[0][1].cell.input_size)


def analyze_module(model: nn.Module, rnn: Locator = None, readout: Locator = None, *,
                   layer: Layer = None, input: Any = None, states: Any = None,
                   target: Any = None, reset: str | None = None,
                   config: AnalysisConfig | None = None, figures: bool = True,
                   out_dir: str | Path | None = None) -> Any:
    """The recurrent network inside ``model`` read as a dynamical system at constant inputs:
    ``gru_learn.analyze_gru``'s analysis of each layer named (see the module docstring), and,
    with a ``target``, the target beside it.

    Args:
        model: any ``nn.Module`` (a LightningModule too).
        rnn, readout: dotted attribute paths or callables of the model (see ``locate``).
        layer: for a multi-layer network, the layer to read, or "each".
        input: constant input(s) of the (first) layer read: (p,) or (K, p); default zeros.
        states: hidden states (..., d) from the user's own runs: seeds and figure boxes.
        target: a registered system name (its own fixed points, cycles and Lyapunov exponent
            beside the network's, and the topology compared), or the target's true states
            (N, T, k) at the same samples as ``states`` (N, T, d): the state R^2 and cycle
            consistency (``gru_learn.dynamics.metrics``).
        out_dir: write summary.json and the figures there.

    Returns a ``NetworkAnalysis`` (``.summary``, ``.figures``, ``.save(folder)``).
    """
    from gru_learn.analysis.module_analysis import analyze_layers

    spec = ModuleSpec(rnn, readout, layer, input, reset)
    spec.check(model)
    if isinstance(target, str):
        from gru_learn.systems.registry import get_system

        get_system(target)
    analysis = analyze_layers(spec.networks(model), input=input, states=states, target=target,
                              config=config or AnalysisConfig(), figures=figures)
    if out_dir is not None:
        analysis.save(out_dir)
    return analysis
