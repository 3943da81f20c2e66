"""The project's binary kernels: LCE's ops (LceQuantize, LceDequantize, LceBconv2d,
LceBMaxPool2d) in C, registered into a stock ``tflite-runtime`` interpreter.

The C sources in ``src/`` are compiled on first use with the system C compiler (``$CC`` or ``cc``)
into a cache folder (``runtime/kernels/_build`` when writable, else ``~/.cache/bnn-landmarks``),
keyed by a hash of the sources, flags and machine, so upgrades rebuild and nothing is stale.
``python -m runtime.kernels build`` does the same ahead of time (``make setup`` runs it).

Loading checks the library against a tiny built-in model with known output (``selftest/``): an
interpreter whose C ABI differs from the one the kernels were written for fails there with a clear
message instead of giving wrong landmarks.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import numpy as np

from runtime.kernels.compile import (  # noqa: F401 - re-exported: the build half has no numpy
    CFLAGS,
    HEADERS,
    INSTALL_HINT,
    SOURCES,
    SRC,
    KernelError,
    build,
    library_name,
)
from runtime.packages import LITERT_LM_API, TFLITE_RUNTIME

SELFTEST = Path(__file__).resolve().parent / "selftest"
ADD_CUSTOM = "_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi"
OPS = ("LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d")


_LIB = None


def load(path: str | Path | None = None) -> ctypes.CDLL:
    """The kernel library, built if needed, loaded once per process."""
    global _LIB
    if _LIB is not None and path is None:
        return _LIB
    if path is None and os.environ.get("BNN_KERNELS_LIB"):  # a prebuilt library (e.g. a sanitizer build)
        path = os.environ["BNN_KERNELS_LIB"]
        lib = ctypes.CDLL(str(path))
        path = None
    else:
        lib = ctypes.CDLL(str(path or build()))
    lib.bnn_register.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bnn_register.restype = ctypes.c_int
    lib.bnn_version.restype = ctypes.c_char_p
    lib.bnn_isa.restype = ctypes.c_int
    lib.bnn_isa_name.argtypes = [ctypes.c_int]
    lib.bnn_isa_name.restype = ctypes.c_char_p
    lib.bnn_profile_text.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.bnn_profile_text.restype = ctypes.c_int
    lib.bnn_profile_enable.argtypes = [ctypes.c_int]
    lib.bnn_check_options.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_char_p)]
    lib.bnn_check_options.restype = ctypes.c_int
    lib.bnn_delegate_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.bnn_delegate_create.restype = ctypes.c_void_p
    lib.bnn_delegate_delete.argtypes = [ctypes.c_void_p]
    lib.bnn_delegate_fused.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bnn_delegate_fused.restype = ctypes.c_int
    lib.bnn_delegate_use_pool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    if path is None:
        _LIB = lib
    return lib


def isa() -> str:
    """Name of the inner kernel in use: ``avx512-vpopcntdq``, ``avx2``, ``neon`` or ``ref``
    (``BNN_ISA=ref|avx2|avx512|neon`` overrides, for tests and benchmarks)."""
    lib = load()
    return lib.bnn_isa_name(lib.bnn_isa()).decode()


def profile_enable(on: bool = True) -> None:
    """Time every binary convolution prepared from now on (also: ``BNN_PROFILE=1``)."""
    load().bnn_profile_enable(int(on))
    load().bnn_profile_reset()


def profile_zero() -> None:
    """Zero the timings of the convolutions profiled so far (e.g. after warm-up runs)."""
    load().bnn_profile_zero()


def profile() -> list[dict]:
    """Per-convolution timings since :func:`profile_enable`, of the instances that ran: shape,
    calls, seconds and binary multiply-accumulates per call
    (``out_h * out_w * out_c * k_h * k_w * channels_in / groups``)."""
    lib = load()
    n = lib.bnn_profile_text(None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    lib.bnn_profile_text(buf, n + 1)
    keys = ("in_h", "in_w", "channels_in", "out_h", "out_w", "out_c", "k_h", "k_w", "stride", "groups",
            "out_kind", "calls", "ns")
    rows = []
    for line in buf.value.decode().splitlines():
        r = dict(zip(keys, (int(v) for v in line.split())))
        if not r["calls"]:  # an instance that never ran (the delegate's kernels are rebuilt when
            continue  # another delegate, XNNPACK, is applied after it)
        r["out_kind"] = ("float", "int8", "bits")[r["out_kind"]]
        r["bmacs"] = r["out_h"] * r["out_w"] * r["out_c"] * r["k_h"] * r["k_w"] * r["channels_in"] // r["groups"]
        r["seconds"] = r.pop("ns") / 1e9
        rows.append(r)
    return rows


PASS_KINDS = ("bn_sign", "concat_add", "max_pool", "upsample_add")  # bnn_glue.h's BNN_PASS_*


def profile_passes() -> dict[str, dict]:
    """The fusing delegate's own passes since :func:`profile_zero`, per kind (:data:`PASS_KINDS`):
    calls and seconds in all (the convolutions it runs are in :func:`profile`)."""
    out = (ctypes.c_int64 * (2 * len(PASS_KINDS)))()
    load().bnn_profile_passes(out)
    return {k: {"calls": out[2 * i + 1], "seconds": out[2 * i] / 1e9} for i, k in enumerate(PASS_KINDS)}


def peak(kind: str = "binary", seconds: float = 0.3, isa: str | None = None) -> float:
    """Measured single-thread peak of this CPU: binary MACs/s of the selected inner kernel's
    xor+popcount+add instructions (``kind="binary"``; ``isa`` as ``BNN_ISA`` picks another) or
    float MACs/s of its widest FMA (``kind="float"``), on registers only, the best of 3 runs of
    about ``seconds``."""
    import time

    if isa is not None:
        saved = os.environ.get("BNN_ISA")
        os.environ["BNN_ISA"] = isa
        try:
            return peak(kind, seconds)
        finally:
            if saved is None:
                del os.environ["BNN_ISA"]
            else:
                os.environ["BNN_ISA"] = saved
    lib = load()
    fn = lib.bnn_peak_bmacs if kind == "binary" else lib.bnn_peak_fmacs
    fn.argtypes = [ctypes.c_long]
    fn.restype = ctypes.c_double
    iters = 1000
    while True:
        t = time.perf_counter()
        ops = fn(iters)
        dt = time.perf_counter() - t
        if dt > seconds / 4 or ops == 0:
            break
        iters *= 4
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        ops = fn(iters)
        best = max(best, ops / (time.perf_counter() - t))
    return best


def _tflite_library() -> ctypes.CDLL:
    """tflite-runtime's interpreter library (already loaded by its Python module)."""
    try:
        import tflite_runtime.interpreter as tfl
    except ImportError as e:
        raise KernelError(f"tflite-runtime is not installed ({e}); {INSTALL_HINT}") from None
    wrapper = getattr(tfl, "_interpreter_wrapper", None)
    so = getattr(wrapper, "__file__", None)
    if not so:
        raise KernelError("cannot locate tflite-runtime's interpreter library; " + INSTALL_HINT)
    return ctypes.CDLL(so)


