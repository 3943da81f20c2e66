package org.bnnlandmarks.demo;

import android.content.Context;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.view.View;

import java.util.Collections;
import java.util.List;

import org.bnnlandmarks.core.Affine;
import org.bnnlandmarks.core.Face;
import org.bnnlandmarks.core.Orientation;

/** Draws the landmarks (upright-frame pixels mapped onto the preview) and the status lines. */
public final class OverlayView extends View {
    private final Paint point = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint line = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint text = new Paint(Paint.ANTI_ALIAS_FLAG);
    private List<Face> faces = Collections.emptyList();
    private int frameW = 1, frameH = 1;
    private boolean mirror;
    private int[][] skeleton = new int[0][];
    private String[] status = new String[0];

    public OverlayView(Context c) {
        super(c);
        point.setColor(Color.rgb(0, 255, 120));
        line.setColor(Color.argb(160, 0, 200, 255));
        line.setStrokeWidth(2f);
        text.setColor(Color.WHITE);
        text.setTextSize(36f);
        text.setShadowLayer(4f, 0f, 0f, Color.BLACK);
    }

    /** Called on the UI thread with one processed frame. */
    public void show(List<Face> faces, int frameW, int frameH, boolean mirror, int[][] skeleton, String[] status) {
        this.faces = faces;
        this.frameW = frameW;
        this.frameH = frameH;
        this.mirror = mirror;
        this.skeleton = skeleton;
        this.status = status;
        invalidate();
    }

    @Override protected void onDraw(Canvas canvas) {
        double[] m = Orientation.frameToView(frameW, frameH, getWidth(), getHeight(), mirror);
        float r = Math.max(2f, getWidth() / 240f);
        for (Face f : faces) {
            float[] p = f.xy.clone();
            Affine.apply(m, p);
            for (int[] e : skeleton) {
                canvas.drawLine(p[2 * e[0]], p[2 * e[0] + 1], p[2 * e[1]], p[2 * e[1] + 1], line);
            }
            for (int i = 0; i + 1 < p.length; i += 2) canvas.drawCircle(p[i], p[i + 1], r, point);
        }
        float y = 48f;
        for (String s : status) {
            canvas.drawText(s, 24f, y, text);
            y += 44f;
        }
    }
}
