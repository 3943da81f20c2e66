import numpy as np
import pytest

from runtime import codec


def _random_points(rng, n, size, margin=2):
    return rng.uniform(margin, size - 1 - margin, (n, 2)).astype(np.float32)


@pytest.mark.parametrize("size", [32, 64])
def test_encode_peak_at_point(size):
    kp = np.array([[10.0, 20.0], [5.0, 7.0]], np.float32)
    hm = codec.encode(kp, (size, size), sigma=1.5)
    assert hm.shape == (size, size, 2) and hm.dtype == np.float32
    for k in range(2):
        y, x = np.unravel_index(np.argmax(hm[..., k]), hm.shape[:2])
        assert (x, y) == tuple(kp[k].astype(int))
        assert hm[y, x, k] == pytest.approx(1.0)


def test_invisible_and_nan_points_give_empty_maps():
    kp = np.array([[10, 10], [np.nan, 3], [12, 12], [500, 500]], np.float32)
    hm = codec.encode(kp, (64, 64), visible=np.array([1, 1, 0, 1]))
    assert hm[..., 0].max() == pytest.approx(1.0)
    assert hm[..., 1:].max() == 0.0


def test_round_trip_parabola_subpixel_64():
    rng = np.random.default_rng(0)
    kp = _random_points(rng, 500, 64)
    xy, scores = codec.decode(codec.encode(kp, (64, 64), sigma=1.0), "parabola")
    err = np.abs(xy - kp)
    assert err.max() < 0.1, err.max()
    assert np.all(scores > 0.6)


def test_round_trip_quarter_offset_64():
    rng = np.random.default_rng(1)
    kp = _random_points(rng, 500, 64)
    xy, _ = codec.decode(codec.encode(kp, (64, 64), sigma=1.0), "quarter")
    err = np.abs(xy - kp)
    # The quarter-pixel shift quantises to {0, +-0.25} around the integer peak: at most 0.25 off
    # per axis, and on average 0.125 for uniformly placed points.
    assert err.max() <= 0.25 + 1e-5
    assert err.mean() < 0.14
    # Points on the grid or a quarter off it decode to within 0.1 px.
    grid = np.round(kp * 4) / 4
    grid = grid[np.all(np.abs(grid - np.round(grid)) != 0.5, axis=1)]
    xy, _ = codec.decode(codec.encode(grid, (64, 64), sigma=1.0), "quarter")
    assert np.abs(xy - grid).max() < 0.1


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_round_trip_dark_subpixel(sigma):
    # Smoothing a Gaussian by a Gaussian leaves a Gaussian, whose log is a quadratic: one Newton
    # step lands on the point (up to the kernel's truncation and the mirrored border).
    rng = np.random.default_rng(3)
    kp = _random_points(rng, 300, 32, margin=int(4 * sigma) + 1)  # the mirrored border: 3 sigma + the Gaussian
    xy, scores = codec.decode(codec.encode(kp, (32, 32), sigma=sigma), "dark", sigma=sigma)
    assert np.abs(xy - kp).max() < 0.02
    np.testing.assert_array_equal(scores, codec.decode(codec.encode(kp, (32, 32), sigma=sigma), "argmax")[1])


def test_dark_beats_parabola_on_noisy_maps():
    # What it is for: a model's heatmaps are noisy; smoothing before the fit averages the noise.
    rng = np.random.default_rng(4)
    kp = _random_points(rng, 400, 32, margin=3)
    hm = codec.encode(kp, (32, 32)) + rng.normal(0, 0.05, (32, 32, 400)).astype(np.float32)
    err = {m: np.linalg.norm(codec.decode(hm, m)[0] - kp, axis=1).mean() for m in ("parabola", "dark")}
    assert err["dark"] < 0.8 * err["parabola"], err


def test_dark_at_borders_and_on_tiny_maps():
    # a peak on the border moves only along the other axis; 1-pixel-wide maps decode to their argmax
    hm = codec.encode(np.array([[0.0, 7.3], [6.6, 15.0]], np.float32), (16, 16))
    xy, _ = codec.decode(hm, "dark")
    assert xy[0, 0] == 0.0 and abs(xy[0, 1] - 7.3) < 0.1
    assert xy[1, 1] == 15.0 and abs(xy[1, 0] - 6.6) < 0.1
    xy, _ = codec.decode(np.array([[[0.1], [0.9], [0.2]]], np.float32), "dark")  # (1, 3, 1)
    assert xy[0, 1] == 0.0 and 0.5 < xy[0, 0] < 1.5
    flat, _ = codec.decode(np.zeros((5, 5, 1), np.float32), "dark")  # no peak: no offset
    np.testing.assert_array_equal(flat, [[0.0, 0.0]])


@pytest.mark.parametrize("method", codec.DECODE_METHODS)
def test_decode_batch_matches_single(method):
    rng = np.random.default_rng(2)
    hm = rng.random((3, 16, 16, 5)).astype(np.float32)
    xy, s = codec.decode(hm, method)
    for i in range(3):
        xi, si = codec.decode(hm[i], method)
        np.testing.assert_array_equal(xy[i], xi)
        np.testing.assert_array_equal(s[i], si)


def test_decode_rejects_bad_input():
    with pytest.raises(ValueError, match="decode method"):
        codec.decode(np.zeros((4, 4, 1)), "bogus")
    with pytest.raises(ValueError, match="shape"):
        codec.decode(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="sigma"):
        codec.decode(np.zeros((4, 4, 1)), "dark", sigma=0.0)


def test_coordinate_maps_invert():
    xy = np.array([[0.0, 0.0], [127.0, 63.5]])
    h = codec.input_to_heatmap(xy, 4.0)
    np.testing.assert_allclose(h[0], [-0.375, -0.375])
    np.testing.assert_allclose(codec.heatmap_to_input(h, 4.0), xy, atol=1e-5)


def test_flip_heatmaps_swaps_pairs_and_mirrors():
    kp = np.array([[3.0, 5.0], [12.0, 6.0], [8.0, 2.0]], np.float32)
    hm = codec.encode(kp, (16, 16))
    flipped = codec.flip_heatmaps(hm, [(0, 1)])
    xy, _ = codec.decode(flipped, "argmax")
    np.testing.assert_allclose(xy, [[15 - 12, 6], [15 - 3, 5], [15 - 8, 2]])


def test_peak_ambiguity_measures_the_second_peak():
    one = codec.encode(np.array([[10.0, 10.0]], np.float32), (32, 32), sigma=1.5)
    two = np.maximum(one, 0.9 * codec.encode(np.array([[24.0, 20.0]], np.float32), (32, 32), sigma=1.5))
    near = np.maximum(one, 0.9 * codec.encode(np.array([[12.0, 10.0]], np.float32), (32, 32), sigma=1.0))
    r = codec.peak_ambiguity(np.concatenate([one, two, near, np.zeros_like(one)], axis=-1))
    assert r.shape == (4,) and r.dtype == np.float32
    assert r[0] == 0.0  # one Gaussian: no other local maximum
    assert r[1] == pytest.approx(0.9, abs=1e-6)  # the second person's wrist at 0.9 of the first
    assert r[2] == 0.0  # a shoulder within `radius` of the top belongs to it
    assert r[3] == 0.0  # an empty map has no top
    batched = codec.peak_ambiguity(np.stack([two, one]))
    assert batched.shape == (2, 1) and batched[0, 0] == pytest.approx(0.9, abs=1e-6)


def test_peak_ambiguity_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(H, W, K\)"):
        codec.peak_ambiguity(np.zeros((32, 32)))
