"""``python -m gru_learn COMMAND``: Lightning commands go to LightningCLI, the rest to their
own parsers.

Every command turns bad input (a :class:`gru_learn.errors.UserError`) into one line on stderr and
exit code 2, with no traceback.
"""

from __future__ import annotations

import importlib
import sys

from gru_learn.errors import UserError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
# command -> module under gru_learn.cli with a ``main(argv: list[str]) -> int``; Lightning
# commands get the whole argv (their subcommand first), the others the arguments after it
COMMANDS: dict[str, str] = {
    **{name: "fit" for name in LIGHTNING_COMMANDS},
    "portrait": "portrait",
    "bifurcation": "bifurcation",
    "frequency-sweep": "frequency_sweep",
    "analyze": "analyze",
    "compare": "compare",
    "reproduce": "reproduce",
}

USAGE = ("usage: python -m gru_learn {" + ",".join(COMMANDS)
         + "} [options]  (COMMAND --help for more)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        if not argv:
            argv = ["fit"]  # the embedded default experiment
        else:
            print(USAGE)
            return 0
    command = argv[0]
    if command not in COMMANDS:
        if command.startswith("-"):  # e.g. `python -m gru_learn --print_config`: fit is implied
            command, argv = "fit", ["fit", *argv]
        else:
            print(f"gru_learn: error: unknown command {command!r}; {USAGE}", file=sys.stderr)
            return 2
    try:
        module = importlib.import_module(f"gru_learn.cli.{COMMANDS[command]}")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("gru_learn.cli"):
            print(f"gru_learn: error: command {command!r} is not available yet", file=sys.stderr)
            return 2
        raise
    try:
        return int(module.main(argv if command in LIGHTNING_COMMANDS else argv[1:]) or 0)
    except UserError as e:
        print(f"gru_learn {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gru_learn {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
