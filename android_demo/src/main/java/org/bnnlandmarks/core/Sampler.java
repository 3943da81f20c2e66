package org.bnnlandmarks.core;

/**
 * Image -> model input sampling, reproducing OpenCV exactly so that the phone feeds the model the
 * same numbers as the Python runtime: {@code cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0)} on
 * 8-bit RGB (1/32-pixel fixed-point coordinates, 15-bit weights), then {@code x * scale + offset}.
 */
public final class Sampler {
    private static final int INTER_BITS = 5, TAB = 1 << INTER_BITS, AB_BITS = 10, AB_SCALE = 1 << AB_BITS;
    private static final int COEF_BITS = 15;

    private Sampler() {}

    private static int round(double v) { // cvRound: nearest, ties to even, saturated
        double r = Math.rint(v);
        return r >= Integer.MAX_VALUE ? Integer.MAX_VALUE : r <= Integer.MIN_VALUE ? Integer.MIN_VALUE : (int) r;
    }

    /**
     * Warps {@code img} through {@code m} (image -> crop pixels, 2x3) into a size x size x 3 float
     * tensor (row-major HWC, RGB), each 8-bit value v stored as {@code v * scale + offset}.
     *
     * @param out float[size * size * 3], overwritten
     */
    public static void warp(RgbSource img, double[] m, int size, float scale, float offset, float[] out) {
        if (out.length < size * size * 3) throw new IllegalArgumentException("output buffer too small");
        double[] inv = Affine.invert(m); // OpenCV inverts M the same way (WARP_INVERSE_MAP unset)
        final int w = img.width(), h = img.height();
        final int roundDelta = AB_SCALE / TAB / 2;
        int[] adelta = new int[size], bdelta = new int[size];
        for (int x = 0; x < size; x++) {
            adelta[x] = round(inv[0] * x * AB_SCALE);
            bdelta[x] = round(inv[3] * x * AB_SCALE);
        }
        int[] v = new int[4];
        for (int y = 0; y < size; y++) {
            int x0 = round((inv[1] * y + inv[2]) * AB_SCALE) + roundDelta;
            int y0 = round((inv[4] * y + inv[5]) * AB_SCALE) + roundDelta;
            for (int x = 0; x < size; x++) {
                int X = (x0 + adelta[x]) >> (AB_BITS - INTER_BITS);
                int Y = (y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
                int sx = X >> INTER_BITS, sy = Y >> INTER_BITS;
                int fx = X & (TAB - 1), fy = Y & (TAB - 1);
                // bilinear weights in 1/32768: (32 - fx)(32 - fy) * 32 etc. (exact, sum 32768)
                int w00 = (TAB - fx) * (TAB - fy) * 32, w01 = fx * (TAB - fy) * 32;
                int w10 = (TAB - fx) * fy * 32, w11 = fx * fy * 32;
                int o = (y * size + x) * 3;
                if (sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0) {
                    out[o] = out[o + 1] = out[o + 2] = offset;
                    continue;
                }
                v[0] = sx >= 0 && sy >= 0 ? img.rgb(sx, sy) : 0;
                v[1] = sx + 1 < w && sy >= 0 ? img.rgb(sx + 1, sy) : 0;
                v[2] = sx >= 0 && sy + 1 < h ? img.rgb(sx, sy + 1) : 0;
                v[3] = sx + 1 < w && sy + 1 < h ? img.rgb(sx + 1, sy + 1) : 0;
                for (int c = 0; c < 3; c++) {
                    int shift = 16 - 8 * c;
                    int acc = ((v[0] >> shift) & 255) * w00 + ((v[1] >> shift) & 255) * w01
                            + ((v[2] >> shift) & 255) * w10 + ((v[3] >> shift) & 255) * w11;
                    int q = (acc + (1 << (COEF_BITS - 1))) >> COEF_BITS;
                    out[o + c] = (q > 255 ? 255 : q) * scale + offset;
                }
            }
        }
    }

    /**
     * BlazeFace's input: the image letterboxed (centred) into a black square of side max(w, h) and
     * area-averaged down to size x size like {@code cv2.resize(INTER_AREA)}, stored as
     * {@code v * scale + offset}. Returns {side, ox, oy}: the square's side and the image's offset in it.
     */
    public static int[] letterboxArea(RgbSource img, int size, float scale, float offset, float[] out) {
        final int w = img.width(), h = img.height(), side = Math.max(w, h);
        final int ox = (side - w) / 2, oy = (side - h) / 2;
        final double s = (double) side / size;
        double[] acc = new double[3];
        for (int dy = 0; dy < size; dy++) {
            double y0 = dy * s, y1 = (dy + 1) * s;
            for (int dx = 0; dx < size; dx++) {
                double x0 = dx * s, x1 = (dx + 1) * s;
                acc[0] = acc[1] = acc[2] = 0;
                for (int sy = (int) Math.floor(y0); sy < y1 && sy < side; sy++) {
                    double wy = Math.min(y1, sy + 1) - Math.max(y0, sy);
                    int iy = sy - oy;
                    if (wy <= 0 || iy < 0 || iy >= h) continue;
                    for (int sx = (int) Math.floor(x0); sx < x1 && sx < side; sx++) {
                        double wx = Math.min(x1, sx + 1) - Math.max(x0, sx);
                        int ix = sx - ox;
                        if (wx <= 0 || ix < 0 || ix >= w) continue;
                        int p = img.rgb(ix, iy);
                        double wgt = wx * wy;
                        acc[0] += wgt * ((p >> 16) & 255);
                        acc[1] += wgt * ((p >> 8) & 255);
                        acc[2] += wgt * (p & 255);
                    }
                }
                int o = (dy * size + dx) * 3;
                for (int c = 0; c < 3; c++) {
                    long q = (long) Math.rint((float) (acc[c] / (s * s))); // cvRound
                    out[o + c] = (q > 255 ? 255 : q) * scale + offset;
                }
            }
        }
        return new int[] {side, ox, oy};
    }
}
