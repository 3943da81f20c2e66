package org.bnnlandmarks.core;

/**
 * A view of an image rotated clockwise by 0, 90, 180 or 270 degrees and optionally mirrored
 * (applied after the rotation): turns a sensor-oriented camera frame into an upright one without
 * copying it.
 */
public final class RotatedSource implements RgbSource {
    private final RgbSource src;
    private final int rotation;
    private final boolean mirror;

    public RotatedSource(RgbSource src, int clockwiseDegrees, boolean mirror) {
        int r = ((clockwiseDegrees % 360) + 360) % 360;
        if (r % 90 != 0) throw new IllegalArgumentException("rotation must be a multiple of 90, got " + clockwiseDegrees);
        this.src = src;
        this.rotation = r;
        this.mirror = mirror;
    }

    @Override public int width() { return rotation % 180 == 0 ? src.width() : src.height(); }

    @Override public int height() { return rotation % 180 == 0 ? src.height() : src.width(); }

    @Override public int rgb(int x, int y) {
        if (mirror) x = width() - 1 - x;
        switch (rotation) {
            case 90: return src.rgb(y, src.height() - 1 - x);
            case 180: return src.rgb(src.width() - 1 - x, src.height() - 1 - y);
            case 270: return src.rgb(src.width() - 1 - y, x);
            default: return src.rgb(x, y);
        }
    }
}
