"""What every non-Lightning command shares: a one-line-error parser, ``--set`` parsing, and
(from gru_learn.files.atomic) atomic JSON output."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from gru_learn.errors import UserError
from gru_learn.files.atomic import write_json_atomic

__all__ = ["ArgumentParser", "description", "parse_assignments", "write_json_atomic"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (no usage block) and exits with code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def description(doc: str | None) -> str:
    """A command module's docstring's first paragraph as one line, for ``--help`` (its first
    line alone stops mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def parse_assignments(items: list[str] | None) -> dict[str, float]:
    """``["alpha=0.7", "beta=3"]`` -> ``{"alpha": 0.7, "beta": 3.0}``; bad items are UserErrors."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--set expects NAME=NUMBER, got {item!r}") from None
    return out
