"""Shared test helpers: tiny converted models with realistic (non-degenerate) weights."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np

TINY = dict(input_size=64, width=32, depth=2)


def random_weights(cfg, path: Path, seed: int = 0) -> Path:
    """Random weights with non-trivial BatchNorm statistics (as after training), saved as .h5."""
    import tensorflow as tf

    from models.hourglass import build_model

    tf.keras.utils.set_random_seed(seed)
    m = build_model(config=cfg)
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            g, b, mu, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.3, b.shape),
                               rng.normal(0, 0.3, mu.shape), rng.uniform(0.5, 2.0, var.shape)])
    m.save_weights(str(path))
    return path


def tiny_model(folder: Path, name: str = "face", **overrides) -> Path:
    """Convert a tiny config with random weights into ``folder``; returns the .tflite path."""
    from convert import core
    from models.configs import get_config

    cfg = get_config(name, **{**TINY, **overrides})
    w = random_weights(cfg, folder / f"{cfg.name}.h5")
    rep = core.convert(cfg, weights=w, out_dir=folder, shared_data=None)
    return Path(rep.path)


def run_tree(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True)`` in a process group of its own, the
    whole group killed on timeout (a killed pip leaves its build backend running otherwise)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kw) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# Child-process script: run every .tflite in argv[1] with the project's kernels (2 threads) on
# zeros; count runs and Python-level errors. A crash shows as the child's exit status.
RUN_MODELS_SCRIPT = r"""
import json, sys
from pathlib import Path
import numpy as np
from runtime import kernels
from runtime.kernels.capi import CAPIModel
via = sys.argv[2] if len(sys.argv) > 2 else "tflite"
res = {"error": 0, "ran": 0}
for p in sorted(Path(sys.argv[1]).glob("*.tflite")):
    try:  # the interpreter's own view of the input, so that it is the one to refuse a bad model
        if via == "litert":
            m = CAPIModel(p.read_bytes(), 2)
            m.run(np.zeros(*m.inputs[0]))
        else:
            it = kernels.interpreter(p.read_bytes(), 2)
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            it.invoke()
        res["ran"] += 1
    except (RuntimeError, ValueError):
        res["error"] += 1
print(json.dumps(res))
"""


def hostile_lce_models(base_model: Path, out: Path, count: int, seed: int = 7) -> int:
    """Write up to ``count`` mutations of a model with LCE ops into ``out`` (corrupted custom
    options, truncated options, odd shapes and types, bad operand indices); returns how many."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    base = Path(base_model).read_bytes()
    rng = np.random.default_rng(seed)

    def mutated(fn):
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(base, 0))
        fn(m)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def lce_ops(m):
        g = m.subgraphs[0]
        return [op for op in g.operators if m.operatorCodes[op.opcodeIndex].customCode]

    n = 0
    for i in range(count):
        def mutate(m, i=i):
            ops = lce_ops(m)
            op = ops[rng.integers(len(ops))]
            g = m.subgraphs[0]
            kind = i % 6
            if kind == 0 and op.customOptions is not None and len(op.customOptions):
                o = np.array(op.customOptions, np.uint8)
                for _ in range(rng.integers(1, 4)):
                    o[rng.integers(len(o))] = rng.integers(256)
                op.customOptions = o
            elif kind == 1 and op.customOptions is not None:
                op.customOptions = np.array(op.customOptions, np.uint8)[: rng.integers(0, len(op.customOptions) + 1)]
            elif kind == 2:
                t = g.tensors[[j for j in op.inputs if j >= 0][rng.integers(len([j for j in op.inputs if j >= 0]))]]
                if t.shape is not None and len(t.shape):
                    t.shape = np.array(t.shape, np.int32)
                    t.shape[rng.integers(len(t.shape))] = int(rng.choice([0, 1, 2, 3, 31, 33, 1000]))
            elif kind == 3:
                t = g.tensors[op.outputs[0]]
                t.type = int(rng.choice([0, 1, 2, 3, 7, 9]))
            elif kind == 4:
                t = g.tensors[op.outputs[0]]
                t.shape = np.array(rng.integers(1, 9, rng.integers(1, 6)), np.int32)
            else:
                ins = np.array(op.inputs, np.int32)
                ins[rng.integers(len(ins))] = int(rng.choice([-1, 0, len(g.tensors) - 1]))
                op.inputs = ins

        try:
            data = mutated(mutate)
        except Exception:  # noqa: BLE001 - an unserialisable mutation is not a test case
            continue
        (out / f"m{i:04d}.tflite").write_bytes(data)
        n += 1
    return n
