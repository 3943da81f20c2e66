package org.bnnlandmarks.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/** The Java One-Euro filter against runtime/smoothing.py's golden outputs, and its refusals. */
public class OneEuroFilterTest {
    @Test public void defaultsAreThePythonRuntimes() throws Exception {
        JSONArray d = Golden.json().getJSONObject("video").getJSONArray("defaults");
        assertEquals(d.getDouble(0), OneEuroFilter.Params.DEFAULT.minCutoff, 0);
        assertEquals(d.getDouble(1), OneEuroFilter.Params.DEFAULT.beta, 0);
        assertEquals(d.getDouble(2), OneEuroFilter.Params.DEFAULT.dCutoff, 0);
    }

    @Test public void matchesPythonFilter() throws Exception {
        JSONObject gold = Golden.json();
        double tol = Golden.tol(gold, "smooth_abs");
        JSONArray cases = gold.getJSONArray("one_euro");
        int checked = 0;
        for (int c = 0; c < cases.length(); c++) {
            JSONObject k = cases.getJSONObject(c);
            JSONArray p = k.getJSONArray("params"), ts = k.getJSONArray("timestamps"), sc = k.getJSONArray("scales");
            JSONArray vals = k.getJSONArray("values"), want = k.getJSONArray("expected");
            int w = k.getInt("width");
            OneEuroFilter f = new OneEuroFilter(new OneEuroFilter.Params(p.getDouble(0), p.getDouble(1), p.getDouble(2)));
            for (int t = 0; t < ts.length(); t++) {
                float[] v = new float[w];
                for (int j = 0; j < w; j++) v[j] = (float) vals.getDouble(t * w + j);
                float[] got = f.apply(v, ts.getDouble(t), sc.getDouble(t));
                for (int j = 0; j < w; j++) {
                    assertEquals("case " + c + " step " + t, want.getDouble(t * w + j), got[j], tol);
                    checked++;
                }
            }
        }
        assertTrue(checked > 0);
    }

    @Test public void refusesTimestampsThatDoNotIncreaseAndKeepsItsState() {
        OneEuroFilter f = new OneEuroFilter(OneEuroFilter.Params.DEFAULT);
        f.apply(new float[] {0f}, 0, 1);
        float a = f.apply(new float[] {1f}, 33, 1)[0];
        for (double t : new double[] {33, 10, Double.NaN}) {
            try {
                f.apply(new float[] {50f}, t, 1);
                fail("accepted timestamp " + t);
            } catch (IllegalArgumentException expected) {
                // refused
            }
        }
        float b = f.apply(new float[] {1f}, 66, 1)[0];
        assertTrue(!Float.isNaN(b) && b >= a && b <= 1f);
        f.reset();
        assertEquals(7f, f.apply(new float[] {7f}, 1, 1)[0], 0f);
    }
}
