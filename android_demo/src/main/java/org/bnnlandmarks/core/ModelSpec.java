package org.bnnlandmarks.core;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The model spec that travels with every artifact as a JSON sidecar (runtime/spec.py writes it):
 * input size and normalisation, heatmap size, keypoints, flip pairs, decode method, crop scale, the
 * detector-box calibration and the shape correction.
 */
public final class ModelSpec {
    public final String name;
    public final String task;
    public final boolean binary;
    public final int inputSize;
    public final int heatmapSize;
    public final int numKeypoints;
    public final float inputScale;
    public final float inputOffset;
    public final float cropScale;
    public final String decodeMethod;
    public final float heatmapSigma;
    public final int[][] skeleton;
    public final String tfliteSha256;
    /** The learned correction of the decoded shape, or null. */
    public final ShapeCorrection shapeCorrection;
    private final JSONObject calibration;

    private ModelSpec(JSONObject o) throws JSONException {
        name = o.getString("name");
        task = o.getString("task");
        binary = o.optBoolean("binary", false);
        inputSize = o.getInt("input_size");
        heatmapSize = o.getInt("heatmap_size");
        numKeypoints = o.getInt("num_keypoints");
        inputScale = (float) o.getDouble("input_scale");
        inputOffset = (float) o.getDouble("input_offset");
        cropScale = (float) o.getDouble("crop_scale");
        decodeMethod = o.optString("decode_method", "quarter");
        heatmapSigma = (float) o.optDouble("heatmap_sigma", 1.0);
        JSONArray sk = o.optJSONArray("skeleton");
        skeleton = new int[sk == null ? 0 : sk.length()][];
        for (int i = 0; i < skeleton.length; i++) {
            JSONArray e = sk.getJSONArray(i);
            skeleton[i] = new int[] {e.getInt(0), e.getInt(1)};
        }
        tfliteSha256 = o.isNull("tflite_sha256") ? null : o.optString("tflite_sha256", null);
        shapeCorrection = ShapeCorrection.parse(o, numKeypoints);
        JSONObject cal = o.optJSONObject("detector_calibration");
        calibration = cal == null ? new JSONObject() : cal;
        if (inputSize <= 0 || heatmapSize <= 0 || inputSize % heatmapSize != 0 || numKeypoints <= 0
                || !(cropScale > 0)) {
            throw new JSONException("inconsistent sizes in model spec " + name);
        }
        if (!java.util.Arrays.asList(HeatmapCodec.METHODS).contains(decodeMethod)) {
            throw new JSONException("unknown decode_method " + decodeMethod);
        }
        if (!(heatmapSigma > 0)) throw new JSONException("heatmap_sigma must be > 0 in model spec " + name);
    }

    /** Parses a sidecar; throws IllegalArgumentException naming the problem. */
    public static ModelSpec parse(String json) {
        try {
            return new ModelSpec(new JSONObject(json));
        } catch (JSONException e) {
            throw new IllegalArgumentException("bad model spec JSON: " + e.getMessage()
                    + " (use the .json written next to the .tflite by `make convert`)");
        }
    }

    /** Input pixels per heatmap pixel (for example 4 for 128 -> 32). */
    public float stride() {
        return (float) inputSize / heatmapSize;
    }

    /** Detector box -> landmark box mapping {dx, dy, scale} for a detector ("blazeface"). */
    public double[] calibration(String detector) {
        JSONObject c = calibration.optJSONObject(detector);
        if (c == null) return new double[] {0.0, 0.0, 1.0};
        return new double[] {c.optDouble("dx", 0.0), c.optDouble("dy", 0.0), c.optDouble("scale", 1.0)};
    }
}
