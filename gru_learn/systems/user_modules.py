"""``--import MODULE``: the user's own modules (say, one that registers a system with
``@gru_learn.systems.registry.register``), imported by every command before it parses its arguments.

The names are also kept in the environment variable ``GRU_LEARN_IMPORT`` (comma-separated), which
worker processes inherit:
``gru_learn.systems.registry.get_system`` imports them there the first time it
meets a name it does not know, so ``compare``'s workers see the same systems as the command.
"""

from __future__ import annotations

import importlib
import os

from gru_learn.errors import UserError

ENV = "GRU_LEARN_IMPORT"


def import_modules(names: list[str]) -> None:
    """Import each module (a failure is a one-line UserError) and add it to ``GRU_LEARN_IMPORT``."""
    known = [n for n in os.environ.get(ENV, "").split(",") if n]
    for name in names:
        try:
            importlib.import_module(name)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the user's module is bad input
            raise UserError(f"--import {name}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None
        if name not in known:
            known.append(name)
    if known:
        os.environ[ENV] = ",".join(known)


def import_from_env() -> None:
    """Import the modules named in ``GRU_LEARN_IMPORT`` (in a worker process)."""
    import_modules([n for n in os.environ.get(ENV, "").split(",") if n])


def split_import_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` without its ``--import MODULE`` / ``--import=MODULE`` options, and the modules."""
    rest, modules = [], []
    it = iter(argv)
    for arg in it:
        if arg == "--import":
            name = next(it, None)
            if not name or name.startswith("-"):
                raise UserError("--import expects a module name (e.g. --import mysystems)")
            modules.append(name)
        elif arg.startswith("--import="):
            modules.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest, modules


__all__ = ["ENV", "import_from_env", "import_modules", "split_import_options"]
