"""One benchmark configuration in a fresh process; prints one JSON line.

``python -m bench.worker --model M --backend B [--lce-kernel indirect|default] --threads N``
measures per-face latency (median, p90 after warm-up) of ``backend.run`` on a (1, S, S, 3) crop,
optionally the live pipeline's frames per second on a synthetic video (``--e2e``), the bconv
profile of the project's kernels (``--profile``: per convolution, and the fusing delegate's other
passes per inference) and the process' peak RSS; ``--isa`` / ``--no-fuse`` pick the kernels' inner
kernel and turn their fusing delegate off.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "runtime" / "assets" / "astronaut.jpg"


def _latency(run, x, reps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        run(x)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        run(x)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def synthetic_video(n: int, size: int = 480) -> list[np.ndarray]:
    """``n`` BGR frames: the bundled portrait drifting and zooming slowly (a face moving in front of
    a webcam), so that tracking works as it would live."""
    import cv2

    img = cv2.imread(str(SAMPLE))
    h, w = img.shape[:2]
    frames = []
    for i in range(n):
        a = 2 * np.pi * i / max(n, 1)
        s = 1.0 + 0.05 * np.sin(a)
        m = np.array([[s, 0, 12 * np.cos(a) + (size - w * s) / 2], [0, s, 8 * np.sin(a) + (size - h * s) / 2]])
        frames.append(cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REFLECT))
    return frames


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("--model", required=True)
    p.add_argument("--backend", required=True, choices=("tflite", "litert", "lce", "onnxruntime"))
    p.add_argument("--lce-kernel", default="indirect", choices=("indirect", "default"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--e2e", type=int, default=0, help="also run the live pipeline on N synthetic frames")
    p.add_argument("--profile", action="store_true", help="per-bconv timings of the project's kernels")
    p.add_argument("--isa", help="the project kernels' inner kernel (BNN_ISA: avx2, avx512, neon, ref)")
    p.add_argument("--no-fuse", action="store_true", help="without the kernels' fusing delegate (BNN_FUSE=0)")
    a = p.parse_args(argv)
    if a.isa:
        os.environ["BNN_ISA"] = a.isa
    if a.no_fuse:
        os.environ["BNN_FUSE"] = "0"

    from runtime.backends import LCEBackend, load_backend

    model = Path(a.model).read_bytes()
    res: dict = {"model": Path(a.model).name, "backend": a.backend, "threads": a.threads, "bytes": len(model),
                 "fuse": not a.no_fuse}
    if a.profile:
        from runtime import kernels

        kernels.self_test()  # its own model must not be profiled
        kernels.profile_enable()
    if a.backend == "lce":
        be = LCEBackend(model, a.threads, indirect_bgemm=a.lce_kernel == "indirect")
        res["backend"] = f"lce-{a.lce_kernel}"
    else:
        be = load_backend(model, a.backend, a.threads)
        if getattr(be, "kernels", None):
            res["kernels"] = be.kernels
    x = np.random.default_rng(0).normal(0, 1, be.input_shape).astype(np.float32)
    _latency(be.run, x, 0, a.warmup)
    if a.profile:  # profile only the timed runs
        from runtime import kernels

        kernels.profile_zero()
    lat = _latency(be.run, x, a.reps, 0)
    res.update(latency_ms=lat, median_ms=float(np.median(lat)), p90_ms=float(np.percentile(lat, 90)))
    if a.profile:
        from runtime import kernels

        res["bconv"] = [{**r, "seconds": r["seconds"] / max(r["calls"], 1)} for r in kernels.profile()]
        res["passes"] = {k: {"seconds": v["seconds"] / a.reps, "calls": v["calls"] // a.reps}
                         for k, v in kernels.profile_passes().items()}
    if a.e2e:
        from runtime.landmarker import Landmarker, LandmarkerOptions

        frames = synthetic_video(a.e2e)
        opts = LandmarkerOptions(model_path=a.model, backend=a.backend, threads=a.threads, running_mode="video")
        with Landmarker(opts) as lm:
            for i, f in enumerate(frames[:5]):
                lm.detect_for_video(f, i * 33)
            t = time.perf_counter()
            detections = 0
            for i, f in enumerate(frames):
                r = lm.detect_for_video(f, (i + 5) * 33)
                detections += int(r.detector_ran)
            dt = time.perf_counter() - t
        res.update(e2e_fps=len(frames) / dt, e2e_frames=len(frames), e2e_detector_runs=detections)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
