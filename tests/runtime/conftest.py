"""Fixtures shared by the runtime tests."""

import pytest

from runtime.backends import kernels_available


@pytest.fixture(params=["tflite", "litert"])
def via(request):
    """The interpreter the kernels are registered with (tflite-runtime, the TFLite C API); skips
    where it is not installed or the kernels fail their self-test on it."""
    ok, why = kernels_available(request.param)
    if not ok:
        pytest.skip(why)
    return request.param
