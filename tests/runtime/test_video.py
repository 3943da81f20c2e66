import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.landmarker import Landmarker, LandmarkerOptions

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "runtime" / "assets" / "astronaut.jpg"


@pytest.fixture
def tiny(tiny_face_tflite):
    return tiny_face_tflite


def make_video(path: Path, frames: int = 24, size: int = 320) -> Path:
    """A synthetic clip: the sample portrait drifting slowly, as a hand-held camera would."""
    import cv2

    img = cv2.imread(str(SAMPLE))
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (size, size))
    assert vw.isOpened()
    for i in range(frames):
        x0, y0 = 60 + 2 * i, 10 + i
        vw.write(cv2.resize(img[y0:y0 + 400, x0:x0 + 400], (size, size)))
    vw.release()
    return path


def _frames(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    while True:
        ok, f = cap.read()
        if not ok:
            break
        yield cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
    cap.release()


def test_tracking_skips_the_detector(tiny, tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    with Landmarker(LandmarkerOptions(model_path=tiny, running_mode="video", track_threshold=0.0,
                                      redetect_every=0)) as lm:
        results = [lm.detect_for_video(f, 40 * i) for i, f in enumerate(_frames(video))]
    assert len(results) == 24 and lm.stats["detector_calls"] == 1
    assert [r.detector_ran for r in results].count(True) == 1
    assert all(r.landmarks and r.landmarks[0].source == "track" for r in results[1:])


def test_tracks_are_revalidated_by_the_detector_every_n_frames(tiny, tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    with Landmarker(LandmarkerOptions(model_path=tiny, running_mode="video", track_threshold=0.0,
                                      redetect_every=5)) as lm:
        ran = [lm.detect_for_video(f, 40 * i).detector_ran for i, f in enumerate(_frames(video))]
    assert [i for i, r in enumerate(ran) if r] == [0, 5, 10, 15, 20]


def test_lost_track_redetects(tiny, tmp_path):
    video = make_video(tmp_path / "clip.mp4", frames=6)
    with Landmarker(LandmarkerOptions(model_path=tiny, running_mode="video", track_threshold=2.0)) as lm:
        for i, f in enumerate(_frames(video)):
            lm.detect_for_video(f, 40 * i)
    assert lm.stats["detector_calls"] == 6


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "runtime.infer", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_cli_video_and_broken_inputs(tiny, tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    data = video.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "notavideo.avi").write_bytes(b"RIFF....AVI garbage" * 10)
    out = tmp_path / "out"
    r = _cli([str(video), str(tmp_path / "cut.mp4"), str(tmp_path / "notavideo.avi"), "--model", str(tiny),
              "--output", str(out), "--track-threshold", "0", "--redetect-every", "0"], tmp_path)
    assert r.returncode == 1, r.stderr
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    good = [x for x in recs if x["source"].endswith("clip.mp4")]
    assert len(good) == 24 and all(x["error"] is None for x in good)
    assert sum(x["detector_ran"] for x in good) == 1
    assert [x["frame"] for x in good] == list(range(24))
    assert any(x["error"] and "notavideo" in x["source"] for x in recs)
    assert len({tuple(sorted(x)) for x in recs}) == 1  # results and errors: one record shape
    assert (out / "clip.mp4").stat().st_size > 0
    assert "failed" in r.stderr


def test_cli_missing_camera_is_reported(tiny, tmp_path):
    r = _cli(["--camera", "97", "--model", str(tiny), "--output", str(tmp_path / "o")], tmp_path)
    assert r.returncode == 1
    assert "cannot open camera 97" in r.stderr


def test_live_mode_delivers_results_and_drops_when_busy(tiny, tmp_path):
    import threading

    got, done = [], threading.Event()

    def cb(result, frame, ts):
        got.append((ts, len(result.landmarks)))
        done.set()

    frames = list(_frames(make_video(tmp_path / "clip.mp4", frames=12)))
    with Landmarker(LandmarkerOptions(model_path=tiny, running_mode="live", result_callback=cb)) as lm:
        accepted = [lm.detect_async(f, 10 * i) for i, f in enumerate(frames)]  # faster than it can keep up
        assert accepted[0] and accepted.count(False) == lm.stats["dropped"] > 0
        done.wait(30)
    assert [ts for ts, _ in got] == sorted(ts for ts, _ in got) and got
    with pytest.raises(ValueError, match="result_callback"):
        Landmarker(LandmarkerOptions(model_path=tiny, running_mode="live"))


def test_live_mode_accepts_the_next_frame_sent_from_the_callback(tiny, tmp_path):
    """A camera loop that sends the next frame as soon as a result arrives is never refused: the busy
    flag is free once the result is ready, and results still come in order."""
    import threading

    frames = list(_frames(make_video(tmp_path / "clip.mp4", frames=6)))
    got, accepted, done = [], [], threading.Event()

    def cb(result, frame, ts):
        got.append(ts)
        i = ts // 10 + 1
        if i < len(frames):
            accepted.append(lm.detect_async(frames[i], 10 * i))
        else:
            done.set()

    with Landmarker(LandmarkerOptions(model_path=tiny, running_mode="live", result_callback=cb)) as lm:
        assert lm.detect_async(frames[0], 0)
        assert done.wait(60)
    assert accepted == [True] * (len(frames) - 1) and lm.stats["dropped"] == 0
    assert got == [10 * i for i in range(len(frames))]


def test_shipped_face_model_tracks_the_synthetic_clip(tmp_path):
    """With the shipped model and the default threshold, the detector runs on few frames."""
    shipped = ROOT / "runtime" / "pretrained" / "face.tflite"
    if not shipped.exists():
        pytest.skip("no shipped face model")
    video = make_video(tmp_path / "clip.mp4", frames=30)
    with Landmarker(LandmarkerOptions(running_mode="video")) as lm:
        res = [lm.detect_for_video(f, 40 * i) for i, f in enumerate(_frames(video))]
    assert all(r.landmarks for r in res)
    assert lm.stats["detector_calls"] <= 3, lm.stats


def test_live_mode_surfaces_worker_errors(tiny, tmp_path):
    """An exception in the worker (here the result callback) is raised in the caller's thread: on the
    next detect_async once the job has finished, or at close()."""
    import time

    def cb(result, frame, ts):
        raise RuntimeError(f"callback failed at {ts}")

    frame = next(_frames(make_video(tmp_path / "clip.mp4", frames=1)))
    lm = Landmarker(LandmarkerOptions(model_path=tiny, running_mode="live", result_callback=cb))
    assert lm.detect_async(frame, 0)
    while not all(f.done() for f in lm._pending):
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match="callback failed at 0"):
        lm.detect_async(frame, 10)
    assert lm.detect_async(frame, 20)  # the error was reported once; the stream goes on
    with pytest.raises(RuntimeError, match="callback failed at 20"):
        lm.close()
    assert lm.backend is None
