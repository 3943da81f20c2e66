package org.bnnlandmarks.core;

/**
 * 2x3 affine matrices {a, b, c, d, e, f} mapping (x, y) to (a x + b y + c, d x + e y + f), with the
 * runtime's crop convention (runtime/crop.py): continuous pixel coordinates with integer values at
 * pixel centres.
 */
public final class Affine {
    private Affine() {}

    /**
     * Image pixels -> crop pixels for a square of {@code side} image pixels centred on (cx, cy),
     * rotated by {@code rotationDeg} counter-clockwise, sampled to size x size.
     */
    public static double[] crop(double cx, double cy, double side, int size, double rotationDeg) {
        if (!(side > 0)) throw new IllegalArgumentException("crop side must be > 0, got " + side);
        double s = size / side;
        double a = Math.toRadians(rotationDeg);
        double cos = Math.cos(a) * s, sin = Math.sin(a) * s;
        double c = (size - 1) / 2.0;
        return new double[] {cos, sin, c - (cos * cx + sin * cy), -sin, cos, c - (-sin * cx + cos * cy)};
    }

    /** Crop matrix for a box {x, y, w, h}: centre of the box, side = cropScale * max(w, h). */
    public static double[] cropOfBox(double[] box, double cropScale, int size) {
        double side = cropScale * Math.max(Math.max(box[2], box[3]), 1e-6);
        return crop(box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, side, size, 0.0);
    }

    public static double[] invert(double[] m) {
        double det = m[0] * m[4] - m[1] * m[3];
        if (det == 0) throw new IllegalArgumentException("singular affine matrix");
        double ia = m[4] / det, ib = -m[1] / det, id = -m[3] / det, ie = m[0] / det;
        return new double[] {ia, ib, -(ia * m[2] + ib * m[5]), id, ie, -(id * m[2] + ie * m[5])};
    }

    /** Applies m to interleaved points {x0, y0, x1, y1, ...}, in place. */
    public static void apply(double[] m, float[] xy) {
        for (int i = 0; i + 1 < xy.length; i += 2) {
            double x = xy[i], y = xy[i + 1];
            xy[i] = (float) (m[0] * x + m[1] * y + m[2]);
            xy[i + 1] = (float) (m[3] * x + m[4] * y + m[5]);
        }
    }
}
