"""``python -m bench.contention``: inference latency while other work keeps every core busy.

Starts one busy-looping process per core (niced, like a background job or a camera pipeline),
then times ``--reps`` runs of the model per backend and thread count on a random input, and
prints median / p90 / max in ms. Latency tails, not means, are the point: a thread pool whose
worker was preempted makes the whole inference wait for it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _hog(stop) -> None:
    os.nice(5)
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def measure(model: bytes, backend: str, threads: int, reps: int) -> dict:
    """Latency of ``reps`` single-image runs: {"median", "p90", "max"} in ms."""
    from runtime.backends import load_backend

    b = load_backend(model, backend, threads=threads)
    try:
        x = np.random.default_rng(0).normal(size=b.input_shape).astype(np.float32)
        b.run(x)
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            b.run(x)
            ts.append(1000 * (time.perf_counter() - t))
    finally:
        b.close()
    return {"median": float(np.median(ts)), "p90": float(np.quantile(ts, 0.9)), "max": float(max(ts))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.contention", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "runtime" / "pretrained" / "face.tflite"))
    p.add_argument("--backends", default="tflite,lce")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy processes (default: one per core)")
    a = p.parse_args(argv)
    path = Path(a.model)
    if not path.is_file():
        print(f"error: model {path} not found; pass --model path/to/model.tflite", file=sys.stderr)
        return 2
    model = path.read_bytes()
    stop = mp.Event()
    hogs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(a.hogs)]
    for h in hogs:
        h.start()
    try:
        print(f"{path.name}: {a.reps} runs each, {a.hogs} busy process(es) at nice 5 on {os.cpu_count()} core(s)")
        for backend in a.backends.split(","):
            for threads in (int(t) for t in a.threads.split(",")):
                try:
                    r = measure(model, backend, threads, a.reps)
                except (RuntimeError, ValueError, ImportError) as e:
                    print(f"  {backend:7s} threads {threads}: skipped ({e})")
                    continue
                print(f"  {backend:7s} threads {threads}: median {r['median']:.1f} ms, p90 {r['p90']:.1f}, "
                      f"max {r['max']:.1f}")
    finally:
        stop.set()
        for h in hogs:
            h.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
