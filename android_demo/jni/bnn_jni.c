/* JNI bridge: org.bnnlandmarks.core.NativeModel over the TFLite C API, with the project's
 * binary kernels (runtime/kernels/src, the same sources as the Python runtime's) registered as
 * the LCE custom ops. Built without libc (shim.c) for Android and, the same way, for the host
 * JVM that runs the JUnit tests. Float32 input and outputs only. */
#include <jni.h>

#include "shim.h"
#include "tflite_c.h"

typedef struct {
  TfLiteModel* model;
  TfLiteInterpreter* interpreter;
  TfLiteDelegate* xnnpack; /* float ops; deleted after the interpreter */
  void* bytes; /* the flatbuffer, owned: the C API reads it for the model's lifetime */
  char error[768];
  int error_len;
} handle_t;

static void reporter(void* user, const char* fmt, va_list ap) {
  handle_t* h = (handle_t*)user;
  const int room = (int)sizeof(h->error) - h->error_len;
  if (room <= 2) return;
  if (h->error_len) h->error[h->error_len++] = ';', h->error[h->error_len++] = ' ';
  const int n = bnn_vformat(h->error + h->error_len, (size_t)(sizeof(h->error) - h->error_len), fmt, ap);
  h->error_len += n;
  if (h->error_len >= (int)sizeof(h->error)) h->error_len = (int)sizeof(h->error) - 1;
}

static void throw_msg(JNIEnv* env, const char* cls, const char* a, const char* b) {
  char msg[1024];
  size_t n = 0;
  for (const char* s = a; s && *s && n + 1 < sizeof(msg); ++s) msg[n++] = *s;
  for (const char* s = b; s && *s && n + 1 < sizeof(msg); ++s) msg[n++] = *s;
  msg[n] = 0;
  jclass c = (*env)->FindClass(env, cls);
  if (c) (*env)->ThrowNew(env, c, msg);
}

static void destroy(handle_t* h) {
  if (!h) return;
  if (h->interpreter) TfLiteInterpreterDelete(h->interpreter);
  if (h->xnnpack) TfLiteXNNPackDelegateDelete(h->xnnpack);
  if (h->model) TfLiteModelDelete(h->model);
  free(h->bytes);
  free(h);
}

static const TfLiteTensor* tensor_of(handle_t* h, int input, int index) {
  const int n = input ? TfLiteInterpreterGetInputTensorCount(h->interpreter)
                      : TfLiteInterpreterGetOutputTensorCount(h->interpreter);
  if (index < 0 || index >= n) return 0;
  return input ? TfLiteInterpreterGetInputTensor(h->interpreter, index)
               : TfLiteInterpreterGetOutputTensor(h->interpreter, index);
}

JNIEXPORT jlong JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeCreate(JNIEnv* env, jclass cls,
                                                                            jbyteArray data, jint threads) {
  (void)cls;
  if (!data) {
    throw_msg(env, "java/lang/IllegalArgumentException", "model bytes are null", 0);
    return 0;
  }
  const jsize size = (*env)->GetArrayLength(env, data);
  handle_t* h = (handle_t*)malloc(sizeof(handle_t));
  if (!h) goto oom;
  memset(h, 0, sizeof(*h));
  h->bytes = malloc((size_t)size + 1);
  if (!h->bytes) goto oom;
  (*env)->GetByteArrayRegion(env, data, 0, size, (jbyte*)h->bytes);
  h->model = TfLiteModelCreateWithErrorReporter(h->bytes, (size_t)size, reporter, h);
  if (!h->model) {
    throw_msg(env, "java/lang/IllegalArgumentException", "not a valid TFLite model: ",
              h->error_len ? h->error : "the flatbuffer failed verification");
    destroy(h);
    return 0;
  }
  TfLiteInterpreterOptions* opt = TfLiteInterpreterOptionsCreate();
  if (!opt) goto oom;
  TfLiteInterpreterOptionsSetNumThreads(opt, threads < 1 ? 1 : threads);
  TfLiteInterpreterOptionsSetErrorReporter(opt, reporter, h);
  static const char* const ops[] = {"LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d"};
  for (int i = 0; i < 4; ++i) TfLiteInterpreterOptionsAddCustomOp(opt, ops[i], bnn_registration(ops[i]), 1, 1);
  /* XNNPACK for the float ops, as tflite-runtime's interpreter does by default: the same float
   * arithmetic as the Python runtime, so binarised activations take the same signs */
  bnn_xnnpack_options xo = TfLiteXNNPackDelegateOptionsDefault();
  xo.num_threads = threads < 1 ? 1 : threads;
  h->xnnpack = TfLiteXNNPackDelegateCreate(&xo);
  if (h->xnnpack) TfLiteInterpreterOptionsAddDelegate(opt, h->xnnpack);
  h->interpreter = TfLiteInterpreterCreate(h->model, opt);
  TfLiteInterpreterOptionsDelete(opt);
  if (!h->interpreter || TfLiteInterpreterAllocateTensors(h->interpreter) != kTfLiteOk) {
    throw_msg(env, "java/lang/IllegalArgumentException", "the model cannot run here: ",
              h->error_len ? h->error : "interpreter creation failed");
    destroy(h);
    return 0;
  }
  const int nin = TfLiteInterpreterGetInputTensorCount(h->interpreter);
  const int nout = TfLiteInterpreterGetOutputTensorCount(h->interpreter);
  for (int i = 0; i < nin + nout; ++i) {
    const TfLiteTensor* t = tensor_of(h, i < nin, i < nin ? i : i - nin);
    if (!t || TfLiteTensorType(t) != kTfLiteFloat32) {
      throw_msg(env, "java/lang/IllegalArgumentException",
                "the model's inputs and outputs must be float32 (convert without int8 I/O)", 0);
      destroy(h);
      return 0;
    }
  }
  return (jlong)(intptr_t)h;
oom:
  destroy(h);
  throw_msg(env, "java/lang/OutOfMemoryError", "no memory for the model", 0);
  return 0;
}

