"""Interpreter backends, loaded lazily and chosen from the model's ops.

* ``lce``: Larq Compute Engine's interpreter (x86_64 / macOS wheels): runs binary models.
* ``tflite``: stock ``tflite-runtime``: float / int8 models (builtin ops), and binary models with
  the project's kernels (``runtime.kernels``, built from C on first use) registered as custom ops:
  the path for Raspberry Pi / aarch64, where LCE has no wheel, and the faster one on x86.
* ``litert``: the TFLite C API of the pinned ``litert-lm-api`` wheel (``runtime.kernels.capi``), with
  the same kernels and XNNPACK: any Python >= 3.10 on x86_64 and aarch64, where ``tflite-runtime``
  (CPython <= 3.11) does not install, e.g. Raspberry Pi OS 13.
* ``onnxruntime``: ``.onnx`` float models.

Every backend maps one (1, S, S, 3) float32 normalised crop to (1, H, W, K) float32 heatmaps.
"""

from __future__ import annotations

import platform
from enum import StrEnum

import numpy as np

from runtime.packages import LITERT_LM_API, TFLITE_RUNTIME, importable
from runtime.tflite_model import ModelInfo

LCE_OPS = {"LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d"}


class BackendKind(StrEnum):
    """Which interpreter runs a model (``auto``: chosen from the model's ops and what is installed)."""

    AUTO = "auto"
    LCE = "lce"
    TFLITE = "tflite"
    LITERT = "litert"
    ONNXRUNTIME = "onnxruntime"


BACKENDS = tuple(k.value for k in BackendKind)
INSTALL_HINTS = {
    "lce": "pip install larq-compute-engine==0.16.0 (x86_64 Linux, macOS)",
    "tflite": f"pip install {TFLITE_RUNTIME} (CPython 3.8-3.11)",
    "litert": f"pip install {LITERT_LM_API} (Python >= 3.10)",
    "onnxruntime": "pip install onnxruntime",
}


class BackendError(RuntimeError):
    """No backend can run this model here; the message names the fix."""


class Backend:
    name = "?"

    def run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def input_shape(self) -> tuple[int, ...]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class LCEBackend(Backend):
    name = "lce"

    def __init__(self, model: bytes, threads: int = 1, indirect_bgemm: bool = True, reference: bool = False):
        lite = lce_interpreter_module()
        self._it = lite.LiteInterpreter(model, int(threads), bool(reference), bool(indirect_bgemm), False)
        self._shape = tuple(self._it.input_shapes[0])

    @property
    def input_shape(self):
        return self._shape

    def run(self, x):
        return np.asarray(self._it.predict([np.ascontiguousarray(x, np.float32)])[0], np.float32)


def lce_interpreter_module():
    """LCE's compiled interpreter wrapper, loaded *without* ``larq_compute_engine/__init__``
    (which imports the converter and with it TensorFlow: seconds and hundreds of MB)."""
    import importlib.util
    import os
    import sys

    name = "interpreter_wrapper_lite"
    if name in sys.modules:
        return sys.modules[name]
    if "larq_compute_engine" in sys.modules:  # already imported (with TF) by the caller: reuse it
        from larq_compute_engine.tflite.python import interpreter_wrapper_lite

        return interpreter_wrapper_lite
    try:
        spec = importlib.util.find_spec("larq_compute_engine")
    except (ImportError, ValueError):
        spec = None
    so = None
    if spec is not None and spec.origin:
        folder = os.path.join(os.path.dirname(spec.origin), "tflite", "python")
        so = next((os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.startswith(name)
                   and f.endswith((".so", ".pyd"))), None) if os.path.isdir(folder) else None
    if so is None:
        raise BackendError(f"the LCE interpreter is not installed; {INSTALL_HINTS['lce']}")
    s = importlib.util.spec_from_file_location(name, so)
    mod = importlib.util.module_from_spec(s)
    try:
        s.loader.exec_module(mod)
    except ImportError as e:
        raise BackendError(f"the LCE interpreter cannot load on {platform.machine()} ({e}); "
                           f"{INSTALL_HINTS['lce']}") from None
    sys.modules[name] = mod
    # A later `import larq_compute_engine` must reuse it: pybind11 types register only once.
    sys.modules["larq_compute_engine.tflite.python.interpreter_wrapper_lite"] = mod
    return mod


