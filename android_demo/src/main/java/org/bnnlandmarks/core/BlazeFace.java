package org.bnnlandmarks.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;

/**
 * MediaPipe's BlazeFace short-range detector (assets/face_detection_short_range.tflite, Apache-2.0),
 * the Java port of runtime/detectors.py's BlazeFaceDetector: letterbox to a square, area-resize to
 * 128x128 in [-1, 1], decode the 896 anchors, sigmoid scores, greedy non-maximum suppression.
 */
public final class BlazeFace implements FaceDetector {
    public static final int SIZE = 128, ANCHORS = 896;
    private final Runner runner;
    private final float scoreThreshold, nmsIou;
    private final float[] anchors = anchors();
    private final float[] input = new float[SIZE * SIZE * 3];

    /** Runs the detector model: input (1, 128, 128, 3) -> {regressors (896 x 16), classificators (896)}. */
    public interface Runner {
        float[][] run(float[] input);
    }

    public BlazeFace(Runner runner, float scoreThreshold, float nmsIou) {
        this.runner = runner;
        this.scoreThreshold = scoreThreshold;
        this.nmsIou = nmsIou;
    }

    @Override public String name() { return "blazeface"; }

    /** Anchor centres {x0, y0, ...} in [0, 1]: 16x16 cells x 2 (stride 8), then 8x8 cells x 6 (stride 16). */
    public static float[] anchors() {
        float[] a = new float[ANCHORS * 2];
        int n = 0;
        int[][] layers = {{16, 2}, {8, 6}};
        for (int[] l : layers) {
            for (int y = 0; y < l[0]; y++) {
                for (int x = 0; x < l[0]; x++) {
                    for (int r = 0; r < l[1]; r++) {
                        a[n++] = (x + 0.5f) / l[0];
                        a[n++] = (y + 0.5f) / l[0];
                    }
                }
            }
        }
        return a;
    }

    @Override public List<Box> detect(RgbSource image) {
        int[] geo = Sampler.letterboxArea(image, SIZE, 1f / 127.5f, -1f, input);
        float[][] out = runner.run(input);
        if (out.length != 2) throw new IllegalStateException("BlazeFace has 2 outputs, got " + out.length);
        float[] reg = out[0].length == ANCHORS * 16 ? out[0] : out[1], cls = reg == out[0] ? out[1] : out[0];
        if (reg.length != ANCHORS * 16 || cls.length != ANCHORS) {
            throw new IllegalStateException("not the BlazeFace short-range model (outputs of the wrong size)");
        }
        return decode(reg, cls, geo[0], geo[1], geo[2], scoreThreshold, nmsIou, anchors);
    }

    /** Boxes in image pixels from raw outputs, after NMS, largest first. */
    public static List<Box> decode(float[] reg, float[] logits, int side, int ox, int oy, float scoreThreshold,
                                   float nmsIou, float[] anchors) {
        List<Box> cand = new ArrayList<>();
        for (int i = 0; i < ANCHORS; i++) {
            float logit = Math.max(-80f, Math.min(80f, logits[i]));
            float score = (float) (1.0 / (1.0 + Math.exp(-logit)));
            if (!(score >= scoreThreshold)) continue;
            float cx = anchors[2 * i] + reg[16 * i] / 128f, cy = anchors[2 * i + 1] + reg[16 * i + 1] / 128f;
            float w = reg[16 * i + 2] / 128f, h = reg[16 * i + 3] / 128f;
            cand.add(new Box((cx - w / 2) * side - ox, (cy - h / 2) * side - oy, w * side, h * side, score));
        }
        // greedy NMS as cv2.dnn.NMSBoxes: by score (stable), drop boxes overlapping a kept one by > nmsIou
        List<Box> sorted = new ArrayList<>();
        for (Box b : cand) if (b.score > scoreThreshold) sorted.add(b);
        Collections.sort(sorted, new Comparator<Box>() {
            @Override public int compare(Box a, Box b) { return Double.compare(b.score, a.score); }
        });
        List<Box> kept = new ArrayList<>();
        for (Box b : sorted) {
            boolean keep = true;
            for (Box k : kept) if (Box.iou(b, k) > nmsIou) { keep = false; break; }
            if (keep) kept.add(b);
        }
        Collections.sort(kept, new Comparator<Box>() {
            @Override public int compare(Box a, Box b) { return Double.compare(b.w * b.h, a.w * a.h); }
        });
        return kept;
    }
}
