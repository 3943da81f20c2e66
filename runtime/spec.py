"""The model spec: everything a runtime needs to know about a model, as a JSON sidecar.

A spec travels beside every artifact (``model.tflite`` + ``model.json``) and is also embedded in
the flatbuffer's metadata (key ``bnn_landmarks_spec``). It is plain data: this module imports
nothing but the standard library, numpy and the codec, so the runtime can read it without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from runtime import codec
from runtime.codec import DecodeMethod
from runtime.shape import ShapeCorrection

SPEC_VERSION = 1
METADATA_KEY = "bnn_landmarks_spec"
_NUMBER_LIST = re.compile(r"\[\s*([-+0-9.eE,\s]+?)\s*\]")


class Task(StrEnum):
    """What a model localises: face landmarks or body joints."""

    FACE = "face"
    POSE = "pose"


@dataclass
class ModelSpec:
    """Describes a landmark model's input, output and keypoints.

    Coordinates: the model sees a square crop of ``input_size x input_size`` RGB pixels, whose
    pixel values ``p`` in [0, 255] are normalised as ``p * input_scale + input_offset``. It outputs
    (heatmap_size, heatmap_size, num_keypoints) channels-last heatmaps (see ``runtime.codec``).
    The crop is a square centred on the object box (face: the box of the landmarks, pose: the
    joints' box) with side ``crop_scale * max(box_w, box_h)``.
    """

    name: str
    task: Task  # or its value, "face" or "pose"
    keypoint_names: list[str]
    flip_pairs: list[tuple[int, int]]
    skeleton: list[tuple[int, int]]
    input_size: int
    heatmap_size: int
    input_scale: float = 1.0 / 127.5
    input_offset: float = -1.0
    color: str = "RGB"
    crop_scale: float = 1.5
    decode_method: DecodeMethod = DecodeMethod.QUARTER
    heatmap_sigma: float = 1.0
    binary: bool = True
    # Face only: maps a detector box (x, y, w, h) to the landmark box the crop convention needs:
    # centre += (dx, dy) * w, side = scale * max(w, h). Filled per detector by calibration.
    detector_calibration: dict = field(default_factory=dict)
    # A linear correction of the decoded shape fitted to these weights on training images
    # (:class:`runtime.shape.ShapeCorrection` as a dict, ``python -m models.shape``), or None.
    shape_correction: dict | None = None
    config: dict = field(default_factory=dict)
    weights: str = ""  # where the weights came from (path and sha256), or "random-init"
    tflite_sha256: str | None = None
    onnx_sha256: str | None = None
    tools: dict = field(default_factory=dict)
    spec_version: int = SPEC_VERSION

    def __post_init__(self):
        # the JSON form stores the values; typed here (ValueError, caught by the loaders, if unknown)
        self.task = Task(self.task)
        self.decode_method = DecodeMethod(self.decode_method)
        self._corrector()  # a malformed correction fails at load, not at the first frame

    def _corrector(self) -> ShapeCorrection | None:
        """The typed ``shape_correction``, parsed once per dict assigned to it."""
        c = self.__dict__.get("_parsed_correction")
        if c is None or c[0] is not self.shape_correction:
            sc = ShapeCorrection.from_dict(self.shape_correction) if self.shape_correction else None
            if sc is not None and sc.num_keypoints != self.num_keypoints:
                raise ValueError(f"shape correction is for {sc.num_keypoints} keypoints, the model has "
                                 f"{self.num_keypoints}; refit it with `python -m models.shape`")
            c = self.__dict__["_parsed_correction"] = (self.shape_correction, sc)
        return c[1]

    def correct_shape(self, xy: np.ndarray) -> np.ndarray:
        """(K, 2) decoded keypoints in crop-input pixels -> the same after the shape correction
        (unchanged without one)."""
        c = self._corrector()
        return xy if c is None else c.apply(xy, self.input_size)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def stride(self) -> float:
        """Input pixels per heatmap pixel."""
        return self.input_size / self.heatmap_size

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, K) or (N, H, W, K) float heatmaps -> ``(xy, scores)`` in heatmap pixels, with this
        model's decode method and Gaussian sigma (see :func:`runtime.codec.decode`)."""
        return codec.decode(heatmaps, self.decode_method, self.heatmap_sigma)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["shape_correction"] is None:  # specs without one keep the bytes they had before it existed
            del d["shape_correction"]
        d["flip_pairs"] = [list(p) for p in self.flip_pairs]
        d["skeleton"] = [list(p) for p in self.skeleton]
        d["num_keypoints"] = self.num_keypoints
        return d

    def to_json(self) -> str:
        """Indented JSON, each list of more than 8 numbers on one line (a shape correction's
        thousands of numbers would otherwise take a line each; specs without one keep their bytes)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        return _NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]"
                                if m.group(1).count(",") >= 8 else m.group(0), text)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   and f.name not in d]
        if missing:
            raise ValueError(f"model spec lacks required fields {missing}; regenerate it with `make convert`")
        if int(d.get("spec_version", SPEC_VERSION)) > SPEC_VERSION:
            raise ValueError(f"model spec version {d['spec_version']} is newer than this runtime "
                             f"understands ({SPEC_VERSION}); upgrade bnn-landmarks")
        kw = {k: v for k, v in d.items() if k in known}
        kw["flip_pairs"] = [tuple(p) for p in kw["flip_pairs"]]
        kw["skeleton"] = [tuple(p) for p in kw["skeleton"]]
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> ModelSpec:
        return cls.from_json(Path(path).read_text())

    def save(self, path: str | Path) -> None:
        """Write the sidecar atomically (temp file + rename)."""
        from runtime.io import atomic_write_bytes

        atomic_write_bytes(path, (self.to_json() + "\n").encode())


def sidecar_path(model_path: str | Path) -> Path:
    """``build/face.tflite`` -> ``build/face.json``; ``build/face-real.onnx`` -> ``build/face-real.onnx.json``."""
    p = Path(model_path)
    return p.with_name(p.name + ".json") if p.suffix.lower() == ".onnx" else p.with_suffix(".json")
