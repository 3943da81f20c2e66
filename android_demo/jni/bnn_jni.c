/* JNI bridge: org.bnnlandmarks.core.NativeModel over the kernels' C API layer
 * (runtime/kernels/src/bnn_capi.c: the TFLite C API with the project's binary kernels registered
 * as the LCE custom ops and XNNPACK for float ops; the Python runtime's `litert` backend uses the
 * same layer). Built without libc (shim.c) for Android and, the same way, for the host JVM that
 * runs the JUnit tests. Float32 input and outputs only. */
#include <jni.h>

#include "bnn_capi.h"
#include "shim.h"

static void throw_msg(JNIEnv* env, const char* cls, const char* a, const char* b) {
  char msg[1024];
  size_t n = 0;
  for (const char* s = a; s && *s && n + 1 < sizeof(msg); ++s) msg[n++] = *s;
  for (const char* s = b; s && *s && n + 1 < sizeof(msg); ++s) msg[n++] = *s;
  msg[n] = 0;
  jclass c = (*env)->FindClass(env, cls);
  if (c) (*env)->ThrowNew(env, c, msg);
}

JNIEXPORT jlong JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeCreate(JNIEnv* env, jclass cls,
                                                                            jbyteArray data, jint threads) {
  (void)cls;
  if (!data) {
    throw_msg(env, "java/lang/IllegalArgumentException", "model bytes are null", 0);
    return 0;
  }
  const jsize size = (*env)->GetArrayLength(env, data);
  jbyte* bytes = (*env)->GetByteArrayElements(env, data, 0);
  if (!bytes) {
    throw_msg(env, "java/lang/OutOfMemoryError", "no memory for the model", 0);
    return 0;
  }
  char error[1024];
  bnn_model* m = bnn_model_create(bytes, (size_t)size, threads, 1, error, sizeof(error));
  (*env)->ReleaseByteArrayElements(env, data, bytes, JNI_ABORT); /* the layer keeps its own copy */
  if (!m) {
    throw_msg(env, "java/lang/IllegalArgumentException", error, 0);
    return 0;
  }
  const int nin = bnn_model_count(m, 1), nout = bnn_model_count(m, 0);
  for (int i = 0; i < nin + nout; ++i) {
    if (bnn_model_type(m, i < nin, i < nin ? i : i - nin) != kTfLiteFloat32) {
      throw_msg(env, "java/lang/IllegalArgumentException",
                "the model's inputs and outputs must be float32 (convert without int8 I/O)", 0);
      bnn_model_delete(m);
      return 0;
    }
  }
  return (jlong)(intptr_t)m;
}

JNIEXPORT void JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeDelete(JNIEnv* env, jclass cls, jlong handle) {
  (void)env, (void)cls;
  bnn_model_delete((bnn_model*)(intptr_t)handle);
}

JNIEXPORT jint JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeCount(JNIEnv* env, jclass cls, jlong handle,
                                                                          jboolean input) {
  (void)env, (void)cls;
  return bnn_model_count((bnn_model*)(intptr_t)handle, input);
}

JNIEXPORT jintArray JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeShape(JNIEnv* env, jclass cls,
                                                                               jlong handle, jboolean input,
                                                                               jint index) {
  (void)cls;
  int32_t dims[16];
  const int rank = bnn_model_dims((bnn_model*)(intptr_t)handle, input, index, dims, 16);
  if (rank < 0) {
    throw_msg(env, "java/lang/IndexOutOfBoundsException", "no such tensor", 0);
    return 0;
  }
  jintArray out = (*env)->NewIntArray(env, rank < 16 ? rank : 16);
  if (out) (*env)->SetIntArrayRegion(env, out, 0, rank < 16 ? rank : 16, (const jint*)dims);
  return out;
}

/* Copies `input` into input 0, runs, copies each output i into outputs[i]. Lengths must match. */
JNIEXPORT void JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeRun(JNIEnv* env, jclass cls, jlong handle,
                                                                        jfloatArray input, jobjectArray outputs) {
  (void)cls;
  bnn_model* model = (bnn_model*)(intptr_t)handle;
  size_t bytes = 0;
  float* in = (float*)bnn_model_data(model, 1, 0, &bytes);
  const jsize n = (*env)->GetArrayLength(env, input);
  if (!in || (size_t)n * sizeof(float) != bytes) {
    throw_msg(env, "java/lang/IllegalArgumentException", "input length does not match the model's input", 0);
    return;
  }
  (*env)->GetFloatArrayRegion(env, input, 0, n, (jfloat*)in);
  if (bnn_model_invoke(model) != 0) {
    throw_msg(env, "java/lang/IllegalStateException", "inference failed: ", bnn_model_error(model));
    return;
  }
  const jsize nout = (*env)->GetArrayLength(env, outputs);
  for (jsize i = 0; i < nout; ++i) {
    jfloatArray o = (jfloatArray)(*env)->GetObjectArrayElement(env, outputs, i);
    const float* t = (const float*)bnn_model_data(model, 0, i, &bytes);
    if (!o || !t) {
      throw_msg(env, "java/lang/IllegalArgumentException", "more output arrays than model outputs", 0);
      return;
    }
    const jsize m = (*env)->GetArrayLength(env, o);
    if ((size_t)m * sizeof(float) != bytes) {
      throw_msg(env, "java/lang/IllegalArgumentException", "output length does not match the model's output", 0);
      return;
    }
    (*env)->SetFloatArrayRegion(env, o, 0, m, (const jfloat*)t);
    (*env)->DeleteLocalRef(env, o);
  }
}

JNIEXPORT jstring JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeInfo(JNIEnv* env, jclass cls) {
  (void)cls;
  char buf[160];
  size_t n = 0;
  const char* parts[] = {"bnn-kernels ", bnn_version(), " (", bnn_isa_name(bnn_isa()), "), TFLite ",
                         bnn_capi_version()};
  for (int p = 0; p < 6; ++p)
    for (const char* s = parts[p]; s && *s && n + 1 < sizeof(buf); ++s) buf[n++] = *s;
  buf[n] = 0;
  return (*env)->NewStringUTF(env, buf);
}
