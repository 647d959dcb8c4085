"""Architecture rules that must not rot (docs/architecture.md): one folder a layer, arrows
pointing down ``cli -> experiments -> training -> analysis -> dynamics -> (gru, systems) ->
files / errors``; Lightning only in ``training/`` and ``cli/``; the notebook API
(``gru_learn.analyze_gru``) and the dynamics toolkit never load Lightning; no import cycles;
no module over 400 lines without the reason at its top.

The checks read every module's syntax tree (an import anywhere in it: top level, inside a
function, relative, or through importlib), except the cycle check, which follows what runs at
import time (module-level imports). ``test_the_checks_see_their_breaks`` runs each check on a
small package that breaks it."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gru_learn"
MAX_LINES = 400
REASON = "Long because"
# the layers, highest first: a module may import its own layer or any lower one
LAYERS: dict[str, int] = {
    "__main__": 8, "__init__": 8,
    "cli": 7,
    "experiments": 6,
    "training": 5,
    "analysis": 4,
    "dynamics": 3,
    "gru": 2, "systems": 2,
    "files": 1, "runtime": 1,
    "errors": 0,
}
LIGHTNING = ("lightning", "pytorch_lightning", "lightning_fabric", "lightning_utilities")
MAY_IMPORT_LIGHTNING = ("cli", "training")


def modules(package: Path = PACKAGE) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of ``package`` (a package is its __init__)."""
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def layer(module: str) -> str:
    """The layer of a dotted module name: its folder, or its own name at the package root
    (the package itself is ``__init__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _nodes(path: Path, top_level_only: bool) -> list[ast.AST]:
    """Every node of the module at ``path``, or those run at import time (outside functions
    and ``if TYPE_CHECKING:`` blocks)."""
    tree = ast.parse(path.read_text())
    if not top_level_only:
        return list(ast.walk(tree))
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def imports(module: str, path: Path, known: set[str], top_level_only: bool = False
            ) -> set[str]:
    """What ``module`` imports: the modules among ``known`` (``from a.b import c`` is module
    ``a.b.c`` if there is one, else, for a function or class, ``a.b``) and other names as
    written (``lightning.pytorch``)."""
    package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _nodes(path, top_level_only):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative to the module's package (a package is its own)
                parts = module.split(".")
                parent = parts[: len(parts) - node.level + package]
                base = ".".join(parent + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                     for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            names = [str(node.args[0].value)]
        else:
            continue
        for name in names:
            inner = name
            while inner and inner not in known:
                inner = inner.rpartition(".")[0]
            out.add(inner or name)
    return out


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """'a (layer) -> b (layer)' for every import into a higher layer, or sideways into another
    layer of the same height (gru <-> systems)."""
    known = {m for m, _ in modules(package)}
    bad = []
    for module, path in modules(package):
        src = layer(module)
        for target in imports(module, path, known):
            dst = layer(target)
            if target not in known or target == package.name or dst == src:
                continue
            if LAYERS.get(dst, 99) >= LAYERS.get(src, -1):
                bad.append(f"{module} ({src}) -> {target} ({dst})")
    return sorted(bad)


def lightning_importers(package: Path = PACKAGE) -> list[str]:
    """Modules outside ``training/`` and ``cli/`` that import Lightning anywhere."""
    known = {m for m, _ in modules(package)}
    return sorted(m for m, p in modules(package) if layer(m) not in MAY_IMPORT_LIGHTNING
                  and any(n.split(".")[0] in LIGHTNING for n in imports(m, p, known)))


def command_importers(package: Path = PACKAGE, layer_name: str = "experiments") -> list[str]:
    """Modules of ``layer_name`` that import ``cli`` or ``__main__`` anywhere."""
    known = {m for m, _ in modules(package)}
    return sorted(m for m, p in modules(package) if layer(m) == layer_name
                  and any(t in known and layer(t) in ("cli", "__main__")
                          for t in imports(m, p, known)))


def import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Strongly connected groups (more than one module, or a module importing itself) of the
    graph of module-level imports between the package's modules (Tarjan's algorithm)."""
    known = {m for m, _ in modules(package)}
    graph = {m: (imports(m, p, known, top_level_only=True) & known) - {package.name}
             for m, p in modules(package)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def long_modules(package: Path = PACKAGE) -> list[str]:
    """Modules over MAX_LINES lines whose docstring has no line starting with REASON."""
    bad = []
    for _, path in modules(package):
        text = path.read_text()
        lines = text.count("\n")
        if lines <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.strip().startswith(REASON) for line in doc.splitlines()):
            bad.append(f"{path.relative_to(package.parent).as_posix()}: {lines} lines")
    return bad


