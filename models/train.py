"""Train a named config: ``python -m models.train --model face [KEY=value ...]``.

Heatmap MSE on every stack; RMSprop 2.5e-4 with step decay (the authors' recipe) or Adam; binary
weights clipped to [-1, 1] (larq's ``weight_clip`` constraint, applied by the optimizer).
Checkpoints every epoch and every ``--save-every`` steps into ``--out``; re-running the same
command resumes exactly (same step, optimizer state, schedule and data order). The best
weights by validation NME (faces) or PCK@0.2 (pose) are kept as ``best.h5``.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="face", help="named config (see models/configs.py)")
    p.add_argument("--data", default=None,
                   help="folder of images+.pts, joints.csv or joints.mat (default: ../shared/data)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--out", default=None, help="run folder (default: runs/<model>)")
    p.add_argument("--optimizer", choices=("rmsprop", "adam"), default="rmsprop")
    p.add_argument("--lr", type=float, default=None, help="default: 2.5e-4 (rmsprop), 1e-3 (adam)")
    p.add_argument("--lr-steps", default="", help="comma-separated epochs at which the lr drops")
    p.add_argument("--lr-decay", type=float, default=0.2, help="lr factor at each --lr-steps epoch")
    p.add_argument("--fg-weight", type=float, default=20.0,
                   help="weighted MSE: pixel weight 1 + fg_weight * target (0 = plain MSE)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=200, help="also checkpoint every N steps")
    p.add_argument("--steps-per-epoch", type=int, default=0, help="cap steps per epoch (0 = full epoch)")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps in this run (0 = no cap)")
    p.add_argument("--teacher", default=None,
                   help="distillation teacher: a real-valued config name (weights from --teacher-weights or "
                        "models/pretrained/<name>.h5) or an .onnx model with the same heatmap layout")
    p.add_argument("--teacher-weights", default=None)
    p.add_argument("--distill-alpha", type=float, default=0.5, help="weight of the teacher term (0..1)")
    p.add_argument("--deterministic", action="store_true", help="TF op determinism (bit-identical resumes)")
    p.add_argument("--init", default=None, help="initialise from these weights (.h5) before training")
    p.add_argument("overrides", nargs="*", help="KEY=value config overrides, e.g. width=64")
    return p.parse_args(argv)


def lr_at(epoch: int, base: float, steps: list[int], decay: float) -> float:
    return base * decay ** sum(epoch >= s for s in steps)


# Bumped when a task's validation metric changes meaning; a resumed run whose best.json was scored
# under another version re-selects its best weights. Pose 2: the torso normaliser never uses a
# not-annotated joint's placeholder coordinates (version 1 did, which inflated PCK on LSPET).
METRIC_VERSION = {"face": 1, "pose": 2}


def evaluate(model, cache, cfg, batch: int) -> dict:
    """Validation metric on plain centred crops (in crop pixels; NME is scale invariant)."""
    import numpy as np

    from models import metrics
    from models.augment import make_example
    from models.pipeline import make_dataset
    from runtime import codec

    ds = make_dataset(cache, cfg, batch=batch, train=False)
    preds = []
    for x, *_ in ds:
        out = model(x, training=False)
        preds.append(out[-1].numpy() if isinstance(out, (list, tuple)) else out.numpy())
    hm = np.concatenate(preds)
    xy, _ = codec.decode(hm, cfg.decode_method)
    pred = codec.heatmap_to_input(xy, cfg.input_size / cfg.heatmap_size)
    spec = cfg.spec()
    gts, viss = [], []
    for i, s in enumerate(cache.samples):
        _, _, kc, vis = make_example(cache.image(i), s.keypoints, s.visible, input_size=cfg.input_size,
                                     heatmap_size=cfg.heatmap_size, crop_scale=cfg.crop_scale,
                                     flip_pairs=spec.flip_pairs, box=s.box)
        gts.append(kc)
        viss.append(vis)
    gt, vis = np.stack(gts), np.stack(viss)
    if cfg.task == "face":
        e = metrics.nme(pred, gt, metrics.face_normalisers(gt)["inter_ocular"])
        auc, fr = metrics.auc_and_failure(e, 0.08)
        return {"nme_io": float(e.mean()), "auc08": auc, "fr08": fr, "score": -float(e.mean()),
                "metric_version": METRIC_VERSION["face"]}
    annotated = np.stack([s.visible for s in cache.samples])
    torso = metrics.torso_size(gt, metrics.LSP_TORSO, annotated, metrics.LSP_TORSO_ALT)
    per, mean = metrics.pck(pred, gt, vis, torso)
    return {"pck02": mean, "pck02_per_joint": per.tolist(), "score": mean,
            "metric_version": METRIC_VERSION["pose"]}


def weights_digest(model) -> str:
    """sha256 of every model variable's bytes (workers in sync print the same)."""
    import hashlib

    h = hashlib.sha256()
    for w in model.weights:
        h.update(w.numpy().tobytes())
    return h.hexdigest()


