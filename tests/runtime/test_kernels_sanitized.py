"""The kernels built with AddressSanitizer + UndefinedBehaviorSanitizer, fed hostile input: the
custom-option parser gets random, truncated and bit-flipped FlexBuffers, and whole models with
corrupted LCE ops run through tflite-runtime. Any sanitizer report fails the test.

Cases per run: ``BNN_FUZZ_CASES`` (default 4000 option blobs and 150 models; ``make fuzz`` runs
many more)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from runtime import kernels  # noqa: E402

pytestmark = pytest.mark.slow  # `make test-all` runs these, `make test` not

CASES = int(os.environ.get("BNN_FUZZ_CASES", "4000"))
SAN = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g")

OPTIONS_SCRIPT = r"""
import ctypes, json, sys
import numpy as np
from runtime import kernels

lib = kernels.load()
blobs = [bytes.fromhex(h) for h in json.loads(sys.argv[1])]
rng = np.random.default_rng(int(sys.argv[3]))
n, ok = 0, 0
err = ctypes.c_char_p()
def check(b, pool):
    global n, ok
    n += 1
    ok += lib.bnn_check_options(b, len(b), pool, ctypes.byref(err))
for _ in range(int(sys.argv[2])):
    base = blobs[rng.integers(len(blobs))]
    kind = rng.integers(5)
    if kind == 0:
        b = rng.integers(0, 256, rng.integers(0, 64), dtype=np.uint8).tobytes()
    elif kind == 1:
        b = base[: rng.integers(0, len(base) + 1)]
    elif kind == 2:
        a = np.frombuffer(base, np.uint8).copy()
        for _ in range(rng.integers(1, 6)):
            a[rng.integers(len(a))] ^= np.uint8(1 << rng.integers(8))
        b = a.tobytes()
    elif kind == 3:
        a = np.frombuffer(base, np.uint8).copy()
        a[rng.integers(len(a))] = rng.integers(256)
        b = a.tobytes()
    else:
        b = base
    check(b, int(rng.integers(2)))
print(json.dumps({"cases": n, "valid": ok}))
"""



@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    if not shutil.which(os.environ.get("CC") or "cc"):
        pytest.skip("no C compiler")
    def gcc_lib(name):
        return subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()

    asan, cxx = gcc_lib("libasan.so"), gcc_lib("libstdc++.so")
    if not asan or not Path(asan).exists():
        pytest.skip("gcc's libasan is not installed")
    try:
        lib = kernels.build(tmp_path_factory.mktemp("san"), extra_flags=SAN)
    except kernels.KernelError as e:
        pytest.skip(f"the compiler cannot build with sanitizers: {e}")
    # libstdc++ preloaded too: ASan's __cxa_throw hook needs it when tflite-runtime throws
    preload = f"{asan} {cxx}" if Path(cxx).exists() else asan
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BNN_KERNELS_LIB": str(lib), "LD_PRELOAD": preload,
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86:allocator_may_return_null=1",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87"}
    probe = subprocess.run([sys.executable, "-c", "pass"], capture_output=True, text=True, env=env, timeout=120)
    if probe.returncode != 0:  # e.g. under qemu-user, where ASan cannot map its shadow memory
        pytest.skip(f"AddressSanitizer cannot run here: {(probe.stderr.strip().splitlines() or ['?'])[0][:120]}")
    return env


def _run(script, args, env, timeout=900):
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=timeout)
    report = [ln for ln in r.stderr.splitlines() if "Sanitizer" in ln or "runtime error" in ln]
    assert r.returncode == 0 and not report, f"rc {r.returncode}: {r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def _real_options() -> list[str]:
    """The custom options of every LCE op in the self-test model, as hex."""
    pytest.importorskip("tensorflow")
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel((kernels.SELFTEST / "selftest.tflite").read_bytes(), 0))
    out = []
    for op in m.subgraphs[0].operators:
        code = m.operatorCodes[op.opcodeIndex].customCode
        if code in (b"LceBconv2d", b"LceBMaxPool2d") and op.customOptions is not None:
            out.append(bytes(bytearray(op.customOptions)).hex())
    return out


def test_option_parser_fuzzed_under_sanitizers(sanitized):
    blobs = _real_options()
    assert blobs, "the self-test model has no LCE options"
    res = _run(OPTIONS_SCRIPT, [json.dumps(blobs), str(CASES), "1"], sanitized)
    assert res["cases"] == CASES and 0 < res["valid"] < CASES, res


def test_hostile_models_under_sanitizers(sanitized, tmp_path):
    pytest.importorskip("tensorflow")
    from helpers import RUN_MODELS_SCRIPT, hostile_lce_models

    n = hostile_lce_models(kernels.SELFTEST / "selftest.tflite", tmp_path, max(150, CASES // 25), seed=11)
    res = _run(RUN_MODELS_SCRIPT, [str(tmp_path)], sanitized)
    assert res["ran"] + res["error"] == n and res["error"] > 0, res


def test_sanitized_build_is_bit_exact_on_the_self_test(sanitized):
    code = "from runtime import kernels; kernels.self_test(); print('{\"ok\": 1}')"
    assert _run(code, [], sanitized)["ok"] == 1
