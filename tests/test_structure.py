"""Structure rules that a grep can check: library modules never import the command line."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gru_learn"
KNOWN: set[str] = set()  # exceptions (none): keep it empty


def cli_importers() -> set[str]:
    """Library modules (outside gru_learn/cli/) with an import of gru_learn.cli anywhere in
    them (top level or inside a function)."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel.startswith("gru_learn/cli/") or rel == "gru_learn/__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "gru_learn.cli" or n.startswith("gru_learn.cli.") for n in names):
                out.add(rel)
    return out


def test_library_modules_do_not_import_the_cli() -> None:
    assert cli_importers() <= KNOWN, sorted(cli_importers() - KNOWN)
