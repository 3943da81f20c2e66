"""Soak: thousands of frames through the live pipeline (the shipped binary face model, tracking,
re-detection after cuts) with flat memory, no file-descriptor or thread leak. Frames per run:
``BNN_SOAK_FRAMES`` (default 3000; ``make soak`` runs 50000)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from runtime.landmarker import Landmarker, LandmarkerOptions

pytestmark = pytest.mark.slow  # `make test-all` runs these, `make test` not

ROOT = Path(__file__).resolve().parents[2]
FRAMES = int(os.environ.get("BNN_SOAK_FRAMES", "3000"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_live_mode_soak_is_flat(tmp_path):
    import cv2

    from runtime.backends import kernels_available

    if not (ROOT / "runtime" / "pretrained" / "face.tflite").exists() or not kernels_available()[0]:
        pytest.skip("needs the shipped face model and the project's kernels")
    img = cv2.cvtColor(cv2.imread(str(ROOT / "runtime" / "assets" / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    clip = [cv2.resize(img[10 + i:410 + i, 60 + 2 * i:460 + 2 * i], (320, 320)) for i in range(40)]
    clip.append(np.zeros((320, 320, 3), np.uint8))  # a cut: the track is lost, the detector runs

    results, ready = [0, 0], threading.Event()

    def cb(result, frame, ts):
        results[0] += 1
        results[1] += bool(result.landmarks)
        ready.set()

    warm = min(300, FRAMES // 4)
    with Landmarker(LandmarkerOptions(running_mode="live", result_callback=cb, detector="blazeface")) as lm:
        for i in range(FRAMES):
            if i == warm:
                rss0, fds0, threads0 = _rss_mb(), _fds(), threading.active_count()
            ready.clear()
            assert lm.detect_async(clip[i % len(clip)], i + 1)
            assert ready.wait(30), f"no result for frame {i}"
        rss1, fds1, threads1 = _rss_mb(), _fds(), threading.active_count()
        stats = dict(lm.stats)
    growth = rss1 - rss0
    print(f"soak: {FRAMES} frames, {results[1]} with a face, detector {stats.get('detector_calls')} times, "
          f"RSS {rss0:.1f} -> {rss1:.1f} MB, fds {fds0} -> {fds1}, threads {threads0} -> {threads1}")
    assert results[0] == FRAMES
    assert results[1] >= FRAMES * 0.9  # every frame but the cuts has the face
    assert stats["detector_calls"] >= FRAMES // 15  # periodic re-detection (redetect_every)
    assert growth < 10 + 0.002 * FRAMES, f"RSS grew {growth:.1f} MB over {FRAMES - warm} frames"
    assert fds1 <= fds0 and threads1 <= threads0
