"""The training recipe, written once: learning-rate schedule, heatmap loss, validation metric and
the run files (history, best epoch). Used by the Keras trainer (``models.train``), the PyTorch
trainer (``models.gpu_train``) and evaluation (``models.evaluate``), so that a number means the
same thing wherever it was computed.

Validation metric (one key set, written to ``history.jsonl`` and ``best.json``):

* faces: ``nme_io`` (mean NME normalised by the outer-eye-corner distance), ``auc08``, ``fr08``
  (area under the CED curve and failure rate at 0.08);
* pose: ``pck02`` (PCK@0.2 of the torso: left shoulder to right hip, the other diagonal where an
  end is not annotated) and ``pck02_per_joint``;
* both: ``score`` (higher is better: ``-nme_io`` or ``pck02``) and ``metric_version``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Bumped when a task's validation metric changes meaning; a resumed run whose best.json was scored
# under another version re-selects its best weights. Pose 2: the torso normaliser never uses a
# not-annotated joint's placeholder coordinates (version 1 did, which inflated PCK on LSPET).
METRIC_VERSION = {"face": 1, "pose": 2}
FG_WEIGHT = 20.0  # weighted MSE: pixel weight 1 + FG_WEIGHT * target
LR_DECAY = 0.2


def lr_steps(spec: str, epochs: int) -> list[int]:
    """``--lr-steps`` (comma-separated epochs) -> the epochs at which the rate drops; empty: at 60 %
    and 85 % of ``epochs`` (none when ``epochs`` is 0, i.e. not known yet)."""
    steps = [int(s) for s in spec.split(",") if s.strip()]
    if steps or not epochs:
        return steps
    return [round(epochs * 0.6), round(epochs * 0.85)]


def lr_at(epoch: int, base: float, steps: list[int], decay: float = LR_DECAY) -> float:
    """Step decay: ``base`` times ``decay`` for each step epoch already reached (0-based ``epoch``)."""
    return base * decay ** sum(epoch >= s for s in steps)


def weighted_mse(out, target, joint_weights, fg_weight: float = FG_WEIGHT, *, clip, mean):
    """The heatmap loss of one stack, for any array library.

    ``mean(w * (out - target) ** 2)`` with ``w = (1 + fg_weight * clip(target, 0, 1)) * joint_weights``:
    the few foreground pixels of a Gaussian target weigh more than the background, and a keypoint
    the label does not annotate (joint weight 0) gets no gradient instead of being taught "nothing
    here". ``joint_weights`` must already broadcast against the heatmaps' layout ((B, 1, 1, K)
    channels-last in Keras, (B, K, 1, 1) in PyTorch); ``clip`` and ``mean`` are the library's
    (``tf.clip_by_value``, ``tf.reduce_mean``; ``torch.clamp``, ``torch.mean``).
    """
    return mean((1.0 + fg_weight * clip(target, 0.0, 1.0)) * joint_weights * (out - target) ** 2)


def validation_metrics(task: str, pred: np.ndarray, gt: np.ndarray, visible: np.ndarray,
                       annotated: np.ndarray | None = None) -> dict:
    """The training-time validation metric (the module docstring's key set).

    Args:
        task: "face" or "pose".
        pred, gt: (N, K, 2) keypoints in any common frame (crop pixels in training).
        visible: (N, K) which ground-truth keypoints count (annotated and inside the crop).
        annotated: (N, K) which keypoints the label annotates at all (pose torso; default ``visible``).
    """
    from models import metrics

    if task == "face":
        e = metrics.nme(pred, gt, metrics.face_normalisers(gt)["inter_ocular"])
        auc, fr = metrics.auc_and_failure(e, 0.08)
        return {"nme_io": float(e.mean()), "auc08": float(auc), "fr08": float(fr), "score": -float(e.mean()),
                "metric_version": METRIC_VERSION["face"]}
    torso = metrics.torso_size(gt, metrics.LSP_TORSO, visible if annotated is None else annotated,
                               metrics.LSP_TORSO_ALT)
    per, mean = metrics.pck(pred, gt, visible, torso)
    return {"pck02": float(mean), "pck02_per_joint": [float(p) for p in per], "score": float(mean),
            "metric_version": METRIC_VERSION["pose"]}


def history_record(epoch: int, loss: float | None, lr: float, seconds: float, val: dict) -> dict:
    """One ``history.jsonl`` line (per-joint lists stay in best.json only)."""
    return {"epoch": epoch, "loss": loss, "lr": lr, "seconds": seconds,
            **{k: v for k, v in val.items() if k != "pck02_per_joint"}}


def trim_history(path: Path, epochs_done: int) -> None:
    """On resume: keep the complete history lines of the epochs the checkpoint contains (a kill can
    leave a torn last line, or a line for an epoch whose checkpoint never landed)."""
    if not path.exists():
        return
    from runtime.io import atomic_write_bytes

    keep = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int) and rec["epoch"] <= epochs_done:
            keep.append(line)
    atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


def best_is_stale(best_file: Path, task: str) -> int | None:
    """The metric version ``best.json`` was scored with, when it is not the current one (the run
    must re-select its best weights); None when it is current or absent."""
    if not best_file.exists():
        return None
    was = json.loads(best_file.read_text()).get("metric_version", 1)
    return was if was != METRIC_VERSION[task] else None