JNIEXPORT void JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeDelete(JNIEnv* env, jclass cls, jlong handle) {
  (void)env, (void)cls;
  destroy((handle_t*)(intptr_t)handle);
}

JNIEXPORT jint JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeCount(JNIEnv* env, jclass cls, jlong handle,
                                                                          jboolean input) {
  (void)env, (void)cls;
  handle_t* h = (handle_t*)(intptr_t)handle;
  return input ? TfLiteInterpreterGetInputTensorCount(h->interpreter)
               : TfLiteInterpreterGetOutputTensorCount(h->interpreter);
}

JNIEXPORT jintArray JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeShape(JNIEnv* env, jclass cls,
                                                                               jlong handle, jboolean input,
                                                                               jint index) {
  (void)cls;
  const TfLiteTensor* t = tensor_of((handle_t*)(intptr_t)handle, input, index);
  if (!t) {
    throw_msg(env, "java/lang/IndexOutOfBoundsException", "no such tensor", 0);
    return 0;
  }
  const int rank = TfLiteTensorNumDims(t);
  jint dims[16];
  for (int i = 0; i < rank && i < 16; ++i) dims[i] = TfLiteTensorDim(t, i);
  jintArray out = (*env)->NewIntArray(env, rank < 16 ? rank : 16);
  if (out) (*env)->SetIntArrayRegion(env, out, 0, rank < 16 ? rank : 16, dims);
  return out;
}

/* Copies `input` into input 0, runs, copies each output i into outputs[i]. Lengths must match. */
JNIEXPORT void JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeRun(JNIEnv* env, jclass cls, jlong handle,
                                                                        jfloatArray input, jobjectArray outputs) {
  (void)cls;
  handle_t* h = (handle_t*)(intptr_t)handle;
  TfLiteTensor* in = (TfLiteTensor*)tensor_of(h, 1, 0);
  const jsize n = (*env)->GetArrayLength(env, input);
  if ((size_t)n * sizeof(float) != TfLiteTensorByteSize(in)) {
    throw_msg(env, "java/lang/IllegalArgumentException", "input length does not match the model's input", 0);
    return;
  }
  (*env)->GetFloatArrayRegion(env, input, 0, n, (jfloat*)TfLiteTensorData(in));
  h->error_len = 0;
  h->error[0] = 0;
  if (TfLiteInterpreterInvoke(h->interpreter) != kTfLiteOk) {
    throw_msg(env, "java/lang/IllegalStateException", "inference failed: ", h->error);
    return;
  }
  const jsize nout = (*env)->GetArrayLength(env, outputs);
  for (jsize i = 0; i < nout; ++i) {
    jfloatArray o = (jfloatArray)(*env)->GetObjectArrayElement(env, outputs, i);
    const TfLiteTensor* t = tensor_of(h, 0, i);
    if (!o || !t) {
      throw_msg(env, "java/lang/IllegalArgumentException", "more output arrays than model outputs", 0);
      return;
    }
    const jsize m = (*env)->GetArrayLength(env, o);
    if ((size_t)m * sizeof(float) != TfLiteTensorByteSize(t)) {
      throw_msg(env, "java/lang/IllegalArgumentException", "output length does not match the model's output", 0);
      return;
    }
    (*env)->SetFloatArrayRegion(env, o, 0, m, (const jfloat*)TfLiteTensorData(t));
    (*env)->DeleteLocalRef(env, o);
  }
}

JNIEXPORT jstring JNICALL Java_org_bnnlandmarks_core_NativeModel_nativeInfo(JNIEnv* env, jclass cls) {
  (void)cls;
  char buf[160];
  size_t n = 0;
  const char* parts[] = {"bnn-kernels ", bnn_version(), " (", bnn_isa_name(bnn_isa()), "), TFLite ", TfLiteVersion()};
  for (int p = 0; p < 6; ++p)
    for (const char* s = parts[p]; s && *s && n + 1 < sizeof(buf); ++s) buf[n++] = *s;
  buf[n] = 0;
  return (*env)->NewStringUTF(env, buf);
}
