"""Train a named config: ``python -m models.train --model face [KEY=value ...]``.

The recipe (``models.recipe``): weighted heatmap MSE on every stack; RMSprop 2.5e-4 with step
decay (the authors' recipe) or Adam; binary weights clipped to [-1, 1] (larq's ``weight_clip``
constraint, applied by the optimizer).
Checkpoints every epoch and every ``--save-every`` steps into ``--out``; re-running the same
command resumes exactly (same step, optimizer state, schedule and data order). The best
weights by validation NME (faces) or PCK@0.2 (pose) are kept as ``best.h5``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models import recipe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Called with the ordinal of each checkpoint save (1, 2, ...) just before it is written. A test
#: hook: the fault-injection tests (tests/models/train_with_faults.py) raise or kill from here.
SAVE_HOOKS: list[Callable[[int], None]] = []


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
    p.add_argument("--lr-steps", default="",
                   help="comma-separated epochs at which the lr drops (default: at 60 %% and 85 %% of --epochs)")
    p.add_argument("--lr-decay", type=float, default=recipe.LR_DECAY, help="lr factor at each --lr-steps epoch")
    p.add_argument("--fg-weight", type=float, default=recipe.FG_WEIGHT,
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
    p.add_argument("--init", default=None,
                   help="initialise from a .h5 of this config or of its real-valued twin (two-stage real-to-binary)")
    p.add_argument("overrides", nargs="*", help="KEY=value config overrides, e.g. width=64")
    return p.parse_args(argv)


def evaluate(model, cache, cfg, batch: int) -> dict:
    """The recipe's validation metric on plain centred crops (crop pixels; NME is scale invariant)."""
    import numpy as np

    from models.augment import make_example
    from models.pipeline import make_dataset
    from runtime import codec

    ds = make_dataset(cache, cfg, batch=batch, train=False)
    preds = []
    for x, *_ in ds:
        out = model(x, training=False)
        preds.append(out[-1].numpy() if isinstance(out, (list, tuple)) else out.numpy())
    spec = cfg.spec()
    xy, _ = spec.decode(np.concatenate(preds))
    pred = codec.heatmap_to_input(xy, spec.stride)
    gts, viss = [], []
    for i, s in enumerate(cache.samples):
        _, _, kc, vis = make_example(cache.image(i), s.keypoints, s.visible, input_size=cfg.input_size,
                                     heatmap_size=cfg.heatmap_size, crop_scale=cfg.crop_scale,
                                     flip_pairs=spec.flip_pairs, box=s.box)
        gts.append(kc)
        viss.append(vis)
    annotated = np.stack([s.visible for s in cache.samples])
    return recipe.validation_metrics(cfg.task, pred, np.stack(gts), np.stack(viss), annotated)


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


@dataclass
class _Run:
    """A training run's state, shared by the steps of :func:`main`."""

    args: argparse.Namespace
    cfg: object  # models.configs.Config
    out: Path
    train_s: list
    val_s: list
    base_lr: float
    lr_steps: list
    chief: bool = True
    ckpt_dir: Path | None = None
    strategy: object = None
    model: object = None
    opt: object = None
    epoch_v: object = None
    step_v: object = None
    best_v: object = None
    manager: object = None
    latest: str | None = None
    saves: int = 0

    @property
    def steps_full(self) -> int:
        return len(self.train_s) // self.args.batch


