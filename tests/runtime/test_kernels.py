"""The project's binary kernels (runtime/kernels) against LCE's interpreter: bit-exact on random
single-op models covering every option, on the self-test model and on the shipped models, for
every inner kernel this CPU has, several thread counts and both interpreters they register with
(tflite-runtime, the TFLite C API of litert-lm-api); hostile models get errors."""

import functools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime import kernels

ROOT = Path(__file__).resolve().parents[2]
PRETRAINED = ROOT / "runtime" / "pretrained"
SEEDS = range(12)


@functools.cache
def _case(seed: int, int8: bool):
    pytest.importorskip("larq_compute_engine")
    pytest.importorskip("tensorflow")
    from convert.kernel_cases import lce_outputs, random_case

    c = random_case(seed, int8)
    return c, lce_outputs(c.model, c.inputs)


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_models_match_lce(seed, int8, isa_env, isas, via):
    case, want = _case(seed, int8)
    for isa in isas:
        isa_env(isa)
        for threads in (1, 3):
            got = kernels.run(case.model, case.inputs, threads, via)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert g.dtype == w.dtype and g.shape == w.shape
                if np.array_equal(g, w):
                    continue
                # LCE 0.16 is wrong for zero padding when the kernel is larger than the input
                # (its output differs from Keras'); there the reference is the Keras model.
                assert case.covers.get("lce_zero_padding_bug") and case.keras_output is not None, (
                    f"{case.name} {via} isa={isa} threads={threads}: max |diff| {np.abs(g - w).max()} "
                    f"{case.covers}")
                np.testing.assert_allclose(g, case.keras_output, rtol=1e-4, atol=1e-4)


def test_random_models_cover_every_option():
    layers, flags = [], set()
    for seed in SEEDS:
        for int8 in (False, True):
            case, _ = _case(seed, int8)
            layers += case.covers["layers"]
            flags |= {k for k in case.covers if k != "layers"}
            from runtime.tflite_model import read_model

            flags |= {f"op:{op}" for op in read_model(case.model).custom_ops}
    seen = {(k, v) for layer in layers for k, v in layer.items() if k not in ("filters", "cin")}
    for need in [("kernel", 1), ("kernel", 3), ("kernel", 5), ("stride", 2), ("dilation", 2),
                 ("padding", "valid"), ("padding", "same"), ("zero_pad", True), ("groups", 2),
                 ("post", "bn"), ("post", "relu"), ("post", "sign"), ("post", "none")]:
        assert need in seen, need
    assert {"op:LceQuantize", "op:LceBconv2d", "op:LceBMaxPool2d", "bmaxpool"} <= flags
    assert any(f % 32 for f in (layer["filters"] for layer in layers))  # channels not multiple of 32
    # a group's last tile runs ceil(channels / 4) NEON vectors (bnn_tile_for): most counts occur
    tails = {(la["filters"] // la["groups"] - 1) % 32 + 1 for la in layers}
    assert len({-(-t // 4) for t in tails}) >= 6, tails
    # the kernels' merged rows (bnn_core.c): 2 words per pixel, a kernel row's last words fit one
    assert any(33 <= la["cin"] < 64 and la["kernel"] > 1 and la["kernel"] * (la["cin"] % 32) <= 32
               and la["stride"] == 1 and la["dilation"] == 1 and la["groups"] == 1 for la in layers)


def test_self_test_on_every_isa(isa_env, isas, via):
    for isa in isas:
        isa_env(isa)
        kernels._CHECKED.discard(via)
        kernels.self_test(via)


def test_self_test_model_covers_every_op():
    from runtime.tflite_model import read_model

    info = read_model((kernels.SELFTEST / "selftest.tflite").read_bytes())
    assert set(kernels.OPS) <= info.custom_ops


@pytest.mark.parametrize("path", sorted(PRETRAINED.glob("*.tflite")), ids=lambda p: p.name)
def test_shipped_models_match_lce(path, isa_env, isas, via):
    from runtime.backends import LCEBackend, binary_ops

    model = path.read_bytes()
    if not binary_ops(model):
        pytest.skip("float model")
    try:
        lce = LCEBackend(model, 1)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"LCE interpreter unavailable: {e}")
    x = np.random.default_rng(1).normal(0, 1, (2, *lce.input_shape[1:])).astype(np.float32)
    want = [lce.run(xi[None]) for xi in x]
    for isa in isas:
        isa_env(isa)
        for threads in (1, 2):
            for xi, w in zip(x, want):
                np.testing.assert_array_equal(kernels.run(model, xi[None], threads, via)[0], w)


def test_hostile_models_get_errors_not_crashes(tmp_path, via):
    """Corrupted custom options, shapes and types of LCE ops: every model either runs or fails
    with a Python exception; the process never crashes (checked in a child process)."""
    pytest.importorskip("tensorflow")
    from helpers import RUN_MODELS_SCRIPT, hostile_lce_models

    n = hostile_lce_models(kernels.SELFTEST / "selftest.tflite", tmp_path, 120)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", RUN_MODELS_SCRIPT, str(tmp_path), via], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, f"child crashed (rc {r.returncode}): {r.stderr[-2000:]}"
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["error"] + res["ran"] == n and res["error"] > n // 4, res


def test_kernel_library_rebuilds_into_a_fresh_folder(tmp_path):
    path = kernels.build(out_dir=tmp_path)
    assert path.parent == tmp_path and path.name.startswith(f"libbnn-{platform.machine()}-")
    assert kernels.build(out_dir=tmp_path) == path  # cached: same sources, same file


def test_missing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    with pytest.raises(kernels.KernelError, match="C compiler .* not found"):
        kernels.build(out_dir=tmp_path, force=True)


def test_cli_check_reports_isa():
    r = subprocess.run([sys.executable, "-m", "runtime.kernels", "check"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "binary kernels OK" in r.stdout and "isa" in r.stdout
