package org.bnnlandmarks.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class GeometryTest {
    @Test public void cropMatrixMatchesTheRuntimeConvention() {
        // runtime/crop.py: crop_matrix((50, 60), 100, 128): scale 1.28, centre -> 63.5
        double[] m = Affine.crop(50, 60, 100, 128, 0);
        float[] p = {50f, 60f, 0f, 10f};
        Affine.apply(m, p);
        assertEquals(63.5f, p[0], 1e-5f);
        assertEquals(63.5f, p[1], 1e-5f);
        assertEquals(63.5f - 50 * 1.28f, p[2], 1e-4f);
        assertEquals(63.5f - 50 * 1.28f, p[3], 1e-4f);
        Affine.apply(Affine.invert(m), p);
        assertArrayEquals(new float[] {50f, 60f, 0f, 10f}, p, 1e-4f);
    }

    @Test public void rotatedSourceTurnsClockwiseAndMirrors() {
        // 3x2 image: values 0..5 row-major
        int[] px = {0, 1, 2, 3, 4, 5};
        PackedRgb img = new PackedRgb(px, 3, 2);
        RotatedSource r90 = new RotatedSource(img, 90, false);
        assertEquals(2, r90.width());
        assertEquals(3, r90.height());
        // clockwise: the bottom-left pixel (3) moves to the top-left
        assertEquals(3, r90.rgb(0, 0));
        assertEquals(0, r90.rgb(1, 0));
        assertEquals(5, r90.rgb(0, 2));
        RotatedSource composed = new RotatedSource(new RotatedSource(img, 180, false), 270, false);
        for (int y = 0; y < 3; y++) for (int x = 0; x < 2; x++) assertEquals(r90.rgb(x, y), composed.rgb(x, y));
        RotatedSource r270 = new RotatedSource(img, 270, false);
        assertEquals(2, r270.rgb(0, 0)); // counter-clockwise: the top-right pixel moves to the top-left
        RotatedSource r270m = new RotatedSource(img, 270, true);
        assertEquals(r270.rgb(1, 0), r270m.rgb(0, 0));
    }

    @Test public void calibratedBoxAndBoxOfPoints() {
        Box b = new Box(10, 20, 100, 80, 0.9);
        double[] c = b.calibrated(new double[] {0.0, 0.1, 0.5});
        assertArrayEquals(new double[] {35, 43, 50, 50}, c, 1e-9);
        assertArrayEquals(new double[] {1, 2, 4, 6}, Box.ofPoints(new float[] {1, 8, 5, 2, Float.NaN, 100}), 1e-9);
    }

    @Test public void blazeFaceAnchorsFollowTheRuntime() {
        float[] a = BlazeFace.anchors();
        assertEquals(896 * 2, a.length);
        assertEquals(0.5f / 16, a[0], 0f);
        assertEquals(0.5f / 16, a[2], 0f); // two anchors per 16x16 cell
        assertEquals(1.5f / 16, a[4], 0f);
        assertEquals(0.5f / 8, a[512 * 2], 0f);
        assertEquals(7.5f / 8, a[895 * 2 + 1], 0f);
    }

    @Test(expected = IllegalArgumentException.class)
    public void badSpecGetsAClearError() {
        ModelSpec.parse("{\"name\": \"x\"}");
    }
}
