"""Keypoint sets: names, left/right flip pairs and drawing skeletons (0-based indices)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Metric(StrEnum):
    """How a keypoint set is scored (``models.metrics``)."""

    NME_IO = "nme_io"  # faces: NME normalised by the outer-eye-corner distance
    PCK_TORSO = "pck@0.2"  # LSP: PCK at 0.2 of the torso diagonal
    PCKH = "pckh@0.5"  # MPII: PCK at 0.5 of the head segment


@dataclass(frozen=True)
class KeypointSet:
    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    metric: Metric = Metric.NME_IO

    @property
    def num(self) -> int:
        return len(self.names)


def _chain(idx):
    return tuple((a, b) for a, b in zip(idx[:-1], idx[1:]))


def _face68() -> KeypointSet:
    # iBUG 300-W order. "right"/"left" are the subject's own sides (image left = subject right).
    names = (
        [f"jaw_{i}" for i in range(17)]
        + [f"right_brow_{i}" for i in range(5)]
        + [f"left_brow_{i}" for i in range(5)]
        + [f"nose_bridge_{i}" for i in range(4)]
        + [f"nose_base_{i}" for i in range(5)]
        + [f"right_eye_{i}" for i in range(6)]
        + [f"left_eye_{i}" for i in range(6)]
        + [f"outer_lip_{i}" for i in range(12)]
        + [f"inner_lip_{i}" for i in range(8)]
    )
    pairs = [(i, 16 - i) for i in range(8)]
    pairs += [(17 + i, 26 - i) for i in range(5)]
    pairs += [(31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    pairs += [(60, 64), (61, 63), (65, 67)]
    skel = (
        _chain(range(0, 17)) + _chain(range(17, 22)) + _chain(range(22, 27))
        + _chain(range(27, 31)) + _chain(range(31, 36))
        + _chain(list(range(36, 42)) + [36]) + _chain(list(range(42, 48)) + [42])
        + _chain(list(range(48, 60)) + [48]) + _chain(list(range(60, 68)) + [60])
    )
    return KeypointSet("face68", tuple(names), tuple(pairs), skel)


LSP14_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
    "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top",
)
MPII16_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)

KEYPOINT_SETS = {
    "face68": _face68(),
    "lsp14": KeypointSet(
        "lsp14", LSP14_NAMES,
        ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
        ((0, 1), (1, 2), (2, 8), (3, 9), (3, 4), (4, 5), (6, 7), (7, 8), (8, 12), (9, 12),
         (9, 10), (10, 11), (12, 13), (2, 3)),
        Metric.PCK_TORSO,
    ),
    "mpii16": KeypointSet(
        "mpii16", MPII16_NAMES,
        ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
        ((0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11),
         (11, 12), (12, 7), (13, 7), (13, 14), (14, 15)),
        Metric.PCKH,
    ),
}


def metric_of(spec) -> Metric:
    """The metric of a model spec's keypoint set (its ``config["keypoints"]``; specs without one,
    such as converted FAN models: faces by NME, 14 joints by LSP's PCK, others by PCKh)."""
    kps = KEYPOINT_SETS.get((spec.config or {}).get("keypoints", ""))
    if kps is not None:
        return kps.metric
    if spec.task == "face":
        return Metric.NME_IO
    return Metric.PCK_TORSO if spec.num_keypoints == len(LSP14_NAMES) else Metric.PCKH
