package org.bnnlandmarks.core;

/** A read-only RGB image: camera frames, bitmaps or test images, without copying them. */
public interface RgbSource {
    int width();

    int height();

    /** The pixel at integer (x, y), 0 <= x < width, 0 <= y < height, as 0xRRGGBB. */
    int rgb(int x, int y);
}
