"""``python -m gru_learn COMMAND``: Lightning commands go to LightningCLI, the rest to their
own parsers.

Every command turns bad input (a :class:`gru_learn.errors.UserError`) into one line on stderr and
exit code 2, with no traceback. Ctrl-C (SIGINT) and SIGTERM stop a command the same way: files
being written are discarded (the finished ones are complete), worker processes end, and the
exit code is 130 (SIGINT) or 143 (SIGTERM). Lightning commands do the same through
:mod:`gru_learn.training.interruption` (``fit`` saves the state reached in ``last.ckpt`` first).
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from gru_learn.errors import UserError
from gru_learn.systems.user_modules import import_modules, split_import_options

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
    "search-topology": "search_topology",
}

# what a stopped or failed command keeps, and how to go on (fit's own line names its run)
CONTINUE = {
    "compare": "; the networks finished are kept: rerun the same command to continue",
    "reproduce": "; the steps finished are kept: rerun the same command to continue",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so every cleanup handler runs."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread (where the default
    handler would end the process without running any cleanup)."""
    def handler(signum: int, frame: object) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


USAGE = ("usage: python -m gru_learn [--import MODULE] {" + ",".join(COMMANDS)
         + "} [options]  (COMMAND --help for more; --import: your own module, e.g. one that "
         "registers a system, imported first)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # SIGTERM like Ctrl-C from the start: importing a command (and --import modules) takes
    # seconds (torch, Lightning); Lightning commands then install their own handler
    # (gru_learn.training.interruption), which prints its own line
    name = next((a for a in argv if a in COMMANDS), "fit")
    try:
        with _sigterm_as_interrupt():
            return _main(argv)
    except Terminated:
        print(f"gru_learn {name}: terminated{CONTINUE.get(name, '')}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"gru_learn {name}: interrupted{CONTINUE.get(name, '')}", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    try:  # --import MODULE, anywhere: the user's own systems, before any parser sees a name
        argv, modules = split_import_options(argv)
        import_modules(modules)
    except UserError as e:
        print(f"gru_learn: error: {e}", file=sys.stderr)
        return 2
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
    from gru_learn.runtime import set_cpu_threads  # torch is loaded by the command's module

    set_cpu_threads()  # every command: one intra-op thread unless GRU_LEARN_NUM_THREADS says
    try:
        if command in LIGHTNING_COMMANDS:
            return int(module.main(argv) or 0)
        return int(module.main(argv[1:]) or 0)
    except UserError as e:
        print(f"gru_learn {command}: error: {e}", file=sys.stderr)
        return 2
    except (OSError, MemoryError, RuntimeError) as e:
        from gru_learn.files.outputs import resource_message

        message = resource_message(e)
        if message is None:
            raise  # a bug, not the machine: keep the traceback
        print(f"gru_learn {command}: error: {message}{CONTINUE.get(command, '')}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
