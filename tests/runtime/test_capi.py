"""runtime.kernels.capi: the TFLite C API of litert-lm-api, bound through ctypes (its agreement
with tflite-runtime and LCE is in test_kernels.py and test_landmarker.py)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.backends import BackendError, LiteRTBackend, kernels_available
from runtime.kernels import SELFTEST, KernelError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _litert():
    ok, why = kernels_available("litert")
    if not ok:
        pytest.skip(why)


def test_model_details_run_and_errors():
    from runtime.kernels.capi import CAPIModel, bind

    assert bind().startswith("2.")
    m = CAPIModel((SELFTEST / "selftest.tflite").read_bytes(), threads=2)
    (shape, dtype), = m.inputs
    assert dtype == np.float32 and len(m.outputs) == 3
    outs = m.run(np.zeros(shape, np.float32))
    assert [o.shape for o in outs] == [s for s, _ in m.outputs]
    with pytest.raises(ValueError, match="input shape .* does not match"):
        m.run(np.zeros((1, 2, 3), np.float32))
    m.close()
    m.close()  # idempotent
    with pytest.raises(KernelError, match="not a valid TFLite model"):
        CAPIModel(b"\x00" * 64)


def test_backend_refuses_what_it_cannot_run():
    with pytest.raises(BackendError, match="cannot run this model"):
        LiteRTBackend(b"TFL3" + b"\x00" * 60)


def _bind_in_child(env_lib: str) -> subprocess.CompletedProcess:
    code = "from runtime.kernels import capi; capi.bind()"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BNN_LITERT_LIB": env_lib}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def test_a_library_without_the_c_api_is_named_with_the_fix():
    import ctypes.util

    libm = ctypes.util.find_library("m")
    r = _bind_in_child(libm)
    assert r.returncode != 0
    assert "does not export the TFLite C API (TfLiteVersion, " in r.stderr and "litert-lm-api==0.18.1" in r.stderr
    r = _bind_in_child("/nonexistent/liblitert-lm.so")
    assert "cannot load /nonexistent/liblitert-lm.so" in r.stderr and "pip install litert-lm-api" in r.stderr
