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
from pathlib import Path

import numpy as np

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
    p.add_argument("--backend", default="auto", choices=("auto", "lce", "tflite", "onnxruntime"))
    p.add_argument("--threads", type=int, default=1,
                   help="interpreter threads (default 1: the shipped models are small enough that a second "
                        "thread costs more in hand-offs than it gains; see README 'Benchmarks')")
    p.add_argument("--output", default="landmarks-out", help="output folder (default: ./landmarks-out)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored crop")
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
    """results.jsonl (+ csv); flushed per item so an interrupted run keeps what it did."""

    def __init__(self, out: Path, spec, want_csv: bool):
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.spec = out, spec
        self.jsonl = open(out / "results.jsonl", "w")
        self.csv = None
        if want_csv:
            self._csv_f = open(out / "results.csv", "w", newline="")
            self.csv = csv.writer(self._csv_f)
            self.csv.writerow(["source", "frame", "instance", "keypoint", "name", "x", "y", "score"])

    def write(self, rec: dict):
        self.jsonl.write(json.dumps(rec) + "\n")
        self.jsonl.flush()
        if self.csv is not None:
            for i, inst in enumerate(rec.get("instances", [])):
                for k, ((x, y), s) in enumerate(zip(inst["keypoints"], inst["scores"])):
                    self.csv.writerow([rec["source"], rec["frame"], i, k, self.spec.keypoint_names[k], x, y, s])

    def close(self):
        self.jsonl.close()
        if self.csv is not None:
            self._csv_f.close()


def _record(source, frame, ts, img, lm, result, error=None):
    rec = {"source": str(source), "frame": frame, "timestamp_ms": ts,
           "width": None if img is None else int(img.shape[1]), "height": None if img is None else int(img.shape[0]),
           "model": lm.spec.name, "backend": lm.backend_name, "detector_ran": bool(result and result.detector_ran),
           "instances": [i.to_dict() for i in result.landmarks] if result else [],
           "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()} if result else {}, "error": error}
    return rec


def _unique_name(out: Path, stem: str, suffix: str, used: set) -> Path:
    name, i = stem, 1
    while name + suffix in used:
        i += 1
        name = f"{stem}_{i}"
    used.add(name + suffix)
    return out / (name + suffix)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from tqdm import tqdm

    from runtime.backends import BackendError
    from runtime.draw import annotate
    from runtime.image import ImageError, read_image
    from runtime.landmarker import Landmarker, LandmarkerOptions, ModelLoadError

    box = [args.box] if args.box else None
    mode = "video" if args.camera is not None or any(
        Path(s).suffix.lower() in VIDEO_EXT for s in args.inputs) else "image"
    try:
        one_euro = OneEuroParams(args.min_cutoff, args.beta, args.d_cutoff)
        lm = Landmarker(LandmarkerOptions(model_path=args.model, backend=args.backend, threads=args.threads,
                                          running_mode=mode,
                                          detector=args.detector, flip_test=args.flip_test,
                                          track_threshold=args.track_threshold,
                                          redetect_every=args.redetect_every,
                                          smoothing=Smoothing(args.smoothing), one_euro=one_euro))
        if args.box is None and lm.detector_name != "none":
            lm.detector  # noqa: B018 - load it now: a missing detector is one error line, not a failure per image
    except (ModelLoadError, BackendError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.show:
        import cv2

        if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
            print("error: --show needs a display (DISPLAY is not set)", file=sys.stderr)
            return 2
        try:
            cv2.namedWindow("bnn-landmarks")
        except cv2.error:
            print("error: --show needs OpenCV with GUI support (pip install opencv-python instead of "
                  "opencv-python-headless)", file=sys.stderr)
            return 2
    items = expand_inputs(args.inputs) if args.inputs else ([] if args.camera is not None else [("image", SAMPLE)])
    out = Path(args.output)
    try:
        writer = Writer(out, lm.spec, args.csv)
    except OSError as e:
        print(f"error: cannot write to output folder {out} ({e.strerror}); pass --output to a writable folder",
              file=sys.stderr)
        return 2
    used: set = set()
    ok = failed = frames = 0
    stage: dict[str, list] = {}

    def account(result):
        for k, v in result.timings_ms.items():
            stage.setdefault(k, []).append(v)

    images = [it for it in items if it[0] != "video"]
    bar = tqdm(images, desc="images", unit="img", disable=len(images) < 2, file=sys.stderr)
    import cv2

    for kind, path in bar:
        img = None
        try:
            if kind == "missing":
                raise ImageError(f"{path} does not exist")
            img = read_image(path)
            res = lm.detect(img, box)
            account(res)
            writer.write(_record(path, None, None, img, lm, res))
            if not args.no_annotate:
                drawn = annotate(img, res, lm.spec, min_score=args.min_score)
                cv2.imwrite(str(_unique_name(out, path.stem, ".jpg", used)), drawn)
            ok += 1
        except (ImageError, ValueError, OSError) as e:
            failed += 1
            writer.write(_record(path, None, None, img, lm, None, str(e)))
            print(f"warning: {e}", file=sys.stderr)
    sources = [("video", p) for k, p in items if k == "video"]
    if args.camera is not None:
        sources.append(("camera", args.camera))
    for kind, src in sources:
        n, bad = _run_stream(lm, kind, src, writer, out, used, args, box, account)
        frames += n
        if bad:
            failed += 1
        else:
            ok += 1
    writer.close()
    _summary(ok, failed, frames, stage, lm, out)
    lm.close()
    return 0 if failed == 0 else 1


def _run_stream(lm, kind, src, writer, out, used, args, box, account) -> tuple[int, str | None]:
    """Process a video file or camera. Returns (frames done, error or None); broken frames are
    reported and skipped, a stream that fails to open or dies mid-way is an error."""
    import cv2
    from tqdm import tqdm

    from runtime.draw import annotate
    from runtime.image import ImageError

    cap = cv2.VideoCapture(int(src) if kind == "camera" else str(src))
    name = f"camera{src}" if kind == "camera" else str(src)
    if not cap.isOpened():
        msg = f"cannot open {'camera ' + str(src) if kind == 'camera' else src}"
        writer.write({"source": name, "frame": None, "error": msg, "instances": []})
        print(f"warning: {msg}", file=sys.stderr)
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
        while True:
            if args.max_frames and n >= args.max_frames:
                break
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
                res = lm.detect_for_video(rgb, ts) if box is None else lm.detect(rgb, box)
            except (ImageError, ValueError, cv2.error) as e:
                misses += 1
                writer.write({"source": name, "frame": n + misses - 1, "error": str(e), "instances": []})
                continue
            account(res)
            writer.write(_record(name, n, ts, rgb, lm, res))
            if not args.no_annotate:
                ann = annotate(rgb, res, lm.spec, min_score=args.min_score)
                if vw is None:
                    stem = f"camera{src}" if kind == "camera" else Path(src).stem
                    path = _unique_name(out, stem, ".mp4", used)
                    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, ann.shape[1::-1])
                vw.write(ann)
                if args.show:
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
        writer.write({"source": name, "frame": n, "error": err, "instances": []})
        print(f"warning: {err}", file=sys.stderr)
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
