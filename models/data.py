"""Dataset readers: one :class:`Sample` type for every format.

Keypoints are (K, 2) float32 ``(x, y)`` in 0-based image pixels (pixel centres at integers),
``visible`` is (K,) uint8 (1 = annotated). Images are loaded lazily from ``path``.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARED_DATA = Path(os.environ.get("BNN_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")


@dataclass
class Sample:
    path: str
    keypoints: np.ndarray  # (K, 2) float32, 0-based pixels
    visible: np.ndarray  # (K,) uint8
    box: tuple[float, float, float, float] | None = None  # (x, y, w, h), optional
    name: str = ""

    def load_image(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return read_image_rgb(self.path)


def read_image_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; raises ``ValueError`` if unreadable."""
    import cv2

    data = np.fromfile(str(path), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ValueError(f"cannot decode image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_pts(path: str | Path) -> np.ndarray:
    """Read an iBUG ``.pts`` file (1-based Matlab coordinates) as (K, 2) float32 0-based pixels."""
    lines = Path(path).read_text().splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == "{") + 1
        end = next(i for i, ln in enumerate(lines) if ln.strip() == "}")
        pts = np.array([[float(v) for v in ln.split()[:2]] for ln in lines[start:end] if ln.strip()], np.float32)
    except (StopIteration, ValueError, IndexError) as e:
        raise ValueError(f"{path}: not an iBUG .pts file ({e})") from None
    n = next((int(ln.split(":")[1]) for ln in lines if ln.startswith("n_points")), len(pts))
    if len(pts) != n:
        raise ValueError(f"{path}: header says {n} points, found {len(pts)}")
    return pts - 1.0


def write_pts(path: str | Path, keypoints: np.ndarray) -> None:
    """Write (K, 2) 0-based points as an iBUG ``.pts`` file (1-based)."""
    kp = np.asarray(keypoints, np.float64) + 1.0
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in kp)
    Path(path).write_text(f"version: 1\nn_points: {len(kp)}\n{{\n{body}\n}}\n")


def load_pts_folder(root: str | Path) -> list[Sample]:
    """Every image with a same-named ``.pts`` beside it, recursively (300-W, menpo, iBUG layout)."""
    out = []
    for pts in sorted(Path(root).rglob("*.pts")):
        img = next((pts.with_suffix(s) for s in IMAGE_SUFFIXES if pts.with_suffix(s).exists()), None)
        if img is None:
            continue
        kp = read_pts(pts)
        out.append(Sample(str(img), kp, np.ones(len(kp), np.uint8), name=str(pts.relative_to(root).with_suffix(""))))
    return out


def load_lsp_csv(path: str | Path) -> list[Sample]:
    """LSPET as shipped in ``shared/data/lspet/joints.csv``: ``image,width,height,scale`` then
    ``<joint>_x,<joint>_y,<joint>_vis`` for 14 joints; images in ``images/`` beside it."""
    path = Path(path)
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            vals = [v for k, v in row.items() if k.endswith(("_x", "_y", "_vis"))]
            arr = np.array(vals, np.float32).reshape(-1, 3)
            out.append(Sample(str(path.parent / "images" / row["image"]), arr[:, :2].copy(),
                              (arr[:, 2] > 0).astype(np.uint8), name=row["image"]))
    return out


def load_lsp_mat(path: str | Path, images: str | Path | None = None) -> list[Sample]:
    """LSP / LSPET ``joints.mat``: LSP is (3, 14, N) with visibility = 1 - flag; LSPET is
    (14, 3, N) with visibility = flag. Images ``im%04d.jpg`` / ``im%05d.jpg`` in ``images``."""
    from scipy.io import loadmat

    path = Path(path)
    j = loadmat(path)["joints"]
    images = Path(images) if images else path.parent / "images"
    if j.shape[0] == 3:  # original LSP
        xy, vis, digits = np.transpose(j[:2], (2, 1, 0)), 1 - np.transpose(j[2], (1, 0)), 4
    elif j.shape[1] == 3:  # LSPET
        xy, vis, digits = np.transpose(j[:, :2], (2, 0, 1)), np.transpose(j[:, 2], (1, 0)), 5
    else:
        raise ValueError(f"{path}: joints of shape {j.shape} are neither LSP (3,14,N) nor LSPET (14,3,N)")
    return [Sample(str(images / f"im{i + 1:0{digits}d}.jpg"), xy[i].astype(np.float32) - 1.0,
                   (vis[i] > 0).astype(np.uint8), name=f"im{i + 1:0{digits}d}") for i in range(len(xy))]


