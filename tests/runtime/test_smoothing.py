"""The One-Euro landmark filter on synthetic signals, and its place in the video pipeline."""

from pathlib import Path

import numpy as np
import pytest

from runtime.smoothing import OneEuroFilter, OneEuroParams, Smoothing

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "runtime" / "assets" / "astronaut.jpg"
SHIPPED = ROOT / "runtime" / "pretrained" / "face.tflite"
FRAME_MS = 1000 / 30


def _run(f: OneEuroFilter, xs, scale=100.0, frame_ms=FRAME_MS):
    return np.array([f(x, i * frame_ms, scale) for i, x in enumerate(xs)])


def test_first_value_passes_and_reset_forgets():
    f = OneEuroFilter()
    x = np.array([[10.0, 20.0], [30.0, 40.0]])
    assert np.array_equal(f(x, 0.0, 50.0), x.astype(np.float32))
    f(x + 5, 33.0, 50.0)
    f.reset()
    assert f.last_timestamp_ms is None
    assert np.array_equal(f(x + 100, 10.0, 50.0), (x + 100).astype(np.float32))  # no history, any timestamp


def test_constant_plus_noise_is_steadied():
    """A still landmark with 2 px of noise (a face 100 px wide): the filtered frame-to-frame motion is
    under a tenth of the raw one, and the output stays centred on the true value."""
    rng = np.random.default_rng(0)
    xs = 50.0 + rng.normal(0, 2.0, size=(300, 68, 2))
    ys = _run(OneEuroFilter(), xs)
    raw = np.sqrt(np.mean(np.diff(xs, axis=0) ** 2))
    out = np.sqrt(np.mean(np.diff(ys[30:], axis=0) ** 2))
    assert out < 0.1 * raw, (out, raw)
    assert abs(ys[30:].mean() - 50.0) < 0.2
    assert np.all(np.isfinite(ys))


def test_step_settles_within_five_frames():
    """A jump of half the face size (a re-detection, a fast head turn): within 1 % of the step after
    5 frames (0.17 s at 30 fps), and never overshooting."""
    xs = np.concatenate([np.zeros(10), np.full(30, 50.0)])[:, None]
    ys = _run(OneEuroFilter(), xs)[:, 0]
    after = ys[10:]
    assert np.all(after <= 50.0 + 1e-4) and np.all(np.diff(after) >= -1e-4)
    settled = int(np.argmax(np.abs(after - 50.0) < 0.5))
    assert 0 < settled <= 5, settled


def test_scale_aware():
    """The same motion of a face twice as large (twice the pixels, twice the scale) is filtered the same."""
    rng = np.random.default_rng(1)
    xs = np.cumsum(rng.normal(0, 1.0, size=(120, 5, 2)), axis=0)
    a = _run(OneEuroFilter(), xs, scale=80.0)
    b = _run(OneEuroFilter(), 2 * xs, scale=160.0)
    np.testing.assert_allclose(b, 2 * a, rtol=1e-5, atol=1e-3)


