"""Every module with a ``main()`` can be run with ``python -m``: a module that defines ``main`` but
has no ``if __name__ == "__main__"`` guard (nor a package ``__main__.py``) exits 0 and does nothing,
which is how ``python -m convert.cli`` once silently wrote no model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for pkg in ("models", "runtime", "convert") for p in (ROOT / pkg).rglob("*.py")
                 if "_build" not in p.parts)


def _defines_main(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)


def _has_main_guard(tree: ast.Module) -> bool:
    for n in tree.body:
        if isinstance(n, ast.If) and isinstance(n.test, ast.Compare):
            names = {getattr(x, "id", None) for x in [n.test.left, *n.test.comparators]}
            consts = {getattr(x, "value", None) for x in [n.test.left, *n.test.comparators]}
            if "__name__" in names and "__main__" in consts:
                return True
    return False


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_with_main_runs_under_python_m(path):
    tree = ast.parse(path.read_text())
    if not _defines_main(tree):
        return
    runnable = _has_main_guard(tree) or (path.name == "__init__.py" and (path.parent / "__main__.py").exists())
    assert runnable, f"{path.relative_to(ROOT)} defines main() but `python -m` would not call it"


def test_the_check_catches_a_missing_guard():
    assert _defines_main(ast.parse("def main():\n    return 0\n"))
    assert not _has_main_guard(ast.parse("def main():\n    return 0\n"))
    assert _has_main_guard(ast.parse("def main():\n    return 0\nif __name__ == '__main__':\n    main()\n"))
