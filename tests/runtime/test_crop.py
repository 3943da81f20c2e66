import numpy as np
import pytest

from runtime import crop


def test_square_maps_to_output_edges():
    m = crop.crop_matrix((50.0, 40.0), side=100.0, size=200)
    # Outer edge of the square (centre - side/2 - 0) maps to -0.5 (outer edge of pixel 0).
    np.testing.assert_allclose(crop.apply(m, [[0.0, -10.0]]), [[-0.5, -0.5]], atol=1e-5)
    np.testing.assert_allclose(crop.apply(m, [[50.0, 40.0]]), [[99.5, 99.5]], atol=1e-5)


def test_invert_round_trip_with_rotation_and_flip():
    rng = np.random.default_rng(0)
    m = crop.crop_matrix((120.0, 80.0), 150.0, 128, rotation_deg=25.0, flip=True)
    pts = rng.uniform(0, 200, (10, 2))
    back = crop.apply(crop.invert(m), crop.apply(m, pts))
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_flip_mirrors_about_centre():
    m = crop.crop_matrix((10.0, 10.0), 20.0, 20, flip=True)
    # the square's left edge (x=0) lands on the crop's right edge (19.5)
    np.testing.assert_allclose(crop.apply(m, [[0.0, 10.0], [10.0, 10.0]]), [[19.5, 9.5], [9.5, 9.5]], atol=1e-5)


def test_warp_matches_point_mapping():
    img = np.zeros((100, 120, 3), np.uint8)
    img[30, 70] = 255
    m = crop.crop_matrix((60.0, 50.0), 80.0, 80, rotation_deg=10.0)
    out = crop.warp(img, m, 80)
    y, x = np.unravel_index(np.argmax(out[..., 0]), out.shape[:2])
    np.testing.assert_allclose([x, y], crop.apply(m, [[70, 30]])[0], atol=1.0)


def test_box_helpers():
    pts = np.array([[10, 20], [30, 60], [np.nan, 0]], np.float32)
    assert crop.box_of_points(pts) == (10.0, 20.0, 20.0, 40.0)
    c, s = crop.box_crop((10, 20, 20, 40), 1.5)
    assert c == (20.0, 40.0) and s == 60.0
    with pytest.raises(ValueError):
        crop.box_of_points(pts, visible=[0, 0, 0])
    with pytest.raises(ValueError):
        crop.crop_matrix((0, 0), 0.0, 10)


def test_whole_image_box_crops_the_centred_square():
    box = crop.whole_image_box((300, 500, 3), 1.25)
    centre, side = crop.box_crop(box, 1.25)
    assert np.allclose(centre, (250, 150)) and np.isclose(side, 500)