def _prepare(args) -> _Run:
    """Config, run folder, data split and ``run.json``. Raises ValueError / OSError with the one-line fix."""
    from models.configs import get_config, parse_overrides
    from models.data import data_hash, load_dataset, split
    from runtime.io import atomic_write_bytes

    cfg = get_config(args.model, **parse_overrides(args.overrides))
    out = Path(args.out or f"runs/{cfg.name}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        raise OSError(f"cannot write to run folder {out} ({e}); pass --out to a writable folder") from None
    try:
        samples = load_dataset(cfg.task, args.data)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from None
    train_s, val_s = split(samples, args.val_fraction)
    if not val_s or len(train_s) < args.batch:
        raise ValueError(f"{len(samples)} samples give {len(train_s)} for training and {len(val_s)} for validation; "
                         "give more data, a smaller --batch or another --val-fraction")
    base_lr = args.lr or (2.5e-4 if args.optimizer == "rmsprop" else 1e-3)
    steps = recipe.lr_steps(args.lr_steps, args.epochs)
    resolved = {"config": cfg.to_dict(), "args": {k: v for k, v in vars(args).items()},
                "base_lr": base_lr, "lr_steps": steps, "train_samples": len(train_s), "val_samples": len(val_s),
                "data_sha256": data_hash(samples)}
    print(json.dumps(resolved, indent=1))
    atomic_write_bytes(out / "run.json", json.dumps(resolved, indent=1).encode())
    return _Run(args, cfg, out, train_s, val_s, base_lr, steps)


def _build(run: _Run) -> None:
    """Strategy, model (``--init``), optimizer and checkpoint, restored from the latest one if any."""
    import numpy as np
    import tensorflow as tf

    from models.hourglass import build_model, init_weights

    args = run.args
    tf.keras.utils.set_random_seed(args.seed)
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    run.strategy = make_strategy()
    run.chief = is_chief(run.strategy)
    run.ckpt_dir = run.out / "ckpt" if run.chief else Path(tempfile.mkdtemp(prefix="bnn-worker-ckpt-"))
    with run.strategy.scope():
        run.model = build_model(config=run.cfg, intermediate_outputs=True)
        latest = tf.train.latest_checkpoint(str(run.out / "ckpt"))
        if args.init and not latest:  # a resumed run restores its weights: --init only starts one
            init_weights(run.model, args.init)
        run.opt = (tf.keras.optimizers.RMSprop(run.base_lr) if args.optimizer == "rmsprop"
                   else tf.keras.optimizers.Adam(run.base_lr))
        run.epoch_v = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        run.step_v = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        run.best_v = tf.Variable(-np.inf, dtype=tf.float64, trainable=False, name="best_score")
        ckpt = tf.train.Checkpoint(model=run.model, optimizer=run.opt, epoch=run.epoch_v,
                                   step_in_epoch=run.step_v, best=run.best_v)
        run.manager = tf.train.CheckpointManager(ckpt, run.ckpt_dir, max_to_keep=2)
        run.latest = latest
        if run.latest:
            ckpt.restore(run.latest).assert_existing_objects_matched()
            print(f"resumed from {run.latest}: epoch {int(run.epoch_v.numpy()) + 1}, "
                  f"step {int(run.step_v.numpy())} of it")
        else:
            run.opt.build(run.model.trainable_variables)


def _check_disk_and_resume(run: _Run) -> None:
    """Before the first step: enough disk for the checkpoints (else OSError), and on resume the
    history trimmed to the checkpoint and a best score from an older metric version dropped."""
    import numpy as np

    if not run.chief:
        return
    need = checkpoint_bytes(run.model)
    free = shutil.disk_usage(run.out).free
    if free < need:
        raise OSError(f"only {free / 2**20:.1f} MB free under {run.out}; training needs about {need / 2**20:.1f} MB "
                      "for its checkpoints; free some space or pass --out on another disk")
    if run.latest:
        recipe.trim_history(run.out / "history.jsonl", int(run.epoch_v.numpy()))
        was = recipe.best_is_stale(run.out / "best.json", run.cfg.task)
        if was is not None:
            print(f"note: best.json was scored with validation metric v{was}, now "
                  f"v{recipe.METRIC_VERSION[run.cfg.task]}; the best weights are re-selected from the next "
                  "validation on")
            run.best_v.assign(-np.inf)


def _train_step(run: _Run, teacher):
    """The compiled step: (x, y, joint weights) -> loss; the recipe's loss on every stack, plus the
    teacher's heatmaps as a second target when distilling."""
    import tensorflow as tf

    args, model, opt, strategy = run.args, run.model, run.opt, run.strategy
    alpha = args.distill_alpha if teacher is not None else 0.0

    def loss_of(o, t, jw):
        # jw (B, K): 0 for a keypoint the label does not annotate (or outside the crop)
        return recipe.weighted_mse(o, t, jw[:, None, None, :], args.fg_weight, clip=tf.clip_by_value,
                                   mean=tf.reduce_mean)

    def step_fn(x, y, jw):
        with tf.GradientTape() as tape:
            outs = model(x, training=True)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            loss = tf.add_n([loss_of(o, y, jw) for o in outs])
            if teacher is not None:
                t = tf.stop_gradient(teacher(x))
                loss = (1.0 - alpha) * loss + alpha * tf.add_n([loss_of(o, t, jw) for o in outs])
            scaled = loss / strategy.num_replicas_in_sync
        grads = tape.gradient(scaled, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return scaled

    @tf.function
    def train_step(x, y, jw):
        per_replica = strategy.run(step_fn, args=(x, y, jw))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step


def _save(run: _Run, number: int) -> bool:
    """Checkpoint; False (after a one-line error) if the disk refused it. TF writes into a
    temporary folder and renames it, so the previous checkpoint stays the latest."""
    import tensorflow as tf

    run.saves += 1
    try:
        for hook in SAVE_HOOKS:
            hook(run.saves)
        run.manager.save(checkpoint_number=number)
        return True
    except (OSError, tf.errors.OpError) as e:
        msg = getattr(e, "message", None) or str(e)
        print(f"error: cannot write checkpoint {number} in {run.ckpt_dir} ({' '.join(msg.split())[:200]}); "
              f"the last good checkpoint is kept: free space and rerun the same command to resume", file=sys.stderr)
        return False


def _end_of_epoch(run: _Run, epoch: int, losses: list, lr: float, seconds: float, val_cache, writer) -> bool:
    """Validation, best weights, history line, checkpoint, TensorBoard. False if the save failed."""
    import numpy as np
    import tensorflow as tf

    from runtime.io import atomic_write_bytes

    val = evaluate(run.model, val_cache, run.cfg, run.args.batch)
    run.epoch_v.assign_add(1)
    run.step_v.assign(0)
    improved = val["score"] > float(run.best_v.numpy())
    if improved:
        run.best_v.assign(val["score"])
        # every worker saves (reading synchronised variables is a collective op); only the
        # chief's copy lands in the run folder
        dst = run.out if run.chief else run.ckpt_dir
        tmp = dst / ".best.tmp.h5"  # legacy Keras h5 (by layer name)
        run.model.save_weights(str(tmp))
        os.replace(tmp, dst / "best.h5")
        atomic_write_bytes(dst / "best.json", json.dumps({"epoch": epoch + 1, **val}, indent=1).encode())
    rec = recipe.history_record(epoch + 1, float(np.mean(losses)) if losses else None, lr, seconds, val)
    if run.chief:  # before the checkpoint: a kill in between redoes the epoch, and resume trims the line
        with open(run.out / "history.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
    if not _save(run, (epoch + 1) * run.steps_full):
        return False
    if run.chief:
        with writer.as_default():
            for k, v in rec.items():
                if isinstance(v, float):
                    tf.summary.scalar(k, v, step=epoch + 1)
        print(json.dumps(rec) + ("  *best*" if improved else ""))
    return True


def _loop(run: _Run, teacher) -> int:
    """Epochs until ``--epochs`` (or ``--max-steps`` in this process). Returns the exit status."""
    import tensorflow as tf
    from tqdm import tqdm

    from models.pipeline import ImageCache, make_dataset

    args = run.args
    train_cache, val_cache = ImageCache(run.train_s), ImageCache(run.val_s)
    steps_per_epoch = min(run.steps_full, args.steps_per_epoch) if args.steps_per_epoch else run.steps_full
    writer = tf.summary.create_file_writer(str(run.out / "tb") if run.chief else str(run.ckpt_dir / "tb"))
    train_step = _train_step(run, teacher)
    steps_this_run = 0
    while int(run.epoch_v.numpy()) < args.epochs:
        epoch = int(run.epoch_v.numpy())
        lr = recipe.lr_at(epoch, run.base_lr, run.lr_steps, args.lr_decay)
        run.opt.learning_rate.assign(lr)
        start = int(run.step_v.numpy())
        ds = make_dataset(train_cache, run.cfg, batch=args.batch, train=True, seed=args.seed, epoch=epoch,
                          skip_batches=start).take(steps_per_epoch - start)
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = run.strategy.experimental_distribute_dataset(ds.with_options(opts))
        losses, t0 = [], time.time()
        bar = tqdm(ds, total=steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=5,
                   disable=not run.chief)
        for x, y, jw in bar:
            loss = float(train_step(x, y, jw))
            losses.append(loss)
            run.step_v.assign_add(1)
            steps_this_run += 1
            bar.set_postfix(loss=f"{loss:.5f}", lr=f"{lr:.2e}")
            done = int(run.step_v.numpy())
            if args.save_every and done % args.save_every == 0 and done < steps_per_epoch:
                if not _save(run, epoch * run.steps_full + done):
                    return 1
            if args.max_steps and steps_this_run >= args.max_steps:
                if not _save(run, epoch * run.steps_full + done):
                    return 1
                print(f"stopping after --max-steps {args.max_steps}; rerun to resume")
                return 0
        bar.close()
        if not _end_of_epoch(run, epoch, losses, lr, time.time() - t0, val_cache, writer):
            return 1
    print(f"weights sha256: {weights_digest(run.model)}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run = _prepare(args)
        _build(run)
        _check_disk_and_resume(run)
        teacher = load_teacher(args, run.cfg)
    except (ValueError, OSError) as e:  # FileNotFoundError too: one line naming the fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    return _loop(run, teacher)


if __name__ == "__main__":
    sys.exit(main())
