"""Fixtures shared by the runtime tests."""

import pytest

from runtime import kernels
from runtime.backends import kernels_available


@pytest.fixture
def isas() -> list[str]:
    """The inner kernels this CPU can run, the portable one first."""
    best = kernels.load().bnn_best_isa()
    names = {0: ["ref"], 1: ["ref", "avx2"], 2: ["ref", "avx2", "avx512"], 3: ["ref", "neon"]}
    return names[best]


@pytest.fixture
def isa_env(monkeypatch):
    """Select an inner kernel by name for the interpreters created inside the test."""

    def use(name):
        monkeypatch.setenv("BNN_ISA", name)
        assert kernels.isa().startswith(name)

    return use


@pytest.fixture(params=["tflite", "litert"])
def via(request):
    """The interpreter the kernels are registered with (tflite-runtime, the TFLite C API); skips
    where it is not installed or the kernels fail their self-test on it."""
    ok, why = kernels_available(request.param)
    if not ok:
        pytest.skip(why)
    return request.param
