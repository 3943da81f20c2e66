"""The benchmark harness itself (quick mode on a tiny model): it runs every backend here, writes
JSON, Markdown and the plot, and reports ratios. Speed is not checked (tests check correctness)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_on_tiny_model(tiny_face_tflite, tmp_path):
    pytest.importorskip("tflite_runtime")
    out = tmp_path / "bench"
    r = subprocess.run([sys.executable, "-m", "bench", "--model", str(tiny_face_tflite), "--quick", "--threads", "1",
                        "--reps", "3", "--e2e", "6", "--no-twin", "--no-accuracy", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "bench.json").read_text())
    rows = [row for row in res["rows"] if "median_ms" in row and row["kind"] != "peer"]
    assert rows and all(len(row["latency_ms"]) == 3 and row["p90_ms"] >= row["median_ms"] > 0 for row in rows)
    assert all(row["peak_rss_mb"] > 0 and row["bytes"] == tiny_face_tflite.stat().st_size for row in rows)
    backends = {row["backend"] for row in rows}
    from runtime.backends import kernels_available

    if kernels_available()[0]:
        ours = next(row for row in rows if row.get("kernels"))
        assert ours["bconv"] and all(b["bmacs"] > 0 and b["calls"] == 3 for b in ours["bconv"])
        assert 0 < ours["fraction_of_peak"] < 1.5 and res["peaks"]["binary_macs_per_s"] > 0
        assert res["peaks"]["fill_bytes_per_s"] > 0
        assert "| popcount bound us | output bound us |" in (out / "bench.md").read_text()
        assert ours["e2e_frames"] == 6 and ours["e2e_fps"] > 0
    try:
        import larq_compute_engine  # noqa: F401

        assert {"lce-indirect", "lce-default"} <= backends
    except ImportError:
        pass
    md = (out / "bench.md").read_text()
    assert "| model / runtime |" in md and res["cpu"]["model"] in md
    live = res["live"]
    assert [r["smoothing"] for r in live["rows"]] == ["off", "one-euro"]
    assert all(set(r["lag_frames"]) == {"2", "5", "10"} for r in live["rows"])
    assert live["default_detector"] == "blazeface" and set(live["detector_ms"]) == {"blazeface", "haar"}
    assert "| smoothing | frame-to-frame, drawn |" in md
    assert (out / "scatter.png").stat().st_size > 1000
    # each peer either ran (a row with its own accuracy on labelled faces) or says why not
    peers = {row["backend"]: row for row in res["rows"] if row.get("kind") == "peer"}
    for name in ("dlib", "mediapipe"):
        if name in peers:
            assert peers[name]["accuracy"]["samples"] > 0 and 0 < peers[name]["accuracy"]["nme_io"] < 1
        else:
            assert any(n.startswith(f"peer {name}:") for n in res["notes"]), res["notes"]


def test_padded_popcount_work_rounds_channels_to_words_and_vectors():
    from bench.run import padded_bmacs, vector_lanes

    q = {"out_h": 4, "out_w": 2, "k_h": 3, "k_w": 3, "groups": 1}
    # 160 -> 80: 5 full words, tiles of 32 + 32 + 16 channels: nothing padded
    assert padded_bmacs({**q, "channels_in": 160, "out_c": 80}) == 8 * 9 * 160 * 80
    # 40 -> 20: two words (64 bits) per tap; 20 channels run two 16-lane vectors (AVX-512), three
    # 8-lane ones (AVX2), five 4-lane ones (NEON)
    assert padded_bmacs({**q, "channels_in": 40, "out_c": 20}) == 8 * 9 * 64 * 32
    assert padded_bmacs({**q, "channels_in": 40, "out_c": 20}, vector_lanes("avx2")) == 8 * 9 * 64 * 24
    assert padded_bmacs({**q, "channels_in": 40, "out_c": 20}, vector_lanes("neon")) == 8 * 9 * 64 * 20
    # 40 channels: a full tile and 8 more (one 16-lane vector on AVX-512)
    assert padded_bmacs({**q, "channels_in": 32, "out_c": 40}) == 8 * 9 * 32 * 48
    # 2 groups of 20 -> 8: one word and one 16-lane vector each
    assert padded_bmacs({**q, "channels_in": 40, "out_c": 16, "groups": 2}) == 8 * 9 * 32 * 16 * 2
    assert vector_lanes("avx512-vpopcntdq") == 16


def test_bench_missing_model_is_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench", "--model", str(tmp_path / "nope.tflite")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: model") and len(r.stderr.splitlines()) == 1


def test_float_twin_is_only_the_same_architecture(tiny_face_tflite, tmp_path):
    """bench's float twin follows the binary model's config: a model whose config is not a named
    one gets no twin rows (and a note), instead of a twin of another architecture."""
    from bench.run import twin_models

    notes = []
    assert twin_models(tiny_face_tflite, tmp_path, notes) == (None, None, False)
    assert len(notes) == 1 and "not the named config" in notes[0] and not any(tmp_path.iterdir())


def test_paired_ab_alternates_and_imports_each_checkout_apart(tiny_face_tflite, tmp_path):
    """bench.ab: both sides run the same number of times, in alternating order; a checkout's
    kernels are imported under their own modules and the caller's ``runtime`` stays in place."""
    from runtime.backends import kernels_available

    ok, why = kernels_available()
    if not ok:
        pytest.skip(why)
    import runtime
    from bench import ab

    calls = []
    ta, tb = ab.paired(lambda: calls.append("a"), lambda: calls.append("b"), reps=4, warmup=1)
    assert len(ta) == len(tb) == 4 and calls[2:] == ["a", "b", "b", "a", "a", "b", "b", "a"]
    before = runtime.kernels
    mine = ab._kernels_of(ROOT)
    assert mine is not before and runtime.kernels is before
    r = subprocess.run([sys.executable, "-m", "bench.ab", str(ROOT), str(ROOT), "--model", str(tiny_face_tflite),
                        "--model-b", str(tiny_face_tflite), "--reps", "3"], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    assert r.returncode == 0 and "A / B per pair: median" in r.stdout, r.stderr[-2000:]
    r = subprocess.run([sys.executable, "-m", "bench.ab", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    assert r.returncode != 0 and "neither a checkout" in r.stderr
