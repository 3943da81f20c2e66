"""The kernels' fusing delegate (runtime/kernels/src/bnn_delegate.c): what it claims, and that
every model gives the same bits with it as without it (BNN_FUSE=0) on both interpreters."""

import functools
from pathlib import Path

import numpy as np
import pytest

from runtime import kernels
from runtime.backends import kernels_available
from runtime.tflite_model import read_model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "runtime" / "pretrained").glob("*.tflite"))


def _fused_counts(model: bytes) -> dict[str, int]:
    """What the delegate claimed in a tflite-runtime interpreter of ``model``."""
    ok, why = kernels_available("tflite")
    if not ok:
        pytest.skip(why)
    from tflite_runtime.interpreter import InterpreterWithCustomOps

    d = kernels.FusingDelegate(model)
    it = InterpreterWithCustomOps(custom_op_registerers=[kernels.registerer()], model_content=model,
                                  experimental_delegates=[d])
    it.allocate_tensors()
    return d.fused()


def _same_with_and_without(model: bytes, x: np.ndarray, via: str, monkeypatch, isas=("",), isa_env=None) -> None:
    for isa in isas:  # every inner kernel: each has its own vectorized epilogue
        if isa_env:
            isa_env(isa)
        for threads in (1, 2):
            monkeypatch.setenv("BNN_FUSE", "0")
            want = kernels.run(model, x, threads, via)
            monkeypatch.delenv("BNN_FUSE")
            got = kernels.run(model, x, threads, via)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w, err_msg=f"isa {isa or 'default'}, {threads} thread(s)")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_models_give_the_same_bits_fused(path, via, monkeypatch):
    model = path.read_bytes()
    shape = read_model(model).tensors[read_model(model).inputs[0]].shape
    x = np.random.default_rng(3).normal(0, 1, shape).astype(np.float32)
    _same_with_and_without(model, x, via, monkeypatch)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_whole_float_tail_of_the_shipped_models_is_claimed(path):
    info = read_model(path.read_bytes())
    ops = [op.name for op in info.ops]
    fused = _fused_counts(path.read_bytes())
    # every binary convolution, every batch norm + sign (as a pass of its own or folded into the
    # convolution whose output it reads), every concatenation + residual add
    assert fused["bconv"] == ops.count("LceBconv2d")
    assert fused["bn_sign"] + fused["bconv_sign"] == ops.count("LceQuantize")
    assert fused["concat_add"] == ops.count("CONCATENATION") > 0
    assert fused["bconv_prelu"] == ops.count("PRELU")
    # the hourglass' pools and merges: its body in one partition
    assert fused["max_pool"] == ops.count("MAX_POOL_2D") > 0
    assert fused["upsample_add"] == ops.count("RESIZE_NEAREST_NEIGHBOR") > 0


def test_off_switch_and_unreadable_model_bytes_claim_nothing(monkeypatch):
    model = SHIPPED[0].read_bytes()
    monkeypatch.setenv("BNN_FUSE", "0")
    assert sum(_fused_counts(model).values()) == 0
    monkeypatch.delenv("BNN_FUSE")
    kernels.load()
    from tflite_runtime.interpreter import InterpreterWithCustomOps

    for junk in (b"", b"\x00" * 3, model[:64], b"\xff" * 4096):  # the delegate reads the outputs from these
        d = kernels.FusingDelegate(junk)
        it = InterpreterWithCustomOps(custom_op_registerers=[kernels.registerer()], model_content=model,
                                      experimental_delegates=[d])
        it.allocate_tensors()
        assert sum(d.fused().values()) == 0


def test_without_an_exported_xnnpack_the_interpreter_keeps_its_default(monkeypatch):
    """A tflite-runtime build that hides the XNNPACK C functions: its own default XNNPACK, the
    kernels on their own pool, the same outputs."""
    ok, why = kernels_available("tflite")
    if not ok:
        pytest.skip(why)
    model = SHIPPED[0].read_bytes()
    x = np.random.default_rng(4).normal(0, 1, read_model(model).tensors[read_model(model).inputs[0]].shape)
    x = x.astype(np.float32)
    want = kernels.run(model, x, 2, "tflite")

    def hidden(threads):
        raise AttributeError("TfLiteXNNPackDelegateCreate")

    monkeypatch.setattr(kernels, "XNNPackDelegate", hidden)
    got = kernels.run(model, x, 2, "tflite")
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# ---------------------------------------------------------------- small LCE models built here
@functools.cache
def _model(case: str) -> bytes:
    """A small LCE-converted model with the patterns the delegate claims, or the same patterns with
    an intermediate that is also a model output (which must not be claimed)."""
    pytest.importorskip("larq_compute_engine")
    tf = pytest.importorskip("tensorflow")
    import larq as lq
    import larq_compute_engine as lce

    from convert.kernel_cases import _bn, _qconv

    rng = np.random.default_rng(7)
    tf.keras.backend.clear_session()
    x_in = tf.keras.Input((9, 7, 40))  # 40 channels: one full and one partial packed word
    bn = _bn(tf, x_in, rng)  # nothing to fold it into: MUL -> ADD before the binary conv's sign
    a = _qconv(tf, lq, bn, filters=24, kernel=3, seed=1)
    b = _qconv(tf, lq, bn, filters=16, kernel=1, seed=2)
    b_raw = b
    if case.startswith("prelu"):  # per-channel slopes of both signs after each convolution
        def prelu(y, seed):
            alpha = np.random.default_rng(seed).normal(0, 0.5, (1, 1, y.shape[-1]))
            return tf.keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=tf.keras.initializers.Constant(alpha))(y)
        a, b = prelu(a, 3), prelu(b, 4)
    cat = tf.keras.layers.Concatenate()([a, b])
    # "split": the residual comes from a float op on a binary output, so TFLite puts the
    # concatenation and the add into different partitions of the delegate
    residual = tf.keras.layers.Conv2D(40, 1)(a) if case == "split" else x_in
    out = tf.keras.layers.Add()([cat, residual])
    outputs = {"plain": [out], "bn_out": [out, bn], "concat_out": [out, cat], "split": [out], "prelu": [out],
               "prelu_in_out": [out, b_raw]}[case]
    return bytes(lce.convert_keras_model(tf.keras.Model(x_in, outputs)))


