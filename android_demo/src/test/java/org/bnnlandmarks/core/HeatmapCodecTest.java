package org.bnnlandmarks.core;

import static org.junit.Assert.assertEquals;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

public class HeatmapCodecTest {
    @Test public void decodeMatchesPythonCodec() throws Exception {
        JSONObject gold = Golden.json();
        double tol = Golden.tol(gold, "decode_px");
        JSONArray cases = gold.getJSONArray("codec");
        int checked = 0;
        for (int i = 0; i < cases.length(); i++) {
            JSONObject c = cases.getJSONObject(i);
            int h = c.getInt("h"), w = c.getInt("w"), k = c.getInt("k");
            JSONArray hmj = c.getJSONArray("heatmaps");
            float[] hm = new float[hmj.length()];
            for (int j = 0; j < hm.length; j++) hm[j] = (float) hmj.getDouble(j);
            float sigma = (float) c.getDouble("sigma");
            for (String method : HeatmapCodec.METHODS) {
                float[] xy = new float[2 * k], sc = new float[k];
                HeatmapCodec.decode(hm, h, w, k, method, sigma, xy, sc);
                JSONArray exy = c.getJSONObject(method).getJSONArray("xy");
                JSONArray esc = c.getJSONObject(method).getJSONArray("scores");
                for (int j = 0; j < 2 * k; j++) assertEquals(method + " case " + i, exy.getDouble(j), xy[j], tol);
                for (int j = 0; j < k; j++) assertEquals(esc.getDouble(j), sc[j], 1e-6);
                checked++;
            }
        }
        assertEquals(3 * HeatmapCodec.METHODS.length, checked);
    }

    @Test public void heatmapToInputIsTheRuntimeMapping() {
        float[] xy = {0f, 31f};
        HeatmapCodec.heatmapToInput(xy, 4f);
        assertEquals(1.5f, xy[0], 0f);
        assertEquals(125.5f, xy[1], 0f);
    }

    @Test(expected = IllegalArgumentException.class)
    public void unknownMethodIsRejected() {
        HeatmapCodec.decode(new float[4], 2, 2, 1, "soft-argmax", 1f, new float[2], new float[1]);
    }
}
