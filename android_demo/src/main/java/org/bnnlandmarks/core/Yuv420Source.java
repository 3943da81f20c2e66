package org.bnnlandmarks.core;

/**
 * A camera frame in YUV 4:2:0 (Android's YUV_420_888: a Y plane and subsampled U and V planes with
 * their own row and pixel strides) read as RGB with the full-range BT.601 (JFIF) matrix that
 * Android cameras use. Converts only the pixels that are read.
 */
public final class Yuv420Source implements RgbSource {
    private final byte[] y, u, v;
    private final int width, height, yRowStride, uvRowStride, uvPixelStride;

    public Yuv420Source(byte[] y, byte[] u, byte[] v, int width, int height, int yRowStride, int uvRowStride,
                        int uvPixelStride) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("empty frame " + width + "x" + height);
        long lastUv = (long) ((height - 1) / 2) * uvRowStride + (long) ((width - 1) / 2) * uvPixelStride;
        if (y.length < (long) (height - 1) * yRowStride + width || u.length <= lastUv || v.length <= lastUv) {
            throw new IllegalArgumentException("YUV planes too small for a " + width + "x" + height + " frame");
        }
        this.y = y;
        this.u = u;
        this.v = v;
        this.width = width;
        this.height = height;
        this.yRowStride = yRowStride;
        this.uvRowStride = uvRowStride;
        this.uvPixelStride = uvPixelStride;
    }

    @Override public int width() { return width; }

    @Override public int height() { return height; }

    @Override public int rgb(int x, int yy) {
        int l = y[yy * yRowStride + x] & 0xff;
        int i = (yy >> 1) * uvRowStride + (x >> 1) * uvPixelStride;
        int cb = (u[i] & 0xff) - 128, cr = (v[i] & 0xff) - 128;
        // 16.16 fixed point: R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr, B = Y + 1.772 Cb
        int r = l + ((91881 * cr + 32768) >> 16);
        int g = l - ((22554 * cb + 46802 * cr + 32768) >> 16);
        int b = l + ((116130 * cb + 32768) >> 16);
        return clamp(r) << 16 | clamp(g) << 8 | clamp(b);
    }

    private static int clamp(int c) { return c < 0 ? 0 : c > 255 ? 255 : c; }
}
