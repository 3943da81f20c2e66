"""Orchestrates ``make bench``: runs every configuration through ``bench.worker`` in child
processes, adds accuracy (``models.evaluate`` on labelled faces) and the CPU's measured peaks, and
writes ``build/bench/bench.{json,md}`` and ``scatter.png`` (and ``BENCHMARKS.md`` with
``--update-doc``)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from runtime.packages import importable, versions

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "runtime" / "pretrained"
PEERS = ("dlib", "mediapipe")  # bench/peers.py; `make peers` installs them


def _versions() -> dict:
    return {"python": platform.python_version(),
            **versions("numpy", "tflite-runtime", "larq-compute-engine", "onnxruntime", "opencv-python-headless")}


def cpu_info() -> dict:
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith(("model name", "Model")) and ":" in line:
                model = line.split(":", 1)[1].strip()
            if line.startswith(("flags", "Features")) and ":" in line and not flags:
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    keep = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vpopcntdq", "avx512vpopcntdq", "asimd", "neon", "popcnt")
    return {"model": model, "machine": platform.machine(), "cores": os.cpu_count(),
            "flags": sorted({f for f in flags if f in keep})}


def float_macs(model: bytes) -> int:
    """Multiply-accumulates of the float convolutions / fully connected layers of a .tflite."""
    from runtime.tflite_model import read_model

    info = read_model(model)
    total = 0
    for op in info.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(op.inputs) > 1:
            out = info.tensors[op.outputs[0]].shape
            w = info.tensors[op.inputs[1]].shape
            if len(out) == 4 and len(w) == 4:
                per = w[1] * w[2] * (w[3] if op.name == "CONV_2D" else 1)
                total += int(np.prod(out)) * per
        elif op.name == "FULLY_CONNECTED" and len(op.inputs) > 1:
            total += int(np.prod(info.tensors[op.outputs[0]].shape)) * info.tensors[op.inputs[1]].shape[-1]
    return total


def _worker(args: list[str], timeout: int = 900) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "bench.worker", *args], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=timeout)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _peer(args: list[str], timeout: int = 1800) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "bench.peers", *args], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=timeout)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1].removeprefix("error: ")}
    return json.loads(r.stdout.strip().splitlines()[-1])


def twin_models(binary: Path, out: Path, notes: list[str]) -> tuple[Path | None, Path | None, bool]:
    """The real-valued twin of the binary model (same architecture, from its sidecar's config) as
    .tflite and .onnx, and whether it is trained: the shipped ``face-real`` when it is that twin,
    else converted into ``out/twin-<config hash>`` (needs the training stack), untrained when no
    shipped weights fit (its rows then measure speed and size only); else None with a note."""
    import hashlib

    from models.configs import CONFIGS, Config, default_weights, named_weights_fit, real_twin
    from runtime.spec import ModelSpec, sidecar_path

    try:
        cfg = Config(**ModelSpec.load(sidecar_path(binary)).config)
    except (OSError, ValueError, TypeError) as e:
        notes.append(f"float twin: {binary.name} has no readable config ({e}); rows skipped")
        return None, None, False
    if CONFIGS.get(cfg.name) != cfg:
        notes.append(f"float twin: {binary.name}'s config is not the named config {cfg.name!r}; rows skipped")
        return None, None, False
    twin = real_twin(cfg)
    weights = default_weights(twin.name)
    trained = weights.is_file() and named_weights_fit(twin)
    shipped = PRETRAINED / f"{twin.name}.tflite"
    if trained and shipped.is_file() and shipped.with_suffix(".onnx").is_file():
        return shipped, shipped.with_suffix(".onnx"), True
    d = out / ("twin-" + hashlib.sha256(json.dumps([twin.to_dict(), trained]).encode()).hexdigest()[:12])
    tfl, onnx = d / f"{twin.name}.tflite", d / f"{twin.name}.onnx"
    if not (tfl.is_file() and onnx.is_file()):
        # trained: the shipped twin's weights; else the binary model's conversion (its shipped
        # weights: a random binary model fails the parity check) makes the twin, untrained
        # (convert.cli gives a twin only the weights that fit it)
        how = ["--model", twin.name, "--weights", str(weights)] if trained else ["--model", cfg.name]
        r = subprocess.run([sys.executable, "-m", "convert", *how, "--out", str(d)], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "TF_USE_LEGACY_KERAS": "1"})
        if r.returncode != 0:
            why = (r.stderr.strip().splitlines() or ["?"])[-1]
            notes.append(f"float twin: conversion failed ({why}); rows skipped")
            return None, None, False
    if not trained:
        notes.append(f"float twin: {twin.name} at this model's architecture (width {twin.width}, {twin.stacks} "
                     f"stack{'s' if twin.stacks > 1 else ''}) has no trained weights: untrained, so its rows "
                     "measure speed and size only (no accuracy row)")
    return (tfl if tfl.is_file() else None), (onnx if onnx.is_file() else None), trained


def accuracy(model: Path, backend: str, data: str | None, limit: int, notes: list[str]) -> dict | None:
    """NME (inter-ocular) and AUC@0.08 on labelled faces (``data`` or ../shared/data's validation
    split) through the runtime backend, or None with a note."""
    try:
        from models.data import load_dataset, split
        from models.evaluate import evaluate
        from runtime.backends import load_backend
        from runtime.spec import ModelSpec, sidecar_path

        spec = ModelSpec.load(sidecar_path(model))
        samples = load_dataset(spec.task, data)
        if data is None:
            samples = split(samples)[1]
        if limit:
            samples = samples[:limit]
        res = evaluate(load_backend(model.read_bytes(), backend, 1), spec, samples, progress=False)
    except Exception as e:  # noqa: BLE001 - accuracy is optional: say why it is missing
        notes.append(f"accuracy of {model.name}: unavailable ({' '.join(str(e).split())[:160]})")
        return None
    return {"nme_io": res["nme_inter_ocular"], "auc_0.08": res["auc@0.08"], "samples": res["images"]}


def run(args) -> dict:
    from runtime import kernels
    from runtime.backends import kernels_available

    out = Path(args.out)
    notes: list[str] = []
    binary = Path(args.model)
    ok, why = kernels_available()
    if not ok:
        notes.append(f"project kernels unavailable: {why}")
    float_tfl, float_onnx, float_trained = (None, None, False) if args.no_twin else twin_models(binary, out, notes)
    reps, warm = (args.reps or (10 if args.quick else 60)), (2 if args.quick else 8)
    threads = [int(t) for t in args.threads.split(",")]
    configs = []
    isa = kernels.isa() if ok else None
    for th in threads:
        if ok:
            base = ["--model", str(binary), "--backend", "tflite", "--threads", str(th)]
            configs.append(("binary", base + ["--profile"]))
            if isa.startswith("avx512"):  # the path of AVX2-only CPUs, measured here too
                configs.append(("binary", base + ["--profile", "--isa", "avx2"]))
            configs.append(("binary", base + ["--no-fuse"]))
        if importable("larq_compute_engine"):
            for k in ("indirect", "default"):
                configs.append(("binary", ["--model", str(binary), "--backend", "lce", "--lce-kernel", k,
                                           "--threads", str(th)]))
        else:
            notes.append("LCE interpreter not installed (x86_64/macOS only): its rows are skipped")
        if float_tfl:
            configs.append(("float", ["--model", str(float_tfl), "--backend", "tflite", "--threads", str(th)]))
        if float_onnx and importable("onnxruntime"):
            configs.append(("float", ["--model", str(float_onnx), "--backend", "onnxruntime", "--threads", str(th)]))
    rounds = args.rounds or (1 if args.quick else 3)
    rows = _measure(configs, args, reps, rounds, warm, threads[0])
    peaks = {"binary_macs_per_s": kernels.peak("binary") if ok else 0.0,
             "float_macs_per_s": kernels.peak("float") if ok else 0.0}
    if ok and isa.startswith("avx512"):
        peaks["binary_macs_per_s_avx2"] = kernels.peak("binary", isa="avx2")
    peaks["fill_bytes_per_s"] = fill_bandwidth()
    bmacs = 0
    prof = next((r.get("bconv") for r in rows if r.get("bconv")), None)
    if prof:
        bmacs = sum(p["bmacs"] for p in prof)
    fmacs = {str(float_tfl): float_macs(float_tfl.read_bytes())} if float_tfl else {}
    for r in rows:
        if "median_ms" not in r:
            continue
        secs = r["median_ms"] / 1e3
        peak = _binary_peak(peaks, r)
        if r["kind"] == "binary" and bmacs and peak:
            r["binary_macs"] = bmacs
            r["whole_model_bmac_per_s"] = bmacs / secs
            r["fraction_of_peak"] = bmacs / secs / (peak * r["threads"])
        if r["kind"] == "float" and float_tfl and peaks["float_macs_per_s"]:
            m = fmacs[str(float_tfl)]
            r["float_macs"] = m
            r["fraction_of_peak"] = m / secs / (peaks["float_macs_per_s"] * r["threads"])
    acc = {}
    if not args.no_accuracy:
        limit = args.limit or (20 if args.quick else 0)
        if ok:
            acc["binary"] = accuracy(binary, "tflite", args.data, limit, notes)
        elif importable("larq_compute_engine"):
            acc["binary"] = accuracy(binary, "lce", args.data, limit, notes)
        if float_tfl and float_trained:
            acc["float"] = accuracy(float_tfl, "tflite", args.data, limit, notes)
    if not args.no_peers:
        limit = args.limit or (20 if args.quick else 0)
        for th in threads:
            for peer in PEERS:
                if peer == "dlib" and th != threads[0]:
                    continue  # single-threaded
                r = _peer(["--peer", peer, "--threads", str(th), "--reps", str(reps),
                           *(["--data", args.data] if args.data else []), *(["--limit", str(limit)] if limit else [])])
                if "error" in r:
                    notes.append(f"peer {peer}: {r['error']}; skipped")
                    continue
                rows.append(r)
                acc[f"peer: {r['peer']}"] = r["accuracy"]
                print(f"  {peer:>14} peer   threads={th} median {r['median_ms']:.2f} ms", flush=True)
        if any(r.get("backend") == "dlib" for r in rows):
            notes.append("dlib: given its own HOG detector's box (the box it was trained with; the landmark box "
                         "costs it about half its accuracy) and trained on iBUG 300-W, whose images overlap these "
                         "faces: its accuracy here is optimistic")
        if any(r.get("backend") == "mediapipe" for r in rows):
            notes.append("MediaPipe: 468 mesh points mapped to the 68 of 300-W by a common, approximate "
                         "correspondence (bench/peers.py MP_TO_68); part of its error is that definition gap")
    live_q = None
    if not args.no_live:
        from bench import live

        print("  live quality: still-face jitter and lag, raw and filtered", flush=True)
        live_q = live.quality(binary, "tflite" if ok else "auto")
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_info(),
            "versions": _versions(), "kernels_isa": why if ok else None, "quick": bool(args.quick),
            "reps": reps, "rounds": rounds, "threads": threads, "peaks": peaks,
            "rows": rows, "accuracy": acc, "notes": notes,
            "live": live_q,
            "command": "make bench" + (" QUICK=1" if args.quick else "")}


def fill_bandwidth(mib: int = 1, reps: int = 400) -> float:
    """Bytes per second to fill a ``mib`` MiB float32 array (numpy ``fill``, median of ``reps``):
    the store bandwidth a convolution's float output meets at these tensor sizes."""
    import time

    a = np.empty(mib * 2**18, np.float32)
    times = []
    for i in range(reps):
        t = time.perf_counter()
        a.fill(float(i))
        times.append(time.perf_counter() - t)
    return a.nbytes / float(np.median(times))


def vector_lanes(kernels: str | None) -> int:
    """Output channels per vector of an inner kernel (``bnn_tile_for``): a tile of nc channels
    runs ceil(nc / lanes) vectors."""
    return 8 if (kernels or "").startswith("avx2") else 4 if kernels == "neon" else 16


def padded_bmacs(q: dict, lanes: int = 16) -> int:
    """Binary MACs the inner kernels run for one profiled convolution: its input channels rounded
    up to 32-bit words per tap, each tile of (at most 32) output channels up to whole vectors of
    ``lanes`` channels."""
    g = q["groups"]
    cout = q["out_c"] // g
    words = -(-(q["channels_in"] // g) // 32)
    lanes_run = g * sum(-(-min(32, cout - t) // lanes) * lanes for t in range(0, cout, 32))
    return q["out_h"] * q["out_w"] * lanes_run * q["k_h"] * q["k_w"] * words * 32


def _binary_peak(peaks: dict, r: dict) -> float:
    """The popcount peak of the inner kernel a row ran (LCE rows: the best one's)."""
    if r.get("kernels") == "avx2" and "binary_macs_per_s_avx2" in peaks:
        return peaks["binary_macs_per_s_avx2"]
    return peaks.get("binary_macs_per_s", 0.0)


def _measure(configs: list, args, reps: int, rounds: int, warm: int, first_threads: int) -> list[dict]:
    """Each configuration in its own process, in ``rounds`` round-robin rounds of
    ``reps / rounds`` timed runs (the latencies pooled): a machine that slows down or speeds up
    during the run (shared hosts do) biases every row alike instead of the rows measured last.
    The profile and the live fps come from the first round."""
    per = max(1, -(-reps // rounds))
    rows: list = [None] * len(configs)
    for rnd in range(rounds):
        for i, (kind, cfg) in enumerate(configs):
            th = int(cfg[cfg.index("--threads") + 1])
            extra = ["--reps", str(per), "--warmup", str(warm)]
            if rnd == 0 and args.e2e and cfg[3] == "tflite" and th == first_threads:
                extra += ["--e2e", str(args.e2e)]
            r = _worker([c for c in cfg if rnd == 0 or c != "--profile"] + extra)
            r["kind"] = kind
            if rows[i] is None:
                rows[i] = r
            elif "latency_ms" in r and "latency_ms" in rows[i]:  # else the first round's error stands
                rows[i]["latency_ms"] += r["latency_ms"]
                rows[i]["peak_rss_mb"] = max(rows[i]["peak_rss_mb"], r["peak_rss_mb"])
    for r, (kind, cfg) in zip(rows, configs):
        if "latency_ms" in r:
            r.update(median_ms=float(np.median(r["latency_ms"])), p90_ms=float(np.percentile(r["latency_ms"], 90)))
        print(f"  {r.get('backend', cfg[3]):>14} {kind:6} threads={cfg[cfg.index('--threads') + 1]} "
              + (f"median {r['median_ms']:.2f} ms" if "median_ms" in r else f"error: {r['error']}"), flush=True)
    return rows


def _row_name(r: dict) -> str:
    b = r.get("backend", "?")
    if b == "tflite" and r["kind"] == "binary":
        return (f"binary, project kernels ({r.get('kernels', '?')}{'' if r.get('fuse', True) else ', fusion off'}) "
                "on tflite-runtime")
    if b.startswith("lce"):
        return f"binary, LCE interpreter ({b.split('-', 1)[1]} kernel)"
    if b == "tflite":
        return "float twin, tflite-runtime + XNNPACK"
    if b == "onnxruntime":
        return "float twin, onnxruntime"
    if r.get("kind") == "peer":
        return f"peer: {r['peer']}"
    return b


def _faster(name: str, ours: float, other: str, theirs: float) -> str:
    r = theirs / ours
    return f"{name} {r:.2f}x faster than {other}" if r >= 1 else f"{name} {1 / r:.2f}x slower than {other}"


def ratios(res: dict) -> list[str]:
    """The README's claims: ratios measured side by side in this run. The first project-kernels
    row of a thread count (best inner kernel, fused) against every other row; the AVX2 path
    against the float twin; each project-kernels row's speed-up from the first thread count."""
    out = []
    for th in res["threads"]:
        rows = {_row_name(r): r["median_ms"] for r in res["rows"] if r.get("threads") == th and "median_ms" in r}
        ours = [k for k in rows if k.startswith("binary, project")]
        if not ours:
            continue
        for k, v in rows.items():
            if k != ours[0]:
                out.append(f"{th} thread(s): " + _faster("project kernels are", rows[ours[0]], k, v))
        for k in ours[1:]:
            if "fusion off" not in k:
                for twin in (n for n in rows if n.startswith("float twin")):
                    out.append(f"{th} thread(s): " + _faster(k.split(" on ")[0], rows[k], twin, rows[twin]))
    if len(res["threads"]) > 1:
        first = {_row_name(r): r["median_ms"] for r in res["rows"] if r.get("threads") == res["threads"][0]
                 and "median_ms" in r and r.get("kernels")}
        for r in res["rows"]:
            k = _row_name(r)
            if r.get("kernels") and r.get("threads") != res["threads"][0] and k in first and "median_ms" in r:
                out.append(f"{k.split(' on ')[0]}: {r['threads']} threads are {first[k] / r['median_ms']:.2f}x "
                           f"the speed of {res['threads'][0]}")
    return out


def markdown(res: dict) -> str:
    c = res["cpu"]
    lines = [f"# Benchmarks ({'quick' if res['quick'] else 'full'} run)", "",
             f"`{res['command']}` on {c['model']} ({c['machine']}, {c['cores']} cores; flags: "
             f"{', '.join(c['flags']) or 'n/a'}), {res['date']}; {res['reps']} timed runs per row after warm-up, in "
             f"{res.get('rounds', 1)} round-robin round(s) over the rows.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + ".", "",
             "| model / runtime | threads | median ms | p90 ms | vs project kernels | fraction of peak "
             "| peak RSS MB | size KiB | live fps |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for th in res["threads"]:
        ours = next((r["median_ms"] for r in res["rows"] if r.get("threads") == th and r.get("kernels")
                     and "median_ms" in r), None)
        for r in res["rows"]:
            if r.get("threads") != th:
                continue
            if "median_ms" not in r:
                lines.append(f"| {_row_name(r)} | {th} | error: {r.get('error')} | | | | | | |")
                continue
            rel = f"{r['median_ms'] / ours:.2f}x" if ours else ""
            frac = f"{100 * r['fraction_of_peak']:.1f} %" if "fraction_of_peak" in r else ""
            fps = f"{r['e2e_fps']:.0f}" if "e2e_fps" in r else ""
            lines.append(f"| {_row_name(r)} | {th} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | {rel} | {frac} | "
                         f"{r['peak_rss_mb']:.0f} | {r['bytes'] / 1024:.0f} | {fps} |")
    p = res["peaks"]
    lines += ["", "Live fps: the whole video pipeline (default face detector, tracking, filter on) on a synthetic "
              "drifting clip, first thread count only."]
    avx2 = (f" ({p['binary_macs_per_s_avx2'] / 1e9:.0f} G with the AVX2 kernel's nibble-table popcount)"
            if "binary_macs_per_s_avx2" in p else "")
    lines += ["", f"Measured single-thread peaks: {p['binary_macs_per_s'] / 1e9:.0f} G binary MAC/s{avx2} "
              f"(xor+popcount+add on registers), {p['float_macs_per_s'] / 1e9:.1f} G float MAC/s (FMA). "
              "Fraction of peak = the model's MACs / median latency / (peak x threads): whole model, "
              "float and memory-bound ops included.", ""]
    if res["accuracy"]:
        lines += ["| model | NME (inter-ocular) | AUC@0.08 | faces |", "|---|---:|---:|---:|"]
        for k, a in res["accuracy"].items():
            if a:
                lines.append(f"| {k} | {100 * a['nme_io']:.2f} % | {a['auc_0.08']:.3f} | {a['samples']} |")
        lines.append("")
    for row in (r for r in res["rows"] if r.get("bconv") and r.get("threads") == res["threads"][0]):
        lines += _layer_table(row, _binary_peak(p, row), p.get("fill_bytes_per_s", 0.0))
    if res.get("live"):
        from bench import live

        lines += live.markdown(res["live"])
    r = ratios(res)
    if r:
        lines += ["Ratios (this run):", ""] + [f"- {x}" for x in r] + [""]
    if res["notes"]:
        lines += ["Notes:", ""] + [f"- {n}" for n in res["notes"]] + [""]
    return "\n".join(lines)


def _bounds(q: dict, peak: float, fill: float, lanes: int) -> tuple[float, float]:
    """Two lower bounds on one convolution's seconds: its padded popcount work at the measured
    peak, and writing its float output once (4 bytes per value) at the fill bandwidth."""
    out_bytes = 4 * q["out_h"] * q["out_w"] * q["out_c"] if q["out_kind"] == "float" else 0
    return padded_bmacs(q, lanes) / peak, out_bytes / fill if fill else 0.0


def _layer_table(row: dict, peak: float, fill: float = 0.0) -> list[str]:
    """Where one project-kernels row's time goes: its binary convolutions grouped by shape (each
    with the fused epilogue that computes its readers' work) with their lower bounds (padded
    popcounts at the peak, float output at the fill bandwidth), the fusing delegate's other
    passes, and the rest (float ops on XNNPACK, the interpreter)."""
    prof, th = row["bconv"], row["threads"]
    lines = []
    if prof and peak:
        lines += [f"Binary convolutions of the project kernels ({row.get('kernels')}, {th} thread(s)), "
                  "grouped by shape; bounds per layer: its popcounts (input channels padded to 32-bit words, "
                  f"output channels to whole {vector_lanes(row.get('kernels'))}-channel vectors) at the measured "
                  "peak, and its float output written once "
                  f"at {fill / 1e9:.1f} GB/s (filling a 1 MiB float32 array):", "",
                  "| input HxW | Cin | Cout | kernel | layers | us per layer | fraction of peak "
                  "| popcount bound us | output bound us |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        bounds = [_bounds(q, peak, fill, vector_lanes(row.get("kernels"))) for q in prof]
        groups: dict = {}
        for q, qb in zip(prof, bounds):
            key = (q["in_h"], q["in_w"], q["channels_in"], q["out_c"], q["k_h"])
            g = groups.setdefault(key, [0, 0.0, 0, qb])
            g[0] += 1
            g[1] += q["seconds"]
            g[2] += q["bmacs"]
        for (h, w, ci, co, k), (n, s, m, (bp, bo)) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
            frac = f"{100 * m / s / peak:.1f} %" if s > 0 else "n/a"
            lines.append(f"| {h}x{w} | {ci} | {co} | {k}x{k} | {n} | {1e6 * s / n:.1f} | {frac} "
                         f"| {1e6 * bp:.1f} | {1e6 * bo:.1f} |")
        tot_s = sum(q["seconds"] for q in prof)
        tot_m = sum(q["bmacs"] for q in prof)
        frac = f"{100 * tot_m / tot_s / peak:.1f} %" if tot_s > 0 else "n/a"
        overlap, serial = sum(max(b) for b in bounds), sum(sum(b) for b in bounds)
        lines += [f"| all | | | | {len(prof)} | {1e6 * tot_s:.0f} (total) | {frac} "
                  f"| {1e6 * sum(b[0] for b in bounds):.0f} | {1e6 * sum(b[1] for b in bounds):.0f} |", "",
                  f"Ceilings from these bounds: {1e3 * overlap:.2f} ms ({100 * tot_m / overlap / peak:.0f} % of peak) "
                  f"if each layer's output stream hid under its popcounts, {1e3 * serial:.2f} ms "
                  f"({100 * tot_m / serial / peak:.0f} %) one after the other, as the kernels run them; the "
                  f"useful popcounts alone {1e3 * tot_m / peak:.2f} ms.", ""]
        passes = row.get("passes") or {}
        bconv_ms = 1e3 * tot_s
        pass_ms = 1e3 * sum(v["seconds"] for v in passes.values())
        counts = ", ".join(f"{v['calls']} {k}" for k, v in passes.items())
        lines += [f"Per inference: binary convolutions {bconv_ms:.2f} ms, the delegate's own passes {pass_ms:.2f} ms "
                  f"({counts}), the rest (float ops on XNNPACK, the interpreter) "
                  f"{row['median_ms'] - bconv_ms - pass_ms:.2f} ms (median latency minus the profiled means).", ""]
    return lines

def scatter(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    acc = res["accuracy"]
    for r in res["rows"]:
        if "median_ms" not in r:
            continue
        a = r.get("accuracy") if r["kind"] == "peer" else acc.get(r["kind"])
        y = 100 * a["nme_io"] if a else None
        if y is None:
            continue
        ax.scatter(r["median_ms"], y, label=f"{_row_name(r)} ({r['threads']}t)")
    ax.set_xlabel("median latency per face (ms)")
    ax.set_ylabel("NME inter-ocular (%)")
    ax.set_xscale("log")
    ax.set_title("accuracy vs latency (lower-left is better)")
    if ax.collections:
        ax.legend(fontsize=6)
    else:
        ax.text(0.5, 0.5, "no labelled data: accuracy unavailable", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(PRETRAINED / "face.tflite"), help="binary .tflite (with sidecar)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=0, help="timed runs per row (default 60, quick 10)")
    p.add_argument("--rounds", type=int, default=0, help="round-robin rounds the runs are split into (default 3, "
                   "quick 1)")
    p.add_argument("--quick", action="store_true", help="few repetitions, 20 faces for accuracy")
    p.add_argument("--data", default=None, help="labelled faces for accuracy (default: ../shared/data val split)")
    p.add_argument("--limit", type=int, default=0, help="at most N faces for accuracy")
    p.add_argument("--e2e", type=int, default=120, help="frames of the synthetic video for live fps (0: skip)")
    p.add_argument("--no-twin", action="store_true", help="skip the float twin rows")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--no-peers", action="store_true", help="skip the dlib / MediaPipe rows")
    p.add_argument("--no-live", action="store_true", help="skip the live-tracking quality table")
    p.add_argument("--out", default=str(ROOT / "build" / "bench"))
    p.add_argument("--update-doc", action="store_true", help="also write BENCHMARKS.md")
    a = p.parse_args(argv)
    if not Path(a.model).is_file():
        print(f"error: model {a.model} not found; pass --model PATH", file=sys.stderr)
        return 2
    from runtime.io import atomic_write_bytes

    res = run(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(res)
    atomic_write_bytes(out / "bench.json", (json.dumps(res, indent=1) + "\n").encode())
    atomic_write_bytes(out / "bench.md", md.encode())
    scatter(res, out / "scatter.png")
    return _publish(res, md, out, a.update_doc)


def _publish(res: dict, md: str, out: Path, update_doc: bool) -> int:
    from runtime.io import atomic_write_bytes

    if update_doc:
        atomic_write_bytes(ROOT / "BENCHMARKS.md", md.encode())
    print(md)
    print(f"wrote {out}/bench.json, bench.md, scatter.png" + (" and BENCHMARKS.md" if update_doc else ""))
    return 0
