"""Face and person detectors as plug-ins: ``detect(image) -> list[Box]``.

Face models use MediaPipe's BlazeFace by default (about 1 ms a frame; OpenCV's Haar cascade, which
needs nothing beyond opencv-python-headless, stays as an option and as the fallback), pose models
MediaPipe's BlazePose person detector. Others
register themselves with :func:`register` and load only when their package is installed.
A detector's box is mapped to the landmark box the model's crop convention expects by a
per-detector calibration (``spec.detector_calibration[name]``, fitted on training images by
``python -m models.calibrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from runtime.spec import Task


@dataclass
class Box:
    """An axis-aligned box in image pixels: top-left ``(x, y)``, size ``(w, h)``, and a score."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (float(self.x), float(self.y), float(self.w), float(self.h))


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """(H, W, 3) uint8 RGB -> boxes, largest first."""


# Detector box -> landmark box: centre += (dx * w, dy * h), side = scale * max(w, h).
DEFAULT_CALIBRATION = {"haar": {"dx": 0.0, "dy": 0.1, "scale": 1.0}}


def calibrated_box(box: Box, calibration: dict) -> tuple[float, float, float, float]:
    """Map a detector box to the (x, y, w, h) landmark-box the crop convention expects."""
    cx = box.x + box.w / 2 + calibration.get("dx", 0.0) * box.w
    cy = box.y + box.h / 2 + calibration.get("dy", 0.0) * box.h
    side = calibration.get("scale", 1.0) * max(box.w, box.h)
    return (cx - side / 2, cy - side / 2, side, side)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (bundled with opencv-python-headless 4.x).

    Runs on a copy scaled so that the longer side is at most ``max_side`` pixels.
    """

    name = "haar"
    task = "face"

    def __init__(self, max_side: int = 640, min_size_frac: float = 0.06, scale_factor: float = 1.1,
                 min_neighbors: int = 5):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._c = cv2.CascadeClassifier(path)
        if self._c.empty():
            raise RuntimeError(f"cannot load OpenCV's Haar cascade {path}; install opencv-python-headless 4.x")
        self.max_side, self.min_size_frac = max_side, min_size_frac
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def detect(self, image: np.ndarray) -> list[Box]:
        import cv2

        h, w = image.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if s < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        m = max(12, int(self.min_size_frac * min(gray.shape[:2])))
        rects, _, weights = self._c.detectMultiScale3(gray, self.scale_factor, self.min_neighbors,
                                                       minSize=(m, m), outputRejectLevels=True)
        boxes = [Box(x / s, y / s, bw / s, bh / s, float(wt)) for (x, y, bw, bh), wt in
                 zip(np.reshape(rects, (-1, 4)), np.reshape(weights, (-1,)))]
        return sorted(boxes, key=lambda b: -b.w * b.h)


def ssd_anchor_centres(layout) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1] of MediaPipe's fixed-size SSD anchors: ``layout`` lists
    (cells per side, anchors per cell) per feature map, row-major cells."""
    out = []
    for fm, per_cell in layout:
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        c = np.stack([(xs + 0.5) / fm, (ys + 0.5) / fm], -1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


class _MediaPipeSSD:
    """A MediaPipe SSD detector (builtin ops only) on tflite-runtime or the C API: the image is
    letterboxed to a square, scaled to ``SIZE`` and normalised to [-1, 1]; every anchor regresses a
    box and keypoints (``SIZE``-pixel units, relative to the anchor centre) and a logit; boxes over
    the score threshold are reduced by non-maximum suppression."""

    MODEL: Path
    SIZE: int
    LAYOUT: tuple

    def __init__(self, score_threshold: float = 0.5, nms_iou: float = 0.3, threads: int = 1):
        from runtime.backends import BackendError, builtin_runner

        if not self.MODEL.exists():
            raise RuntimeError(f"{self.MODEL} is missing; run `make blazeface` to extract it from the mediapipe wheel")
        try:
            self._run = builtin_runner(self.MODEL.read_bytes(), threads)
        except BackendError as e:
            raise RuntimeError(f"the {self.name} detector cannot run: {e}"
                               + (" (or --detector none)" if self.task == "pose" else "")) from None
        self.score_threshold, self.nms_iou = score_threshold, nms_iou
        self._anchors = ssd_anchor_centres(self.LAYOUT)

    def raw(self, image: np.ndarray):
        """-> (boxes (M, 4) x, y, w, h, keypoints (M, P, 2), scores (M,)), image pixels, after NMS."""
        import cv2

        h, w = image.shape[:2]
        side = max(h, w)
        pad = np.zeros((side, side, 3), np.uint8)
        oy, ox = (side - h) // 2, (side - w) // 2
        pad[oy:oy + h, ox:ox + w] = image if image.ndim == 3 else image[..., None]
        x = cv2.resize(pad, (self.SIZE, self.SIZE), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        reg, cls = sorted(self._run(x[None]), key=lambda o: -o.shape[-1])  # (1, A, 4 + 2P), (1, A, 1)
        reg = reg[0]
        logit = np.clip(cls[0, :, 0], -80.0, 80.0)
        score = 1.0 / (1.0 + np.exp(-logit))
        keep = np.nonzero(score >= self.score_threshold)[0]
        if keep.size == 0:
            return np.zeros((0, 4)), np.zeros((0, (reg.shape[1] - 4) // 2, 2)), np.zeros(0)
        a, r = self._anchors[keep], reg[keep] / self.SIZE
        c, wh = a + r[:, :2], r[:, 2:4]
        boxes = np.concatenate([c - wh / 2, wh], 1) * side - [ox, oy, 0, 0]
        kps = (a[:, None] + r[:, 4:].reshape(len(keep), -1, 2)) * side - [ox, oy]
        idx = np.reshape(cv2.dnn.NMSBoxes(boxes.tolist(), score[keep].tolist(), self.score_threshold,
                                          self.nms_iou), (-1,))
        return boxes[idx], kps[idx], score[keep][idx]


class BlazeFaceDetector(_MediaPipeSSD):
    """MediaPipe's BlazeFace short-range detector (``runtime/assets/face_detection_short_range.tflite``,
    Apache-2.0, from the mediapipe 0.10.21 wheel; builtin ops only) on tflite-runtime or the C API:
    128x128 input, 896 anchors (16x16 cells x 2, 8x8 cells x 6). Good for faces that fill more
    than about a tenth of the frame (selfie / webcam distance)."""

    name = "blazeface"
    task = "face"
    MODEL = Path(__file__).resolve().parent / "assets" / "face_detection_short_range.tflite"
    SIZE = 128
    LAYOUT = ((16, 2), (8, 6))

    @classmethod
    def anchors(cls) -> np.ndarray:
        """(896, 2) anchor centres in [0, 1]."""
        return ssd_anchor_centres(cls.LAYOUT)

    def detect(self, image: np.ndarray) -> list[Box]:
        boxes, _, scores = self.raw(image)
        return sorted((Box(*b, float(s)) for b, s in zip(boxes, scores)), key=lambda b: -b.w * b.h)


class BlazePoseDetector(_MediaPipeSSD):
    """MediaPipe's BlazePose person detector (``runtime/assets/pose_detection.tflite``, Apache-2.0,
    from the mediapipe 0.10.21 wheel): 224x224 input, 2254 anchors (28x28 x 2, 14x14 x 2, 7x7 x 6).
    It finds a person through the face (which must be visible) and regresses the hip centre and a
    point on the circle around the whole body; the person box is that circle's square
    (centre = hip centre, side = 2 x radius), as MediaPipe's pose pipeline does."""

    name = "blazepose"
    task = "pose"
    MODEL = Path(__file__).resolve().parent / "assets" / "pose_detection.tflite"
    SIZE = 224
    LAYOUT = ((28, 2), (14, 2), (7, 6))

    def detect(self, image: np.ndarray) -> list[Box]:
        _, kps, scores = self.raw(image)
        out = []
        for k, s in zip(kps, scores):
            r = float(np.hypot(*(k[1] - k[0])))
            if r > 0:
                out.append(Box(k[0, 0] - r, k[0, 1] - r, 2 * r, 2 * r, float(s)))
        return sorted(out, key=lambda b: -b.w * b.h)


_REGISTRY = {"haar": HaarDetector, "blazeface": BlazeFaceDetector, "blazepose": BlazePoseDetector}
# what each detector finds: a face for face models, a person for pose models
TASKS = {"haar": Task.FACE, "blazeface": Task.FACE, "blazepose": Task.POSE}
DEFAULT_FOR_TASK = {Task.FACE: "blazeface", Task.POSE: "blazepose"}


def register(name: str, factory, *, task: Task | str) -> None:
    """Add a detector factory (a callable returning a :class:`Detector`) that finds ``task``'s
    objects: ``Task.FACE`` (for face models) or ``Task.POSE`` (people, for pose models)."""
    if task not in DEFAULT_FOR_TASK:
        raise ValueError(f"a detector's task must be one of {[t.value for t in Task]}, got {task!r}")
    _REGISTRY[name] = factory
    TASKS[name] = Task(task)


def available(task: str | None = None) -> list[str]:
    """Registered detector names (those for ``task`` only, if given: "face" or "pose")."""
    return sorted(n for n in _REGISTRY if task is None or TASKS[n] == task)


def resolve(name: str | None, task: str, model: str = "the model") -> str:
    """The detector a ``task`` ("face" or "pose") model runs with: ``name``, or the task's default
    when ``name`` is None. "none" (the whole image) is for pose models only. Raises ValueError,
    one line naming the choices, for an unknown detector or one that finds the other task's
    objects (a face detector for a pose model)."""
    name = name or DEFAULT_FOR_TASK.get(task, "blazeface")
    ok = available(task) + (["none"] if task != "face" else [])
    hint = ", ".join(n for n, t in TASKS.items() if t == task) + (" or none" if task != "face" else "")
    if name == "none" and task == "face":
        raise ValueError("a face model needs a face detector (haar, blazeface) or boxes; --detector none is "
                         "for pose models (whole image)")
    if name != "none" and name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; available: {', '.join(ok)}")
    finds = TASKS.get(name)
    if finds is not None and finds != task:
        raise ValueError(f"detector {name!r} finds {'faces' if finds == 'face' else 'people'}, but {model} is a "
                         f"{task} model; use --detector {hint}")
    return name


def calibration_for(name: str, spec_calibration: dict) -> dict:
    """Detector box -> landmark box calibration for detector ``name``: the model spec's
    (``spec.detector_calibration``, fitted by ``python -m models.calibrate``), else the built-in."""
    return spec_calibration.get(name) or DEFAULT_CALIBRATION.get(name, {})


def create(name: str = "blazeface", **kwargs) -> Detector:
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](**kwargs)