# the converter gives the two binary convolutions one shared sign: MUL, ADD, LceQuantize, 2 x
# LceBconv2d, CONCATENATION, ADD
@pytest.mark.parametrize("case,want", [("plain", {"bn_sign": 1, "concat_add": 1, "bconv": 2}),
                                       ("bn_out", {"bn_sign": 0, "concat_add": 1, "bconv": 2}),
                                       ("concat_out", {"bn_sign": 1, "concat_add": 0, "bconv": 2}),
                                       ("split", {"bn_sign": 1, "concat_add": 0, "bconv": 2}),
                                       ("prelu", {"bn_sign": 1, "concat_add": 1, "bconv": 2, "bconv_prelu": 2}),
                                       # a convolution's output that is also a model output keeps its PRELU apart
                                       ("prelu_in_out", {"bn_sign": 1, "concat_add": 1, "bconv": 2,
                                                         "bconv_prelu": 1})])
def test_model_outputs_and_split_patterns_are_never_fused(case, want, via, monkeypatch, isas, isa_env):
    model = _model(case)
    assert _fused_counts(model) == {"bconv_sign": 0, "bconv_prelu": 0, "max_pool": 0, "upsample_add": 0, **want}
    x = np.random.default_rng(8).normal(0, 2, (1, 9, 7, 40)).astype(np.float32)
    x[0, 0, 0, :] = -0.0
    _same_with_and_without(model, x, via, monkeypatch, isas, isa_env)


@functools.cache
def _hourglass(case: str) -> bytes:
    """A small hourglass: float max pools (VALID 2x2 and 3x2, SAME 3x3 with stride 2 on an odd
    size), binary convolutions at the low resolutions, nearest-neighbour upsampling by whole
    factors (2x2, 3x2) and the add with the skip branch; "resize_out": one upsampled tensor is
    also a model output (that merge is not claimed)."""
    pytest.importorskip("larq_compute_engine")
    tf = pytest.importorskip("tensorflow")
    import larq as lq
    import larq_compute_engine as lce

    from convert.kernel_cases import _bn, _qconv

    rng = np.random.default_rng(9)
    tf.keras.backend.clear_session()
    layers = tf.keras.layers
    x_in = tf.keras.Input((12, 8, 40))
    skip = _qconv(tf, lq, _bn(tf, x_in, rng), filters=40, kernel=3, seed=1)
    low = _qconv(tf, lq, _bn(tf, layers.MaxPool2D(2)(x_in), rng), filters=40, kernel=3, seed=2)
    up = layers.UpSampling2D((2, 2))(low)
    out = layers.Add()([up, skip])
    low3 = _qconv(tf, lq, _bn(tf, layers.MaxPool2D((3, 2))(out), rng), filters=40, kernel=1, seed=3)
    out3 = layers.Add()([skip, layers.UpSampling2D((3, 2))(low3)])
    same = layers.MaxPool2D(3, strides=2, padding="same")(layers.Cropping2D(((0, 1), (0, 1)))(out3))  # 11 x 7
    outputs = [same, up] if case == "resize_out" else [same]
    return bytes(lce.convert_keras_model(tf.keras.Model(x_in, outputs)))


@pytest.mark.parametrize("case,merges", [("plain", 2), ("resize_out", 1)])
def test_hourglass_pools_and_merges_are_claimed_with_the_same_bits(case, merges, via, monkeypatch, isas, isa_env):
    model = _hourglass(case)
    ops = [op.name for op in read_model(model).ops]
    fused = _fused_counts(model)
    assert fused["max_pool"] == ops.count("MAX_POOL_2D") == 3
    assert ops.count("RESIZE_NEAREST_NEIGHBOR") == 2 and fused["upsample_add"] == merges
    x = np.random.default_rng(10).normal(0, 2, (1, 12, 8, 40)).astype(np.float32)
    x[0, 0, 0, :] = -0.0
    _same_with_and_without(model, x, via, monkeypatch, isas, isa_env)
