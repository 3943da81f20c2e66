"""Landmark metrics (numpy): NME, AUC / failure rate, PCK."""

from __future__ import annotations

import numpy as np

# 0-based indices in the 68-point iBUG order.
OUTER_EYE_CORNERS = (36, 45)
RIGHT_EYE, LEFT_EYE = tuple(range(36, 42)), tuple(range(42, 48))
# LSP 14: torso diameter = left shoulder to right hip; the other diagonal (right shoulder to left
# hip) where an end of the first is not annotated (LSPET stores meaningless coordinates there).
LSP_TORSO = (9, 2)
LSP_TORSO_ALT = (8, 3)
# MPII 16: head segment top of head (9) to upper neck (8).
MPII_HEAD = (9, 8)


def _dist(a, b):
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def face_normalisers(gt: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 68, 2) ground truth -> (N,) normalising distances: inter-ocular (outer eye corners),
    inter-pupil (eye centres) and box (sqrt of the landmark box's w*h)."""
    gt = np.asarray(gt, np.float64)
    lo, hi = gt.min(axis=1), gt.max(axis=1)
    return {
        "inter_ocular": _dist(gt[:, OUTER_EYE_CORNERS[0]], gt[:, OUTER_EYE_CORNERS[1]]),
        "inter_pupil": _dist(gt[:, RIGHT_EYE].mean(1), gt[:, LEFT_EYE].mean(1)),
        "box": np.sqrt(np.prod(hi - lo, axis=1)),
    }


def nme(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Per-image normalised mean error: (N, K, 2), (N, K, 2), (N,) -> (N,)."""
    err = _dist(pred, gt).mean(axis=1)
    return err / np.maximum(np.asarray(norm, np.float64), 1e-9)


def auc_and_failure(errors: np.ndarray, threshold: float = 0.08, steps: int = 1000) -> tuple[float, float]:
    """Area under the cumulative error distribution up to ``threshold`` (normalised to [0, 1])
    and the failure rate (fraction of errors above it)."""
    e = np.sort(np.asarray(errors, np.float64))
    xs = np.linspace(0, threshold, steps + 1)
    ced = np.searchsorted(e, xs, side="right") / max(len(e), 1)
    auc = float(np.trapz(ced, xs) / threshold)
    return auc, float(np.mean(e > threshold))


def pck(pred, gt, visible, norm, alpha: float = 0.2) -> tuple[np.ndarray, float]:
    """Percentage of correct keypoints: a joint is correct if within ``alpha * norm`` of the
    ground truth; only visible joints count, and no joint of an image whose ``norm`` is NaN (no
    normaliser could be measured). Returns (per-joint (K,), mean over all joints)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    norm = np.asarray(norm, np.float64)
    vis = (np.asarray(visible) > 0) & np.isfinite(norm)[:, None]
    ok = (_dist(pred, gt) <= alpha * np.nan_to_num(norm, nan=0.0)[:, None]) & vis
    per = ok.sum(0) / np.maximum(vis.sum(0), 1)
    return per, float(ok.sum() / max(vis.sum(), 1))


def torso_size(gt: np.ndarray, pair=LSP_TORSO, visible: np.ndarray | None = None,
               fallback: tuple[int, int] | None = None) -> np.ndarray:
    """(N, K, 2) -> (N,) distance between the joints ``pair`` (torso diameter: left shoulder to
    right hip for LSP). With ``visible`` (N, K), an image where an end of ``pair`` is not annotated
    uses ``fallback`` instead, and gets NaN where that has an unannotated end too (``pck`` then
    leaves the image out): never a distance to a placeholder coordinate."""
    gt = np.asarray(gt, np.float64)
    d = _dist(gt[:, pair[0]], gt[:, pair[1]])
    if visible is None:
        return d
    v = np.asarray(visible) > 0
    ok = v[:, pair[0]] & v[:, pair[1]]
    if fallback is not None:
        ok2 = ~ok & v[:, fallback[0]] & v[:, fallback[1]]
        d = np.where(ok2, _dist(gt[:, fallback[0]], gt[:, fallback[1]]), d)
        ok = ok | ok2
    return np.where(ok, d, np.nan)
