"""How the parts depend on each other, read from the source: one direction, no cycles.

- the library (``rtpose``) never imports the applications (``gui``, ``train``);
- the runtimes never import the exporter (which imports PyTorch): ONNX graph facts live in a leaf;
- no import cycle between rtpose's modules at import time;
- no import cycle at all, lazy imports (inside functions) included, in the library and in the viewer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "rtpose"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports (``from a.b import c`` gives a.b and a.b.c: c may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):  # imports for type checkers only are no dependency at run time
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            node.body = []
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(*packages: Path) -> dict[str, Path]:
    return {_module_name(p): p for package in (packages or (PACKAGE,)) for p in package.rglob("*.py")}


def test_the_library_never_imports_the_applications():
    offenders = {
        name: sorted(m for m in _imports(path, top_level_only=False) if m.split(".")[0] in ("gui", "train"))
        for name, path in _modules().items()
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_runtimes_do_not_import_the_exporter():
    for runtime in ("onnxruntime_runtime", "openvino_runtime", "tensorrt_runtime"):
        imported = _imports(PACKAGE / "runtime" / f"{runtime}.py", top_level_only=False)
        assert "rtpose.export.pose_onnx" not in imported, runtime


def _find_cycle(modules: dict[str, Path], top_level_only: bool) -> None:
    graph = {
        name: {m for m in _imports(path, top_level_only=top_level_only) if m in modules and m != name}
        for name, path in modules.items()
    }
    # a package's __init__ imported by its own modules is Python's usual layout, not a cycle of ours
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_import_cycles_between_modules():
    _find_cycle(_modules(), top_level_only=True)


def test_no_import_cycles_lazy_imports_included():
    """Lazy imports hide a cycle from start-up, not from the design: none in the library or in the viewer."""
    _find_cycle(_modules(PACKAGE, ROOT / "gui"), top_level_only=False)
