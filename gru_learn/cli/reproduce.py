"""``python -m gru_learn reproduce --out DIR [--quick] [--force]``: the paper's figures and a
report of every quantitative claim beside ours (``DIR/report.md``). Resumable: rerun the same
command after an interruption and finished steps are skipped."""

from __future__ import annotations

from pathlib import Path

from gru_learn.cli.common import ArgumentParser, check_outputs, description


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m gru_learn reproduce",
                            description=description(__doc__))
    parser.add_argument("--out", type=Path, default=Path("logs/reproduce"),
                        help="output folder (default: logs/reproduce)")
    parser.add_argument("--quick", action="store_true",
                        help="reduced run: fewer epochs and seeds, coarser grids (minutes)")
    parser.add_argument("--force", action="store_true", help="redo finished steps")
    args = parser.parse_args(argv)
    check_outputs(args, files=(), folders=("out",))
    from gru_learn.experiments.paper.steps import reproduce

    path = reproduce(args.out, quick=args.quick, force=args.force)
    print(f"report: {path}")
    return 0
