"""Hostile inputs: malformed model bytes and hostile images never crash the runtime."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from runtime.image import ImageError, header_size, read_image
from runtime.tflite_model import ModelFormatError, read_model

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL = (ROOT / "runtime" / "assets" / "face_detection_short_range.tflite").read_bytes()


def _parse(data):
    try:
        read_model(data)
    except ModelFormatError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(MODEL) - 1), st.integers(0, 255)), min_size=1, max_size=20))
def test_reader_survives_byte_mutations(edits):
    data = bytearray(MODEL)
    for pos, val in edits:
        data[pos] = val
    _parse(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(MODEL)))
def test_reader_survives_truncation(n):
    _parse(MODEL[:n])


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=512))
def test_reader_survives_random_bytes(blob):
    _parse(b"\x10\x00\x00\x00TFL3" + blob)
    _parse(blob)


def test_reader_rejects_absurd_offsets():
    data = bytearray(MODEL)
    data[0:4] = struct.pack("<I", len(MODEL) + 1000)  # root table outside the file
    with pytest.raises(ModelFormatError, match="outside"):
        read_model(bytes(data))


def _png_header(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_decompression_bomb_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header(100_000, 100_000) + b"\x00" * 100)
    with pytest.raises(ImageError, match="100000x100000 pixels exceeds"):
        read_image(p)
    assert header_size(_png_header(7, 9)) == (7, 9)


def test_header_sizes_of_real_encodings():
    import cv2

    img = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg", ".bmp"):
        ok, buf = cv2.imencode(ext, img)
        assert header_size(buf.tobytes()) == (53, 37), ext


def test_hostile_image_kinds(tmp_path):
    import cv2

    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8)
    cases = {}
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([rgb, np.full((40, 60), 128, np.uint8)]))
    cases["rgba.png"] = (40, 60, 3)
    cv2.imwrite(str(tmp_path / "gray16.png"), (rgb[..., 0].astype(np.uint16) * 257))
    cases["gray16.png"] = (40, 60, 3)
    cv2.imwrite(str(tmp_path / "rgb16.tiff"), rgb.astype(np.uint16) * 257)
    cases["rgb16.tiff"] = (40, 60, 3)
    for name, shape in cases.items():
        out = read_image(tmp_path / name)
        assert out.shape == shape and out.dtype == np.uint8, name
    (tmp_path / "fake.jpg").write_bytes(b"%PDF-1.4 not an image")
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "trunc.jpg").write_bytes(cv2.imencode(".jpg", rgb)[1].tobytes()[:50])
    for name in ("fake.jpg", "zero.png", "trunc.jpg"):
        with pytest.raises(ImageError):
            read_image(tmp_path / name)


def test_cmyk_jpeg_and_animated_gif(tmp_path):
    """A CMYK JPEG and a GIF are read as RGB (first frame) or refused with a clear error."""
    pil = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(1).integers(0, 255, (30, 40, 3), np.uint8)
    pil.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    frames = [pil.fromarray(np.full((30, 40, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    for name in ("cmyk.jpg", "anim.gif"):
        try:
            out = read_image(tmp_path / name)
        except ImageError as e:
            assert name in str(e)
        else:
            assert out.shape == (30, 40, 3) and out.dtype == np.uint8
