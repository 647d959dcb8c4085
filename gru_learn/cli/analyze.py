"""``python -m gru_learn analyze``: read a trained GRU as a dynamical system, alone
(``analysis.api.analyze_saved_network``) or against a target system
(``analysis.analyze`` on ``training.checkpoint``'s inputs). Parse, call, print; the exit codes
are in DESCRIPTION."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gru_learn.cli.common import finite
from gru_learn.errors import UserError
from gru_learn.files.outputs import check_output_dir, check_output_file, resource_message

EXIT_PARTIAL = 3
EXIT_INTERNAL = 1

DESCRIPTION = """\
Read a trained GRU as a dynamical system: fixed points with their kinds (and the stability of
the discrete map beside the ODE's), slow points, continuous attractors, converged limit
cycles; with a target system, the comparison with it.

Sources (one of): --state-dict FILE, a network trained elsewhere, saved with torch.save: a
single-layer, unidirectional torch.nn.GRU state dict, or a torch.nn.GRUCell's, flat or nested,
with or without one torch.nn.Linear readout beside it (an nn.RNN's, read with tanh as a map and
its ODE, or an nn.LSTM's, read as a map of (h, c) only, too), e.g.
torch.save({"gru": rnn.state_dict(), "readout": head.state_dict()}, F); --ckpt FILE, a
checkpoint written by "python -m gru_learn fit" (compared with the system it was trained on;
give it to --state-dict to read the network alone).

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
    inp.add_argument("--input", type=finite, nargs="+", metavar="X",
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


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except UserError:
        raise
    except Exception as e:
        if args.debug or resource_message(e) is not None:  # resources: one line from __main__
            raise
        print(f"gru_learn analyze: internal error: {type(e).__name__}: {e} (run with --debug "
              "for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def _progress(piece: str) -> None:
    """A long analysis's progress, one line per piece as it starts (stderr)."""
    print(f"analyze: {piece.replace('_', ' ')}...", file=sys.stderr, flush=True)


def _run(args: Any) -> int:
    from gru_learn.analysis.core import AnalysisConfig, Recorder

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
    out = args.out or (args.ckpt.parent.parent / "analysis" if args.ckpt else
                       args.state_dict.with_name(f"{args.state_dict.stem}_analysis"))
    check_output_dir(out, "--out")
    if args.json:  # a file, or a folder to hold summary.json
        (check_output_dir if args.json.is_dir() else check_output_file)(args.json, "--json")
    Recorder.progress = _progress
    config = AnalysisConfig(n_initial=args.n_initial, long_steps=args.long_steps,
                            cycles=not args.no_cycles, n_starts=args.n_starts, seed=args.seed)
    if alone:
        from gru_learn.analysis.api import analyze_saved_network

        analysis = analyze_saved_network(args.state_dict, config, reset=args.reset,
                                         input=args.input, inputs=args.inputs,
                                         states=args.states)
    else:
        from gru_learn.analysis.learned_vs_target import analyze
        from gru_learn.training import checkpoint

        analysis = analyze(*(checkpoint.checkpoint_inputs(args.ckpt) if args.ckpt else
                             checkpoint.state_dict_against_system(
                                 args.state_dict, args.system, args.dt, args.reset)), config)
    # everything is validated: only now is anything written
    path = analysis.save(out)
    if args.json:
        analysis.result.write(args.json)
    from gru_learn.analysis.text import input_lines, one_line

    print("; ".join(input_lines(analysis.summary)) if "inputs" in analysis.summary
          else one_line(analysis.summary))
    print(f"wrote {path} and {', '.join(f'{k}.png' for k in analysis.figures)} in {out}")
    analysis.close()
    if analysis.failed:
        print(f"gru_learn analyze: some parts of the analysis failed (exit {EXIT_PARTIAL}): "
              f"{analysis.summary['errors']}", file=sys.stderr)
        return EXIT_PARTIAL
    return 0