def _add_custom_address() -> int:
    so = _tflite_library()
    try:
        fn = getattr(so, ADD_CUSTOM)
    except AttributeError:
        raise KernelError(f"{so._name} does not export MutableOpResolver::AddCustom (ai-edge-litert hides it); "
                          f"use {TFLITE_RUNTIME}") from None
    return ctypes.cast(fn, ctypes.c_void_p).value


def registerer():
    """A ``custom_op_registerers`` entry for ``InterpreterWithCustomOps``: registers the four
    LCE ops with the interpreter's op resolver."""
    lib = load()
    add = _add_custom_address()

    def register(resolver_address: int) -> None:
        lib.bnn_register(ctypes.c_void_p(resolver_address), ctypes.c_void_p(add))

    return register


class FusingDelegate:
    """The kernels' delegate for one interpreter of ``model`` (``src/bnn_delegate.c``): the float
    tail between binary convolutions in fewer passes, with the same numbers. A binary
    convolution's output epilogue applies a PRELU that only it reads, computes the next batch
    norm + sign (MUL -> ADD -> LceQuantize) and writes into its slice of the block output
    (CONCATENATION -> residual ADD); what is left of those patterns runs as one pass each. It
    also runs an hourglass' float max pools and merges (nearest-neighbour upsampling -> ADD), so
    that the body is one partition. tflite-runtime takes it in ``experimental_delegates``;
    ``BNN_FUSE=0`` turns it off."""

    KINDS = {"bn_sign": 0, "concat_add": 1, "bconv": 2, "bconv_sign": 3, "bconv_prelu": 4, "max_pool": 5,
             "upsample_add": 6}

    def __init__(self, model: bytes):
        self._lib = load()
        self._ptr = self._lib.bnn_delegate_create(model, len(model))
        if not self._ptr:
            raise KernelError("out of memory creating the kernels' delegate")

    def _get_native_delegate_pointer(self) -> int:  # what tflite-runtime's Interpreter reads
        return self._ptr

    def use_pool(self, xnnpack: XNNPackDelegate) -> None:
        """Run the delegate's work on ``xnnpack``'s worker threads (before the interpreter is built)."""
        self._lib.bnn_delegate_use_pool(self._ptr, xnnpack.pool, xnnpack.parallelize)

    def fused(self) -> dict[str, int]:
        """How many units of each kind the delegate runs in its interpreter: ``bn_sign`` and
        ``concat_add`` passes, ``bconv`` convolutions, ``bconv_sign`` of them with a folded sign,
        ``bconv_prelu`` of them with a folded PRELU, ``max_pool`` float max pools and
        ``upsample_add`` nearest-neighbour upsamplings with the add that reads them."""
        return {k: self._lib.bnn_delegate_fused(self._ptr, v) for k, v in self.KINDS.items()}

    def __del__(self):  # tflite-runtime drops its interpreter before its delegates
        if getattr(self, "_ptr", None):
            self._lib.bnn_delegate_delete(self._ptr)
            self._ptr = None