class TFLiteBackend(Backend):
    name = "tflite"

    def __init__(self, model: bytes, threads: int = 1):
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as e:
            raise BackendError(f"tflite-runtime is not installed ({e}); {INSTALL_HINTS['tflite']}") from None
        if binary_ops(model):
            from runtime import kernels

            try:
                kernels.self_test()
                self._it = kernels.interpreter(model, int(threads))
            except (kernels.KernelError, OSError) as e:
                raise BackendError(f"binary model on tflite-runtime: {e}") from None
            self.kernels = kernels.isa()
        else:
            self._it = Interpreter(model_content=model, num_threads=int(threads))
            self._it.allocate_tensors()
            self.kernels = None
        self._in = self._it.get_input_details()[0]
        self._out = self._it.get_output_details()[0]

    @property
    def input_shape(self):
        return tuple(int(d) for d in self._in["shape"])

    def run(self, x):
        x = np.asarray(x, np.float32)
        if self._in["dtype"] != np.float32:  # quantised input
            scale, zero = self._in["quantization"]
            info = np.iinfo(self._in["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(self._in["dtype"])
        self._it.set_tensor(self._in["index"], x)
        self._it.invoke()
        y = self._it.get_tensor(self._out["index"])
        if self._out["dtype"] != np.float32:
            scale, zero = self._out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, np.float32)


class LiteRTBackend(Backend):
    name = "litert"

    def __init__(self, model: bytes, threads: int = 1):
        from runtime import kernels
        from runtime.kernels import capi

        binary = bool(binary_ops(model))
        try:
            if binary:
                kernels.self_test("litert")
            self._m = capi.CAPIModel(model, int(threads))
        except (kernels.KernelError, OSError) as e:
            raise BackendError(f"the TFLite C API backend cannot run this model: {e}") from None
        self.kernels = kernels.isa() if binary else None
        (self._shape, dtype) = self._m.inputs[0]
        if dtype != np.float32 or self._m.outputs[0][1] != np.float32:
            raise BackendError("the litert backend runs models with float32 input and output; use --backend tflite")

    @property
    def input_shape(self):
        return self._shape

    def run(self, x):
        return self._m.run(np.asarray(x, np.float32))[0]

    def close(self) -> None:
        self._m.close()


class ONNXBackend(Backend):
    name = "onnxruntime"

    def __init__(self, model: bytes, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendError(f"onnxruntime is not installed ({e}); {INSTALL_HINTS['onnxruntime']}") from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        self._s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        self._in = self._s.get_inputs()[0]

    @property
    def input_shape(self):
        return tuple(d if isinstance(d, int) else 1 for d in self._in.shape)

    def run(self, x):
        return np.asarray(self._s.run(None, {self._in.name: np.asarray(x, np.float32)})[0], np.float32)


def builtin_runner(model: bytes, threads: int = 1):
    """A .tflite model of builtin float ops (e.g. a detector) on whichever TFLite interpreter is
    installed (tflite-runtime, else the C API): a function from the input array to its outputs.

    Raises:
        BackendError: neither is installed (the message names both).
    """
    if importable("tflite_runtime"):
        from tflite_runtime.interpreter import Interpreter

        it = Interpreter(model_content=model, num_threads=int(threads))
        it.allocate_tensors()
        inp, outs = it.get_input_details()[0]["index"], [d["index"] for d in it.get_output_details()]

        def run(x: np.ndarray) -> list[np.ndarray]:
            it.set_tensor(inp, x)
            it.invoke()
            return [it.get_tensor(i) for i in outs]

        return run
    if importable("litert_lm"):
        from runtime import kernels
        from runtime.kernels.capi import CAPIModel

        try:
            return CAPIModel(model, int(threads)).run
        except (kernels.KernelError, OSError) as e:
            raise BackendError(f"the TFLite C API cannot run this model: {e}") from None
    raise BackendError(f"no TFLite interpreter installed; {INSTALL_HINTS['tflite']}, or {INSTALL_HINTS['litert']}")


def binary_ops(model: bytes) -> set[str]:
    """The LCE custom ops a .tflite flatbuffer uses (empty for float / int8 models)."""
    from runtime.tflite_model import read_model

    try:
        return read_model(model).custom_ops & LCE_OPS
    except ValueError:
        return set()


_KERNELS: dict[str, tuple[bool, str]] = {}


def kernels_available(via: BackendKind | str = BackendKind.TFLITE) -> tuple[bool, str]:
    """(True, isa) when the project's binary kernels work here in ``via`` (``tflite``:
    tflite-runtime, ``litert``: the TFLite C API), else (False, why)."""
    via = BackendKind(via)
    if via not in _KERNELS:
        if via == BackendKind.TFLITE and not importable("tflite_runtime"):
            _KERNELS[via] = (False, f"tflite-runtime is not installed: {INSTALL_HINTS['tflite']}")
        elif via == BackendKind.LITERT and not importable("litert_lm"):
            _KERNELS[via] = (False, f"the TFLite C API is not installed: {INSTALL_HINTS['litert']}")
        else:
            from runtime import kernels

            _KERNELS[via] = kernels.available(via.value)
    return _KERNELS[via]


def choose_backend(info: ModelInfo | None, requested: BackendKind | str = BackendKind.AUTO,
                   is_onnx: bool = False) -> BackendKind:
    """Pick the backend for a model. ``info`` is the parsed .tflite (None for .onnx).

    Raises:
        BackendError: the requested backend cannot run the model's ops, or none is installed.
    """
    if requested not in BACKENDS:
        raise BackendError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    return BackendKind(_choose(info, BackendKind(requested), is_onnx))


def _choose(info: ModelInfo | None, requested: BackendKind, is_onnx: bool) -> str:
    if is_onnx:
        if requested not in ("auto", "onnxruntime"):
            raise BackendError(f"an .onnx model runs on onnxruntime, not {requested}; use --backend onnxruntime")
        return "onnxruntime"
    if requested == "onnxruntime":
        raise BackendError("onnxruntime runs .onnx models; this is a .tflite model: use --backend tflite or lce")
    custom = info.custom_ops if info else set()
    unknown = custom - LCE_OPS
    if unknown:
        raise BackendError(f"model uses custom ops no backend here can run: {', '.join(sorted(unknown))}")
    if custom:  # binary model: the project's kernels on tflite-runtime or the C API, else LCE's interpreter
        if requested == "lce":
            return "lce"
        if requested in ("tflite", "litert"):
            ok, why = kernels_available(requested)
            if ok:
                return requested
            raise BackendError(f"binary ops on {requested} need the project's kernels: {why}")
        for kind in ("tflite", "litert"):
            if kernels_available(kind)[0]:
                return kind
        if importable("larq_compute_engine"):
            return "lce"
        raise BackendError(f"this binary model needs the project's kernels ({kernels_available('tflite')[1]}; "
                           f"{kernels_available('litert')[1]}) or the LCE interpreter ({INSTALL_HINTS['lce']})")
    if requested == "auto":
        for kind, package in (("tflite", "tflite_runtime"), ("litert", "litert_lm"), ("lce", "larq_compute_engine")):
            if importable(package):
                return kind
        raise BackendError(f"no TFLite interpreter installed; {INSTALL_HINTS['tflite']}, or {INSTALL_HINTS['litert']}")
    return requested


def load_backend(model: bytes, name: BackendKind | str, threads: int = 1) -> Backend:
    """Instantiate backend ``name`` ("lce", "tflite", "litert", "onnxruntime") for ``model`` bytes."""
    if name == "lce":
        return LCEBackend(model, threads)
    if name == "tflite":
        return TFLiteBackend(model, threads)
    if name == "litert":
        return LiteRTBackend(model, threads)
    if name == "onnxruntime":
        return ONNXBackend(model, threads)
    raise BackendError(f"unknown backend {name!r}")