# --- the rules ----------------------------------------------------------------------------
def test_arrows_point_down_the_layers() -> None:
    bad = upward_imports()
    assert not bad, "upward imports: " + "; ".join(bad)


def test_only_training_and_cli_import_lightning() -> None:
    bad = lightning_importers()
    assert not bad, "Lightning imported by: " + ", ".join(bad)


def test_experiments_never_import_the_command_line() -> None:
    bad = command_importers()
    assert not bad, "experiments importing cli/ or __main__: " + ", ".join(bad)


def test_no_import_cycles() -> None:
    bad = import_cycles()
    assert not bad, "import cycles: " + "; ".join(" <-> ".join(g) for g in bad)


def test_no_module_over_400_lines_without_a_reason() -> None:
    bad = long_modules()
    assert not bad, f"write a docstring line '{REASON} ...' at the top of: " + "; ".join(bad)


def test_the_notebook_api_and_the_toolkit_never_load_lightning_or_training() -> None:
    """``import gru_learn; gru_learn.analyze_gru(nn.GRU(...))``, then importing every module
    of ``analysis/`` and ``dynamics/``, leaves Lightning and ``gru_learn.training`` unloaded."""
    code = (
        "import sys, importlib, pkgutil, torch, gru_learn\n"
        "torch.manual_seed(0)\n"
        "res = gru_learn.analyze_gru(torch.nn.GRU(2, 3), cycles=False)\n"
        "assert res.fixed_points\n"
        "import gru_learn.analysis, gru_learn.dynamics\n"
        "for pkg in (gru_learn.analysis, gru_learn.dynamics):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"top = {{m.split('.')[0] for m in sys.modules}}\n"
        f"bad = sorted(top & set({LIGHTNING!r})\n"
        "             | {m for m in sys.modules if m.startswith('gru_learn.training')})\n"
        "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]", out.stdout


# --- the checks themselves ------------------------------------------------------------------
def test_the_command_line_starts_without_torch() -> None:
    """``python -m gru_learn`` handles Ctrl-C and SIGTERM from its first tenth of a second, so its
    dispatch (``--import`` handling included) must not load torch (1.5 s) before the command's
    module: a package ``__init__`` that imports eagerly breaks this."""
    code = ("import sys, runpy; sys.argv = ['gru_learn', '--help']\n"
            "try:\n    runpy.run_module('gru_learn', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_checks_see_their_breaks(tmp_path: Path) -> None:
    pkg = tmp_path / "gru_learn"
    files = {
        "__init__.py": "",
        "__main__.py": "from gru_learn.cli import fit\n",
        "errors.py": "",
        "cli/__init__.py": "", "cli/fit.py": "import lightning\nfrom gru_learn import errors\n",
        "experiments/__init__.py": "",
        "experiments/run.py": "def f():\n    from gru_learn.cli.fit import main\n",
        "experiments/go.py": "import importlib\nimportlib.import_module('gru_learn.__main__')\n",
        "training/__init__.py": "", "training/module.py": "import lightning as L\n",
        "analysis/__init__.py": "from .a import x\n",
        "analysis/a.py": "from gru_learn.analysis import b\n",
        "analysis/b.py": "from . import a\nfrom gru_learn.dynamics import e\n",
        "analysis/c.py": "def f():\n    from gru_learn.training.module import M\n",
        "dynamics/__init__.py": "",
        "dynamics/d.py": "import lightning.pytorch\n" + "x = 1\n" * 400,
        "dynamics/e.py": '"""Toolkit.\n\nLong because it is.\n"""\n' + "x = 1\n" * 400,
        "gru/__init__.py": "", "gru/cell.py": "from gru_learn.systems import registry\n",
        "systems/__init__.py": "", "systems/registry.py": "from gru_learn.errors import E\n",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    assert upward_imports(pkg) == [
        "gru_learn.analysis.c (analysis) -> gru_learn.training.module (training)",
        "gru_learn.experiments.go (experiments) -> gru_learn.__main__ (__main__)",
        "gru_learn.experiments.run (experiments) -> gru_learn.cli.fit (cli)",
        "gru_learn.gru.cell (gru) -> gru_learn.systems.registry (systems)"]
    assert lightning_importers(pkg) == ["gru_learn.dynamics.d"]
    assert command_importers(pkg) == ["gru_learn.experiments.go", "gru_learn.experiments.run"]
    assert import_cycles(pkg) == [["gru_learn.analysis.a", "gru_learn.analysis.b"]]
    assert long_modules(pkg) == ["gru_learn/dynamics/d.py: 401 lines"]
