"""The Python API, in the style of MediaPipe Tasks.

    from runtime.landmarker import Landmarker, LandmarkerOptions
    with Landmarker(LandmarkerOptions()) as lm:            # the shipped binary face model
        result = lm.detect(rgb_image)                      # (H, W, 3) uint8 RGB
        for inst in result.landmarks:
            inst.keypoints                                 # (68, 2) float32, image pixels

Face pipeline: detector -> calibrated landmark box -> square crop (the training convention) ->
model -> heatmap decode (``runtime.codec``) -> inverse affine to image pixels. In video / live
mode the next frame is cropped from the previous frame's landmarks, and the detector runs again
when the track is lost (mean heatmap peak below ``track_threshold``) and every
``redetect_every`` frames: the binary model's heatmap peaks stay fairly high on non-faces (about
0.3-0.6 on blank or noise frames, 0.75 on a face), so the peak alone cannot tell that a face left.

In video / live mode the landmarks are then filtered over time (``runtime.smoothing``: a
One-Euro filter per coordinate, timestamp- and scale-aware; ``smoothing=Smoothing.OFF`` turns it
off). A track keeps its filter while it is followed, also across a re-detection that finds the same
object again (boxes overlapping by IoU >= 0.5); a new object starts a fresh filter, a lost one
drops its own.

Pose pipeline: the BlazePose person detector (or ``detector="none"``) -> calibrated joints' box
-> the same crop / model / decode; the whole image when no person is found.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from runtime import codec, crop
from runtime.backends import BackendError, BackendKind, choose_backend, load_backend
from runtime.detectors import Box, calibrated_box, calibration_for
from runtime.detectors import create as create_detector
from runtime.detectors import resolve as resolve_detector
from runtime.image import MAX_PIXELS, to_rgb8
from runtime.smoothing import OneEuroFilter, OneEuroParams, Smoothing
from runtime.spec import METADATA_KEY, ModelSpec, Task, sidecar_path
from runtime.tflite_model import ModelFormatError, read_model

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = PRETRAINED / "face.tflite"


class RunningMode(StrEnum):
    """How frames arrive: single images, video frames with timestamps (tracked and filtered), or a
    live stream processed on a worker thread (results through ``result_callback``)."""

    IMAGE = "image"
    VIDEO = "video"
    LIVE = "live"


RUNNING_MODES = tuple(m.value for m in RunningMode)
# re-crop passes after a detector or whole-image crop (LandmarkerOptions.refine), per task: on the
# LSPET validation split one pass takes the pose model from PCK@0.2 37.5 % to 39.5 % with the
# person detector; faces gain nothing from it (BlazeFace's calibrated box is already tight)
DEFAULT_REFINE = {Task.FACE: 0, Task.POSE: 1}
MIN_REFINE_SIDE = 4.0  # pixels: landmarks that collapsed into a smaller box are not re-cropped
FALLBACK_DETECTOR = "haar"  # a face model's detector when the default (BlazeFace) cannot load


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message names the fix."""


@dataclass
class LandmarkerOptions:
    """Options of a :class:`Landmarker`.

    ``model_path`` (a .tflite with its JSON sidecar or embedded spec, or a .onnx with its sidecar)
    or ``model_bytes`` (+ ``spec`` unless embedded); default: the shipped binary face model.
    """

    model_path: str | Path | None = None
    model_bytes: bytes | None = None
    spec: ModelSpec | None = None
    backend: BackendKind = BackendKind.AUTO  # or its value: "auto", "lce", "tflite", "onnxruntime"
    threads: int | None = None  # None: ``default_threads(backend)``
    running_mode: RunningMode = RunningMode.IMAGE  # or its value: "image", "video", "live"
    # None: the task's default (face: "blazeface", Haar if it cannot load; pose: "blazepose");
    # for pose "none" = the whole image
    detector: str | None = None
    max_instances: int = 4
    flip_test: bool = False
    # detector / whole-image crops: run the model again this many times on the crop of its own
    # landmarks' box (each pass costs one more inference); None: the task's default
    # (``DEFAULT_REFINE``: pose 1, as the person detector's box is loose; face 0)
    refine: int | None = None
    track_threshold: float = 0.25
    redetect_every: int = 15  # frames; 0: only when the track is lost
    max_pixels: int = MAX_PIXELS
    # video / live: temporal filtering of the landmarks (image mode never filters)
    smoothing: Smoothing = Smoothing.ONE_EURO
    one_euro: OneEuroParams = field(default_factory=OneEuroParams)
    # live mode: called as result_callback(result, frame, timestamp_ms) from a worker thread
    result_callback: object = None


