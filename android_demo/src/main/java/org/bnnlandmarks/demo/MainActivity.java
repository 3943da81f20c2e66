package org.bnnlandmarks.demo;

import android.Manifest;
import android.app.Activity;
import android.content.Context;
import android.content.pm.PackageManager;
import android.graphics.Color;
import android.graphics.ImageFormat;
import android.graphics.Matrix;
import android.graphics.RectF;
import android.graphics.SurfaceTexture;
import android.hardware.camera2.CameraAccessException;
import android.hardware.camera2.CameraCaptureSession;
import android.hardware.camera2.CameraCharacteristics;
import android.hardware.camera2.CameraDevice;
import android.hardware.camera2.CameraManager;
import android.hardware.camera2.CaptureRequest;
import android.media.Image;
import android.media.ImageReader;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.view.Gravity;
import android.view.Surface;
import android.view.TextureView;
import android.view.View;
import android.view.ViewGroup;
import android.widget.Button;
import android.widget.FrameLayout;
import android.widget.LinearLayout;
import android.widget.TextView;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.List;

import org.bnnlandmarks.core.BlazeFace;
import org.bnnlandmarks.core.Face;
import org.bnnlandmarks.core.Landmarker;
import org.bnnlandmarks.core.ModelSpec;
import org.bnnlandmarks.core.NativeModel;
import org.bnnlandmarks.core.Orientation;
import org.bnnlandmarks.core.RotatedSource;
import org.bnnlandmarks.core.Yuv420Source;

/**
 * Live face alignment: Camera2 frames (YUV, 640x480) -> upright view -> BlazeFace (only when the
 * track is lost) -> crop -> the binary face model on the project's kernels -> 68 landmarks drawn
 * over the preview, with FPS and inference time; buttons switch camera and binary/float model.
 */
public final class MainActivity extends Activity {
    private static final int REQUEST_CAMERA = 1;
    private static final int FRAME_W = 640, FRAME_H = 480;

    private TextureView preview;
    private OverlayView overlay;
    private TextView message;
    private Button modelButton;
    private HandlerThread worker;
    private Handler workerHandler;
    private CameraDevice camera;
    private CameraCaptureSession session;
    private ImageReader reader;
    private boolean front = true;
    private volatile boolean useBinary = true;
    private Models models;
    private String loadError;

    /** Everything the worker thread owns. */
    private static final class Models {
        NativeModel binary, real, detector;
        ModelSpec binarySpec, realSpec;
        Landmarker landmarker;
        boolean runningBinary = true;
        byte[] y, u, v;
        long lastFrameNs;
        double fps;
    }

