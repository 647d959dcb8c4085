"""What every non-Lightning command shares: a one-line-error parser, finite numbers and ``--set``
parsing, output paths checked before any work, and (from gru_learn.files.atomic) atomic JSON
output."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, NoReturn

from gru_learn.errors import UserError
from gru_learn.files.atomic import write_json_atomic
from gru_learn.files.outputs import check_output_dir, check_output_file

__all__ = ["ArgumentParser", "check_config_files", "check_outputs", "description", "finite",
           "parse_assignments", "positive", "write_json_atomic"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (no usage block) and exits with code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def description(doc: str | None) -> str:
    """A command module's docstring's first paragraph as one line, for ``--help`` (its first
    line alone stops mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def finite(text: str) -> float:
    """An argparse ``type``: a finite number (nan and inf are refused with one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive(text: str) -> float:
    """An argparse ``type``: a finite number above zero."""
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def parse_assignments(items: list[str] | None) -> dict[str, float]:
    """``["alpha=0.7", "beta=3"]`` -> ``{"alpha": 0.7, "beta": 3.0}``; bad items (not
    NAME=NUMBER, or a number that is not finite) are UserErrors."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--set expects NAME=NUMBER, got {item!r}") from None
        if not math.isfinite(out[name.strip()]):
            raise UserError(f"--set {item}: the value must be a finite number")
    return out


def check_config_files(argv: list[str], options: tuple[str, ...] = ("--config",)) -> None:
    """Config files named by ``options`` in ``argv`` hold a mapping: an empty file or one whose
    top level is a list or a value is a one-line UserError naming the file (jsonargparse's
    own word on them names neither). Missing or malformed files are left to the parser."""
    import yaml

    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name not in options:
            continue
        path = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
        if not path.endswith((".yaml", ".yml", ".json")) or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                content = yaml.safe_load(f)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the parser says what is wrong with it
        if content is None:
            raise UserError(f"{name} {path} is empty; it should hold options as a mapping, "
                            "e.g. 'trainer:' with 'max_epochs: 100' indented under it")
        if not isinstance(content, dict):
            raise UserError(f"{name} {path} holds a {type(content).__name__} at its top level; "
                            "a mapping of options (key: value lines) is expected")


def check_outputs(args: Any, files: tuple[str, ...] = ("out", "json"),
                  folders: tuple[str, ...] = ()) -> None:
    """The output options of parsed ``args`` checked before any work (one-line UserErrors):
    ``files`` name files (not folders, in a writable folder), ``folders`` folders."""
    for name in files:
        if getattr(args, name, None):
            check_output_file(getattr(args, name), f"--{name.replace('_', '-')}")
    for name in folders:
        if getattr(args, name, None):
            check_output_dir(getattr(args, name), f"--{name.replace('_', '-')}")