@dataclass
class Landmarks:
    """One face or person: ``keypoints`` (K, 2) float32 ``(x, y)`` image pixels, ``scores`` (K,)
    float32 heatmap peaks, ``box`` (x, y, w, h) the box it was cropped from, ``source`` one of
    "detector", "track", "user", "image"."""

    keypoints: np.ndarray
    scores: np.ndarray
    box: tuple[float, float, float, float]
    source: str

    @property
    def score(self) -> float:
        return float(np.mean(self.scores)) if len(self.scores) else 0.0

    def to_dict(self) -> dict:
        """The JSON form written by ``python -m runtime.infer`` (pixels to 0.01, scores to 1e-4)."""
        return {"box": [round(float(v), 2) for v in self.box], "score": round(self.score, 4), "source": self.source,
                "keypoints": [[round(float(x), 2), round(float(y), 2)] for x, y in self.keypoints],
                "scores": [round(float(s), 4) for s in self.scores]}


@dataclass
class _Track:
    """One followed object: its latest unfiltered landmarks (the next frame is cropped from them)
    and its temporal filter (None when smoothing is off)."""

    raw: Landmarks
    filter: OneEuroFilter | None

    @property
    def box(self) -> tuple[float, float, float, float]:
        return crop.box_of_points(self.raw.keypoints)


def box_iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class LandmarkerResult:
    landmarks: list[Landmarks]
    timings_ms: dict = field(default_factory=dict)
    timestamp_ms: int | None = None
    detector_ran: bool = False


def load_model(path: str | Path | None = None, data: bytes | None = None,
               spec: ModelSpec | None = None) -> tuple[bytes, ModelSpec, object]:
    """Read and check a model: returns (bytes, spec, parsed .tflite info or None for .onnx).

    The spec comes from ``spec``, else the sidecar beside ``path``, else the flatbuffer's metadata;
    a sidecar whose sha256 does not match the model is refused.
    """
    is_onnx = False
    if data is None:
        path = Path(path or DEFAULT_MODEL)
        if not path.exists():
            if path == DEFAULT_MODEL:
                raise ModelLoadError(f"the shipped face model {path} is missing; reinstall bnn-landmarks or "
                                     "run `make convert MODEL=face` and pass --model build/face.tflite")
            raise ModelLoadError(f"model file {path} not found; pass --model path/to/model.tflite")
        is_onnx = path.suffix.lower() == ".onnx"
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(f"cannot read model {path}: {e.strerror}") from None
    elif data[:4] != b"" and data[4:8] != b"TFL3":
        is_onnx = True
    info = None
    if not is_onnx:
        try:
            info = read_model(data)
        except ModelFormatError as e:
            raise ModelLoadError(f"{path or 'model bytes'}: {e}; re-download or re-convert the model") from None
    if spec is None and path is not None and sidecar_path(path).exists():
        try:
            spec = ModelSpec.load(sidecar_path(path))
        except (ValueError, KeyError, TypeError) as e:
            raise ModelLoadError(f"sidecar {sidecar_path(path)} is not a valid model spec ({e}); "
                                 "regenerate it with `make convert`") from None
        want = spec.onnx_sha256 if is_onnx else spec.tflite_sha256
        if want and want != hashlib.sha256(data).hexdigest():
            raise ModelLoadError(f"sidecar {sidecar_path(path)} does not match {path} (sha256 differs); "
                                 "re-run `make convert` or remove the stale sidecar")
    if spec is None and info is not None and METADATA_KEY in info.metadata:
        try:
            spec = ModelSpec.from_json(info.metadata[METADATA_KEY])
        except (ValueError, KeyError, TypeError) as e:
            raise ModelLoadError(f"the model's embedded spec is invalid ({e}); re-run `make convert`") from None
    if spec is None and is_onnx:
        spec = _onnx_embedded_spec(data)
    if spec is None:
        raise ModelLoadError(f"no model spec for {path or 'model bytes'}: put its JSON sidecar beside it "
                             "(written by `make convert`)")
    if info is not None:
        ins, outs = info.input_details(), info.output_details()
        exp_in = (1, spec.input_size, spec.input_size, 3)
        exp_out = (1, spec.heatmap_size, spec.heatmap_size, spec.num_keypoints)
        if len(ins) != 1 or tuple(ins[0].shape) != exp_in or len(outs) != 1 or tuple(outs[0].shape) != exp_out:
            raise ModelLoadError(f"model tensors {[t.shape for t in ins]} -> {[t.shape for t in outs]} do not match "
                                 f"its spec {exp_in} -> {exp_out}; the sidecar belongs to another model")
    return data, spec, info


