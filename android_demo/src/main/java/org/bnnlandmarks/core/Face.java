package org.bnnlandmarks.core;

/** One face's landmarks: interleaved (x, y) image pixels, per-point confidence, the landmark box used. */
public final class Face {
    public final float[] xy;
    public final float[] scores;
    public final double[] box;
    /** "detector" or "track". */
    public final String source;

    Face(float[] xy, float[] scores, double[] box, String source) {
        this.xy = xy;
        this.scores = scores;
        this.box = box;
        this.source = source;
    }

    /** Mean peak value: the tracker's "still a face" signal. */
    public float score() {
        double s = 0;
        for (float v : scores) s += v;
        return scores.length == 0 ? 0f : (float) (s / scores.length);
    }
}
