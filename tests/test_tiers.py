"""The fast tier stays true: every test conftest.py calls slow still exists, and each tier's kind is applied."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import KIND_BY_PATH, ROOT, SLOW


def test_every_slow_name_is_a_test_that_exists():
    missing = []
    for key in sorted(SLOW):
        path, _, name = key.partition("::")
        tree = ast.parse((ROOT / path).read_text()) if (ROOT / path).is_file() else None
        functions = (ast.FunctionDef, ast.AsyncFunctionDef)
        names = {n.name for n in ast.walk(tree) if isinstance(n, functions)} if tree else set()
        if name not in names:
            missing.append(key)
    assert not missing, f"conftest.SLOW names tests that do not exist: {missing}"


def test_every_kind_path_exists():
    for kind, paths in KIND_BY_PATH.items():
        for path in paths:
            assert (ROOT / path).exists() or path.endswith("/"), (kind, path)


def _collected(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    ).stdout
    return [line for line in out.splitlines() if "::" in line]


def test_the_kinds_select_what_they_say():
    """-m server picks the Triton tests and no codec test; -m "not slow" keeps the codec tests and drops Triton's."""
    files = ("tests/runtime/test_triton.py", "tests/pose/test_codec.py")
    server = _collected("-m", "server", *files)
    fast = _collected("-m", "not slow", *files)
    assert server and all(n.startswith(files[0]) for n in server)
    assert fast and all(n.startswith(files[1]) for n in fast)
