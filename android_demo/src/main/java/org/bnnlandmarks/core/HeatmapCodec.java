package org.bnnlandmarks.core;

/**
 * Heatmap decoding, the Java port of runtime/codec.py's {@code decode} and {@code heatmap_to_input}
 * (checked against golden vectors written by the Python codec).
 */
public final class HeatmapCodec {
    /** The decode methods, as runtime/codec.py's {@code DecodeMethod} names them. */
    public static final String[] METHODS = {"argmax", "quarter", "parabola", "dark"};

    private HeatmapCodec() {}

    /**
     * Decodes (H, W, K) channels-last heatmaps.
     *
     * @param hm float[h * w * k]
     * @param method "argmax", "quarter", "parabola" or "dark"
     * @param sigma the heatmaps' Gaussian standard deviation in heatmap pixels (used by "dark")
     * @param xyOut float[2k]: (x, y) per keypoint in heatmap pixels
     * @param scoreOut float[k]: peak values
     */
    public static void decode(float[] hm, int h, int w, int k, String method, float sigma, float[] xyOut,
                              float[] scoreOut) {
        boolean quarter = method.equals("quarter"), parabola = method.equals("parabola"), dark = method.equals("dark");
        if (!quarter && !parabola && !dark && !method.equals("argmax")) {
            throw new IllegalArgumentException("unknown decode method " + method);
        }
        if (dark && !(sigma > 0)) throw new IllegalArgumentException("sigma must be > 0, got " + sigma);
        double[] g = dark ? gaussian(sigma) : null; // once per call, not per keypoint
        for (int c = 0; c < k; c++) {
            int best = 0;
            float bv = hm[c];
            for (int i = 1; i < h * w; i++) {
                float v = hm[i * k + c];
                if (v > bv) { bv = v; best = i; } // first maximum, as numpy.argmax
            }
            int py = best / w, px = best % w;
            double x = px, y = py;
            if (quarter || parabola) {
                float l = at(hm, h, w, k, c, py, px - 1), r = at(hm, h, w, k, c, py, px + 1);
                float u = at(hm, h, w, k, c, py - 1, px), d = at(hm, h, w, k, c, py + 1, px);
                double dx, dy;
                if (quarter) {
                    dx = 0.25 * Math.signum(r - l);
                    dy = 0.25 * Math.signum(d - u);
                } else {
                    double lc = logc(bv), ll = logc(l), lr = logc(r), lu = logc(u), ld = logc(d);
                    double denx = ll - 2 * lc + lr, deny = lu - 2 * lc + ld;
                    dx = denx < 0 ? clip(0.5 * (ll - lr) / denx) : 0.0;
                    dy = deny < 0 ? clip(0.5 * (lu - ld) / deny) : 0.0;
                }
                if (px > 0 && px < w - 1) x += dx;
                if (py > 0 && py < h - 1) y += dy;
            } else if (dark) {
                double[] d = darkOffset(hm, h, w, k, c, py, px, g);
                if (px > 0 && px < w - 1) x += d[0];
                if (py > 0 && py < h - 1) y += d[1];
            }
            xyOut[2 * c] = (float) x;
            xyOut[2 * c + 1] = (float) y;
            scoreOut[c] = bv;
        }
    }

    /** Heatmap pixels -> input pixels: (v + 0.5) * stride - 0.5, in place on interleaved (x, y). */
    public static void heatmapToInput(float[] xy, float stride) {
        for (int i = 0; i < xy.length; i++) xy[i] = (float) ((xy[i] + 0.5) * stride - 0.5);
    }

    /**
     * The "dark" offset at the argmax (px, py): the log of the map smoothed by a normalised Gaussian
     * (radius ceil(3 sigma), mirrored borders) at the 3x3 pixels around it, then one Newton step
     * -H^-1 g, clipped to [-1, 1]; 0 where H is not negative definite.
     */
    private static double[] darkOffset(float[] hm, int h, int w, int k, int c, int py, int px, double[] g) {
        int r = g.length / 2;
        double[][] lg = new double[3][3];
        for (int a = -1; a <= 1; a++) {
            for (int b = -1; b <= 1; b++) {
                double v = 0;
                for (int i = -r; i <= r; i++) {
                    int yy = reflect101(py + a + i, h);
                    double row = 0;
                    for (int j = -r; j <= r; j++) row += (double) hm[(yy * w + reflect101(px + b + j, w)) * k + c] * g[j + r];
                    v += row * g[i + r];
                }
                lg[a + 1][b + 1] = Math.log(Math.max(v, 1e-10));
            }
        }
        double gx = 0.5 * (lg[1][2] - lg[1][0]), gy = 0.5 * (lg[2][1] - lg[0][1]);
        double hxx = lg[1][2] - 2 * lg[1][1] + lg[1][0], hyy = lg[2][1] - 2 * lg[1][1] + lg[0][1];
        double hxy = 0.25 * (lg[2][2] - lg[2][0] - lg[0][2] + lg[0][0]);
        double det = hxx * hyy - hxy * hxy;
        if (!(det > 0 && hxx < 0)) return new double[] {0.0, 0.0};
        return new double[] {clip1(-(hyy * gx - hxy * gy) / det), clip1(-(hxx * gy - hxy * gx) / det)};
    }

    /** The normalised Gaussian kernel of {@code sigma}, radius ceil(3 sigma) (at least 1). */
    private static double[] gaussian(float sigma) {
        int r = Math.max(1, (int) Math.ceil(3 * (double) sigma));
        double[] g = new double[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += g[i + r] = Math.exp(-(double) (i * i) / (2.0 * sigma * sigma));
        for (int i = 0; i < g.length; i++) g[i] /= sum;
        return g;
    }

    private static int reflect101(int i, int n) { // ..., 2, 1, 0, 1, 2, ..., n-2, n-1, n-2, ... (numpy's "reflect")
        if (n == 1) return 0;
        int period = 2 * (n - 1);
        i = Math.abs(i) % period;
        return i >= n ? period - i : i;
    }

    private static double clip1(double v) {
        return Math.max(-1.0, Math.min(1.0, v));
    }

    private static float at(float[] hm, int h, int w, int k, int c, int y, int x) {
        y = Math.max(0, Math.min(h - 1, y));
        x = Math.max(0, Math.min(w - 1, x));
        return hm[(y * w + x) * k + c];
    }

    private static double logc(float v) { // float32 log of max(v, 1e-10), as numpy computes it
        return (float) Math.log(Math.max(v, 1e-10f));
    }

    private static double clip(double v) {
        if (Double.isNaN(v)) return 0.0;
        return Math.max(-0.5, Math.min(0.5, v));
    }
}
