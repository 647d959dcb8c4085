"""Structure rules that a grep can check: library modules never import the command line, and
the GRU step is written once for the cell (``gru.gates_2d``) and once for the fast path
(``bptt.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gru_learn"
# the command layer: gru_learn.cli and the dispatcher gru_learn.__main__ (which imports it)
COMMAND_LAYER = ("gru_learn.cli", "gru_learn.__main__")
# exceptions, each with its reason; keep it short
KNOWN: dict[str, str] = {}


def _imported_names(node: ast.AST, module: str) -> list[str]:
    """Absolute names an import statement in ``module`` (dotted) brings in."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from .cli import x, from .. import cli
            parent = module.split(".")[: -node.level]
            base = ".".join(parent + ([base] if base else []))
        return [base] + [f"{base}.{a.name}" for a in node.names]
    if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
            and node.args and isinstance(node.args[0], ast.Constant)):
        return [str(node.args[0].value)]
    return []


def command_layer_importers(package: Path = PACKAGE) -> set[str]:
    """Library modules (outside gru_learn/cli/ and __main__) with an import of the command
    layer anywhere in them (top level, inside a function, relative, or importlib)."""
    out = set()
    for path in package.rglob("*.py"):
        rel = path.relative_to(package.parent).as_posix()
        if rel.startswith("gru_learn/cli/") or rel == "gru_learn/__main__.py":
            continue
        module = rel.removesuffix(".py").replace("/", ".")
        for node in ast.walk(ast.parse(path.read_text())):
            names = _imported_names(node, module)
            if any(n == layer or n.startswith(layer + ".") for n in names
                   for layer in COMMAND_LAYER):
                out.add(rel)
    return out


def test_library_modules_do_not_import_the_cli() -> None:
    assert command_layer_importers() <= set(KNOWN), sorted(command_layer_importers() - set(KNOWN))


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    pkg = tmp_path / "gru_learn"
    (pkg / "cli").mkdir(parents=True)
    forms = {"a": "import gru_learn.cli.fit\n", "b": "from gru_learn.cli import fit\n",
             "c": "def f():\n    from .cli.fit import main\n",
             "d": "from . import cli\n", "e": "from gru_learn.__main__ import main\n",
             "f": "import importlib\nimportlib.import_module('gru_learn.cli.fit')\n",
             "ok": "from gru_learn.client import x\nfrom . import gru\n"}
    for name, text in forms.items():
        (pkg / f"{name}.py").write_text(text)
    (pkg / "cli" / "fit.py").write_text("from gru_learn.cli import common\n")
    assert command_layer_importers(pkg) == {f"gru_learn/{n}.py" for n in "abcdef"}


def _defines(path: Path) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.FunctionDef)}


def _calls(path: Path, name: str) -> int:
    return sum(1 for n in ast.walk(ast.parse(path.read_text()))
               if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name)


def test_the_cells_step_is_one_formula() -> None:
    """In gru/cell.py the gate nonlinearities appear once, in gates_2d, which every step calls."""
    tree = ast.parse((PACKAGE / "gru" / "cell.py").read_text())
    sigmoid_in = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                  for n in ast.walk(f) if isinstance(n, ast.Attribute)
                  and n.attr in ("sigmoid", "tanh")}
    assert sigmoid_in == {"gates_2d"}
    assert "gates_2d" in _defines(PACKAGE / "gru" / "cell.py")
    assert _calls(PACKAGE / "gru" / "cell.py", "gates_2d") >= 2  # gates() and autonomous_map()
