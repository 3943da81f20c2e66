"""What is installed: importable modules and distribution versions (for backends, reports, benchmarks)."""

from __future__ import annotations

#: The TFLite interpreters the runtime supports, as pip requirements (requirements-runtime.txt pins the same).
TFLITE_RUNTIME = "tflite-runtime==2.14.0"  # CPython 3.8-3.11
LITERT_LM_API = "litert-lm-api==0.18.1"  # its TFLite C API; Python >= 3.10


def importable(module: str) -> bool:
    """Whether ``module`` can be imported here, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def versions(*dists: str) -> dict[str, str]:
    """``{distribution: version}`` of the installed ones among ``dists`` (pip names)."""
    from importlib import metadata

    out = {}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            pass
    return out
