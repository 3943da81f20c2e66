"""Live-tracking quality for ``make bench``: jitter on a still face and lag on a moving one, raw and
filtered, on clips synthesised from the bundled sample (so it runs anywhere).

* Still clip: the sample ``frames`` times, each frame shifted by a random sub-pixel offset (at most
  ``max_shift`` px in x and y, bilinear) and given camera-like Gaussian noise (sigma ``noise`` grey
  levels). Reported as the RMS frame-to-frame landmark motion and the RMS deviation of each landmark
  from its mean, in % of the inter-ocular distance (outer eye corners, face models; the landmark box
  side otherwise), two ways: with the offsets undone before measuring (the pipeline's error; a
  filter that holds a still face perfectly still scores the offsets' own motion there, about 1 %)
  and as drawn (what a viewer sees shake).
* Moving clips: ``still`` frames at rest, then ``moving`` frames translated by ``speed`` px per frame
  (horizontally, same noise). Lag = mean over the moving frames of (true shift - measured shift of
  the mean landmark) / speed, in frames: 0 follows at once, 1 is one frame behind.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "runtime" / "assets" / "astronaut.jpg"
FRAME_MS = 33  # a 30 fps camera
SPEEDS = (2, 5, 10)  # px per frame


def _shifted(img: np.ndarray, dx: float, dy: float, rng: np.random.Generator, noise: float) -> np.ndarray:
    import cv2

    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    out = cv2.warpAffine(img, m, img.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if noise > 0:
        out = np.clip(out + rng.normal(0, noise, out.shape), 0, 255)
    return out.astype(np.uint8)


def still_clip(img: np.ndarray, frames: int = 90, noise: float = 3.0, max_shift: float = 0.5,
               seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """-> (RGB frames, (frames, 2) float64 offsets applied, image pixels)."""
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-max_shift, max_shift, size=(frames, 2))
    return [_shifted(img, dx, dy, rng, noise) for dx, dy in shifts], shifts


def moving_clip(img: np.ndarray, speed: float, still: int = 10, moving: int = 24, noise: float = 3.0,
                seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """-> (RGB frames, (still + moving,) float64 horizontal shifts); the motion is centred on the image."""
    rng = np.random.default_rng(seed)
    start = -speed * moving / 2
    xs = np.concatenate([np.full(still, start), start + speed * np.arange(1, moving + 1)])
    return [_shifted(img, dx, 0.0, rng, noise) for dx in xs], xs


def _track(lm, frames: list[np.ndarray]) -> np.ndarray:
    """(T, K, 2) keypoints of the first instance per frame (NaN where nothing was found)."""
    lm.reset()
    out = []
    for i, f in enumerate(frames):
        res = lm.detect_for_video(f, i * FRAME_MS)
        k = lm.spec.num_keypoints
        out.append(res.landmarks[0].keypoints if res.landmarks else np.full((k, 2), np.nan, np.float32))
    return np.asarray(out, np.float64)


def _norm(kp: np.ndarray, task: str) -> float:
    mean = np.nanmean(kp, axis=0)
    if task == "face" and len(mean) == 68:
        return float(np.linalg.norm(mean[36] - mean[45]))
    return float(np.nanmax(np.nanmax(mean, 0) - np.nanmin(mean, 0)))


def jitter(lm, img: np.ndarray, **clip) -> dict:
    """Still-clip jitter of a video-mode Landmarker ``lm``, in % of the inter-ocular distance."""
    frames, shifts = still_clip(img, **clip)
    drawn = _track(lm, frames)
    kp = drawn - shifts[:, None, :]
    norm = _norm(kp, lm.spec.task)

    def rms(d):
        return float(100 * np.sqrt(np.nanmean(np.sum(d**2, -1))) / norm)

    return {"frame_to_frame_pct": rms(np.diff(kp, axis=0)), "deviation_pct": rms(kp - np.nanmean(kp, axis=0)),
            "drawn_frame_to_frame_pct": rms(np.diff(drawn, axis=0)),
            "shift_frame_to_frame_pct": rms(np.diff(shifts, axis=0)),
            "lost_frames": int(np.isnan(kp[:, 0, 0]).sum()), "norm_px": norm}


def lag(lm, img: np.ndarray, speed: float, still: int = 10, moving: int = 24, **clip) -> float:
    """Mean lag in frames of the landmarks behind a face moving at ``speed`` px per frame."""
    frames, xs = moving_clip(img, speed, still, moving, **clip)
    kp = _track(lm, frames)
    cx = np.nanmean(kp[:, :, 0], axis=1)
    ref = np.mean(cx[still // 2:still] - xs[still // 2:still])  # the settled pose at rest
    measured = cx[still:] - ref
    return float(np.nanmean((xs[still:] - measured) / speed))


@dataclass
class LiveQuality:
    """One row of the live-quality table: a smoothing setting's jitter and lag."""

    smoothing: str
    jitter: dict  # :func:`jitter`'s result
    lag_frames: dict  # speed (px/frame) -> frames

    def to_dict(self) -> dict:
        return {"smoothing": self.smoothing, "jitter": self.jitter,
                "lag_frames": {str(k): v for k, v in self.lag_frames.items()}}