def object_boxes(detections: list[Box], image_shape: tuple, spec: ModelSpec,
                 calibration: dict) -> tuple[list[tuple], str]:
    """Detector boxes -> the landmark boxes to crop, and where they came from.

    Args:
        detections: the detector's boxes in image pixels (empty: it found nothing, or "none").
        image_shape: (H, W[, C]) of the image. calibration: ``detectors.calibration_for(...)``.

    Returns:
        ``(boxes, source)``: landmark boxes (x, y, w, h) float in image pixels, and "detector";
        for a pose model with no detection, the whole image as one box and "image" (a person
        filling the frame is the common case the person detector misses); for a face model with
        no detection, ``([], "detector")``.
    """
    if not detections and spec.task != "face":
        return [crop.whole_image_box(image_shape, spec.crop_scale)], "image"
    return [calibrated_box(b, calibration) for b in detections], "detector"


def landmarks_in_box(backend, spec: ModelSpec, image: np.ndarray, box, source: str = "user",
                     flip_test: bool = False, timings: dict | None = None) -> Landmarks:
    """The crop -> model -> decode -> shape correction (if the spec has one) -> image-pixels step
    shared by every pipeline.

    Args:
        backend: anything with ``run((1, S, S, 3) float32) -> (1, H, W, K) float32``.
        image: (H, W, 3) uint8 RGB. box: landmark box (x, y, w, h) in image pixels.

    Returns:
        :class:`Landmarks` with keypoints (K, 2) float32 in image pixels.
    """
    t = timings if timings is not None else {}
    size = spec.input_size
    t0 = time.perf_counter()
    center, side = crop.box_crop(box, spec.crop_scale)
    m = crop.crop_matrix(center, side, size)
    patch = crop.warp(image, m, size)
    x = patch[None].astype(np.float32) * spec.input_scale + spec.input_offset
    t1 = time.perf_counter()
    hm = backend.run(x)[0]
    if flip_test:
        hf = backend.run(np.ascontiguousarray(x[:, :, ::-1]))[0]
        hm = 0.5 * (hm + codec.flip_heatmaps(hf, spec.flip_pairs))
    t2 = time.perf_counter()
    xy, scores = spec.decode(hm)
    kp = crop.apply(crop.invert(m), spec.correct_shape(codec.heatmap_to_input(xy, spec.stride)))
    t3 = time.perf_counter()
    for k, v in (("preprocess", t1 - t0), ("inference", t2 - t1), ("decode", t3 - t2)):
        t[k] = t.get(k, 0.0) + 1000 * v
    return Landmarks(kp.astype(np.float32), scores.astype(np.float32), tuple(float(v) for v in box), source)


def default_threads(backend: str, cpus: int | None = None) -> int:
    """Interpreter threads when none are asked for: 2 on CPUs with at least 4 cores, else 1; 1 on
    LCE's interpreter. Measured (docs/benchmarks.md, 2-vCPU AMD EPYC): on an idle machine the binary
    face model runs 1.5-2.2x faster at 2 threads than at 1 (``make bench``), but with one core busy
    elsewhere its p99 latency goes from ~6 ms to ~10-130 ms (XNNPACK's workers wait for a
    descheduled thread), so 2 threads only where half the cores stay free for the rest (a Pi's
    camera and display, say); LCE's indirect-bgemm x86 kernel is slower at 2 threads.
    ``cpus``: the core count (default ``os.cpu_count()``)."""
    import os

    cpus = cpus if cpus is not None else os.cpu_count() or 1
    return 1 if backend == BackendKind.LCE else 2 if cpus >= 4 else 1


