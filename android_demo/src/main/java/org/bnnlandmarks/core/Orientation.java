package org.bnnlandmarks.core;

/** Camera orientation maths: which way to turn a sensor frame, and where its pixels land on screen. */
public final class Orientation {
    private Orientation() {}

    /**
     * Clockwise rotation (0, 90, 180, 270) that makes a sensor frame upright on a display rotated
     * by {@code displayDegrees} (Surface.ROTATION_* as degrees), for a sensor mounted at
     * {@code sensorDegrees} (CameraCharacteristics.SENSOR_ORIENTATION). Display rotation is the
     * opposite of the device's physical rotation (ROTATION_90: device turned counter-clockwise), and
     * front cameras see the device turn the other way: back {@code sensor - display}, front
     * {@code sensor + display} (the JPEG_ORIENTATION rule of the Camera2 documentation).
     */
    public static int relativeRotation(int sensorDegrees, int displayDegrees, boolean frontFacing) {
        int sign = frontFacing ? -1 : 1;
        return ((sensorDegrees - displayDegrees * sign) % 360 + 360) % 360;
    }

    /**
     * Upright-frame pixels -> view pixels for a frame of w x h shown aspect-fit (centred) in a view
     * of viewW x viewH, mirrored horizontally for front cameras (their preview is a mirror image).
     * Returns a 2x3 affine {a, b, c, d, e, f}.
     */
    public static double[] frameToView(int w, int h, int viewW, int viewH, boolean mirror) {
        double s = Math.min((double) viewW / w, (double) viewH / h);
        double ox = (viewW - s * w) / 2, oy = (viewH - s * h) / 2;
        // pixel centres: frame x in [-0.5, w - 0.5] covers view [ox, ox + s w]
        if (mirror) return new double[] {-s, 0, ox + s * (w - 0.5), 0, s, oy + s * 0.5};
        return new double[] {s, 0, ox + s * 0.5, 0, s, oy + s * 0.5};
    }
}