def measure(model: str | Path | None = None, backend: str = "auto", threads: int = 1,
            settings: tuple[str, ...] = ("off", "one-euro"), one_euro=None, detector: str | None = None,
            speeds=SPEEDS) -> list[LiveQuality]:
    """Jitter and lag of the video pipeline for each smoothing setting (defaults otherwise)."""
    from runtime.image import read_image
    from runtime.landmarker import Landmarker, LandmarkerOptions, OneEuroParams

    img = read_image(SAMPLE)
    rows = []
    for s in settings:
        opts = LandmarkerOptions(model_path=model, backend=backend, threads=threads, running_mode="video",
                                 smoothing=s, one_euro=one_euro or OneEuroParams(), detector=detector)
        with Landmarker(opts) as lm:
            rows.append(LiveQuality(s, jitter(lm, img), {v: lag(lm, img, v) for v in speeds}))
    return rows


def detector_ms(detector: str | None = None, reps: int = 20) -> tuple[str, float]:
    """(name, median ms) of the face pipeline's default (or named) detector on the bundled sample, 1 thread."""
    import time

    from runtime.image import read_image
    from runtime.landmarker import Landmarker, LandmarkerOptions

    img = read_image(SAMPLE)
    with Landmarker(LandmarkerOptions(detector=detector)) as lm:
        det = lm.detector
        det.detect(img)
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            det.detect(img)
            ts.append(1000 * (time.perf_counter() - t))
        return lm.detector_name, float(np.median(ts))


def quality(model: str | Path | None = None, backend: str = "auto", one_euro=None) -> dict:
    """Jitter and lag of the video pipeline, raw and filtered, and the face detectors' speed."""
    rows = [r.to_dict() for r in measure(model, backend, one_euro=one_euro)]
    default, ms = detector_ms()
    haar, haar_ms = detector_ms("haar")
    return {"rows": rows, "detector_ms": {default: ms, haar: haar_ms}, "default_detector": default,
            "frame_ms": FRAME_MS}


def markdown(q: dict) -> list[str]:
    """The live-quality table of BENCHMARKS.md, as Markdown lines."""
    speeds = list(q["rows"][0]["lag_frames"])
    lines = ["Live tracking on clips made from the bundled sample (`bench/live.py`; video mode, default options, "
             f"{1000 / q['frame_ms']:.0f} fps timestamps): still face = 90 frames with camera noise (sigma 3) and "
             "random sub-pixel offsets (<= 0.5 px); jitter in % of the inter-ocular distance, as drawn and with the "
             "offsets undone (there a perfectly still output scores the offsets' own motion, "
             f"{q['rows'][0]['jitter']['shift_frame_to_frame_pct']:.2f} %); lag = mean frames behind a face "
             "moving at N px per frame.", "",
             "| smoothing | frame-to-frame, drawn | frame-to-frame, offsets undone | deviation from mean | "
             + " | ".join(f"lag @ {v} px/frame" for v in speeds) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(speeds)]
    for r in q["rows"]:
        j = r["jitter"]
        lines.append(f"| {r['smoothing']} | {j['drawn_frame_to_frame_pct']:.2f} % | {j['frame_to_frame_pct']:.2f} % | "
                     f"{j['deviation_pct']:.2f} % | " + " | ".join(f"{r['lag_frames'][v]:.2f}" for v in speeds) + " |")
    d = q["detector_ms"]
    lines += ["", f"Face detector on the bundled sample (1 thread, median; default {q['default_detector']}): "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in d.items()) + ".", ""]
    return lines


def main(argv=None) -> int:
    import argparse

    from runtime.smoothing import OneEuroParams

    d = OneEuroParams()
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="a face .tflite with its sidecar (default: the shipped model)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--min-cutoff", type=float, default=d.min_cutoff)
    p.add_argument("--beta", type=float, default=d.beta)
    p.add_argument("--d-cutoff", type=float, default=d.d_cutoff)
    a = p.parse_args(argv)
    try:
        params = OneEuroParams(a.min_cutoff, a.beta, a.d_cutoff)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(markdown(quality(a.model, a.backend, params))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