def refine_passes(option: int | None, task: Task | str) -> int:
    """``LandmarkerOptions.refine`` -> the number of re-crop passes (None: the task's default).
    Raises ValueError for a negative count."""
    passes = DEFAULT_REFINE[Task(task)] if option is None else int(option)
    if passes < 0:
        raise ValueError(f"refine must be >= 0 passes, got {option}")
    return passes


def refined(backend, spec: ModelSpec, image: np.ndarray, first: Landmarks, passes: int,
            flip_test: bool = False, timings: dict | None = None) -> Landmarks:
    """``first`` re-estimated ``passes`` times, each on the crop of the previous landmarks' box
    (the training crop convention around the object itself, not a detector's rough box). Stops
    early when the landmarks collapse into a box under ``MIN_REFINE_SIDE`` pixels."""
    lm = first
    for _ in range(passes):
        box = crop.box_of_points(lm.keypoints)
        if max(box[2], box[3]) < MIN_REFINE_SIDE:
            break
        lm = landmarks_in_box(backend, spec, image, box, lm.source, flip_test, timings)
    return lm


def _onnx_embedded_spec(data: bytes) -> ModelSpec | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    try:
        meta = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelLoadError(f"onnxruntime cannot load the model ({' '.join(str(e).split())[:200]})") from None
    raw = meta.get(METADATA_KEY)
    try:
        return ModelSpec.from_json(raw) if raw else None
    except (ValueError, KeyError, TypeError) as e:
        raise ModelLoadError(f"the model's embedded spec is invalid ({e}); re-run `make convert`") from None


