package org.bnnlandmarks.core;

import java.util.ArrayList;
import java.util.List;

/**
 * The live pipeline of runtime/landmarker.py (video mode) in plain Java: track each face from the
 * previous frame's landmarks, run the detector when no track is left (mean heatmap peak below
 * {@code trackThreshold}) and every {@code redetectEvery} frames (the binary model's peaks stay
 * fairly high on non-faces), crop, run the model, decode, map back to image pixels, then filter over
 * time ({@link OneEuroFilter}, on by default): a face keeps its filter while tracked and across a
 * re-detection that finds it again (landmark boxes with IoU >= 0.5); a new face starts a fresh one.
 */
public final class Landmarker {
    private final ModelSpec spec;
    private HeatmapModel model;
    private final FaceDetector detector;
    private final float trackThreshold;
    private final int maxFaces;
    private int redetectEvery = 15, sinceDetect = 0;
    private final float[] input;
    private List<Track> track = new ArrayList<>();
    private OneEuroFilter.Params smoothing = OneEuroFilter.Params.DEFAULT;
    private double lastTimestampMs = Double.NEGATIVE_INFINITY;

    /** A followed face: its unfiltered landmarks (the next crop comes from them) and its filter. */
    private static final class Track {
        final Face raw;
        final OneEuroFilter filter;
        final double[] box;

        Track(Face raw, OneEuroFilter filter) {
            this.raw = raw;
            this.filter = filter;
            this.box = Box.ofPoints(raw.xy);
        }
    }
    /** Milliseconds of the last frame's stages: detect, crop, inference, decode. */
    public final double[] lastMs = new double[4];
    public boolean lastRanDetector;

    public Landmarker(ModelSpec spec, HeatmapModel model, FaceDetector detector, float trackThreshold, int maxFaces) {
        this.spec = spec;
        this.model = model;
        this.detector = detector;
        this.trackThreshold = trackThreshold;
        this.maxFaces = maxFaces;
        this.input = new float[spec.inputSize * spec.inputSize * 3];
    }

    /** Swaps the model (for example binary <-> float) keeping the track; specs must share the layout. */
    public void setModel(HeatmapModel model) { this.model = model; }

    public void reset() {
        track = new ArrayList<>();
        sinceDetect = 0;
        lastTimestampMs = Double.NEGATIVE_INFINITY;
    }

    /** Temporal filtering of the landmarks: the One-Euro constants, or null for none. Resets the track. */
    public void setSmoothing(OneEuroFilter.Params params) {
        smoothing = params;
        reset();
    }

    /** Re-run the detector every n frames even while tracking (0: only when the track is lost). */
    public void setRedetectEvery(int n) { redetectEvery = Math.max(0, n); }

    /** Landmarks for the landmark box {x, y, w, h} (image pixels) of an upright RGB image. */
    public Face inBox(RgbSource image, double[] box, String source) {
        long t0 = System.nanoTime();
        final int s = spec.inputSize, hs = spec.heatmapSize, k = spec.numKeypoints;
        double[] m = Affine.cropOfBox(box, spec.cropScale, s);
        Sampler.warp(image, m, s, spec.inputScale, spec.inputOffset, input);
        long t1 = System.nanoTime();
        float[] hm = model.run(input);
        long t2 = System.nanoTime();
        if (hm.length != hs * hs * k) {
            throw new IllegalStateException("model output has " + hm.length + " values, the spec says " + hs + "x" + hs
                    + "x" + k);
        }
        float[] xy = new float[2 * k], scores = new float[k];
        HeatmapCodec.decode(hm, hs, hs, k, spec.decodeMethod, spec.heatmapSigma, xy, scores);
        HeatmapCodec.heatmapToInput(xy, spec.stride());
        if (spec.shapeCorrection != null) spec.shapeCorrection.apply(xy, s);
        Affine.apply(Affine.invert(m), xy);
        long t3 = System.nanoTime();
        lastMs[1] += (t1 - t0) / 1e6;
        lastMs[2] += (t2 - t1) / 1e6;
        lastMs[3] += (t3 - t2) / 1e6;
        return new Face(xy, scores, box, source);
    }

    /**
     * One video frame (upright RGB) taken at {@code timestampMs} (milliseconds, increasing): tracked faces,
     * or fresh detections when the track is lost, filtered over time.
     */
    public List<Face> process(RgbSource frame, double timestampMs) {
        if (!(timestampMs > lastTimestampMs)) {
            throw new IllegalArgumentException("timestamps must increase: got " + timestampMs + " after " + lastTimestampMs);
        }
        lastTimestampMs = timestampMs;
        for (int i = 0; i < lastMs.length; i++) lastMs[i] = 0;
        lastRanDetector = false;
        List<Track> next = new ArrayList<>();
        sinceDetect++;
        boolean due = redetectEvery > 0 && sinceDetect >= redetectEvery;
        for (Track prev : due ? new ArrayList<Track>() : track) {
            if (prev.box == null) continue;
            Face f = inBox(frame, prev.box, "track");
            if (f.score() >= trackThreshold) next.add(new Track(f, prev.filter));
        }
        if (next.isEmpty()) {
            lastRanDetector = true;
            sinceDetect = 0;
            long t0 = System.nanoTime();
            List<Box> dets = detector.detect(frame);
            lastMs[0] = (System.nanoTime() - t0) / 1e6;
            double[] cal = spec.calibration(detector.name());
            List<Face> all = new ArrayList<>(), kept = new ArrayList<>();
            for (int i = 0; i < dets.size() && i < maxFaces; i++) {
                all.add(inBox(frame, dets.get(i).calibrated(cal), "detector"));
            }
            for (Face f : all) if (f.score() >= trackThreshold) kept.add(f);
            next = match(kept.isEmpty() ? all : kept);
        }
        track = next;
        List<Face> out = new ArrayList<>();
        for (Track t : next) out.add(filtered(t, timestampMs));
        return out;
    }

    /** Detections -> tracks: one overlapping a previous track (IoU >= 0.5, best first) keeps its filter. */
    private List<Track> match(List<Face> found) {
        List<Track> free = new ArrayList<>(track), out = new ArrayList<>();
        for (Face f : found) {
            double[] b = Box.ofPoints(f.xy);
            Track best = null;
            double bestIou = -1;
            for (Track t : free) {
                double iou = b == null || t.box == null ? 0 : iou(b, t.box);
                if (iou > bestIou) {
                    bestIou = iou;
                    best = t;
                }
            }
            if (best != null && bestIou >= 0.5) {
                free.remove(best);
                out.add(new Track(f, best.filter));
            } else {
                out.add(new Track(f, smoothing == null ? null : new OneEuroFilter(smoothing)));
            }
        }
        return out;
    }

    private static double iou(double[] a, double[] b) {
        return Box.iou(new Box(a[0], a[1], a[2], a[3], 0), new Box(b[0], b[1], b[2], b[3], 0));
    }

    private static Face filtered(Track t, double timestampMs) {
        if (t.filter == null || t.box == null) return t.raw;
        double scale = Math.max(1.0, Math.max(t.box[2], t.box[3]));
        return new Face(t.filter.apply(t.raw.xy, timestampMs, scale), t.raw.scores, t.raw.box, t.raw.source);
    }
}