def test_timestamp_aware():
    """A ramp sampled at 30 and at 60 fps lags by about the same time, not the same frame count."""
    def lag_ms(fps):
        ms = 1000 / fps
        t = np.arange(int(2 * fps)) * ms
        xs = 0.3 * t  # 300 px/s
        ys = _run(OneEuroFilter(), xs[:, None], frame_ms=ms)[:, 0]
        return float(np.mean((xs - ys)[len(t) // 2:]) / 0.3)

    a, b = lag_ms(30), lag_ms(60)
    assert a > 0 and b > 0 and abs(a - b) < 0.25 * a, (a, b)


@pytest.mark.parametrize("ts", [33.0, 20.0])
def test_timestamps_that_repeat_or_go_back_are_refused_without_harm(ts):
    f = OneEuroFilter()
    f(np.zeros(2), 0.0, 1.0)
    y1 = f(np.ones(2), 33.0, 1.0)
    with pytest.raises(ValueError, match="timestamps must increase"):
        f(np.full(2, 5.0), ts, 1.0)
    y2 = f(np.ones(2), 66.0, 1.0)  # the refused sample left no trace
    assert np.all(np.isfinite(y2)) and np.all(y2 >= y1)


@pytest.mark.parametrize("bad", [dict(x=np.array([np.nan, 0.0])), dict(scale=0.0), dict(scale=float("nan")),
                                 dict(ts=float("inf")), dict(x=np.zeros(3))])
def test_bad_samples_are_refused_in_one_line(bad):
    f = OneEuroFilter()
    f(np.zeros(2), 0.0, 1.0)
    kw = {"x": np.ones(2), "ts": 33.0, "scale": 1.0, **bad}
    with pytest.raises(ValueError) as e:
        f(kw["x"], kw["ts"], kw["scale"])
    assert "\n" not in str(e.value)
    assert np.all(np.isfinite(f(np.ones(2), 66.0, 1.0)))


def test_params_are_validated():
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroParams(min_cutoff=0.0)
    with pytest.raises(ValueError, match="beta"):
        OneEuroParams(beta=-1.0)
    OneEuroParams(beta=0.0)  # a plain low-pass filter
    assert Smoothing("one-euro") is Smoothing.ONE_EURO and Smoothing("off") is Smoothing.OFF


# -- in the pipeline (the shipped face model: no TensorFlow needed) ------------------------------------

def _sample():
    from runtime.image import read_image

    return read_image(SAMPLE)


def _noisy(img, n, seed=0, dx=0.0):
    import cv2

    rng = np.random.default_rng(seed)
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]])
    img = cv2.warpAffine(img, m, img.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    return [np.clip(img + rng.normal(0, 3.0, img.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def _video(smoothing, **kw):
    from runtime.landmarker import Landmarker, LandmarkerOptions

    return Landmarker(LandmarkerOptions(running_mode="video", smoothing=smoothing, **kw))


def _first(res):
    return res.landmarks[0].keypoints.astype(np.float64)


needs_shipped = pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped face model")


@needs_shipped
def test_video_mode_filters_by_default_and_image_mode_never():
    from runtime.landmarker import Landmarker, LandmarkerOptions

    frames = _noisy(_sample(), 20)
    out = {}
    for s in (Smoothing.OFF, Smoothing.ONE_EURO):
        with _video(s) as lm:
            out[s] = np.array([_first(lm.detect_for_video(f, 33 * i)) for i, f in enumerate(frames)])
    motion = {s: np.sqrt(np.mean(np.diff(v[5:], axis=0) ** 2)) for s, v in out.items()}
    assert motion[Smoothing.ONE_EURO] < 0.25 * motion[Smoothing.OFF], motion
    np.testing.assert_array_equal(out[Smoothing.OFF][0], out[Smoothing.ONE_EURO][0])  # the first frame passes
    with Landmarker(LandmarkerOptions()) as lm:
        assert LandmarkerOptions().smoothing is Smoothing.ONE_EURO and lm.smoothing is Smoothing.OFF
        a, b = _first(lm.detect(frames[0])), _first(lm.detect(frames[1]))
    np.testing.assert_array_equal(a, out[Smoothing.OFF][0])  # image mode: the raw landmarks
    assert not np.array_equal(a, b)


@needs_shipped
def test_a_redetection_of_the_same_face_keeps_the_filter_a_new_face_starts_fresh():
    """Re-detections every 3 frames of the same face continue its filter (the output is not the raw
    one there); a face that appears elsewhere (the old track lost) passes unfiltered at first."""
    img = _sample()
    frames = _noisy(img, 9) + _noisy(img, 3, seed=1, dx=-170.0)
    outs = {}
    for s in (Smoothing.OFF, Smoothing.ONE_EURO):
        with _video(s, redetect_every=3) as lm:
            outs[s] = [lm.detect_for_video(f, 33 * i) for i, f in enumerate(frames)]
    ran = [r.detector_ran for r in outs[Smoothing.OFF]]
    assert ran[:9] == [True, False, False] * 3 and ran[9], ran
    assert all(r.detector_ran == o.detector_ran for r, o in zip(outs[Smoothing.ONE_EURO], outs[Smoothing.OFF]))
    for i in (3, 6):  # same face re-detected: still filtered
        assert not np.allclose(_first(outs[Smoothing.ONE_EURO][i]), _first(outs[Smoothing.OFF][i]))
    np.testing.assert_array_equal(_first(outs[Smoothing.ONE_EURO][9]), _first(outs[Smoothing.OFF][9]))


def test_unknown_smoothing_is_one_line():
    from runtime.landmarker import Landmarker, LandmarkerOptions

    with pytest.raises(ValueError, match=r"smoothing must be one of \['off', 'one-euro'\]"):
        Landmarker(LandmarkerOptions(running_mode="video", smoothing="kalman"))
