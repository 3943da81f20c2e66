package org.bnnlandmarks.core;

/** A landmark model: (1, S, S, 3) float input -> (1, H, W, K) float heatmaps, both flattened. */
public interface HeatmapModel {
    float[] run(float[] input);
}