def make_strategy():
    """MultiWorkerMirroredStrategy under TF_CONFIG (several machines), MirroredStrategy with several
    GPUs, else the default strategy."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    r = getattr(strategy, "cluster_resolver", None)
    if r is None or not r.task_type:
        return True
    if r.task_type == "chief":
        return True
    return r.task_type == "worker" and r.task_id == 0 and "chief" not in r.cluster_spec().as_dict()


def load_teacher(args, cfg):
    """A callable (B, S, S, 3) -> (B, H, W, K) float32 heatmaps, or None without ``--teacher``."""
    if not args.teacher:
        return None
    import numpy as np
    import tensorflow as tf

    want = (cfg.heatmap_size, cfg.heatmap_size, cfg.num_keypoints)
    if args.teacher.endswith(".onnx"):
        import onnxruntime as ort

        if not Path(args.teacher).is_file():
            raise FileNotFoundError(f"teacher {args.teacher} not found")
        sess = ort.InferenceSession(args.teacher, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        probe = sess.run(None, {name: np.zeros((1, cfg.input_size, cfg.input_size, 3), np.float32)})[0]
        if tuple(probe.shape[1:]) != want:
            raise ValueError(f"teacher outputs {probe.shape[1:]}, the student {want}: same heatmap layout needed")

        def run(x):
            return np.concatenate([sess.run(None, {name: xi[None]})[0] for xi in x]).astype(np.float32)

        def onnx_teacher(x):
            y = tf.numpy_function(run, [x], tf.float32)
            y.set_shape((None, *want))
            return y

        return onnx_teacher
    from models.configs import get_config, parse_overrides
    from models.hourglass import build_model

    tcfg = get_config(args.teacher, **parse_overrides(args.overrides))
    if (tcfg.input_size, tcfg.heatmap_size, tcfg.num_keypoints) != (cfg.input_size, cfg.heatmap_size,
                                                                     cfg.num_keypoints):
        raise ValueError(f"teacher {tcfg.name} has another input/heatmap layout than {cfg.name}")
    weights = Path(args.teacher_weights or Path(__file__).resolve().parent / "pretrained" / f"{tcfg.name}.h5")
    if not weights.is_file():
        raise FileNotFoundError(f"teacher weights {weights} not found; pass --teacher-weights")
    t = build_model(config=tcfg, name="teacher")
    t.load_weights(str(weights))
    t.trainable = False
    return lambda x: t(x, training=False)


def checkpoint_bytes(model, keep: int = 2) -> int:
    """Disk a run needs: ``keep`` + 1 checkpoints (weights + two optimizer slots) and best.h5."""
    n = sum(math.prod(int(d) for d in v.shape) for v in model.variables)
    return int(n * 4 * (3 * (keep + 1) + 1) + 4 * 2**20)


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


def main(argv=None) -> int:
    args = parse_args(argv)
    from models.configs import get_config, parse_overrides

    try:
        cfg = get_config(args.model, **parse_overrides(args.overrides))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import numpy as np
    import tensorflow as tf
    from tqdm import tqdm

    from models.data import load_dataset, split
    from models.hourglass import build_model
    from models.pipeline import ImageCache, make_dataset
    from runtime.io import atomic_write_bytes

    out = Path(args.out or f"runs/{cfg.name}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        print(f"error: cannot write to run folder {out} ({e}); pass --out to a writable folder", file=sys.stderr)
        return 2
    try:
        samples = load_dataset(cfg.task, args.data)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    train_s, val_s = split(samples, args.val_fraction)
    if not val_s or len(train_s) < args.batch:
        print(f"error: {len(samples)} samples give {len(train_s)} for training and {len(val_s)} for validation; "
              "give more data, a smaller --batch or another --val-fraction", file=sys.stderr)
        return 2
    base_lr = args.lr or (2.5e-4 if args.optimizer == "rmsprop" else 1e-3)
    lr_steps = [int(s) for s in args.lr_steps.split(",") if s.strip()]
    resolved = {"config": cfg.to_dict(), "args": {k: v for k, v in vars(args).items()},
                "base_lr": base_lr, "train_samples": len(train_s), "val_samples": len(val_s)}
    print(json.dumps(resolved, indent=1))
    atomic_write_bytes(out / "run.json", json.dumps(resolved, indent=1).encode())

    tf.keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy()
    chief = is_chief(strategy)
    ckpt_dir = out / "ckpt" if chief else Path(tempfile.mkdtemp(prefix="bnn-worker-ckpt-"))
    with strategy.scope():
        model = build_model(config=cfg, intermediate_outputs=True)
        if args.init:
            model.load_weights(args.init)
        opt = (tf.keras.optimizers.RMSprop(base_lr) if args.optimizer == "rmsprop"
               else tf.keras.optimizers.Adam(base_lr))
        epoch_v = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        step_in_epoch_v = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        best_v = tf.Variable(-np.inf, dtype=tf.float64, trainable=False, name="best_score")
        ckpt = tf.train.Checkpoint(model=model, optimizer=opt, epoch=epoch_v, step_in_epoch=step_in_epoch_v,
                                   best=best_v)
        manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=2)
        latest = tf.train.latest_checkpoint(str(out / "ckpt"))
        if latest:
            ckpt.restore(latest).assert_existing_objects_matched()
            print(f"resumed from {latest}: epoch {int(epoch_v.numpy()) + 1}, step {int(step_in_epoch_v.numpy())} of it")
        else:
            opt.build(model.trainable_variables)
    if chief:
        need = checkpoint_bytes(model)
        free = shutil.disk_usage(out).free
        if free < need:
            print(f"error: only {free / 2**20:.1f} MB free under {out}; training needs about {need / 2**20:.1f} MB "
                  "for its checkpoints; free some space or pass --out on another disk", file=sys.stderr)
            return 2
        if latest:
            trim_history(out / "history.jsonl", int(epoch_v.numpy()))
            best_file = out / "best.json"
            if best_file.exists():
                was = json.loads(best_file.read_text()).get("metric_version", 1)
                if was != METRIC_VERSION[cfg.task]:
                    print(f"note: best.json was scored with validation metric v{was}, now v{METRIC_VERSION[cfg.task]}; "
                          "the best weights are re-selected from the next validation on")
                    best_v.assign(-np.inf)
    try:
        teacher = load_teacher(args, cfg)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    train_cache, val_cache = ImageCache(train_s), ImageCache(val_s)
    steps_full = len(train_s) // args.batch
    steps_per_epoch = min(steps_full, args.steps_per_epoch) if args.steps_per_epoch else steps_full
    writer = tf.summary.create_file_writer(str(out / "tb") if chief else str(ckpt_dir / "tb"))
    alpha = args.distill_alpha if teacher is not None else 0.0

    def weighted_mse(o, t, jw):
        # jw (B, K): 0 for a keypoint the label does not annotate (or outside the crop), whose
        # channel then gets no gradient instead of being taught "nothing here"
        w = (1.0 + args.fg_weight * tf.clip_by_value(t, 0.0, 1.0)) * jw[:, None, None, :]
        return tf.reduce_mean(w * tf.square(o - t))

    def step_fn(x, y, jw):
        with tf.GradientTape() as tape:
            outs = model(x, training=True)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            loss = tf.add_n([weighted_mse(o, y, jw) for o in outs])
            if teacher is not None:
                t = tf.stop_gradient(teacher(x))
                loss = (1.0 - alpha) * loss + alpha * tf.add_n([weighted_mse(o, t, jw) for o in outs])
            scaled = loss / strategy.num_replicas_in_sync
        grads = tape.gradient(scaled, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return scaled

    @tf.function
    def train_step(x, y, jw):
        per_replica = strategy.run(step_fn, args=(x, y, jw))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    saves = [0]
    # fault injection for the tests: ENOSPC at the n-th save, or SIGKILL while the n-th is written
    fault_at = int(os.environ.get("BNN_FAULT_SAVE_ENOSPC", "0"))
    kill_at = int(os.environ.get("BNN_FAULT_KILL_IN_SAVE", "0"))

    def save(number) -> bool:
        """Checkpoint; False (after a one-line error) if the disk refused it. TF writes into a
        temporary folder and renames it, so the previous checkpoint stays the latest."""
        saves[0] += 1
        try:
            if fault_at and saves[0] == fault_at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if kill_at and saves[0] == kill_at:
                import signal
                import threading

                threading.Timer(0.002, os.kill, (os.getpid(), signal.SIGKILL)).start()
            manager.save(checkpoint_number=number)
            return True
        except (OSError, tf.errors.OpError) as e:
            msg = getattr(e, "message", None) or str(e)
            print(f"error: cannot write checkpoint {number} in {ckpt_dir} ({' '.join(msg.split())[:200]}); "
                  f"the last good checkpoint is kept: free space and rerun the same command to resume",
                  file=sys.stderr)
            return False

    history_path = out / "history.jsonl"
    steps_this_run = 0
    while int(epoch_v.numpy()) < args.epochs:
        epoch = int(epoch_v.numpy())
        lr = lr_at(epoch, base_lr, lr_steps, args.lr_decay)
        opt.learning_rate.assign(lr)
        start = int(step_in_epoch_v.numpy())
        ds = make_dataset(train_cache, cfg, batch=args.batch, train=True, seed=args.seed, epoch=epoch,
                          skip_batches=start).take(steps_per_epoch - start)
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = strategy.experimental_distribute_dataset(ds.with_options(opts))
        losses, t0 = [], time.time()
        bar = tqdm(ds, total=steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=5,
                   disable=not chief)
        for x, y, jw in bar:
            loss = float(train_step(x, y, jw))
            losses.append(loss)
            step_in_epoch_v.assign_add(1)
            steps_this_run += 1
            bar.set_postfix(loss=f"{loss:.5f}", lr=f"{lr:.2e}")
            done = int(step_in_epoch_v.numpy())
            if args.save_every and done % args.save_every == 0 and done < steps_per_epoch:
                if not save(epoch * steps_full + int(step_in_epoch_v.numpy())):
                    return 1
            if args.max_steps and steps_this_run >= args.max_steps:
                if not save(epoch * steps_full + int(step_in_epoch_v.numpy())):
                    return 1
                print(f"stopping after --max-steps {args.max_steps}; rerun to resume")
                return 0
        bar.close()
        val = evaluate(model, val_cache, cfg, args.batch)
        epoch_v.assign_add(1)
        step_in_epoch_v.assign(0)
        improved = val["score"] > float(best_v.numpy())
        if improved:
            best_v.assign(val["score"])
        if improved:
            # every worker saves (reading synchronised variables is a collective op); only the
            # chief's copy lands in the run folder
            dst = out if chief else ckpt_dir
            tmp = dst / ".best.tmp.h5"  # legacy Keras h5 (by layer name)
            model.save_weights(str(tmp))
            os.replace(tmp, dst / "best.h5")
            atomic_write_bytes(dst / "best.json", json.dumps({"epoch": epoch + 1, **val}, indent=1).encode())
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None, "lr": lr,
               "seconds": time.time() - t0, **{k: v for k, v in val.items() if k != "pck02_per_joint"}}
        if chief:  # before the checkpoint: a kill in between redoes the epoch, and resume trims the line
            with open(history_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if not save((epoch + 1) * steps_full):
            return 1
        if not chief:
            continue
        with writer.as_default():
            for k, v in rec.items():
                if isinstance(v, float):
                    tf.summary.scalar(k, v, step=epoch + 1)
        print(json.dumps(rec) + ("  *best*" if improved else ""))
    print(f"weights sha256: {weights_digest(model)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
