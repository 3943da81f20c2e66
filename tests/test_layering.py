"""Dependencies point one way: ``models -> runtime``, ``convert -> models, runtime``; ``runtime``
imports nothing of ours and never TensorFlow or larq. Every import counts, lazy ones included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"runtime": {"models", "convert", "tensorflow", "tf_keras", "keras", "larq"},
             "models": {"convert"}}  # convert/ may import both


def imported_packages(source: str) -> set[str]:
    """Top-level package names of every ``import`` / ``from ... import`` in ``source``."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("path", sorted(p for pkg in FORBIDDEN for p in (ROOT / pkg).rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path):
    pkg = path.relative_to(ROOT).parts[0]
    bad = imported_packages(path.read_text()) & FORBIDDEN[pkg]
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; {pkg}/ must not depend on them"


def test_the_check_sees_lazy_and_dotted_imports():
    src = "def f():\n    from convert.core import load_keras\n    import tensorflow.lite as tfl\n"
    assert imported_packages(src) == {"convert", "tensorflow"}
    assert imported_packages("import larq_compute_engine.tflite.python.interpreter") == {"larq_compute_engine"}
