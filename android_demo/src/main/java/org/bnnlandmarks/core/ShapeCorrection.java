package org.bnnlandmarks.core;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The spec's learned linear correction of a whole decoded shape (runtime/shape.py, fitted by
 * {@code python -m models.shape}): y = meanOut + ((x - meanIn) · down) · up, where x is the decoded
 * shape in crop-input pixels divided by the input size, flattened x0, y0, x1, y1, ...
 */
public final class ShapeCorrection {
    private final double[] meanIn, meanOut;
    private final double[][] down, up; // [2K][R], [R][2K]

    private ShapeCorrection(JSONObject o) throws JSONException {
        meanIn = vector(o.getJSONArray("mean_in"));
        meanOut = vector(o.getJSONArray("mean_out"));
        down = matrix(o.getJSONArray("down"));
        up = matrix(o.getJSONArray("up"));
        int n = meanIn.length, r = down.length == 0 ? 0 : down[0].length;
        if (meanOut.length != n || down.length != n || up.length != r || (r > 0 && up[0].length != n)) {
            throw new JSONException("inconsistent shape_correction sizes");
        }
    }

    /** The spec's correction, or null when it has none. */
    static ShapeCorrection parse(JSONObject spec, int numKeypoints) throws JSONException {
        JSONObject o = spec.optJSONObject("shape_correction");
        if (o == null) return null;
        ShapeCorrection c = new ShapeCorrection(o);
        if (c.meanIn.length != 2 * numKeypoints) {
            throw new JSONException("shape_correction is for " + c.meanIn.length / 2 + " keypoints, the model has " + numKeypoints);
        }
        return c;
    }

    /** Corrects xy (x0, y0, x1, y1, ... in crop-input pixels) in place. */
    public void apply(float[] xy, int inputSize) {
        int n = meanIn.length, r = up.length;
        double[] z = new double[r];
        for (int i = 0; i < n; i++) {
            double d = xy[i] / (double) inputSize - meanIn[i];
            for (int j = 0; j < r; j++) z[j] += d * down[i][j];
        }
        for (int i = 0; i < n; i++) {
            double y = meanOut[i];
            for (int j = 0; j < r; j++) y += z[j] * up[j][i];
            xy[i] = (float) (y * inputSize);
        }
    }

    private static double[] vector(JSONArray a) throws JSONException {
        double[] v = new double[a.length()];
        for (int i = 0; i < v.length; i++) v[i] = a.getDouble(i);
        return v;
    }

    private static double[][] matrix(JSONArray a) throws JSONException {
        double[][] m = new double[a.length()][];
        for (int i = 0; i < m.length; i++) m[i] = vector(a.getJSONArray(i));
        return m;
    }
}
