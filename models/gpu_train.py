"""Train a config on a GPU machine that has PyTorch but no TensorFlow, and bring the weights home.

Three steps, two machines::

    # here (TensorFlow side, needs ../shared/data): crops + labels into a compact pack
    python -m models.gpu_train pack --model pose-lsp-w256 --out build/gpu_pack
    # on the GPU machine (numpy, OpenCV, PyTorch; no TensorFlow, no larq)
    python -m models.gpu_train train --pack build/gpu_pack --model pose-lsp-w256 --out OUT --epochs 60
    # here again: the Keras weights and the run files `convert.card` reads
    python -m models.gpu_train export --run OUT/pose-lsp-w256 --out runs/pose-lsp-w256

The network is ``models.torch_mirror.TorchHourglass``, the layer-for-layer PyTorch mirror of the
Keras model, with ``models.train``'s recipe: weighted heatmap MSE on every stack, Adam with step
decay, binary weights clipped to [-1, 1], the authors' geometric augmentation drawn by
``models.augment.AugmentParams`` and composed by ``runtime.crop`` matrices, targets rendered by
``runtime.codec.encode``, the best epoch picked by validation PCK@0.2 / NME on the same split.

What differs from ``models.train``:

* the pack stores each training sample as a context crop (``CONTEXT`` times the crop side,
  ``context_px`` pixels, WebP q85) that the GPU warps with the augmenting affine (bilinear, black
  outside the photo), so training crops are resampled twice;
* colour jitter skips the hue shift;
* validation during training reads WebP (q95) crops; ``convert.card`` scores the exported model on
  the original images;
* the exported binary kernels are the effective ones, ``sign(W) * mean|W|`` per output channel:
  they binarize to the same signs and scales as the latent weights, so inference is identical, but
  a CPU run cannot resume from them (use ``--init`` with latent weights to continue on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from models import recipe
from models.weights import set_keras_weights
from runtime.io import atomic_write_bytes

CONTEXT = 1.75  # context crop side / training crop side (covers scale 1.25, +-30 deg, jitter)


def _save_npz(path: Path, arrays: dict) -> None:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _image_blob(images, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """WebP-encode (H, W, 3) uint8 RGB images into one uint8 blob plus (N + 1,) offsets."""
    import cv2

    blobs = []
    for img in images:
        ok, enc = cv2.imencode(".webp", img[:, :, ::-1], [cv2.IMWRITE_WEBP_QUALITY, quality])
        if not ok:
            raise RuntimeError("WebP encoding failed")
        blobs.append(enc.reshape(-1))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return np.concatenate(blobs), offsets


def _decode_blob(blob: np.ndarray, offsets: np.ndarray, workers: int = 8) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB from an image blob."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    def dec(i):
        img = cv2.imdecode(blob[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"pack image {i} does not decode; rebuild the pack")
        return img[:, :, ::-1]

    with ThreadPoolExecutor(workers) as ex:
        return np.stack(list(ex.map(dec, range(len(offsets) - 1))))


# -- pack (CPU, needs the data) --------------------------------------------------------------------
def pack(model: str, out: Path, data: str | None = None, context_px: int = 192, val_fraction: float = 0.1) -> dict:
    """Write ``out/pack.npz``: context crops of the training split and plain crops of the
    validation split (``models.data.split``), with labels in crop pixels. Returns a summary."""
    from models.augment import clean_labels, make_example
    from models.configs import get_config
    from models.data import load_dataset, split
    from runtime import crop

    cfg = get_config(model)
    spec = cfg.spec()
    train, val = split(load_dataset(cfg.task, data), val_fraction)
    ctx_imgs, ctx_kp, ctx_vis = [], [], []
    for s in train:
        kp, vis, box = clean_labels(s.keypoints, s.visible, s.box)
        center, side = crop.box_crop(box, cfg.crop_scale)
        m = crop.crop_matrix(center, side * CONTEXT, context_px)
        ctx_imgs.append(crop.warp(s.load_image(), m, context_px))
        ctx_kp.append(crop.apply(m, np.nan_to_num(kp)))
        ctx_vis.append(vis)
    v_imgs, v_kc, v_vis, v_ann = [], [], [], []
    for s in val:
        img, _, kc, vis = make_example(s.load_image(), s.keypoints, s.visible, input_size=cfg.input_size,
                                       heatmap_size=cfg.heatmap_size, crop_scale=cfg.crop_scale,
                                       flip_pairs=spec.flip_pairs, box=s.box)
        v_imgs.append(img)
        v_kc.append(kc)
        v_vis.append(vis)
        v_ann.append(np.asarray(s.visible, np.float32))
    tb, to = _image_blob(ctx_imgs, 85)
    vb, vo = _image_blob(v_imgs, 95)
    meta = {"model": cfg.name, "task": cfg.task, "context": CONTEXT, "context_px": context_px,
            "input_size": cfg.input_size, "train_samples": len(train), "val_samples": len(val),
            "val_fraction": val_fraction}
    _save_npz(out / "pack.npz", {
        "train_images": tb, "train_offsets": to, "train_kp": np.stack(ctx_kp), "train_vis": np.stack(ctx_vis),
        "val_images": vb, "val_offsets": vo, "val_kc": np.stack(v_kc), "val_vis": np.stack(v_vis),
        "val_annotated": np.stack(v_ann), "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    meta["bytes"] = (out / "pack.npz").stat().st_size
    return meta


# -- train (GPU machine: torch, numpy, OpenCV) -------------------------------------------------------
def grid_theta(matrix: np.ndarray, size: int, source_size: int) -> np.ndarray:
    """(2, 3) float64 ``torch.nn.functional.affine_grid`` matrix (``align_corners=False``) that
    samples the ``size`` x ``size`` crop of ``runtime.crop`` matrix ``matrix`` (source pixels ->
    crop pixels) from a ``source_size`` x ``source_size`` source: crop normalised -> source normalised."""
    from runtime import crop

    S, P = size, source_size
    inv = np.vstack([crop.invert(matrix), [0, 0, 1]])
    out_to_px = np.array([[S / 2, 0, (S - 1) / 2], [0, S / 2, (S - 1) / 2], [0, 0, 1]])
    px_to_src = np.array([[2 / P, 0, 1 / P - 1], [0, 2 / P, 1 / P - 1], [0, 0, 1]])
    return (px_to_src @ inv @ out_to_px)[:2]


class _Batches:
    """Augmentation parameters, affine grids and codec targets for one epoch, made on a thread."""

    def __init__(self, kp, vis, cfg, spec, batch, seed, epoch, context_px):
        from models.augment import AugmentParams

        self.kp, self.vis, self.cfg, self.spec, self.batch = kp, vis, cfg, spec, batch
        self.params = AugmentParams()
        self.rng = np.random.default_rng([seed, epoch])
        self.order = self.rng.permutation(len(kp))[: (len(kp) // batch) * batch]
        self.P = context_px

    def _one(self, i):
        from models.augment import crop_targets, draw_augmentation
        from runtime import crop

        cfg, S = self.cfg, self.cfg.input_size
        side = self.P / CONTEXT  # the plain crop, centred in the context crop
        c = (self.P - 1) / 2.0
        center, side, rot, flip = draw_augmentation((c, c), side, side / cfg.crop_scale, self.rng, self.params)
        m = crop.crop_matrix(center, side, S, rot, flip)
        _, vis, hm = crop_targets(m, self.kp[i], self.vis[i], flip, input_size=S, heatmap_size=cfg.heatmap_size,
                                  flip_pairs=self.spec.flip_pairs, sigma=cfg.heatmap_sigma)
        return grid_theta(m, S, self.P), hm, vis

    def __iter__(self):
        import queue

        q: queue.Queue = queue.Queue(maxsize=6)

        def work():
            for b in range(0, len(self.order), self.batch):
                idx = self.order[b:b + self.batch]
                parts = [self._one(i) for i in idx]
                q.put((idx, np.stack([t for t, _, _ in parts]).astype(np.float32),
                       np.stack([h for _, h, _ in parts]), np.stack([v for _, _, v in parts]).astype(np.float32),
                       self.rng.random((len(idx), 3)).astype(np.float32)))
            q.put(None)

        threading.Thread(target=work, daemon=True).start()
        while (item := q.get()) is not None:
            yield item


def _jitter(x, u):
    """Colour jitter of (B, 3, S, S) float [0, 1] images with uniforms ``u`` (B, 3): brightness
    +-0.2, contrast and saturation x0.7-1.3 (TF image ops' definitions)."""
    import torch

    b = (u[:, 0] * 0.4 - 0.2).view(-1, 1, 1, 1)
    c = (0.7 + 0.6 * u[:, 1]).view(-1, 1, 1, 1)
    s = (0.7 + 0.6 * u[:, 2]).view(-1, 1, 1, 1)
    x = x + b
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * c + mean
    gray = (0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = gray + (x - gray) * s
    return torch.clamp(x, 0.0, 1.0)


def train_inputs(src, theta, u, spec, *, jitter: bool = True):
    """Network inputs of one training batch, made on the device.

    Args:
        src: (B, 3, P, P) uint8 context crops (RGB).
        theta: (B, 2, 3) float32 ``affine_grid`` matrices (crop -> context, normalised).
        u: (B, 3) float32 uniforms for :func:`_jitter`.
        spec: the model's :class:`runtime.spec.ModelSpec` (input size and normalisation).

    Returns:
        (B, 3, S, S) float32 ``pixel * input_scale + input_offset``, the runtime's normalisation.
    """
    import torch.nn.functional as F

    S = spec.input_size
    grid = F.affine_grid(theta, (len(src), 3, S, S), align_corners=False)
    x = F.grid_sample(src.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if jitter:
        x = _jitter(x / 255.0, u) * 255.0
    return x * spec.input_scale + spec.input_offset


def effective_weights(weights: dict[str, np.ndarray], cfg) -> dict[str, np.ndarray]:
    """Binary kernels replaced by ``sign(W) * mean|W|`` (per output channel; ``sign(W)`` alone for
    unscaled configs) stored as int8 signs + float32 scales under ``<key>:sign`` / ``<key>:scale``;
    with ``binary_weights=False`` the kernels are real-valued and travel as they are."""
    out = {}
    for k, v in weights.items():
        layer = k.split("/")[0]
        if layer.endswith("_bconv") and cfg.binary_weights:
            sign = np.where(v >= 0, 1, -1).astype(np.int8)
            scale = np.abs(v).mean(axis=(0, 1, 2)).astype(np.float32) if cfg.scaled_weights \
                else np.ones(v.shape[-1], np.float32)
            out[f"{k}:sign"], out[f"{k}:scale"] = sign, scale
        else:
            out[k] = v
    return out


def expand_weights(packed) -> dict[str, np.ndarray]:
    """Inverse of :func:`effective_weights`: ``{"<layer>/<i>": float32 array}``."""
    out = {}
    for k in packed.keys():
        if k.endswith(":sign"):
            base = k[: -len(":sign")]
            out[base] = packed[k].astype(np.float32) * packed[f"{base}:scale"].astype(np.float32)
        elif not k.endswith(":scale"):
            out[k] = np.asarray(packed[k], np.float32)
    return out


def train(args) -> int:
    import torch

    from models.configs import get_config
    from models.torch_mirror import TorchHourglass, keras_weights, load_keras_weights
    from runtime import codec

    cfg = get_config(args.model)
    spec = cfg.spec()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    t_start = time.time()
    pk = np.load(args.pack)
    meta = json.loads(bytes(pk["meta"]).decode())
    P = meta["context_px"]
    train_img = torch.from_numpy(_decode_blob(pk["train_images"], pk["train_offsets"])).to(dev).permute(0, 3, 1, 2)
    val_img = torch.from_numpy(_decode_blob(pk["val_images"], pk["val_offsets"])).to(dev).permute(0, 3, 1, 2)
    kp, vis = pk["train_kp"], pk["train_vis"]
    n_train = args.limit or len(kp)
    kp, vis = kp[:n_train], vis[:n_train]
    out = Path(args.out) / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    net = TorchHourglass(cfg)
    if args.init:
        init = np.load(args.init)
        load_keras_weights(net, expand_weights(init) if any(k.endswith(":sign") for k in init.keys())
                           else {k: init[k] for k in init.keys()})
    net = net.to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, eps=1e-7, fused=dev.type == "cuda")
    print(f"{cfg.name}: {n_train} train / {len(val_img)} val, context {P}px, device {dev}, "
          f"setup {time.time() - t_start:.1f}s", flush=True)

    def evaluate():
        net.eval()
        hms = []
        with torch.no_grad():
            for b in range(0, len(val_img), 128):
                x = val_img[b:b + 128].float() * spec.input_scale + spec.input_offset
                x = x.contiguous(memory_format=torch.channels_last)
                hms.append(net(x)[-1].permute(0, 2, 3, 1).float().cpu().numpy())
        net.train()
        xy, _ = spec.decode(np.concatenate(hms))
        pred = codec.heatmap_to_input(xy, cfg.input_size / cfg.heatmap_size)
        return recipe.validation_metrics(cfg.task, pred, pk["val_kc"], pk["val_vis"], pk["val_annotated"])

    def one_epoch(epoch, lr, max_steps=0):
        for g in opt.param_groups:
            g["lr"] = lr
        losses = []
        for step, (idx, theta, hm, jv, u) in enumerate(_Batches(kp, vis, cfg, spec, args.batch, args.seed, epoch, P)):
            if max_steps and step >= max_steps:
                break
            x = train_inputs(train_img[torch.from_numpy(idx).to(dev)], torch.from_numpy(theta).to(dev),
                             torch.from_numpy(u).to(dev), spec)
            x = x.contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(hm).to(dev).permute(0, 3, 1, 2)
            jw = torch.from_numpy(jv).to(dev)[:, :, None, None]
            loss = sum(recipe.weighted_mse(o, y, jw, args.fg_weight, clip=torch.clamp, mean=torch.mean)
                       for o in net(x))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            net.clip_weights_()
            losses.append(loss.detach())
        return float(torch.stack(losses).mean())

    if args.profile_steps:  # where a step's time goes, then stop (for a first look at a new machine)
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        one_epoch(0, args.lr, max_steps=3)  # warm-up (cuDNN autotuning)
        with profile(activities=acts) as prof:
            t0 = time.time()
            one_epoch(0, args.lr, max_steps=args.profile_steps)
            if dev.type == "cuda":
                torch.cuda.synchronize()
        ms = (time.time() - t0) / args.profile_steps * 1000
        print(f"{args.profile_steps} steps of batch {args.batch}: {ms:.1f} ms/step")
        key = "cuda_time_total" if dev.type == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=20))
        return 0

    hist, best = [], None
    epochs, epoch = args.epochs, 0
    while not epochs or epoch < epochs:
        lr = recipe.lr_at(epoch, args.lr, recipe.lr_steps(args.lr_steps, epochs), args.lr_decay)
        t0 = time.time()
        loss = one_epoch(epoch, lr)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        secs = time.time() - t0
        if not epochs and epoch == 1:  # --time-budget: the second epoch's time (the first one
            left = args.time_budget - (time.time() - t_start)  # includes warm-up) fixes the count
            epochs = max(2, 2 + int(left / (secs * 1.05)))
            print(f"{cfg.name}: epoch 2 took {secs:.1f}s -> {epochs} epochs in the budget", flush=True)
        val = evaluate()
        rec = recipe.history_record(epoch + 1, loss, lr, secs, val)
        hist.append(rec)
        print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in rec.items()}), flush=True)
        if best is None or val["score"] > best["score"]:
            best = {"epoch": epoch + 1, **val}
            if not args.no_weights:
                _save_npz(out / "weights.npz", effective_weights(keras_weights(net), cfg))
        epoch += 1
    lr_steps = ",".join(str(e) for e in recipe.lr_steps(args.lr_steps, epochs))
    run = {"args": {"model": cfg.name, "optimizer": "adam", "lr": args.lr, "epochs": epochs, "batch": args.batch,
                    "lr_steps": lr_steps, "lr_decay": args.lr_decay, "fg_weight": args.fg_weight,
                    "seed": args.seed, "init": args.init, "trainer": "models.gpu_train"},
           "base_lr": args.lr, "train_samples": n_train, "val_samples": len(val_img),
           "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
           "wall_seconds": time.time() - t_start}
    atomic_write_bytes(out / "run_files.json", json.dumps({"run": run, "history": hist, "best": best}).encode())
    print(f"{cfg.name}: best epoch {best['epoch']} score {best['score']:.4f}; {time.time() - t_start:.0f}s",
          flush=True)
    return 0


