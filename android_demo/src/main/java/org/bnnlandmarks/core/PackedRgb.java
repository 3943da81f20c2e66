package org.bnnlandmarks.core;

/** An RGB image in an int array (0x..RRGGBB per pixel, row-major), such as Bitmap.getPixels() gives. */
public final class PackedRgb implements RgbSource {
    private final int[] pixels;
    private final int width, height;

    public PackedRgb(int[] pixels, int width, int height) {
        if (width <= 0 || height <= 0 || pixels.length < (long) width * height) {
            throw new IllegalArgumentException("image of " + width + "x" + height + " needs " + (long) width * height
                    + " pixels, got " + pixels.length);
        }
        this.pixels = pixels;
        this.width = width;
        this.height = height;
    }

    /** From interleaved 8-bit RGB bytes (H, W, 3), as the golden files store them. */
    public static PackedRgb fromRgbBytes(byte[] rgb, int width, int height) {
        if (rgb.length != 3L * width * height) throw new IllegalArgumentException("RGB byte count mismatch");
        int[] p = new int[width * height];
        for (int i = 0; i < p.length; i++) {
            p[i] = (rgb[3 * i] & 0xff) << 16 | (rgb[3 * i + 1] & 0xff) << 8 | (rgb[3 * i + 2] & 0xff);
        }
        return new PackedRgb(p, width, height);
    }

    @Override public int width() { return width; }

    @Override public int height() { return height; }

    @Override public int rgb(int x, int y) { return pixels[y * width + x] & 0xffffff; }
}
