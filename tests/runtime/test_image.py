import numpy as np
import pytest

from runtime.image import ImageError, read_image, to_rgb8


def test_to_rgb8_conversions():
    g = np.full((4, 5), 7, np.uint8)
    assert to_rgb8(g).shape == (4, 5, 3)
    rgba = np.zeros((4, 5, 4), np.uint8)
    assert to_rgb8(rgba).shape == (4, 5, 3)
    u16 = np.full((2, 2, 3), 65535, np.uint16)
    assert to_rgb8(u16).max() == 255 and to_rgb8(u16).dtype == np.uint8
    f = np.full((2, 2, 3), 0.5, np.float32)
    assert to_rgb8(f)[0, 0, 0] == 128


@pytest.mark.parametrize("bad", [np.zeros((0, 3, 3), np.uint8), np.zeros((3,), np.uint8),
                                 np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3), np.int64)])
def test_to_rgb8_rejects(bad):
    with pytest.raises(ImageError):
        to_rgb8(bad)


def test_pixel_limit():
    with pytest.raises(ImageError, match="pixel limit"):
        to_rgb8(np.zeros((100, 100, 3), np.uint8), max_pixels=5000)


def test_read_image_errors(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_bytes(b"this is not an image at all")
    for name, msg in (("empty.jpg", "empty"), ("text.jpg", "cannot decode"), ("missing.png", "cannot read")):
        with pytest.raises(ImageError, match=msg):
            read_image(tmp_path / name)


def test_read_image_truncated_and_huge(tmp_path):
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    ok, buf = cv2.imencode(".png", img)
    (tmp_path / "t.png").write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ImageError):
        read_image(tmp_path / "t.png")
    (tmp_path / "ok.png").write_bytes(buf.tobytes())
    assert read_image(tmp_path / "ok.png").shape == (64, 64, 3)
    with pytest.raises(ImageError, match="pixel limit"):
        read_image(tmp_path / "ok.png", max_pixels=1000)
    g16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    out = read_image(tmp_path / "g16.png")
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
