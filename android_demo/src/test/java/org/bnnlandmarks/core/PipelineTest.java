package org.bnnlandmarks.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.util.List;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/** The JNI bridge, the kernels and the whole Java pipeline against the Python runtime's golden outputs. */
public class PipelineTest {
    private static RgbSource image(JSONObject e) throws Exception {
        byte[] rgb = Golden.bytes(new File(Golden.DIR, e.getString("name") + ".rgb"));
        return PackedRgb.fromRgbBytes(rgb, e.getInt("width"), e.getInt("height"));
    }

    @Test public void cropsAreBitExactWithOpenCv() throws Exception {
        JSONObject gold = Golden.json();
        JSONArray imgs = gold.getJSONArray("images");
        int n = 0;
        for (String m : new String[] {"face", "face-real"}) {
            ModelSpec spec = Golden.spec(m);
            for (int i = 0; i < imgs.length(); i++) {
                JSONObject e = imgs.getJSONObject(i);
                JSONArray faces = e.getJSONObject("models").getJSONArray(m);
                if (faces.length() == 0) continue;
                JSONArray bj = faces.getJSONObject(0).getJSONArray("box");
                double[] box = {bj.getDouble(0), bj.getDouble(1), bj.getDouble(2), bj.getDouble(3)};
                float[] want = Golden.f32(new File(Golden.DIR, e.getString("name") + "." + m + ".input.f32"));
                float[] got = new float[want.length];
                Sampler.warp(image(e), Affine.cropOfBox(box, spec.cropScale, spec.inputSize), spec.inputSize,
                        spec.inputScale, spec.inputOffset, got);
                double worst = 0;
                for (int j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(want[j] - got[j]));
                assertTrue(e.getString("name") + ": crop differs by " + worst, worst <= Golden.tol(gold, "input_abs"));
                n++;
            }
        }
        assertTrue("no golden faces", n > 0);
    }

    @Test public void modelsMatchPythonOnTheSameInput() throws Exception {
        JSONObject gold = Golden.json();
        JSONArray imgs = gold.getJSONArray("images");
        double tol = Golden.tol(gold, "heatmap_abs");
        for (String m : new String[] {"face", "face-real"}) {
            try (NativeModel model = Golden.model(m)) {
                int n = 0;
                double worst = 0;
                for (int i = 0; i < imgs.length(); i++) {
                    String name = imgs.getJSONObject(i).getString("name");
                    File in = new File(Golden.DIR, name + "." + m + ".input.f32");
                    if (!in.exists()) continue;
                    float[] want = Golden.f32(new File(Golden.DIR, name + "." + m + ".heatmaps.f32"));
                    float[] got = model.run(Golden.f32(in));
                    assertEquals(want.length, got.length);
                    for (int j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(want[j] - got[j]));
                    n++;
                }
                System.out.printf("%s: %d crops, max |heatmap - python| = %.2e (tolerance %.0e)%n", m, n, worst, tol);
                assertTrue(m + " heatmaps differ by " + worst, worst <= tol);
                assertTrue(n > 0);
            }
        }
    }

    @Test public void liveLandmarksMatchPython() throws Exception {
        JSONObject gold = Golden.json();
        JSONArray imgs = gold.getJSONArray("images");
        double tolMean = Golden.tol(gold, "landmark_px"), tolMax = Golden.tol(gold, "landmark_px_max");
        double tolDet = Golden.tol(gold, "detection_px");
        try (NativeModel det = Golden.detector()) {
            BlazeFace bf = Golden.blazeFace(det);
            for (String m : new String[] {"face", "face-real"}) {
                ModelSpec spec = Golden.spec(m);
                try (NativeModel model = Golden.model(m)) {
                    Landmarker lm = new Landmarker(spec, model, bf, 0.25f, 4);
                    int faces = 0;
                    double sum = 0, worst = 0;
                    int pts = 0;
                    for (int i = 0; i < imgs.length(); i++) {
                        JSONObject e = imgs.getJSONObject(i);
                        RgbSource img = image(e);
                        JSONArray dets = e.getJSONArray("detections");
                        List<Box> boxes = bf.detect(img);
                        assertEquals(e.getString("name") + " detections", dets.length(), boxes.size());
                        for (int d = 0; d < boxes.size(); d++) {
                            JSONArray b = dets.getJSONArray(d);
                            double[] got = boxes.get(d).toArray();
                            for (int j = 0; j < 4; j++) assertEquals(b.getDouble(j), got[j], tolDet);
                        }
                        lm.reset();
                        List<Face> res = lm.process(img, 0);
                        JSONArray want = e.getJSONObject("models").getJSONArray(m);
                        assertEquals(e.getString("name") + " faces", want.length(), res.size());
                        for (int f = 0; f < res.size(); f++) {
                            JSONArray wxy = want.getJSONObject(f).getJSONArray("xy");
                            for (int j = 0; j < wxy.length(); j += 2) {
                                double dx = res.get(f).xy[j] - wxy.getDouble(j);
                                double dy = res.get(f).xy[j + 1] - wxy.getDouble(j + 1);
                                double dist = Math.hypot(dx, dy);
                                sum += dist;
                                worst = Math.max(worst, dist);
                                pts++;
                            }
                            faces++;
                        }
                    }
                    double mean = pts == 0 ? 0 : sum / pts;
                    System.out.printf("%s: %d faces, landmarks vs python: mean %.4f px, max %.4f px%n", m, faces, mean,
                            worst);
                    assertTrue(m + " mean landmark error " + mean, mean <= tolMean);
                    assertTrue(m + " max landmark error " + worst, worst <= tolMax);
                }
            }
        }
    }

