"""Random LCE models that exercise every option of the binary ops, for checking the project's
kernels (``runtime/kernels``) against LCE's interpreter, and the kernels' built-in self-test model.

``python -m convert.kernel_cases --selftest`` rewrites ``runtime/kernels/selftest/`` (the model and
the outputs LCE's interpreter gives for its fixed input); ``--golden DIR`` writes random cases and
the shipped binary models with LCE's outputs as ``.npz`` files, for checking the kernels where
LCE does not run (``make test-aarch64``, a Raspberry Pi: ``tests/aarch64/check_golden.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import platform
from pathlib import Path

import numpy as np

SELFTEST_DIR = Path(__file__).resolve().parents[1] / "runtime" / "kernels" / "selftest"


@dataclasses.dataclass
class Case:
    """One random model: its .tflite bytes, an input batch and what it covers."""

    name: str
    model: bytes
    inputs: np.ndarray
    covers: dict
    keras_output: np.ndarray | None = None


def _qconv(tf, lq, x, *, filters, kernel, stride=1, dilation=1, padding="same", pad_values=1.0,
           groups=1, activation=None, seed=0):
    kinit = tf.keras.initializers.RandomUniform(-1, 1, seed=seed)
    return lq.layers.QuantConv2D(filters, kernel, strides=stride, dilation_rate=dilation, padding=padding,
                                 pad_values=pad_values, groups=groups, activation=activation,
                                 input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip", use_bias=False,
                                 kernel_initializer=kinit)(x)


def _bn(tf, x, rng):
    bn = tf.keras.layers.BatchNormalization()
    y = bn(x)
    c = x.shape[-1]
    # random affine so that multipliers have both signs and biases are non-trivial
    bn.set_weights([rng.uniform(-2, 2, c).astype(np.float32), rng.normal(0, 3, c).astype(np.float32),
                    rng.normal(0, 2, c).astype(np.float32), rng.uniform(0.5, 4, c).astype(np.float32)])
    return y


def random_case(seed: int, int8: bool = False) -> Case:
    """A small random binary model from ``seed``: a chain of 2-4 binary convolutions with random
    kernel size, stride, dilation, padding (one/zero), groups, channel counts that are not
    multiples of 32, BN (-> float output), fused ReLU, binary max-pooling, and sign -> bit-packed
    output; ``int8`` converts with int8 activations (int8 input, int8 bconv outputs)."""
    import larq as lq
    import larq_compute_engine as lce
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    tf.keras.backend.clear_session()
    h, w = int(rng.integers(5, 14)), int(rng.integers(5, 14))
    c = int(rng.choice([1, 3, 17, 32, 40, 64, 100]))
    x_in = tf.keras.Input((h, w, c))
    x = x_in
    if int8:
        x = tf.keras.layers.Lambda(lambda t: tf.quantization.fake_quant_with_min_max_args(t, -3.0, 3.0))(x)
    covers: dict = {"layers": []}
    for i in range(int(rng.integers(2, 5))):
        size = min(x.shape[1], x.shape[2])
        kernel = int(rng.choice([1, 3, 3, 5])) if size >= 5 else int(rng.choice([1, 3]))
        dilation = int(rng.choice([1, 1, 2])) if kernel > 1 and size >= 2 * kernel else 1
        stride = int(rng.choice([1, 1, 2])) if dilation == 1 else 1
        padding = str(rng.choice(["same", "same", "valid"]))
        if padding == "valid" and (kernel - 1) * dilation + 1 > size:
            padding = "same"
        cin = x.shape[-1]
        zero_pad = padding == "same" and rng.random() < 0.3
        if int8 and cin % 2:  # LCE runs int8 zero padding only with an even channel count
            zero_pad = False
        groups = 2 if (cin % 64 == 0 and rng.random() < 0.4) else 1
        filters = int(rng.choice([8, 16, 33, 44, 60, 64, 70]))  # tails of 1 .. 28 channels past a 32-channel tile
        if filters % groups:
            filters = 64
        post = str(rng.choice(["bn", "bn", "relu", "sign", "none"]))
        if zero_pad and post in ("relu", "sign"):
            post = "bn"
        x = _qconv(tf, lq, x, filters=filters, kernel=kernel, stride=stride, dilation=dilation, padding=padding,
                   pad_values=0.0 if zero_pad else 1.0, groups=groups,
                   activation="relu" if post == "relu" else None, seed=seed * 10 + i)
        if post in ("bn", "relu"):
            x = _bn(tf, x, rng)
            if int8:  # fake-quant nodes make the converter emit int8 bconv outputs
                x = tf.keras.layers.Lambda(lambda t: tf.quantization.fake_quant_with_min_max_args(t, -6.0, 6.0))(x)
        if rng.random() < 0.3 and min(x.shape[1], x.shape[2]) >= 3:
            x = lq.quantizers.SteSign()(x)
            x = tf.keras.layers.MaxPool2D(int(rng.choice([2, 3])), strides=int(rng.choice([1, 2])),
                                          padding=str(rng.choice(["same", "valid"])))(x)
            covers.setdefault("bmaxpool", 0)
            covers["bmaxpool"] += 1
        if zero_pad and (kernel - 1) * dilation + 1 > size:
            # LCE 0.16's zero-padding correction assumes the kernel fits in the input: it is wrong
            # here (its output differs from Keras'); the project's kernels match Keras.
            covers["lce_zero_padding_bug"] = True
        covers["layers"].append(dict(cin=cin, kernel=kernel, stride=stride, dilation=dilation, padding=padding,
                                     zero_pad=bool(zero_pad), groups=groups, filters=filters, post=post))
    if int8:
        x = tf.keras.layers.Lambda(lambda t: tf.quantization.fake_quant_with_min_max_args(t, -6.0, 6.0))(x)
    model = tf.keras.Model(x_in, x)
    kw = {}
    if int8:
        kw = dict(inference_input_type=tf.int8, inference_output_type=tf.int8,
                  experimental_default_int8_range=(-3.0, 3.0))
    fb = lce.convert_keras_model(model, **kw)
    if int8:
        inputs = rng.integers(-128, 128, size=(1, h, w, c)).astype(np.int8)
    else:
        inputs = rng.normal(size=(1, h, w, c)).astype(np.float32)
        inputs[0, 0, 0, :] = -0.0  # the sign of -0.0
    ref = None if int8 else model(inputs).numpy()
    return Case(f"seed{seed}{'-int8' if int8 else ''}", bytes(fb), inputs, covers, ref)


def selftest_model(return_keras: bool = False):
    """The kernels' self-test: every op and every bconv output kind (bit-packed, float, zero and
    one padding, groups, stride 2, maxpool) in one tiny model with three outputs."""
    import larq as lq
    import larq_compute_engine as lce
    import tensorflow as tf

    rng = np.random.default_rng(1234)
    tf.keras.backend.clear_session()
    x_in = tf.keras.Input((12, 12, 40))
    a = _qconv(tf, lq, x_in, filters=64, kernel=3, seed=1)                  # -> bits (sign follows)
    b = _qconv(tf, lq, a, filters=64, kernel=3, groups=2, stride=2, seed=2)  # grouped, bits
    b = lq.quantizers.SteSign()(b)
    b = tf.keras.layers.MaxPool2D(2, padding="same")(b)                      # LceBMaxPool2d
    c = _bn(tf, _qconv(tf, lq, b, filters=35, kernel=3, pad_values=0.0, seed=3), rng)  # zero padding
    d = _bn(tf, _qconv(tf, lq, a, filters=20, kernel=1, padding="valid", activation="relu", seed=4), rng)
    e = lq.quantizers.SteSign()(_bn(tf, _qconv(tf, lq, a, filters=33, kernel=3, seed=5), rng))
    e = tf.keras.layers.Lambda(lambda t: t * 1.0)(e)                         # LceDequantize
    model = tf.keras.Model(x_in, [c, d, e])
    fb = bytes(lce.convert_keras_model(model))
    x = rng.normal(size=(1, 12, 12, 40)).astype(np.float32)
    if return_keras:
        return fb, x, model
    return fb, x


def lce_outputs(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    """All outputs of ``model`` for input ``x`` on LCE's reference interpreter."""
    from runtime.backends import lce_interpreter_module

    lite = lce_interpreter_module()
    try:
        it = lite.LiteInterpreter(model, 1, False, True, False)
    except RuntimeError:  # LCE's optimised path refuses zero padding with int8 output
        it = lite.LiteInterpreter(model, 1, True, False, False)
    return [np.asarray(o) for o in it.predict([x])]


