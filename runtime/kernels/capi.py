"""Models on the TFLite C API of the pinned ``litert-lm-api`` wheel, with the project's kernels.

The wheel's ``liblitert-lm.so`` (TFLite 2.23, ``py3-none`` for x86_64 and aarch64, Python >= 3.10)
is opened with ``RTLD_LOCAL``, its C API functions are looked up by name and handed to the
kernels' C layer (``src/bnn_capi.c``, shared with the Android bridge), which registers the LCE
ops with ``TfLiteInterpreterOptionsAddCustomOp`` and runs float ops on XNNPACK. This is the
interpreter where ``tflite-runtime`` does not install (Python >= 3.12, e.g. Raspberry Pi OS 13).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from pathlib import Path

import numpy as np

from runtime.kernels import KernelError, load
from runtime.packages import LITERT_LM_API

INSTALL_HINT = f"pip install {LITERT_LM_API}"
_TYPES = {1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}  # TfLiteType -> dtype


def library_path() -> Path:
    """``liblitert-lm.so`` of the installed wheel (``BNN_LITERT_LIB`` overrides).

    Raises:
        KernelError: the wheel is not installed (the message says how to install it).
    """
    if os.environ.get("BNN_LITERT_LIB"):
        return Path(os.environ["BNN_LITERT_LIB"])
    try:
        spec = importlib.util.find_spec("litert_lm")  # finds the package without importing it
    except (ImportError, ValueError):
        spec = None
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    if folder is None or not (folder / "liblitert-lm.so").is_file():
        raise KernelError(f"the TFLite C API library (liblitert-lm.so) is not installed; {INSTALL_HINT}")
    return folder / "liblitert-lm.so"


_BOUND: str | None = None


def bind() -> str:
    """Open the C API library once per process and bind the kernels' C layer to it; returns its
    TFLite version.

    Raises:
        KernelError: the library is missing, cannot load, or lacks a C API function (one line,
        naming the first missing ones and the fix).
    """
    global _BOUND
    if _BOUND is not None:
        return _BOUND
    lib = load()
    path = library_path()
    try:
        litert = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)
    except OSError as e:
        raise KernelError(f"cannot load {path} ({e}); {INSTALL_HINT}") from None
    lib.bnn_capi_symbols.restype = ctypes.c_char_p
    names = [n for n in lib.bnn_capi_symbols().decode().split(",") if n]
    missing = [n for n in names if not hasattr(litert, n)]
    if missing:
        raise KernelError(f"{path} does not export the TFLite C API ({', '.join(missing[:3])} missing); "
                          f"{INSTALL_HINT}")
    addresses = (ctypes.c_void_p * len(names))(*(ctypes.cast(getattr(litert, n), ctypes.c_void_p).value
                                                  for n in names))
    lib.bnn_capi_bind.argtypes = [ctypes.c_void_p, ctypes.c_int]
    if lib.bnn_capi_bind(addresses, len(names)) != 0:
        raise KernelError(f"binding the kernels to {path} failed; "
                          "rebuild them: python -m runtime.kernels build --force")
    lib.bnn_capi_version.restype = ctypes.c_char_p
    lib.bnn_model_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                     ctypes.c_char_p, ctypes.c_size_t]
    lib.bnn_model_create.restype = ctypes.c_void_p
    lib.bnn_model_delete.argtypes = [ctypes.c_void_p]
    lib.bnn_model_count.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bnn_model_dims.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int32),
                                   ctypes.c_int]
    lib.bnn_model_type.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.bnn_model_data.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t)]
    lib.bnn_model_data.restype = ctypes.c_void_p
    lib.bnn_model_invoke.argtypes = [ctypes.c_void_p]
    lib.bnn_model_error.argtypes = [ctypes.c_void_p]
    lib.bnn_model_error.restype = ctypes.c_char_p
    _BOUND = lib.bnn_capi_version().decode()
    return _BOUND


class CAPIModel:
    """One .tflite model on the C API: ``run`` maps the input array to every output array.

    Args:
        model: the flatbuffer bytes (copied).
        threads: interpreter threads (binary kernels and XNNPACK).
        xnnpack: run float ops on XNNPACK (the default of tflite-runtime's Python interpreter).

    Raises:
        KernelError: the C API is unavailable, or the model does not load (the interpreter's reason).
    """

    def __init__(self, model: bytes, threads: int = 1, xnnpack: bool = True):
        bind()
        self._lib = load()
        err = ctypes.create_string_buffer(1024)
        self._h = self._lib.bnn_model_create(model, len(model), int(threads), int(xnnpack), err, len(err))
        if not self._h:
            raise KernelError(" ".join(err.value.decode(errors="replace").split()))
        self.inputs = [self._details(True, i) for i in range(self._lib.bnn_model_count(self._h, 1))]
        self.outputs = [self._details(False, i) for i in range(self._lib.bnn_model_count(self._h, 0))]

    def _details(self, inp: bool, i: int) -> tuple[tuple[int, ...], np.dtype]:
        dims = (ctypes.c_int32 * 16)()
        rank = self._lib.bnn_model_dims(self._h, int(inp), i, dims, 16)
        kind = self._lib.bnn_model_type(self._h, int(inp), i)
        if kind not in _TYPES:
            raise KernelError(f"tensor type {kind} of {'input' if inp else 'output'} {i} is not supported")
        return tuple(dims[:rank]), np.dtype(_TYPES[kind])

    def _view(self, inp: bool, i: int) -> np.ndarray:
        size = ctypes.c_size_t()
        ptr = self._lib.bnn_model_data(self._h, int(inp), i, ctypes.byref(size))
        shape, dtype = (self.inputs if inp else self.outputs)[i]
        buf = (ctypes.c_char * size.value).from_address(ptr)
        return np.frombuffer(buf, dtype).reshape(shape)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Copy ``x`` (the input's shape and dtype) into input 0, run, return copies of the outputs.

        Raises:
            ValueError: ``x`` has another shape.
            KernelError: the interpreter failed (its messages).
        """
        shape, dtype = self.inputs[0]
        x = np.asarray(x, dtype)
        if x.shape != shape:
            raise ValueError(f"input shape {x.shape} does not match the model's {shape}")
        self._view(True, 0)[...] = x
        if self._lib.bnn_model_invoke(self._h) != 0:
            raise KernelError(f"inference failed: {self._lib.bnn_model_error(self._h).decode(errors='replace')}")
        return [self._view(False, i).copy() for i in range(len(self.outputs))]

    def close(self) -> None:
        if self._h:
            self._lib.bnn_model_delete(self._h)
            self._h = None

    def __del__(self):
        self.close()


def available() -> tuple[bool, str]:
    """(True, TFLite version) when the C API library binds here, else (False, why)."""
    try:
        return True, bind()
    except (KernelError, OSError) as e:
        return False, str(e)
