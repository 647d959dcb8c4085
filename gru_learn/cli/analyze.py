"""``python -m gru_learn analyze``: read a trained GRU as a dynamical system.

    python -m gru_learn analyze --state-dict net.pt [--input 0.5 0 1 | --inputs X.npy]
                                [--states H.npy] [--out DIR]
    python -m gru_learn analyze --state-dict net.pt --system fhn [--dt 1.5]
    python -m gru_learn analyze --ckpt logs/fhn/version_0/checkpoints/last.ckpt

Without --system, the network is analysed alone; with --system (or a fit checkpoint) it is
compared with the target system. Exit codes: 0 everything ran; 2 bad input (one line, nothing
written); 3 the analysis was written but some part of it failed (listed on stderr and under
"errors" in summary.json); 1 an internal error (one line; --debug shows the traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from gru_learn.errors import UserError

EXIT_PARTIAL = 3
EXIT_INTERNAL = 1

DESCRIPTION = """\
Read a trained GRU as a dynamical system: fixed points with their kinds (and the stability of
the discrete map beside the ODE's), slow points, continuous attractors, converged limit
cycles; with a target system, the comparison with it.

Sources (one of):
  --state-dict FILE   a network trained elsewhere, saved with torch.save: a single-layer,
                      unidirectional torch.nn.GRU state dict, or a torch.nn.GRUCell's, flat or
                      nested, with or without one torch.nn.Linear readout beside it, e.g.
                      torch.save({"gru": rnn.state_dict(), "readout": head.state_dict()}, F)
  --ckpt FILE         a checkpoint written by "python -m gru_learn fit" (compared with the
                      system it was trained on; give it to --state-dict to read the network
                      alone)

Without --system the network is analysed alone, at a constant input (default zeros):
summary.json, portrait.png (2-D: phase portrait; higher: PCA projection of the hidden
space, fixed points coloured by kind) and spectra.png (eigenvalues at every fixed point).

Exit codes: 0 done; 2 bad input (one line, nothing written); 3 written, but a part of the
analysis failed (see "errors" in summary.json); 1 internal error (--debug for the traceback).
"""


def _parser() -> Any:
    import argparse

    from gru_learn.cli.common import ArgumentParser
    from gru_learn.systems.registry import SYSTEMS

    systems = ", ".join(sorted(SYSTEMS))
    p = ArgumentParser(prog="python -m gru_learn analyze", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", type=Path, metavar="FILE",
                     help="a checkpoint written by fit (compared with its own system)")
    src.add_argument("--state-dict", type=Path, metavar="FILE",
                     help="a torch.save'd GRU state dict (see above)")
    p.add_argument("--system", metavar="NAME", choices=sorted(SYSTEMS),
                   help=f"compare a --state-dict network with this target system ({systems}); "
                        "its readout must produce the system's observed dimensions")
    p.add_argument("--dt", type=float, metavar="T",
                   help="with --system: the target time one GRU step stands for (default: "
                        "the system's sampling interval)")
    p.add_argument("--reset", choices=("after", "before"),
                   help="candidate-state convention of a --state-dict network: after = "
                        "torch.nn.GRU/GRUCell (the default), before = Cho et al. (the paper); "
                        "a fit checkpoint given to --state-dict is read in its own")
    inp = p.add_mutually_exclusive_group()
    inp.add_argument("--input", type=float, nargs="+", metavar="X",
                     help="the constant input the network is analysed at, one number per "
                          "input unit (default: zeros)")
    inp.add_argument("--inputs", type=Path, metavar="FILE.npy",
                     help="several constant inputs, a (K, p) array: one analysis per row, and "
                          "a figure of how the fixed points move with the input")
    p.add_argument("--states", type=Path, metavar="FILE.npy",
                   help="hidden states from your own runs, an array (..., hidden_size): they "
                        "seed the search and set the box and the projection of the figures")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for summary.json and the figures (default: next to the input "
                        "file, NAME_analysis/, or the run's analysis/ for --ckpt)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the summary here")
    p.add_argument("--n-starts", type=int, metavar="N",
                   help="starts of the fixed-point search for more than 3 hidden units "
                        "(default 512 up to 32 units, 256 above); 1 to 3 units use an "
                        "exhaustive grid")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    p.add_argument("--n-initial", type=int, default=32, metavar="N",
                   help="with a system: test trajectories whose closed-loop rollouts are "
                        "compared (default 32)")
    p.add_argument("--long-steps", type=int, default=1000, metavar="L",
                   help="with a system: length of the free runs for d_stsp and d_h "
                        "(default 1000)")
    p.add_argument("--no-cycles", action="store_true",
                   help="skip the limit-cycle search (the slowest part)")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an internal error")
    return p


def _load_array(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{what} file {str(path)!r} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"cannot read {path} as a .npy array: {type(e).__name__}") from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
        raise UserError(f"{path} must hold a numeric array")
    return arr.astype(np.float64)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except UserError:
        raise
    except Exception as e:
        if args.debug:
            raise
        print(f"gru_learn analyze: internal error: {type(e).__name__}: {e} (run with --debug "
              "for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def _run(args: Any) -> int:
    from gru_learn.analysis.core import AnalysisConfig

    if args.n_initial <= 0 or args.long_steps <= 0:
        raise UserError("--n-initial and --long-steps must be positive")
    if args.n_starts is not None and args.n_starts < 2:
        raise UserError("--n-starts must be at least 2")
    if args.dt is not None and not args.system:
        raise UserError("--dt applies with --system only")
    alone = args.state_dict is not None and not args.system
    if not alone and (args.input or args.inputs or args.states):
        raise UserError("--input, --inputs and --states apply to a network analysed alone "
                        "(--state-dict without --system)")
    config = AnalysisConfig(n_initial=args.n_initial, long_steps=args.long_steps,
                            cycles=not args.no_cycles, n_starts=args.n_starts, seed=args.seed)
    if alone:
        analysis, out = _alone(args, config)
    else:
        analysis, out = _with_system(args, config)
    # everything is validated: only now is anything written
    path = analysis.save(out)
    if args.json:
        from gru_learn.files.atomic import write_json_atomic

        write_json_atomic(args.json, analysis.summary)
    print(_one_line(analysis.summary))
    print(f"wrote {path} and {', '.join(f'{k}.png' for k in analysis.figures)} in {out}")
    analysis.close()
    if analysis.failed:
        print(f"gru_learn analyze: some parts of the analysis failed (exit {EXIT_PARTIAL}): "
              f"{analysis.summary['errors']}", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _one_line(summary: dict[str, Any]) -> str:
    from gru_learn.analysis.text import one_line

    if "inputs" not in summary:
        return one_line(summary)
    parts = []
    for entry in summary["inputs"]:
        sig = entry["signature"]
        counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sig.items()
                           if v and k != "continuous_attractors") or "no fixed points"
        rec = entry["search"].get("recall_estimate")
        parts.append(f"input {entry['input']}: {counts}"
                     + (f" (recall estimate {rec:.2f})" if rec is not None and rec < 1 else ""))
    return "; ".join(parts)


def _alone(args: Any, config: Any) -> tuple[Any, Path]:
    from gru_learn.analysis.api import as_inputs, as_states
    from gru_learn.analysis.load import read_state_dict
    from gru_learn.analysis.network import analyze_network

    net = read_state_dict(args.state_dict, args.reset)
    p, d = net.cell.input_size, net.cell.hidden_size
    if args.input is not None:
        if len(args.input) != p:
            raise UserError(f"--input has {len(args.input)} numbers; the GRU takes {p} inputs")
        inputs = as_inputs(args.input, p)
    elif args.inputs is not None:
        arr = _load_array(args.inputs, "--inputs")
        if arr.ndim not in (1, 2) or arr.shape[-1] != p or arr.size == 0:
            raise UserError(f"--inputs must be a (K, {p}) array (one input per row); "
                            f"{args.inputs} has shape {arr.shape}")
        inputs = as_inputs(arr, p)
    else:
        inputs = None
    states = None
    if args.states is not None:
        arr = _load_array(args.states, "--states")
        if arr.ndim < 1 or arr.shape[-1] != d:
            raise UserError(f"--states must be an array (..., {d}) of hidden states; "
                            f"{args.states} has shape {arr.shape}")
        states = as_states(arr, d)
    analysis = analyze_network(net.cell, inputs=inputs, states=states, readout=net.observe(),
                               config=config, source=f"{args.state_dict}: {net.source}")
    out = args.out or args.state_dict.with_name(f"{args.state_dict.stem}_analysis")
    return analysis, out


def _with_system(args: Any, config: Any) -> tuple[Any, Path]:
    from gru_learn.analysis.learned_vs_target import analyze
    from gru_learn.training.checkpoint import load_checkpoint

    if args.ckpt is not None:
        try:  # UserErrors for missing, unreadable, foreign or misfitting files
            model, dm = load_checkpoint(args.ckpt)
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"cannot load {args.ckpt} as a gru_learn checkpoint: "
                            f"{type(e).__name__}") from None
        out = args.out or args.ckpt.parent.parent / "analysis"
    else:
        model, dm = model_from_state_dict(args.state_dict, args.system, args.dt, args.reset)
        out = args.out or args.state_dict.with_name(f"{args.state_dict.stem}_analysis")
    return analyze(model, dm, config), out


def model_from_state_dict(path: Path, system: str, dt: float | None, reset: str | None = None
                          ) -> tuple[Any, Any]:
    """A GRUForecaster with the weights of a saved GRU + readout, and the system's data."""
    from gru_learn.analysis.load import read_state_dict
    from gru_learn.training.data import TrajectoryDataModule
    from gru_learn.training.module import GRUForecaster

    net = read_state_dict(path, reset)  # type: ignore[arg-type]
    if net.readout is None:
        raise UserError(f"{path} has no readout: a comparison with --system needs the "
                        "nn.Linear that maps hidden states to the system's observations")
    dm = TrajectoryDataModule(system=system, dt=dt)
    obs, p, d = net.readout.out_features, net.cell.input_size, net.cell.hidden_size
    if dm.obs_dim != obs or p != obs:
        raise UserError(f"system {system!r} has {dm.obs_dim} observed dimensions; the GRU takes "
                        f"{p} inputs and its readout produces {obs}")
    model = GRUForecaster(hidden_size=d, reset=net.cell.reset, obs_dim=obs, dt=dm.dt,
                          system=system).double()
    model.cell.load_state_dict(net.cell.state_dict())
    model.readout.load_state_dict(net.readout.state_dict())
    return model, dm
