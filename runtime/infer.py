"""``python -m runtime.infer``: landmarks on images, folders, videos or a camera.

With no arguments it runs the shipped binary face model on the bundled sample image and writes
the annotated image and a JSON result to ``./landmarks-out/``.

Output (in ``--output``): ``results.jsonl`` with one JSON object per image or frame::

    {"source": "path", "frame": null | int, "timestamp_ms": null | int, "width": W, "height": H,
     "model": "face", "backend": "lce", "detector_ran": bool,
     "instances": [{"box": [x, y, w, h], "score": s, "source": "detector|track|user|image",
                    "keypoints": [[x, y], ...K], "scores": [...K]}],
     "timings_ms": {"detect": .., "preprocess": .., "inference": .., "decode": .., "total": ..},
     "error": null | "message"}

coordinates in image pixels (0-based, pixel centres at integers); annotated ``<name>.jpg`` per
image and ``<name>.mp4`` per video; ``--csv`` adds ``results.csv`` (one row per keypoint).
Exit status: 0 all items done, 1 some items failed (each reported), 2 nothing could run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.backends import BACKENDS
from runtime.smoothing import OneEuroParams, Smoothing

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "assets" / "astronaut.jpg"
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m runtime.infer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="images, folders (recursive) or videos (default: the bundled sample)")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="live from camera N")
    p.add_argument("--model", default=None, help="a .tflite (with sidecar/embedded spec) or .onnx (with sidecar)")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="interpreter (default: tflite-runtime, else the TFLite C API (litert), else LCE's)")
    p.add_argument("--threads", type=int, default=None,
                   help="interpreter threads (default 2 on CPUs with 4 or more cores, else 1: 2 threads are "
                        "1.5-2x faster on an idle machine but stall when another process takes a core; 1 on "
                        "LCE's interpreter; see README 'Benchmarks')")
    p.add_argument("--output", default="landmarks-out", help="output folder (default: ./landmarks-out)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored crop")
    p.add_argument("--refine", type=int, default=None, metavar="N",
                   help="run the model N more times on the crop of its own landmarks after a detector or "
                        "whole-image crop (default: 1 for pose models, 0 for face models)")
    p.add_argument("--detector", default=None,
                   help="face: blazeface (default; haar if it cannot load) or haar; pose: blazepose (default) or "
                        "none (whole image)")
    p.add_argument("--track-threshold", type=float, default=0.25,
                   help="video/live: re-detect when the mean heatmap peak falls below this")
    p.add_argument("--redetect-every", type=int, default=15, metavar="N",
                   help="video/camera: also re-run the detector every N frames (0: only when the track is lost)")
    p.add_argument("--smoothing", default=Smoothing.ONE_EURO.value, choices=[m.value for m in Smoothing],
                   help="videos/camera: temporal filtering of the landmarks (default one-euro; images never)")
    d = OneEuroParams()
    p.add_argument("--min-cutoff", type=float, default=d.min_cutoff, metavar="HZ",
                   help=f"one-euro: cutoff of a still landmark (default {d.min_cutoff}; lower = steadier, more lag)")
    p.add_argument("--beta", type=float, default=d.beta,
                   help=f"one-euro: cutoff rise per face size/s of speed (default {d.beta}; higher = less lag)")
    p.add_argument("--d-cutoff", type=float, default=d.d_cutoff, metavar="HZ",
                   help=f"one-euro: cutoff of the speed estimate (default {d.d_cutoff})")
    p.add_argument("--box", default=None, type=parse_box, help="x,y,w,h object box (skip detection; pose: the person)")
    p.add_argument("--csv", action="store_true", help="also write results.csv")
    p.add_argument("--no-annotate", action="store_true", help="write JSON only")
    p.add_argument("--min-score", type=float, default=0.3,
                   help="annotated output: leave out keypoints whose heatmap peak is below this (JSON keeps all)")
    p.add_argument("--show", action="store_true", help="show a window (needs a display and GUI OpenCV)")
    p.add_argument("--max-frames", type=int, default=0, help="stop videos/camera after N frames (0 = all)")
    return p.parse_args(argv)


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` -> a box in image pixels; argparse reports the ValueError as a usage error."""
    try:
        box = tuple(float(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise argparse.ArgumentTypeError(f"--box must be x,y,w,h with w, h > 0, got {text!r}")
    return box


def expand_inputs(inputs: list[str]) -> list[tuple[str, Path]]:
    """-> [(kind, path)] with kind "image", "video" or "missing"; folders are walked recursively."""
    out = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_EXT | VIDEO_EXT:
                    out.append(("video" if f.suffix.lower() in VIDEO_EXT else "image", f))
        elif p.is_file():
            out.append(("video" if p.suffix.lower() in VIDEO_EXT else "image", p))
        else:
            out.append(("missing", p))
    return out


class Writer:
    """results.jsonl (+ csv); flushed per item so an interrupted run keeps what it did. A context manager."""

    def __init__(self, out: Path, keypoint_names: list[str], want_csv: bool):
        out.mkdir(parents=True, exist_ok=True)
        self.names = keypoint_names
        self.jsonl = open(out / "results.jsonl", "w")
        self.csv = None
        if want_csv:
            self._csv_f = open(out / "results.csv", "w", newline="")
            self.csv = csv.writer(self._csv_f)
            self.csv.writerow(["source", "frame", "instance", "keypoint", "name", "x", "y", "score"])

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rec: dict) -> None:
        self.jsonl.write(json.dumps(rec) + "\n")
        self.jsonl.flush()
        if self.csv is not None:
            for i, inst in enumerate(rec["instances"]):
                for k, ((x, y), s) in enumerate(zip(inst["keypoints"], inst["scores"])):
                    self.csv.writerow([rec["source"], rec["frame"], i, k, self.names[k], x, y, s])

    def close(self) -> None:
        self.jsonl.close()
        if self.csv is not None:
            self._csv_f.close()


def record(lm, source, *, frame: int | None = None, timestamp_ms: int | None = None, image=None,
           result=None, error: str | None = None) -> dict:
    """One results.jsonl object (the schema in this module's docstring), for a result or an error.

    Args:
        lm: the :class:`~runtime.landmarker.Landmarker` (model and backend names).
        source: the image path, video path or "cameraN". frame / timestamp_ms: for video frames.
        image: the (H, W, 3) image, when it could be read. result: its ``LandmarkerResult``, if any.
        error: the one-line problem, when there is one.
    """
    return {"source": str(source), "frame": frame, "timestamp_ms": timestamp_ms,
            "width": None if image is None else int(image.shape[1]),
            "height": None if image is None else int(image.shape[0]),
            "model": lm.spec.name, "backend": lm.backend_name,
            "detector_ran": bool(result is not None and result.detector_ran),
            "instances": [i.to_dict() for i in result.landmarks] if result is not None else [],
            "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()} if result is not None else {},
            "error": error}


def _unique_name(out: Path, stem: str, suffix: str, used: set) -> Path:
    name, i = stem, 1
    while name + suffix in used:
        i += 1
        name = f"{stem}_{i}"
    used.add(name + suffix)
    return out / (name + suffix)


@dataclass
class _Run:
    """What every item of one ``python -m runtime.infer`` run shares."""

    lm: object  # Landmarker
    writer: Writer
    out: Path
    box: list | None
    annotate: bool
    min_score: float
    show: bool
    max_frames: int
    used: set = field(default_factory=set)
    stage: dict = field(default_factory=dict)  # timing name -> per-item ms

    def account(self, result) -> None:
        for k, v in result.timings_ms.items():
            self.stage.setdefault(k, []).append(v)

    def report(self, source, error: str, **kw) -> None:
        self.writer.write(record(self.lm, source, error=error, **kw))
        print(f"warning: {error}", file=sys.stderr)


def _make_landmarker(args, mode):
    """-> the Landmarker for the CLI options, its detector loaded (a missing one is one error line)."""
    from runtime.landmarker import Landmarker, LandmarkerOptions

    lm = Landmarker(LandmarkerOptions(model_path=args.model, backend=args.backend, threads=args.threads,
                                      running_mode=mode, detector=args.detector, flip_test=args.flip_test,
                                      refine=args.refine,
                                      track_threshold=args.track_threshold, redetect_every=args.redetect_every,
                                      smoothing=Smoothing(args.smoothing),
                                      one_euro=OneEuroParams(args.min_cutoff, args.beta, args.d_cutoff)))
    try:
        if args.box is None and lm.detector_name != "none":
            lm.detector  # noqa: B018 - load it now
    except Exception:
        lm.close()
        raise
    return lm


def _check_display() -> str | None:
    """None when ``--show`` can open a window, else the one-line problem."""
    import cv2

    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        return "--show needs a display (DISPLAY is not set)"
    try:
        cv2.namedWindow("bnn-landmarks")
    except cv2.error:
        return "--show needs OpenCV with GUI support (pip install opencv-python instead of opencv-python-headless)"
    return None


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from runtime.backends import BackendError
    from runtime.landmarker import ModelLoadError, RunningMode

    streams = args.camera is not None or any(Path(s).suffix.lower() in VIDEO_EXT for s in args.inputs)
    mode = RunningMode.VIDEO if streams else RunningMode.IMAGE
    try:
        lm = _make_landmarker(args, mode)
    except (ModelLoadError, BackendError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with lm:
        problem = _check_display() if args.show else None
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        items = expand_inputs(args.inputs) if args.inputs else ([] if args.camera is not None else [("image", SAMPLE)])
        out = Path(args.output)
        try:
            writer = Writer(out, lm.spec.keypoint_names, args.csv)
        except OSError as e:
            print(f"error: cannot write to output folder {out} ({e.strerror}); pass --output to a writable folder",
                  file=sys.stderr)
            return 2
        with writer:
            run = _Run(lm, writer, out, [args.box] if args.box else None, not args.no_annotate, args.min_score,
                       args.show, args.max_frames)
            ok, failed = _run_images(run, [it for it in items if it[0] != "video"])
            streams = [("video", p) for k, p in items if k == "video"]
            if args.camera is not None:
                streams.append(("camera", args.camera))
            frames = 0
            for kind, src in streams:
                n, err = _run_stream(run, kind, src)
                frames += n
                failed, ok = failed + bool(err), ok + (not err)
        _summary(ok, failed, frames, run.stage, lm, out)
    return 0 if failed == 0 else 1


def _run_images(run: _Run, images: list[tuple[str, Path]]) -> tuple[int, int]:
    """Images one by one (a bad one is reported and skipped). Returns (done, failed)."""
    import cv2
    from tqdm import tqdm

    from runtime.draw import annotate
    from runtime.image import ImageError, read_image

    ok = failed = 0
    for kind, path in tqdm(images, desc="images", unit="img", disable=len(images) < 2, file=sys.stderr):
        img = None
        try:
            if kind == "missing":
                raise ImageError(f"{path} does not exist")
            img = read_image(path)
            res = run.lm.detect(img, run.box)
            run.account(res)
            run.writer.write(record(run.lm, path, image=img, result=res))
            if run.annotate:
                drawn = annotate(img, res, run.lm.spec, min_score=run.min_score)
                cv2.imwrite(str(_unique_name(run.out, path.stem, ".jpg", run.used)), drawn)
            ok += 1
        except (ImageError, ValueError, OSError) as e:
            failed += 1
            run.report(path, str(e), image=img)
    return ok, failed


def _run_stream(run: _Run, kind: str, src) -> tuple[int, str | None]:
    """Process a video file (``kind`` "video", ``src`` its path) or a camera ("camera", its index).
    Returns (frames done, error or None); broken frames are reported and skipped, a stream that
    fails to open or dies mid-way is an error."""
    import cv2
    from tqdm import tqdm

    from runtime.draw import annotate
    from runtime.image import ImageError

    lm = run.lm
    cap = cv2.VideoCapture(int(src) if kind == "camera" else str(src))
    name = f"camera{src}" if kind == "camera" else str(src)
    if not cap.isOpened():
        msg = f"cannot open {'camera ' + str(src) if kind == 'camera' else src}"
        run.report(name, msg)
        return 0, msg
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "video" else 0
    vw = None
    lm.reset()
    n = misses = 0
    err = None
    t0 = time.perf_counter()
    bar = tqdm(total=total or None, desc=Path(name).name, unit="frame", file=sys.stderr)
    try:
        while not (run.max_frames and n >= run.max_frames):
            okr, frame = cap.read()
            if not okr:
                if kind == "camera":
                    err = f"camera {src} stopped delivering frames after {n} frames"
                elif total and n + misses < total - 1:
                    err = f"{src}: video ended early at frame {n + misses} of {total}"
                break
            ts = int(round(1000 * n / fps)) if kind == "video" else int(1000 * (time.perf_counter() - t0))
            last = lm.last_timestamp_ms
            ts = max(ts, -1 if last is None else last + 1)
            try:
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame
                res = lm.detect_for_video(rgb, ts) if run.box is None else lm.detect(rgb, run.box)
            except (ImageError, ValueError, cv2.error) as e:
                misses += 1
                run.report(name, str(e), frame=n + misses - 1, timestamp_ms=ts)
                continue
            run.account(res)
            run.writer.write(record(lm, name, frame=n, timestamp_ms=ts, image=rgb, result=res))
            if run.annotate:
                ann = annotate(rgb, res, lm.spec, min_score=run.min_score)
                if vw is None:
                    stem = f"camera{src}" if kind == "camera" else Path(src).stem
                    path = _unique_name(run.out, stem, ".mp4", run.used)
                    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, ann.shape[1::-1])
                vw.write(ann)
                if run.show:
                    cv2.imshow("bnn-landmarks", ann)
                    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                        break
            n += 1
            bar.update(1)
    finally:
        bar.close()
        cap.release()
        if vw is not None:
            vw.release()
    if err:
        run.report(name, err, frame=n)
    return n, err


def _summary(ok, failed, frames, stage, lm, out):
    parts = [f"{k} {np.median(v):.1f}" for k, v in stage.items() if v]
    print(f"bnn-landmarks: {ok} item(s) done, {failed} failed, {frames} video frame(s); model {lm.spec.name} on "
          f"{lm.backend_name}; detector calls {lm.stats['detector_calls']} for {lm.stats['frames']} frames/images",
          file=sys.stderr)
    if parts:
        print("median ms per image/frame: " + ", ".join(parts), file=sys.stderr)
    print(f"results in {out}/results.jsonl", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
