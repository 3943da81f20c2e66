package org.bnnlandmarks.core;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import org.json.JSONObject;

/** The golden files written by `python -m convert.android_golden` and the repository's models. */
final class Golden {
    static final File DIR = new File(System.getProperty("golden.dir", "build/android/golden"));
    static final File MODELS = new File(System.getProperty("models.dir", "runtime/pretrained"));
    static final File ASSETS = new File(System.getProperty("assets.dir", "runtime/assets"));

    private Golden() {}

    static JSONObject json() throws Exception {
        return new JSONObject(text(new File(DIR, "golden.json")));
    }

    static String text(File f) throws IOException {
        return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
    }

    static byte[] bytes(File f) throws IOException {
        return Files.readAllBytes(f.toPath());
    }

    static float[] f32(File f) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static ModelSpec spec(String model) throws IOException {
        return ModelSpec.parse(text(new File(MODELS, model + ".json")));
    }

    static NativeModel model(String model) throws IOException {
        return new NativeModel(bytes(new File(MODELS, model + ".tflite")), 1);
    }

    static NativeModel detector() throws IOException {
        return new NativeModel(bytes(new File(ASSETS, "face_detection_short_range.tflite")), 1);
    }

    static BlazeFace blazeFace(final NativeModel detector) {
        return new BlazeFace(new BlazeFace.Runner() {
            @Override public float[][] run(float[] input) { return detector.runAll(input); }
        }, 0.5f, 0.3f);
    }

    static double tol(JSONObject gold, String key) throws Exception {
        return gold.getJSONObject("tolerance").getDouble(key);
    }
}