    @Override protected void onCreate(Bundle state) {
        super.onCreate(state);
        FrameLayout root = new FrameLayout(this);
        root.setBackgroundColor(Color.BLACK);
        preview = new TextureView(this);
        overlay = new OverlayView(this);
        message = new TextView(this);
        message.setTextColor(Color.WHITE);
        message.setTextSize(18f);
        message.setGravity(Gravity.CENTER);
        message.setPadding(48, 48, 48, 48);
        message.setVisibility(View.GONE);
        LinearLayout bar = new LinearLayout(this);
        bar.setOrientation(LinearLayout.HORIZONTAL);
        Button switchButton = new Button(this);
        switchButton.setText("Switch camera");
        switchButton.setOnClickListener(new View.OnClickListener() {
            @Override public void onClick(View v) {
                front = !front;
                closeCamera();
                openCamera();
            }
        });
        modelButton = new Button(this);
        modelButton.setText("Model: binary");
        modelButton.setOnClickListener(new View.OnClickListener() {
            @Override public void onClick(View v) {
                useBinary = !useBinary;
                modelButton.setText(useBinary ? "Model: binary" : "Model: float");
            }
        });
        bar.addView(switchButton);
        bar.addView(modelButton);
        root.addView(preview, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT,
                ViewGroup.LayoutParams.MATCH_PARENT, Gravity.CENTER));
        root.addView(overlay, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT,
                ViewGroup.LayoutParams.MATCH_PARENT));
        root.addView(message, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT,
                ViewGroup.LayoutParams.MATCH_PARENT));
        root.addView(bar, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.WRAP_CONTENT,
                ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.BOTTOM | Gravity.CENTER_HORIZONTAL));
        setContentView(root);
    }

    @Override protected void onResume() {
        super.onResume();
        worker = new HandlerThread("landmarks");
        worker.start();
        workerHandler = new Handler(worker.getLooper());
        workerHandler.post(new Runnable() {
            @Override public void run() { loadModels(); }
        });
        if (checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.CAMERA}, REQUEST_CAMERA);
        } else {
            whenPreviewReady();
        }
    }

    @Override protected void onPause() {
        closeCamera();
        final HandlerThread w = worker;
        workerHandler.post(new Runnable() {
            @Override public void run() {
                if (models != null) {
                    closeQuietly(models.binary);
                    closeQuietly(models.real);
                    closeQuietly(models.detector);
                    models = null;
                }
                w.quitSafely();
            }
        });
        super.onPause();
    }

    @Override public void onRequestPermissionsResult(int code, String[] perms, int[] results) {
        if (code != REQUEST_CAMERA) return;
        if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) {
            whenPreviewReady();
        } else {
            showMessage("Camera permission denied.\n\nThis demo shows landmarks on the live camera image and "
                    + "needs the camera. Grant it in Settings > Apps > BNN Landmarks > Permissions, then reopen the app.");
        }
    }

    private void showMessage(final String text) {
        runOnUiThread(new Runnable() {
            @Override public void run() {
                message.setText(text);
                message.setVisibility(View.VISIBLE);
            }
        });
    }

    // --- models (worker thread) -------------------------------------------------------------
    private byte[] asset(String name) throws IOException {
        InputStream in = getAssets().open(name);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) out.write(buf, 0, n);
            return out.toByteArray();
        } finally {
            in.close();
        }
    }

    private static String sha256(byte[] b) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest(b);
        StringBuilder s = new StringBuilder();
        for (byte x : d) s.append(String.format("%02x", x & 0xff));
        return s.toString();
    }

    /** Loads a model and its sidecar, checking the flatbuffer against the sidecar's sha256. */
    private NativeModel load(String name, ModelSpec[] specOut) throws Exception {
        byte[] tfl = asset(name + ".tflite");
        if (specOut != null) {
            ModelSpec spec = ModelSpec.parse(new String(asset(name + ".json"), "UTF-8"));
            if (spec.tfliteSha256 != null && !spec.tfliteSha256.equals(sha256(tfl))) {
                throw new IllegalArgumentException(name + ".tflite does not match the sha256 in " + name + ".json");
            }
            specOut[0] = spec;
        }
        return new NativeModel(tfl, 1);
    }

    private void loadModels() {
        try {
            Models m = new Models();
            ModelSpec[] spec = new ModelSpec[1];
            m.binary = load("face", spec);
            m.binarySpec = spec[0];
            m.real = load("face-real", spec);
            m.realSpec = spec[0];
            final NativeModel det = load("face_detection_short_range", null);
            m.detector = det;
            BlazeFace blazeFace = new BlazeFace(new BlazeFace.Runner() {
                @Override public float[][] run(float[] input) { return det.runAll(input); }
            }, 0.5f, 0.3f);
            m.landmarker = new Landmarker(m.binarySpec, m.binary, blazeFace, 0.25f, 2);
            models = m;
            loadError = null;
        } catch (Throwable t) {
            loadError = "The model could not load: " + t.getMessage()
                    + "\n\nReinstall the APK built by `make android` (the models are in its assets).";
            showMessage(loadError);
        }
    }

    // --- camera -----------------------------------------------------------------------------------
    private void whenPreviewReady() {
        if (preview.isAvailable()) {
            openCamera();
            return;
        }
        preview.setSurfaceTextureListener(new TextureView.SurfaceTextureListener() {
            @Override public void onSurfaceTextureAvailable(SurfaceTexture s, int w, int h) { openCamera(); }

            @Override public void onSurfaceTextureSizeChanged(SurfaceTexture s, int w, int h) {}

            @Override public boolean onSurfaceTextureDestroyed(SurfaceTexture s) { return true; }

            @Override public void onSurfaceTextureUpdated(SurfaceTexture s) {}
        });
    }

    private String cameraId(CameraManager cm, boolean wantFront) throws CameraAccessException {
        String any = null;
        for (String id : cm.getCameraIdList()) {
            Integer facing = cm.getCameraCharacteristics(id).get(CameraCharacteristics.LENS_FACING);
            boolean isFront = facing != null && facing == CameraCharacteristics.LENS_FACING_FRONT;
            if (isFront == wantFront) return id;
            if (any == null) any = id;
        }
        return any;
    }

    private void openCamera() {
        if (checkSelfPermission(Manifest.permission.CAMERA) != PackageManager.PERMISSION_GRANTED) return;
        CameraManager cm = (CameraManager) getSystemService(Context.CAMERA_SERVICE);
        try {
            final String id = cameraId(cm, front);
            if (id == null) {
                showMessage("This device has no camera.");
                return;
            }
            CameraCharacteristics ch = cm.getCameraCharacteristics(id);
            Integer facing = ch.get(CameraCharacteristics.LENS_FACING);
            final boolean isFront = facing != null && facing == CameraCharacteristics.LENS_FACING_FRONT;
            Integer sensor = ch.get(CameraCharacteristics.SENSOR_ORIENTATION);
            int display = 90 * getWindowManager().getDefaultDisplay().getRotation();
            final int rotation = Orientation.relativeRotation(sensor == null ? 0 : sensor, display, isFront);
            final boolean sideways = sensor != null && sensor % 180 != 0;
            runOnUiThread(new Runnable() {
                @Override public void run() { fitPreview(sideways); }
            });
            reader = ImageReader.newInstance(FRAME_W, FRAME_H, ImageFormat.YUV_420_888, 2);
            reader.setOnImageAvailableListener(new ImageReader.OnImageAvailableListener() {
                @Override public void onImageAvailable(ImageReader r) { onFrame(r, rotation, isFront); }
            }, workerHandler);
            cm.openCamera(id, new CameraDevice.StateCallback() {
                @Override public void onOpened(CameraDevice c) {
                    camera = c;
                    startSession();
                }

                @Override public void onDisconnected(CameraDevice c) {
                    c.close();
                    camera = null;
                    showMessage("The camera was disconnected (another app may be using it). Reopen the app.");
                }

                @Override public void onError(CameraDevice c, int error) {
                    c.close();
                    camera = null;
                    showMessage("The camera reported error " + error + ". Close other camera apps and reopen.");
                }
            }, workerHandler);
        } catch (CameraAccessException | SecurityException e) {
            showMessage("Cannot open the camera: " + e.getMessage());
        }
    }

    /**
     * Shows the preview aspect-fit and upright, as the overlay assumes (Orientation.frameToView):
     * TextureView stretches the camera buffer (already turned for the natural orientation) over
     * the view, and does not follow a rotated display.
     */
    private void fitPreview(boolean sensorSideways) {
        int vw = preview.getWidth(), vh = preview.getHeight();
        if (vw == 0 || vh == 0) return;
        int display = getWindowManager().getDefaultDisplay().getRotation();
        float cx = vw / 2f, cy = vh / 2f;
        Matrix mx = new Matrix();
        // content size in the natural orientation
        float cw = sensorSideways ? FRAME_H : FRAME_W, ch = sensorSideways ? FRAME_W : FRAME_H;
        if (display == Surface.ROTATION_90 || display == Surface.ROTATION_270) {
            float uw = ch, uh = cw; // what the user sees once turned with the display
            float s = Math.min(vw / uw, vh / uh);
            RectF view = new RectF(0, 0, vw, vh);
            RectF turned = new RectF(0, 0, vh, vw);
            turned.offset(cx - turned.centerX(), cy - turned.centerY());
            mx.setRectToRect(view, turned, Matrix.ScaleToFit.FILL);
            mx.postScale(s * uw / vw, s * uh / vh, cx, cy);
            mx.postRotate(90 * (display - 2), cx, cy);
        } else {
            float s = Math.min(vw / cw, vh / ch);
            mx.setScale(s * cw / vw, s * ch / vh, cx, cy);
            if (display == Surface.ROTATION_180) mx.postRotate(180, cx, cy);
        }
        preview.setTransform(mx);
    }

    private void startSession() {
        try {
            SurfaceTexture st = preview.getSurfaceTexture();
            st.setDefaultBufferSize(FRAME_W, FRAME_H);
            final Surface view = new Surface(st);
            final CaptureRequest.Builder req = camera.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW);
            req.addTarget(view);
            req.addTarget(reader.getSurface());
            camera.createCaptureSession(Arrays.asList(view, reader.getSurface()),
                    new CameraCaptureSession.StateCallback() {
                        @Override public void onConfigured(CameraCaptureSession s) {
                            session = s;
                            try {
                                s.setRepeatingRequest(req.build(), null, workerHandler);
                            } catch (CameraAccessException e) {
                                showMessage("Cannot start the preview: " + e.getMessage());
                            }
                        }

                        @Override public void onConfigureFailed(CameraCaptureSession s) {
                            showMessage("The camera refused a 640x480 YUV stream with a preview.");
                        }
                    }, workerHandler);
        } catch (CameraAccessException | IllegalStateException e) {
            showMessage("Cannot start the camera: " + e.getMessage());
        }
    }

    private void closeCamera() {
        if (session != null) session.close();
        if (camera != null) camera.close();
        if (reader != null) reader.close();
        session = null;
        camera = null;
        reader = null;
    }

    private static byte[] copy(ByteBuffer b, byte[] into) {
        b.rewind();
        if (into == null || into.length != b.remaining()) into = new byte[b.remaining()];
        b.get(into);
        return into;
    }

    /** Worker thread: one camera frame through the pipeline. A bad frame is dropped, never fatal. */
    private void onFrame(ImageReader r, int rotation, boolean isFront) {
        Image img = r.acquireLatestImage();
        if (img == null) return;
        final Models m = models;
        try {
            if (m == null) return;
            Image.Plane[] p = img.getPlanes();
            m.y = copy(p[0].getBuffer(), m.y);
            m.u = copy(p[1].getBuffer(), m.u);
            m.v = copy(p[2].getBuffer(), m.v);
            Yuv420Source yuv = new Yuv420Source(m.y, m.u, m.v, img.getWidth(), img.getHeight(), p[0].getRowStride(),
                    p[1].getRowStride(), p[1].getPixelStride());
            RotatedSource upright = new RotatedSource(yuv, rotation, false);
            if (m.runningBinary != useBinary) {
                m.runningBinary = useBinary;
                m.landmarker.setModel(useBinary ? m.binary : m.real);
            }
            long t0 = System.nanoTime();
            List<Face> faces = m.landmarker.process(upright, img.getTimestamp() / 1e6); // ns -> ms, for the filter
            long t1 = System.nanoTime();
            if (m.lastFrameNs != 0) {
                double inst = 1e9 / (t1 - m.lastFrameNs);
                m.fps = m.fps == 0 ? inst : 0.9 * m.fps + 0.1 * inst;
            }
            m.lastFrameNs = t1;
            final String[] status = {
                String.format("%.1f FPS  %s model", m.fps, m.runningBinary ? "binary" : "float"),
                String.format("inference %.1f ms, frame %.1f ms%s", m.landmarker.lastMs[2], (t1 - t0) / 1e6,
                        m.landmarker.lastRanDetector ? String.format(" (detector %.1f ms)", m.landmarker.lastMs[0]) : ""),
                faces.isEmpty() ? "no face" : faces.size() + " face(s), " + faces.get(0).source,
            };
            final List<Face> shown = faces;
            final int w = upright.width(), h = upright.height();
            final int[][] skeleton = m.binarySpec.skeleton;
            runOnUiThread(new Runnable() {
                @Override public void run() { overlay.show(shown, w, h, isFront, skeleton, status); }
            });
        } catch (RuntimeException e) {
            m.landmarker.reset(); // drop this frame, keep the stream alive
        } finally {
            img.close();
        }
    }

    private static void closeQuietly(NativeModel m) {
        if (m != null) m.close();
    }
}