    @Test public void trackingKeepsTheFaceWithoutTheDetector() throws Exception {
        JSONObject e = Golden.json().getJSONArray("images").getJSONObject(0);
        try (NativeModel det = Golden.detector();
             NativeModel model = Golden.model("face")) {
            Landmarker lm = new Landmarker(Golden.spec("face"), model, Golden.blazeFace(det), 0.25f, 4);
            RgbSource img = image(e);
            List<Face> first = lm.process(img, 0);
            assertTrue(lm.lastRanDetector);
            assertTrue(first.size() > 0);
            List<Face> second = lm.process(img, 33);
            assertTrue("a static face must stay tracked", !lm.lastRanDetector);
            assertEquals("track", second.get(0).source);
            lm.setRedetectEvery(3); // every 3rd frame after a detection, as the Python runtime does
            boolean[] ran = new boolean[6];
            for (int i = 0; i < ran.length; i++) {
                lm.process(img, 66 + 33 * i);
                ran[i] = lm.lastRanDetector;
            }
            assertTrue(java.util.Arrays.equals(new boolean[] {false, true, false, false, true, false}, ran));
        }
    }

    @Test public void smoothedVideoMatchesPython() throws Exception {
        JSONObject gold = Golden.json();
        JSONObject v = gold.getJSONObject("video");
        double tolMax = Golden.tol(gold, "video_px_max");
        JSONArray frames = v.getJSONArray("frames");
        try (NativeModel det = Golden.detector(); NativeModel model = Golden.model(v.getString("model"))) {
            Landmarker lm = new Landmarker(Golden.spec(v.getString("model")), model, Golden.blazeFace(det), 0.25f, 4);
            lm.setRedetectEvery(v.getInt("redetect_every"));
            double worst = 0;
            for (int i = 0; i < frames.length(); i++) {
                JSONObject fr = frames.getJSONObject(i);
                byte[] rgb = Golden.bytes(new File(Golden.DIR, "video" + i + ".rgb"));
                List<Face> got = lm.process(PackedRgb.fromRgbBytes(rgb, v.getInt("width"), v.getInt("height")),
                        fr.getDouble("timestamp_ms"));
                assertEquals("frame " + i + " detector", fr.getBoolean("detector_ran"), lm.lastRanDetector);
                JSONArray want = fr.getJSONArray("faces");
                assertEquals("frame " + i + " faces", want.length(), got.size());
                for (int f = 0; f < got.size(); f++) {
                    JSONArray w = want.getJSONArray(f);
                    for (int j = 0; j < w.length(); j++) worst = Math.max(worst, Math.abs(w.getDouble(j) - got.get(f).xy[j]));
                }
            }
            System.out.printf("smoothed video: %d frames, max |landmark - python| = %.2e px%n", frames.length(), worst);
            assertTrue("smoothed landmarks differ by " + worst, worst <= tolMax);
        }
    }

    @Test public void corruptModelsAreRejectedWithAMessage() throws Exception {
        byte[] good = Golden.bytes(new File(Golden.MODELS, "face.tflite"));
        byte[][] bad = {new byte[0], "not a model".getBytes("UTF-8"), java.util.Arrays.copyOf(good, good.length / 3)};
        for (byte[] b : bad) {
            try {
                new NativeModel(b, 1).close();
                fail("accepted " + b.length + " bad bytes");
            } catch (IllegalArgumentException ex) {
                assertTrue(ex.getMessage(), ex.getMessage().contains("model"));
            }
        }
        try (NativeModel m = Golden.model("face")) {
            try {
                m.run(new float[7]);
                fail("accepted a wrong input length");
            } catch (IllegalArgumentException ex) {
                assertTrue(ex.getMessage().contains("input length"));
            }
        }
    }

    @Test public void infoNamesKernelsAndTfLite() {
        String info = NativeModel.info();
        assertTrue(info, info.startsWith("bnn-kernels ") && info.contains("TFLite 2."));
    }
}
