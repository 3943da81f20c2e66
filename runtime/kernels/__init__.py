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
    """Per-convolution timings since :func:`profile_enable`: shape, calls, seconds and binary
    multiply-accumulates per call (``out_h * out_w * out_c * k_h * k_w * channels_in / groups``)."""
    lib = load()
    n = lib.bnn_profile_text(None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    lib.bnn_profile_text(buf, n + 1)
    keys = ("in_h", "in_w", "channels_in", "out_h", "out_w", "out_c", "k_h", "k_w", "stride", "groups",
            "out_kind", "calls", "ns")
    rows = []
    for line in buf.value.decode().splitlines():
        r = dict(zip(keys, (int(v) for v in line.split())))
        r["out_kind"] = ("float", "int8", "bits")[r["out_kind"]]
        r["bmacs"] = r["out_h"] * r["out_w"] * r["out_c"] * r["k_h"] * r["k_w"] * r["channels_in"] // r["groups"]
        r["seconds"] = r.pop("ns") / 1e9
        rows.append(r)
    return rows


def peak(kind: str = "binary", seconds: float = 0.3) -> float:
    """Measured single-thread peak of this CPU: binary MACs/s of the best kernel's
    xor+popcount+add instructions (``kind="binary"``) or float MACs/s of its widest FMA
    (``kind="float"``), on registers only, the best of 3 runs of about ``seconds``."""
    import time

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


def _add_custom_address() -> int:
    try:
        import tflite_runtime.interpreter as tfl
    except ImportError as e:
        raise KernelError(f"tflite-runtime is not installed ({e}); {INSTALL_HINT}") from None
    wrapper = getattr(tfl, "_interpreter_wrapper", None)
    so = getattr(wrapper, "__file__", None)
    if not so:
        raise KernelError("cannot locate tflite-runtime's interpreter library; " + INSTALL_HINT)
    try:
        fn = getattr(ctypes.CDLL(so), ADD_CUSTOM)
    except AttributeError:
        raise KernelError(f"{so} does not export MutableOpResolver::AddCustom (ai-edge-litert hides it); "
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


def interpreter(model_content: bytes, num_threads: int = 1):
    """A ``tflite_runtime`` interpreter that runs LCE ops with these kernels (tensors allocated)."""
    try:
        from tflite_runtime.interpreter import InterpreterWithCustomOps
    except ImportError as e:
        raise KernelError(f"tflite-runtime is not installed ({e}); pip install {TFLITE_RUNTIME} "
                          f"(CPython <= 3.11; elsewhere the TFLite C API: pip install {LITERT_LM_API})") from None

    it = InterpreterWithCustomOps(custom_op_registerers=[registerer()], model_content=model_content,
                                  num_threads=int(num_threads))
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
