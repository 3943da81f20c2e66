package org.bnnlandmarks.core;

import java.util.ArrayList;
import java.util.List;

/**
 * The live pipeline of runtime/landmarker.py (video mode) in plain Java: track each face from the
 * previous frame's landmarks, run the detector when no track is left (mean heatmap peak below
 * {@code trackThreshold}) and every {@code redetectEvery} frames (the binary model's peaks stay
 * fairly high on non-faces), crop, run the model, decode, map back to image pixels.
 */
public final class Landmarker {
    private final ModelSpec spec;
    private HeatmapModel model;
    private final FaceDetector detector;
    private final float trackThreshold;
    private final int maxFaces;
    private int redetectEvery = 15, sinceDetect = 0;
    private final float[] input;
    private List<Face> track = new ArrayList<>();
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
        HeatmapCodec.decode(hm, hs, hs, k, spec.decodeMethod, xy, scores);
        HeatmapCodec.heatmapToInput(xy, spec.stride());
        Affine.apply(Affine.invert(m), xy);
        long t3 = System.nanoTime();
        lastMs[1] += (t1 - t0) / 1e6;
        lastMs[2] += (t2 - t1) / 1e6;
        lastMs[3] += (t3 - t2) / 1e6;
        return new Face(xy, scores, box, source);
    }

    /** One video frame (upright RGB): tracked faces, or fresh detections when the track is lost. */
    public List<Face> process(RgbSource frame) {
        for (int i = 0; i < lastMs.length; i++) lastMs[i] = 0;
        lastRanDetector = false;
        List<Face> out = new ArrayList<>();
        sinceDetect++;
        boolean due = redetectEvery > 0 && sinceDetect >= redetectEvery;
        for (Face prev : due ? new ArrayList<Face>() : track) {
            double[] b = Box.ofPoints(prev.xy);
            if (b == null) continue;
            Face f = inBox(frame, b, "track");
            if (f.score() >= trackThreshold) out.add(f);
        }
        if (out.isEmpty()) {
            lastRanDetector = true;
            sinceDetect = 0;
            long t0 = System.nanoTime();
            List<Box> dets = detector.detect(frame);
            lastMs[0] = (System.nanoTime() - t0) / 1e6;
            double[] cal = spec.calibration(detector.name());
            List<Face> all = new ArrayList<>();
            for (int i = 0; i < dets.size() && i < maxFaces; i++) {
                all.add(inBox(frame, dets.get(i).calibrated(cal), "detector"));
            }
            for (Face f : all) if (f.score() >= trackThreshold) out.add(f);
            if (out.isEmpty()) out = all;
        }
        track = out;
        return out;
    }
}
