package org.bnnlandmarks.core;

/** An axis-aligned box (x, y, w, h) in image pixels with a detector score. */
public final class Box {
    public final double x, y, w, h, score;

    public Box(double x, double y, double w, double h, double score) {
        this.x = x;
        this.y = y;
        this.w = w;
        this.h = h;
        this.score = score;
    }

    public double[] toArray() { return new double[] {x, y, w, h}; }

    /** Detector box -> landmark box: centre += (dx w, dy h), side = scale max(w, h) (runtime/detectors.py). */
    public double[] calibrated(double[] cal) {
        double cx = x + w / 2 + cal[0] * w, cy = y + h / 2 + cal[1] * h;
        double side = cal[2] * Math.max(w, h);
        return new double[] {cx - side / 2, cy - side / 2, side, side};
    }

    /** Tight box {x, y, w, h} of interleaved points (finite ones only); null if there are none. */
    public static double[] ofPoints(float[] xy) {
        double x0 = Double.POSITIVE_INFINITY, y0 = x0, x1 = Double.NEGATIVE_INFINITY, y1 = x1;
        for (int i = 0; i + 1 < xy.length; i += 2) {
            if (Float.isNaN(xy[i]) || Float.isInfinite(xy[i]) || Float.isNaN(xy[i + 1]) || Float.isInfinite(xy[i + 1])) {
                continue;
            }
            x0 = Math.min(x0, xy[i]);
            x1 = Math.max(x1, xy[i]);
            y0 = Math.min(y0, xy[i + 1]);
            y1 = Math.max(y1, xy[i + 1]);
        }
        return x1 < x0 ? null : new double[] {x0, y0, x1 - x0, y1 - y0};
    }

    static double iou(Box a, Box b) {
        double ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
        double iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
        if (ix <= 0 || iy <= 0) return 0.0;
        double inter = ix * iy;
        return inter / (a.w * a.h + b.w * b.h - inter);
    }
}
