package org.bnnlandmarks.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class CameraMathTest {
    @Test public void relativeRotationForTypicalPhones() {
        // back sensor at 90, front at 270 (most phones), portrait display
        assertEquals(90, Orientation.relativeRotation(90, 0, false));
        assertEquals(270, Orientation.relativeRotation(270, 0, true));
        // landscape (display turned 90): back needs no turn, front needs 0 as well
        assertEquals(0, Orientation.relativeRotation(90, 90, false));
        assertEquals(0, Orientation.relativeRotation(270, 90, true));
        assertEquals(180, Orientation.relativeRotation(90, 270, false));
    }

    @Test public void frameToViewFitsAndMirrors() {
        double[] m = Orientation.frameToView(480, 640, 1080, 1920, false); // scale 2.25, 120 px bars
        float[] p = {-0.5f, -0.5f, 479.5f, 639.5f};
        Affine.apply(m, p);
        assertEquals(0f, p[0], 1e-3f);
        assertEquals(240f, p[1], 1e-3f);
        assertEquals(1080f, p[2], 1e-3f);
        assertEquals(1680f, p[3], 1e-3f);
        double[] mm = Orientation.frameToView(480, 640, 1080, 1920, true);
        float[] q = {-0.5f, 0f};
        Affine.apply(mm, q);
        assertEquals(1080f, q[0], 1e-3f);
    }

    @Test public void yuvToRgbUsesFullRangeBt601() {
        // 2x2 frame: Y = 0, 128, 255, 76; one chroma sample
        byte[] y = {0, (byte) 128, (byte) 255, 76};
        Yuv420Source grey = new Yuv420Source(y, new byte[] {(byte) 128}, new byte[] {(byte) 128}, 2, 2, 2, 1, 1);
        assertEquals(0x000000, grey.rgb(0, 0));
        assertEquals(0x808080, grey.rgb(1, 0));
        assertEquals(0xffffff, grey.rgb(0, 1));
        // pure red in JFIF YCbCr: Y 76, Cb 85, Cr 255
        Yuv420Source red = new Yuv420Source(y, new byte[] {85}, new byte[] {(byte) 255}, 2, 2, 2, 1, 1);
        int rgb = red.rgb(1, 1);
        assertEquals(254, (rgb >> 16) & 255, 2);
        assertEquals(0, (rgb >> 8) & 255, 2);
        assertEquals(0, rgb & 255, 2);
    }

    @Test(expected = IllegalArgumentException.class)
    public void shortPlanesAreRejected() {
        new Yuv420Source(new byte[3], new byte[1], new byte[1], 2, 2, 2, 1, 1);
    }
}