# -- export (TensorFlow side) ---------------------------------------------------------------------
def export(run: Path, out: Path) -> Path:
    """``run`` (a ``train`` output folder) -> ``out/best.h5`` (Keras) plus ``run.json``,
    ``history.jsonl`` and ``best.json`` for ``convert.card``. Returns the .h5 path."""
    from models.configs import get_config
    from models.hourglass import build_model

    files = json.loads((run / "run_files.json").read_text())
    cfg = get_config(files["run"]["args"]["model"])
    weights = expand_weights(np.load(run / "weights.npz"))
    import tensorflow as tf

    tf.keras.backend.clear_session()
    model = build_model(config=cfg)
    set_keras_weights(model, weights)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".best.", suffix=".h5")
    os.close(fd)
    model.save_weights(tmp)
    os.replace(tmp, out / "best.h5")
    atomic_write_bytes(out / "run.json", json.dumps(files["run"], indent=1).encode())
    atomic_write_bytes(out / "history.jsonl", "".join(json.dumps(h) + "\n" for h in files["history"]).encode())
    atomic_write_bytes(out / "best.json", json.dumps(files["best"], indent=1).encode())
    return out / "best.h5"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.gpu_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="crops + labels of a config's dataset into PACK/pack.npz")
    a.add_argument("--model", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--data", default=None)
    a.add_argument("--context-px", type=int, default=192)
    t = sub.add_parser("train", help="train on the pack with PyTorch (GPU if there is one)")
    t.add_argument("--pack", required=True, help="PACK/pack.npz")
    t.add_argument("--model", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=0, help="epochs (0: as many as --time-budget allows)")
    t.add_argument("--time-budget", type=float, default=0, help="seconds, with --epochs 0")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--lr-steps", default="", help="epochs where the lr drops (default: 60%% and 85%% of the epochs)")
    t.add_argument("--lr-decay", type=float, default=recipe.LR_DECAY)
    t.add_argument("--fg-weight", type=float, default=recipe.FG_WEIGHT)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init", default=None, help="weights .npz to start from")
    t.add_argument("--limit", type=int, default=0, help="use only the first N training samples (smoke runs)")
    t.add_argument("--no-weights", action="store_true", help="keep only the metrics (for a float twin)")
    t.add_argument("--profile-steps", type=int, default=0, help="profile this many steps, print the table, stop")
    e = sub.add_parser("export", help="a train output folder -> Keras best.h5 and run files")
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        if args.cmd == "pack":
            print(json.dumps(pack(args.model, Path(args.out), args.data, args.context_px)))
        elif args.cmd == "train":
            if not args.epochs and not args.time_budget and not args.profile_steps:
                p.error("give --epochs N or --time-budget SECONDS")
            return train(args)
        else:
            print(export(Path(args.run), Path(args.out)))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