class _XNNPackOptions(ctypes.Structure):
    # only num_threads is set; the buffer is larger than any release's options struct
    _fields_ = [("num_threads", ctypes.c_int32), ("rest", ctypes.c_ubyte * 1020)]


class XNNPackDelegate:
    """tflite-runtime's XNNPACK delegate with ``threads`` threads (default options, as the
    interpreter's own default delegate), made here so that the fusing delegate can share its
    thread pool: one set of workers for the float and the binary ops."""

    def __init__(self, threads: int):
        so = _tflite_library()
        so.TfLiteXNNPackDelegateOptionsDefault.restype = _XNNPackOptions
        so.TfLiteXNNPackDelegateCreate.argtypes = [ctypes.POINTER(_XNNPackOptions)]
        so.TfLiteXNNPackDelegateCreate.restype = ctypes.c_void_p
        so.TfLiteXNNPackDelegateGetThreadPool.argtypes = [ctypes.c_void_p]
        so.TfLiteXNNPackDelegateGetThreadPool.restype = ctypes.c_void_p
        so.TfLiteXNNPackDelegateDelete.argtypes = [ctypes.c_void_p]
        options = so.TfLiteXNNPackDelegateOptionsDefault()
        options.num_threads = max(1, int(threads))
        self._so = so
        self._ptr = so.TfLiteXNNPackDelegateCreate(ctypes.byref(options))
        if not self._ptr:
            raise KernelError("tflite-runtime could not create its XNNPACK delegate")
        self.pool = so.TfLiteXNNPackDelegateGetThreadPool(self._ptr)  # None with 1 thread
        self.parallelize = ctypes.cast(so.pthreadpool_parallelize_1d, ctypes.c_void_p).value

    def _get_native_delegate_pointer(self) -> int:
        return self._ptr

    def __del__(self):
        if getattr(self, "_ptr", None):
            self._so.TfLiteXNNPackDelegateDelete(self._ptr)
            self._ptr = None


