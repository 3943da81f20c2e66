"""Paired A/B timing in one process, for noisy shared machines.

``python -m bench.ab A B [--model M] [--threads N] [--reps R]`` where A and B are each either a
checkout of this repository (its ``runtime.kernels`` is imported under its own name, so two builds
of the kernels run side by side) or ``onnx:PATH`` (that model on onnxruntime). The binary model
``--model`` (default: the shipped face model; ``--model-b`` gives side B another one, e.g. two
model sizes on the same kernels: ``python -m bench.ab . . --model-b OTHER.tflite``) runs on each
checkout's kernels; both sides are
invoked alternately, A-B then B-A, so that the machine's drift hits both alike, and the median of
the per-pair ratios is reported with its quartiles. ``BNN_ISA`` picks the inner kernel as usual.
Between runs of ``make bench`` the same code can differ by 20 % here; paired ratios move far less.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _kernels_of(checkout: Path):
    """``runtime.kernels`` imported from ``checkout`` (``runtime`` modules swapped in and out of
    ``sys.modules``; each side keeps references to its own)."""
    saved = {k: v for k, v in sys.modules.items() if k == "runtime" or k.startswith("runtime.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(checkout))
    try:
        return importlib.import_module("runtime.kernels")
    finally:
        sys.path.remove(str(checkout))
        for k in [k for k in sys.modules if k == "runtime" or k.startswith("runtime.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _side(spec: str, model: bytes, threads: int, x: np.ndarray):
    """A zero-argument callable running one inference for side ``spec``."""
    if spec.startswith("onnx:"):
        import onnxruntime as ort

        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        sess = ort.InferenceSession(spec[5:], o, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda: sess.run(None, {name: x})
    path = Path(spec)
    if not (path / "runtime" / "kernels").is_dir():
        raise SystemExit(f"error: {spec} is neither a checkout of this repository nor onnx:PATH")
    it = _kernels_of(path).interpreter(model, threads)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    return it.invoke


def paired(a, b, reps: int, warmup: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Latencies (ms) of ``a`` and ``b`` invoked alternately, ``reps`` each."""
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for i in range(reps):
        for f, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t = time.perf_counter()
            f()
            out.append((time.perf_counter() - t) * 1e3)
    return np.array(ta), np.array(tb)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="a checkout of this repository, or onnx:PATH")
    p.add_argument("b", help="a checkout of this repository, or onnx:PATH")
    p.add_argument("--model", default=str(ROOT / "runtime" / "pretrained" / "face.tflite"))
    p.add_argument("--model-b", help="side B's binary model (default: --model; same input shape)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=300)
    args = p.parse_args(argv)
    model = Path(args.model).read_bytes()
    from runtime.tflite_model import read_model

    info = read_model(model)
    x = np.random.default_rng(0).normal(0, 1, info.tensors[info.inputs[0]].shape).astype(np.float32)
    a = _side(args.a, model, args.threads, x)
    b = _side(args.b, Path(args.model_b).read_bytes() if args.model_b else model, args.threads, x)
    ta, tb = paired(a, b, args.reps)
    r = ta / tb
    print(f"A {np.median(ta):.3f} ms, B {np.median(tb):.3f} ms (medians, {args.reps} pairs, {args.threads} "
          f"thread(s)); A / B per pair: median {np.median(r):.3f} (quartiles {np.percentile(r, 25):.3f} - "
          f"{np.percentile(r, 75):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