def write_selftest(out: Path = SELFTEST_DIR) -> None:
    from runtime.io import atomic_write_bytes

    fb, x = selftest_model()
    outs = lce_outputs(fb, x)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "selftest.tflite", fb)
    buf = io.BytesIO()
    np.savez(buf, input=x, **{f"output{i}": o for i, o in enumerate(outs)})
    atomic_write_bytes(out / "selftest.npz", buf.getvalue())
    print(f"wrote {out}: {len(fb)} B model, outputs {[o.shape for o in outs]}")


def write_golden(out: Path, seeds: range = range(16)) -> None:
    """Random cases (float and int8 activations) and the shipped binary models, each with its
    input and LCE's outputs (and Keras' where LCE is known to be wrong)."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for seed in seeds:
        for int8 in (False, True):
            c = random_case(seed, int8)
            outs = lce_outputs(c.model, c.inputs)
            extra = {}
            if c.covers.get("lce_zero_padding_bug") and c.keras_output is not None:
                extra = {"keras0": c.keras_output}
            np.savez(out / f"{c.name}.npz", model=np.frombuffer(c.model, np.uint8), input=c.inputs,
                     **{f"output{i}": o for i, o in enumerate(outs)}, **extra)
            n += 1
    from runtime.tflite_model import read_model

    pretrained = Path(__file__).resolve().parents[1] / "runtime" / "pretrained"
    for path in sorted(pretrained.glob("*.tflite")):
        model = path.read_bytes()
        info = read_model(model)
        if not info.custom_ops:
            continue
        from convert.fixtures import parity_crops
        from runtime.spec import ModelSpec, sidecar_path

        # a real crop (bundled sample): heatmaps with clear peaks, so that landmarks can be compared
        x = parity_crops(ModelSpec.load(sidecar_path(path)), None)[:1]
        outs = lce_outputs(model, x)
        np.savez(out / f"shipped-{path.stem}.npz", model=np.frombuffer(model, np.uint8), input=x,
                 machine=np.array(platform.machine()), **{f"output{i}": o for i, o in enumerate(outs)})
        n += 1
    print(f"wrote {n} golden cases to {out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.kernel_cases", description=__doc__.split("\n\n")[0])
    p.add_argument("--selftest", action="store_true", help="rewrite runtime/kernels/selftest/")
    p.add_argument("--golden", type=Path, help="write golden cases (random + shipped models) here")
    a = p.parse_args(argv)
    if a.selftest:
        write_selftest()
    if a.golden:
        write_golden(a.golden)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