def load_mpii_json(path: str | Path, images: str | Path) -> list[Sample]:
    """MPII in the common json layout (a list of ``{"image", "joints" (16x2), "joints_vis"
    (16,), "center", "scale"}``, as used by most PyTorch pose code; 0-based)."""
    import json

    out = []
    for i, a in enumerate(json.loads(Path(path).read_text())):
        kp = np.asarray(a["joints"], np.float32).reshape(-1, 2)
        vis = np.asarray(a.get("joints_vis", np.ones(len(kp))), np.float32).reshape(-1)
        c, s = a.get("center"), a.get("scale")
        box = None
        if c is not None and s is not None:  # MPII scale: person height / 200 px
            side = 200.0 * float(s)
            box = (c[0] - side / 2, c[1] - side / 2, side, side)
        out.append(Sample(str(Path(images) / a["image"]), kp, (vis > 0).astype(np.uint8), box,
                          name=f"{a['image']}#{i}"))
    return out


def load_mpii_mat(path: str | Path, images: str | Path) -> list[Sample]:
    """MPII's official ``mpii_human_pose_v1_u12_1.mat`` (annolist / annorect / annopoints),
    every annotated person with joint ids 0-15."""
    from scipy.io import loadmat

    rel = loadmat(path, struct_as_record=False, squeeze_me=True)["RELEASE"]
    out = []
    for ann in np.atleast_1d(rel.annolist):
        rects = np.atleast_1d(getattr(ann, "annorect", []))
        for r in rects:
            pts = getattr(getattr(r, "annopoints", None), "point", None)
            if pts is None:
                continue
            kp = np.full((16, 2), np.nan, np.float32)
            vis = np.zeros(16, np.uint8)
            for p in np.atleast_1d(pts):
                kp[int(p.id)] = (float(p.x) - 1, float(p.y) - 1)
                vis[int(p.id)] = 1
            name = ann.image.name
            out.append(Sample(str(Path(images) / name), kp, vis, name=name))
    return out


def load_coco_keypoints(path: str | Path, images: str | Path) -> list[Sample]:
    """COCO keypoints json: one sample per annotated person (17 keypoints, v>0 visible)."""
    import json

    d = json.loads(Path(path).read_text())
    files = {im["id"]: im["file_name"] for im in d["images"]}
    out = []
    for a in d["annotations"]:
        if not a.get("num_keypoints", 1):
            continue
        k = np.asarray(a["keypoints"], np.float32).reshape(-1, 3)
        out.append(Sample(str(Path(images) / files[a["image_id"]]), k[:, :2].copy(), (k[:, 2] > 0).astype(np.uint8),
                          tuple(a["bbox"]) if "bbox" in a else None, name=f"{a['image_id']}#{a['id']}"))
    return out


def load_wflw(path: str | Path, images: str | Path) -> list[Sample]:
    """WFLW annotation list: per line 196 coordinates (98 points), 4 box values, 6 attributes,
    image path."""
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines()):
        f = line.split()
        if not f:
            continue
        if len(f) < 207:
            raise ValueError(f"{path}:{i + 1}: expected 207 fields, got {len(f)}")
        kp = np.asarray(f[:196], np.float32).reshape(98, 2)
        x0, y0, x1, y1 = (float(v) for v in f[196:200])
        box = (x0, y0, x1 - x0, y1 - y0)
        out.append(Sample(str(Path(images) / f[206]), kp, np.ones(98, np.uint8), box, name=f[206]))
    return out


def split(
    samples: list[Sample], val_fraction: float = 0.1, seed: str = "bnn-landmarks"
) -> tuple[list[Sample], list[Sample]]:
    """Deterministic train/validation split by a hash of each sample's name (stable as data grows)."""
    def h(s):
        return int(hashlib.sha1(f"{seed}:{s.name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    train = [s for s in samples if h(s) >= val_fraction]
    val = [s for s in samples if h(s) < val_fraction]
    return train, val


def data_hash(samples: list[Sample]) -> str:
    """sha256 of a data set's labels: every sample's name, keypoints and visibility, in name order
    (what a run was trained on, recorded beside the shipped weights; images are not read)."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: s.name):
        h.update(s.name.encode() + b"\0")
        h.update(np.ascontiguousarray(s.keypoints, np.float32).tobytes())
        h.update(np.ascontiguousarray(s.visible, np.uint8).tobytes())
    return h.hexdigest()


def load_dataset(task: str, data: str | Path | None = None) -> list[Sample]:
    """Samples for a task from ``data`` (a folder of images + .pts, a joints.csv/.mat) or, by
    default, from ``../shared/data``. Raises ``FileNotFoundError`` naming what is missing."""
    if data is None:
        data = SHARED_DATA / ("face300w/train" if task == "face" else "lspet/joints.csv")
    data = Path(data)
    if not data.exists():
        raise FileNotFoundError(f"dataset {data} not found; pass DATA=<folder or file>")
    if data.is_dir():
        if task == "pose" and (data / "joints.csv").exists():
            return load_lsp_csv(data / "joints.csv")
        samples = load_pts_folder(data)
    elif data.suffix == ".csv":
        samples = load_lsp_csv(data)
    elif data.suffix == ".mat":
        samples = load_lsp_mat(data)
    else:
        raise ValueError(f"do not know how to read {data}; give a folder of image+.pts, joints.csv or joints.mat")
    if not samples:
        raise FileNotFoundError(f"no labelled images found under {data}")
    return samples
