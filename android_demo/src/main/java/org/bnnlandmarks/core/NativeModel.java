package org.bnnlandmarks.core;

/**
 * A TFLite model run through the JNI bridge (android_demo/jni/bnn_jni.c) on the TFLite C API of
 * {@code liblitert-lm.so}, with the project's binary kernels registered for the LCE ops, so binary
 * (.tflite from the LCE converter) and float models both run. Float32 inputs and outputs only.
 * Not thread-safe: use one instance per thread.
 */
public final class NativeModel implements HeatmapModel, AutoCloseable {
    static {
        System.loadLibrary("bnnjni");
    }

    private long handle;
    private final int[] inputShape;
    private final float[][] outputs;

    /** Loads a flatbuffer; IllegalArgumentException (with TFLite's reason) for a model that cannot run. */
    public NativeModel(byte[] flatbuffer, int threads) {
        handle = nativeCreate(flatbuffer, threads);
        inputShape = nativeShape(handle, true, 0);
        int n = nativeCount(handle, false);
        outputs = new float[n][];
        for (int i = 0; i < n; i++) outputs[i] = new float[numel(nativeShape(handle, false, i))];
    }

    private static int numel(int[] shape) {
        int n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    public int[] inputShape() { return inputShape.clone(); }

    public int[] outputShape(int i) { return nativeShape(check(), false, i); }

    /** Runs on {@code input} (row-major, the input's shape); returns every output (reused buffers). */
    public float[][] runAll(float[] input) {
        nativeRun(check(), input, outputs);
        return outputs;
    }

    /** HeatmapModel: output 0. */
    @Override public float[] run(float[] input) { return runAll(input)[0]; }

    /** Kernel and TFLite versions: "bnn-kernels 1.0.0 (neon), TFLite 2.23.0". */
    public static String info() { return nativeInfo(); }

    private long check() {
        if (handle == 0) throw new IllegalStateException("model is closed");
        return handle;
    }

    @Override public void close() {
        if (handle != 0) nativeDelete(handle);
        handle = 0;
    }

    private static native long nativeCreate(byte[] model, int threads);

    private static native void nativeDelete(long handle);

    private static native int nativeCount(long handle, boolean input);

    private static native int[] nativeShape(long handle, boolean input, int index);

    private static native void nativeRun(long handle, float[] input, float[][] outputs);

    private static native String nativeInfo();
}
