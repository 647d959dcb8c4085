"""``python -m gru_learn analyze``: learned-versus-target analysis of a saved network.

    python -m gru_learn analyze --ckpt logs/fhn/version_0/checkpoints/last.ckpt [--out D] [--json F]
    python -m gru_learn analyze --state-dict net.pt --system fhn [--dt 1.5] [--out DIR] [--json F]

``--state-dict`` takes a network trained elsewhere: a ``torch.save``d dict holding a single-layer
``torch.nn.GRU``'s state dict and a ``torch.nn.Linear`` readout's, either nested
(``{"gru": ..., "readout": ...}``) or flat with prefixes (``gru.weight_ih_l0``, ...,
``readout.weight``). It is read in torch's convention (``reset="after"``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from gru_learn.analysis import AnalysisConfig, analyze, load_checkpoint
from gru_learn.callbacks import one_line
from gru_learn.cli.common import ArgumentParser, write_json_atomic
from gru_learn.data import TrajectoryDataModule
from gru_learn.errors import UserError
from gru_learn.model import GRUForecaster

GRU_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, torch.Tensor):
            out[f"{prefix}{k}"] = v
    return out


def model_from_state_dict(path: Path, system: str, dt: float | None) -> tuple[GRUForecaster,
                                                                            TrajectoryDataModule]:
    """A GRUForecaster (torch convention) with the weights of an nn.GRU + nn.Linear pair."""
    if not path.is_file():
        raise UserError(f"state dict {str(path)!r} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot read {path}: {type(e).__name__}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} holds a {type(raw).__name__}, not a state dict")
    flat = _flatten(raw)
    ih = [k for k in flat if k.endswith("weight_ih_l0")]
    if len(ih) != 1:
        raise UserError(f"{path} must hold exactly one nn.GRU layer (a 'weight_ih_l0' key); "
                        f"found {len(ih)}")
    prefix = ih[0][: -len("weight_ih_l0")]
    gru_state = {k: flat[prefix + k] for k in GRU_KEYS if prefix + k in flat}
    if any(k.endswith("_l1") or k.endswith("_reverse") for k in flat):
        raise UserError(f"{path}: only single-layer, unidirectional GRUs can be read as ODEs")
    rest = {k: v for k, v in flat.items() if not k.startswith(prefix) or not prefix}
    rest = {k: v for k, v in rest.items() if not any(k.endswith(g) for g in GRU_KEYS)}
    weights = [k for k, v in rest.items() if k.endswith("weight") and v.ndim == 2]
    if len(weights) != 1:
        raise UserError(f"{path} must hold one nn.Linear readout (a 2-D '...weight'); "
                        f"found {len(weights)}")
    lin_prefix = weights[0][: -len("weight")]
    w = rest[weights[0]]
    b = rest.get(lin_prefix + "bias", torch.zeros(w.shape[0]))
    hidden, obs = gru_state["weight_hh_l0"].shape[1], w.shape[0]
    if w.shape[1] != hidden or gru_state["weight_ih_l0"].shape[1] != obs:
        raise UserError(f"{path}: GRU (input {gru_state['weight_ih_l0'].shape[1]}, hidden "
                        f"{hidden}) and readout {tuple(w.shape)} do not fit together")
    dm = TrajectoryDataModule(system=system, dt=dt)
    if dm.obs_dim != obs:
        raise UserError(f"system {system!r} has {dm.obs_dim} observed dimensions; the readout "
                        f"produces {obs}")
    gru = torch.nn.GRU(obs, hidden, batch_first=True, bias="bias_ih_l0" in gru_state)
    gru.load_state_dict(gru_state)
    model = GRUForecaster(hidden_size=hidden, reset="after", obs_dim=obs, dt=dm.dt, system=system)
    with torch.no_grad():
        model.cell.load_state_dict(type(model.cell).from_torch_gru(gru).state_dict())
        model.readout.weight.copy_(w)
        model.readout.bias.copy_(b)
    return model, dm


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m gru_learn analyze", description=__doc__.split("\n")[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", type=Path, help="a checkpoint written by `fit`")
    src.add_argument("--state-dict", type=Path, help="torch.nn.GRU + torch.nn.Linear weights")
    parser.add_argument("--system", help="the target system (with --state-dict)")
    parser.add_argument("--dt", type=float, help="sampling interval of one GRU step "
                        "(with --state-dict; default: the system's)")
    parser.add_argument("--out", type=Path, help="folder for summary.json and the figures")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--n-initial", type=int, default=32)
    parser.add_argument("--long-steps", type=int, default=1000)
    parser.add_argument("--no-cycles", action="store_true", help="skip the limit-cycle search")
    args = parser.parse_args(argv)
    if args.n_initial <= 0 or args.long_steps <= 0:
        raise UserError("--n-initial and --long-steps must be positive")
    if args.ckpt is not None:
        if not args.ckpt.is_file():
            raise UserError(f"checkpoint {str(args.ckpt)!r} does not exist")
        try:
            model, dm = load_checkpoint(args.ckpt)
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"cannot load {args.ckpt} as a gru_learn checkpoint: "
                            f"{type(e).__name__}") from None
        out = args.out or args.ckpt.parent.parent / "analysis"
    else:
        if not args.system:
            raise UserError("--state-dict needs --system NAME (the system that made the data)")
        model, dm = model_from_state_dict(args.state_dict, args.system, args.dt)
        out = args.out or args.state_dict.with_name(f"{args.state_dict.stem}_analysis")
    config = AnalysisConfig(n_initial=args.n_initial, long_steps=args.long_steps,
                            cycles=not args.no_cycles)
    analysis = analyze(model, dm, config)
    path = analysis.save(out)
    if args.json:
        write_json_atomic(args.json, analysis.summary)
    print(one_line(analysis.summary))
    print(f"wrote {path} and {', '.join(f'{k}.png' for k in analysis.figures)} in {out}")
    if analysis.summary["errors"]:
        print(f"some parts failed: {analysis.summary['errors']}", file=sys.stderr)
    return 0