class Landmarker:
    """Landmark detection on images, video frames or a live stream. Use as a context manager."""

    def __init__(self, options: LandmarkerOptions | None = None):
        o = options or LandmarkerOptions()
        if o.running_mode not in RUNNING_MODES:
            raise ValueError(f"running_mode must be one of {RUNNING_MODES}, got {o.running_mode!r}")
        try:
            smoothing = Smoothing(o.smoothing)
        except ValueError:
            raise ValueError(f"smoothing must be one of {[m.value for m in Smoothing]}, got {o.smoothing!r}") from None
        self.running_mode = RunningMode(o.running_mode)
        self.smoothing = smoothing if self.running_mode is not RunningMode.IMAGE else Smoothing.OFF
        self.options = o
        data, self.spec, info = load_model(o.model_path, o.model_bytes, o.spec)
        is_onnx = info is None
        self.backend_name = choose_backend(info, o.backend, is_onnx)
        self.threads = default_threads(self.backend_name) if o.threads is None else int(o.threads)
        try:
            self.backend = load_backend(data, self.backend_name, self.threads)
        except (RuntimeError, ValueError) as e:  # the interpreter's own checks (op Prepare, shapes)
            if isinstance(e, (ModelLoadError, BackendError)):
                raise
            msg = " ".join(str(e).split())
            raise ModelLoadError(f"the {self.backend_name} interpreter rejects the model ({msg[:200]}); "
                                 "re-download or re-convert it") from None
        shape = tuple(self.backend.input_shape)
        if shape[1:3] != (self.spec.input_size, self.spec.input_size):
            raise ModelLoadError(f"model input {shape} does not match its spec's input size {self.spec.input_size}")
        self.size = int(shape[1])
        self.refine = refine_passes(o.refine, self.spec.task)
        self.detector_name = resolve_detector(o.detector, self.spec.task, self.spec.name)
        self._detector = None
        self._track: list[_Track] = []
        self._since_detect = 0
        self._last_ts: int | None = None
        self.stats = {"frames": 0, "detector_calls": 0, "dropped": 0}
        self._worker = None
        self._busy = None
        self._pending: list = []  # live-mode jobs submitted and not yet looked at (Futures)
        if self.running_mode is RunningMode.LIVE and o.result_callback is None:
            raise ValueError("running_mode='live' needs a result_callback (use 'video' for synchronous frames)")

    @classmethod
    def create_from_model_path(cls, path: str | Path, **kw) -> Landmarker:
        return cls(LandmarkerOptions(model_path=path, **kw))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Free the interpreter; in live mode wait for the frame in flight and re-raise its error, if any."""
        try:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
                self._raise_worker_error()
        finally:
            if self.backend is not None:
                self.backend.close()
                self.backend = None

    @property
    def detector(self):
        """The detector, loaded on first use. When the task's default detector cannot load (the
        BlazeFace asset or tflite-runtime missing), a face model falls back to OpenCV's Haar
        cascade with a one-line notice on stderr; a detector asked for by name must load."""
        if self._detector is None:
            try:
                self._detector = create_detector(self.detector_name)
            except RuntimeError as e:
                asked = self.options.detector is not None
                if asked or self.spec.task != Task.FACE or self.detector_name == FALLBACK_DETECTOR:
                    raise
                print(f"notice: {self.detector_name} detector unavailable ({e}); using {FALLBACK_DETECTOR}",
                      file=sys.stderr)
                self.detector_name = FALLBACK_DETECTOR
                self._detector = create_detector(self.detector_name)
        return self._detector

    @property
    def last_timestamp_ms(self) -> int | None:
        """The timestamp of the last video / live frame processed (None before the first, after reset)."""
        return self._last_ts

    # -- core ---------------------------------------------------------------------------------
    def _calibration(self) -> dict:
        return calibration_for(self.detector_name, self.spec.detector_calibration)

    def landmarks_in_box(self, image: np.ndarray, box, source: str, timings: dict | None = None) -> Landmarks:
        """Run the model on the crop of landmark box ``box`` (x, y, w, h) of an RGB image."""
        return landmarks_in_box(self.backend, self.spec, image, box, source, self.options.flip_test, timings)

    def _found(self, image: np.ndarray, boxes: list[tuple], source: str, timings: dict) -> list[Landmarks]:
        """Landmarks in each box; detector and whole-image boxes refined (``options.refine``)."""
        out = [self.landmarks_in_box(image, b, source, timings) for b in boxes]
        if source == "user" or not self.refine:
            return out
        return [refined(self.backend, self.spec, image, lm, self.refine, self.options.flip_test, timings) for lm in out]

    def _boxes(self, image: np.ndarray, timings: dict) -> tuple[list[tuple], str]:
        """-> (object boxes (x, y, w, h), their source): the detector's, calibrated; for pose
        models the whole image when the detector is "none" or finds nobody."""
        if self.detector_name == "none":
            return object_boxes([], image.shape, self.spec, {})
        t0 = time.perf_counter()
        dets: list[Box] = self.detector.detect(image)
        timings["detect"] = timings.get("detect", 0.0) + 1000 * (time.perf_counter() - t0)
        self.stats["detector_calls"] += 1
        return object_boxes(dets[: self.options.max_instances], image.shape, self.spec, self._calibration())

    def detect(self, image: np.ndarray, boxes: list[tuple] | None = None) -> LandmarkerResult:
        """Landmarks of every face (detector) or of the person (whole image, or ``boxes``).

        Args:
            image: (H, W, 3) uint8 RGB (gray, RGBA, uint16 and float in [0, 1] are converted).
            boxes: optional object boxes (x, y, w, h) in image pixels, skipping the detector.
        """
        t0 = time.perf_counter()
        img = to_rgb8(image, self.options.max_pixels)
        timings: dict = {}
        ran = boxes is None and self.detector_name != "none"
        bx, src = (list(boxes), "user") if boxes is not None else self._boxes(img, timings)
        out = self._found(img, bx, src, timings)
        timings["total"] = 1000 * (time.perf_counter() - t0)
        self.stats["frames"] += 1
        return LandmarkerResult(out, timings, None, ran)

    def detect_for_video(self, frame: np.ndarray, timestamp_ms: int) -> LandmarkerResult:
        """Landmarks for one video frame, tracking from the previous frame and filtered over time
        (``options.smoothing``). Timestamps (milliseconds) must increase; a frame whose track is
        lost triggers the detector."""
        if self.running_mode is RunningMode.IMAGE:
            raise ValueError("detect_for_video needs running_mode='video' or 'live'")
        if self._last_ts is not None and timestamp_ms <= self._last_ts:
            raise ValueError(f"timestamps must increase: got {timestamp_ms} after {self._last_ts}")
        t0 = time.perf_counter()
        img = to_rgb8(frame, self.options.max_pixels)
        self._last_ts = int(timestamp_ms)
        timings: dict = {}
        ran = False
        tracked: list[_Track] = []
        self._since_detect += 1
        due = self.options.redetect_every and self._since_detect >= self.options.redetect_every
        if self._track and self.spec.task == "face" and not due:
            for prev in self._track:
                lm = self.landmarks_in_box(img, prev.box, "track", timings)
                if lm.score >= self.options.track_threshold:
                    tracked.append(_Track(lm, prev.filter))
        if not tracked:
            ran = self.detector_name != "none"
            self._since_detect = 0
            boxes, src = self._boxes(img, timings)
            found = self._found(img, boxes, src, timings)
            if src == "detector":
                found = [lm for lm in found if lm.score >= self.options.track_threshold] or found
            tracked = self._match(found)
        self._track = tracked
        t1 = time.perf_counter()
        out = [self._filtered(tr, timestamp_ms) for tr in tracked]
        timings["smooth"] = 1000 * (time.perf_counter() - t1)
        timings["total"] = 1000 * (time.perf_counter() - t0)
        self.stats["frames"] += 1
        return LandmarkerResult(out, timings, int(timestamp_ms), ran)

    def _match(self, found: list[Landmarks]) -> list[_Track]:
        """New detections -> tracks: one that overlaps a previous track (IoU of their landmark
        boxes >= 0.5, best first) continues that track's filter; any other starts a fresh one."""
        free = list(self._track)
        out = []
        for lm in found:
            box = crop.box_of_points(lm.keypoints)
            best = max(free, key=lambda tr: box_iou(box, tr.box), default=None)
            if best is not None and box_iou(box, best.box) >= 0.5:
                free.remove(best)
                out.append(_Track(lm, best.filter))
            else:
                fresh = None if self.smoothing is Smoothing.OFF else OneEuroFilter(self.options.one_euro)
                out.append(_Track(lm, fresh))
        return out

    def _filtered(self, tr: _Track, timestamp_ms: int) -> Landmarks:
        """The track's landmarks after its temporal filter (unchanged when smoothing is off)."""
        if tr.filter is None:
            return tr.raw
        _, _, w, h = tr.box
        kp = tr.filter(tr.raw.keypoints, timestamp_ms, scale=max(w, h, 1.0))
        return Landmarks(kp, tr.raw.scores, tr.raw.box, tr.raw.source)

    def detect_async(self, frame: np.ndarray, timestamp_ms: int) -> bool:
        """Live mode: process ``frame`` on a worker thread and deliver the result to
        ``options.result_callback(result, frame, timestamp_ms)``. A frame that arrives while the
        previous one is still being processed is dropped (returns False), so a camera never queues
        up latency."""
        import threading
        from concurrent.futures import ThreadPoolExecutor

        if self.running_mode is not RunningMode.LIVE:
            raise ValueError("detect_async needs running_mode='live'")
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landmarker")
            self._busy = threading.Lock()
        self._raise_worker_error()
        if not self._busy.acquire(blocking=False):
            self.stats["dropped"] += 1
            return False

        def job():
            try:
                res = self.detect_for_video(frame, timestamp_ms)
            finally:
                # free before the callback: a caller woken by it can send the next frame, which then
                # waits for this callback on the same single worker thread, so results stay in order
                self._busy.release()
            self.options.result_callback(res, frame, timestamp_ms)

        self._pending.append(self._worker.submit(job))
        return True

    def _raise_worker_error(self) -> None:
        """Re-raise, in the caller's thread, what a finished live-mode job raised (a bad frame, a
        failing result_callback): a live stream never fails silently. Jobs still running are kept
        for the next look (at most two: one in its callback, the next one waiting)."""
        for f in list(self._pending):
            if not f.done():
                continue
            try:
                self._pending.remove(f)
            except ValueError:  # taken by another thread (a result callback that sends frames)
                continue
            if f.exception() is not None:
                raise f.exception()

    def reset(self) -> None:
        """Forget the track (for example between videos)."""
        self._track, self._last_ts, self._since_detect = [], None, 0


__all__ = ["Landmarker", "LandmarkerOptions", "LandmarkerResult", "Landmarks", "ModelLoadError", "BackendError",
           "BackendKind", "OneEuroParams", "RunningMode", "Smoothing",
           "load_model", "landmarks_in_box"]
