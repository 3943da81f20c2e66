package org.bnnlandmarks.core;

/**
 * The One-Euro filter of runtime/smoothing.py (Casiez et al. 2012), same arithmetic, same constants:
 * each value is smoothed by an exponential filter whose cutoff rises with its speed, measured in
 * object sizes per second ({@code scale}), from the frames' timestamps. The first value (and the
 * first after {@link #reset()}) passes unchanged. Checked against the Python filter's golden vectors.
 */
public final class OneEuroFilter {
    /** The filter's constants (Hz; beta in Hz per object size per second). */
    public static final class Params {
        /** The runtime's defaults (runtime.smoothing.OneEuroParams). */
        public static final Params DEFAULT = new Params(0.1, 5.0, 0.5);

        public final double minCutoff, beta, dCutoff;

        public Params(double minCutoff, double beta, double dCutoff) {
            if (!(minCutoff > 0) || !(beta >= 0) || !(dCutoff > 0) || Double.isInfinite(minCutoff)
                    || Double.isInfinite(beta) || Double.isInfinite(dCutoff)) {
                throw new IllegalArgumentException("OneEuroFilter.Params: min_cutoff and d_cutoff must be finite and"
                        + " > 0, beta finite and >= 0");
            }
            this.minCutoff = minCutoff;
            this.beta = beta;
            this.dCutoff = dCutoff;
        }
    }

    private final Params params;
    private double[] x, dx;
    private double lastMs;

    public OneEuroFilter(Params params) {
        this.params = params;
    }

    /** Forget the history: the next value passes unfiltered. */
    public void reset() {
        x = null;
        dx = null;
    }

    private static double alpha(double cutoff, double dt) {
        return 1.0 / (1.0 + 1.0 / (2.0 * Math.PI * cutoff * dt));
    }

    /**
     * Filters one sample: {@code values} (for example interleaved x, y image pixels) at
     * {@code timestampMs} for an object of size {@code scale} (its landmark box side, pixels).
     * Returns the filtered values; refuses (IllegalArgumentException, state unchanged) a timestamp
     * that does not increase, a non-finite value, a length change or a scale that is not > 0.
     */
    public float[] apply(float[] values, double timestampMs, double scale) {
        for (float v : values) {
            if (Float.isNaN(v) || Float.isInfinite(v)) throw new IllegalArgumentException("OneEuroFilter: NaN or inf value");
        }
        if (!(scale > 0) || Double.isInfinite(scale)) throw new IllegalArgumentException("OneEuroFilter: scale " + scale);
        if (Double.isNaN(timestampMs) || Double.isInfinite(timestampMs)) {
            throw new IllegalArgumentException("OneEuroFilter: timestamp " + timestampMs);
        }
        float[] out = new float[values.length];
        if (x == null) {
            x = new double[values.length];
            dx = new double[values.length];
            for (int i = 0; i < values.length; i++) {
                x[i] = values[i];
                out[i] = values[i];
            }
            lastMs = timestampMs;
            return out;
        }
        if (values.length != x.length) throw new IllegalArgumentException("OneEuroFilter: length changed; reset()");
        if (timestampMs <= lastMs) {
            throw new IllegalArgumentException("OneEuroFilter: timestamps must increase: " + timestampMs + " after "
                    + lastMs);
        }
        double dt = (timestampMs - lastMs) / 1000.0;
        double ad = alpha(params.dCutoff, dt);
        for (int i = 0; i < values.length; i++) {
            double speed = (values[i] - x[i]) / (dt * scale);
            dx[i] += ad * (speed - dx[i]);
            double a = alpha(params.minCutoff + params.beta * Math.abs(dx[i]), dt);
            x[i] += a * (values[i] - x[i]);
            out[i] = (float) x[i];
        }
        lastMs = timestampMs;
        return out;
    }
}