def interpreter(model_content: bytes, num_threads: int = 1):
    """A ``tflite_runtime`` interpreter that runs LCE ops with these kernels and their fusing
    delegate, float ops on XNNPACK, both on XNNPACK's ``num_threads`` workers (tensors allocated)."""
    try:
        from tflite_runtime.interpreter import InterpreterWithCustomOps, OpResolverType
    except ImportError as e:
        raise KernelError(f"tflite-runtime is not installed ({e}); pip install {TFLITE_RUNTIME} "
                          f"(CPython <= 3.11; elsewhere the TFLite C API: pip install {LITERT_LM_API})") from None

    fuse = FusingDelegate(model_content)
    try:
        xnnpack = XNNPackDelegate(num_threads)
        fuse.use_pool(xnnpack)
    except (AttributeError, KernelError):  # a build that hides these: its default XNNPACK, pools apart
        xnnpack = None
    # the fusing delegate first (it claims ops XNNPACK would take), then XNNPACK as the
    # interpreter would have added it by default
    it = InterpreterWithCustomOps(
        custom_op_registerers=[registerer()], model_content=model_content, num_threads=int(num_threads),
        experimental_delegates=[fuse, xnnpack] if xnnpack else [fuse],
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if xnnpack
        else OpResolverType.AUTO)
    it.allocate_tensors()
    return it


_CHECKED: set[str] = set()


def run(model: bytes, x: np.ndarray, threads: int = 1, via: str = "tflite") -> list[np.ndarray]:
    """Run a .tflite model once with these kernels registered in ``via`` (``"tflite"``:
    tflite-runtime, ``"litert"``: the TFLite C API): input 0 <- ``x``, returns every output."""
    if via == "litert":
        from runtime.kernels import capi

        return capi.CAPIModel(model, threads).run(x)
    it = interpreter(model, threads)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def self_test(via: str = "tflite") -> None:
    """Run the built-in model (every op, every output kind) with the kernels registered in
    ``via`` (``"tflite"``: tflite-runtime, ``"litert"``: the TFLite C API, ``runtime.kernels.capi``)
    and compare with LCE's outputs stored next to it; raise :class:`KernelError` on any difference."""
    if via in _CHECKED:
        return
    fix = f"pip install {TFLITE_RUNTIME if via == 'tflite' else LITERT_LM_API}"
    model = (SELFTEST / "selftest.tflite").read_bytes()
    expected = np.load(SELFTEST / "selftest.npz")
    try:
        outs = run(model, expected["input"], 1, via)
    except KernelError:  # the interpreter is missing or cannot load: its own message names the fix
        raise
    except (RuntimeError, ValueError) as e:
        raise KernelError(f"the binary kernels failed their self-test on {via} ({e}); this interpreter's "
                          f"C ABI may differ from the one they were written for: {fix}") from None
    # the outputs have distinct shapes; match them by shape (interpreters may order them differently)
    for key in sorted(k for k in expected.files if k.startswith("output")):
        want = expected[key]
        got = next((o for o in outs if o.shape == want.shape and o.dtype == want.dtype), None)
        ok = got is not None and (np.array_equal(got, want) if want.dtype != np.float32
                                  else np.allclose(got, want, rtol=1e-5, atol=1e-5))
        if not ok:
            raise KernelError(f"the binary kernels gave wrong numbers in their self-test on {via} ({key}); "
                              f"this interpreter's C ABI may differ from the one they were written for: {fix}")
    _CHECKED.add(via)


def available(via: str = "tflite") -> tuple[bool, str]:
    """(True, isa) when the kernels build, load and pass the self-test on ``via`` here, else (False, why)."""
    try:
        self_test(via)
        return True, isa()
    except (KernelError, OSError) as e:
        return False, str(e)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m runtime.kernels", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["build", "check", "path"], nargs="?", default="check")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = p.parse_args(argv)
    try:
        if a.command == "build":
            print(build(force=a.force))
            return 0
        if a.command == "path":
            print(build())
            return 0
        results = {via: available(via) for via in ("tflite", "litert")}
        if not any(ok for ok, _ in results.values()):
            raise KernelError("; ".join(why for _, why in results.values()))
        print(f"binary kernels OK: {build()} (isa {isa()}, version {load().bnn_version().decode()})")
        for via, (ok, why) in results.items():
            print(f"  {via}: {'self-test passed' if ok else 'unavailable: ' + why}")
        return 0
    except KernelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
