package org.bnnlandmarks.core;

/**
 * Heatmap decoding, the Java port of runtime/codec.py's {@code decode} and {@code heatmap_to_input}
 * (checked against golden vectors written by the Python codec).
 */
public final class HeatmapCodec {
    private HeatmapCodec() {}

    /**
     * Decodes (H, W, K) channels-last heatmaps.
     *
     * @param hm float[h * w * k]
     * @param method "argmax", "quarter" or "parabola"
     * @param xyOut float[2k]: (x, y) per keypoint in heatmap pixels
     * @param scoreOut float[k]: peak values
     */
    public static void decode(float[] hm, int h, int w, int k, String method, float[] xyOut, float[] scoreOut) {
        boolean quarter = method.equals("quarter"), parabola = method.equals("parabola");
        if (!quarter && !parabola && !method.equals("argmax")) {
            throw new IllegalArgumentException("unknown decode method " + method);
        }
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
