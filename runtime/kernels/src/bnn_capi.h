/* A model over the TFLite C API (tensorflow/lite/c/c_api.h, c_api_experimental.h) with the
 * project's kernels registered as the LCE custom ops and XNNPACK for the float ops: the one C
 * layer that the Android bridge (android_demo/jni/bnn_jni.c) and the Python runtime's `litert`
 * backend (runtime/kernels/capi.py, through ctypes) both use.
 *
 * The C API comes from `liblitert-lm.so` of the pinned litert-lm-api wheel (TFLite 2.23). No
 * TFLite headers exist on the build machines, so the part used is declared here. It is reached
 * through a table of function pointers: bound at link time where the bridge links the library
 * (BNN_CAPI_LINKED), or by `bnn_capi_bind` with the addresses the Python side looked up in a
 * library it opened with RTLD_LOCAL (so another TFLite in the process never clashes). */
#ifndef BNN_CAPI_H_
#define BNN_CAPI_H_
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tflite_abi.h"

typedef struct TfLiteModel TfLiteModel;
typedef struct TfLiteInterpreterOptions TfLiteInterpreterOptions;
typedef struct TfLiteInterpreter TfLiteInterpreter;
typedef void (*TfLiteErrorReporterFn)(void* user_data, const char* format, va_list args);

/* XNNPACK's options struct is only touched through its first member (int32_t num_threads); its
 * full size is unknown here, so it lives in a buffer larger than any TFLite release's. */
typedef struct {
  int32_t num_threads;
  unsigned char rest[1020];
} bnn_xnnpack_options;

/* X(return type, name, parameters): every C API function the layer calls. */
#define BNN_CAPI_FUNCS(X)                                                                                     \
  X(const char*, TfLiteVersion, (void))                                                                       \
  X(TfLiteModel*, TfLiteModelCreateWithErrorReporter,                                                         \
    (const void* data, size_t size, TfLiteErrorReporterFn reporter, void* user_data))                         \
  X(void, TfLiteModelDelete, (TfLiteModel * model))                                                           \
  X(TfLiteInterpreterOptions*, TfLiteInterpreterOptionsCreate, (void))                                        \
  X(void, TfLiteInterpreterOptionsDelete, (TfLiteInterpreterOptions * options))                               \
  X(void, TfLiteInterpreterOptionsSetNumThreads, (TfLiteInterpreterOptions * options, int32_t threads))      \
  X(void, TfLiteInterpreterOptionsSetErrorReporter,                                                           \
    (TfLiteInterpreterOptions * options, TfLiteErrorReporterFn reporter, void* user_data))                    \
  X(void, TfLiteInterpreterOptionsAddCustomOp,                                                                \
    (TfLiteInterpreterOptions * options, const char* name, const TfLiteRegistration* registration,           \
     int32_t min_version, int32_t max_version))                                                               \
  X(void, TfLiteInterpreterOptionsAddDelegate, (TfLiteInterpreterOptions * options, TfLiteDelegate * d))     \
  X(bnn_xnnpack_options, TfLiteXNNPackDelegateOptionsDefault, (void))                                         \
  X(TfLiteDelegate*, TfLiteXNNPackDelegateCreate, (const bnn_xnnpack_options* options))                       \
  X(void, TfLiteXNNPackDelegateDelete, (TfLiteDelegate * delegate))                                           \
  X(void*, TfLiteXNNPackDelegateGetThreadPool, (TfLiteDelegate * delegate))                                    \
  X(void, pthreadpool_parallelize_1d, /* XNNPACK's thread pool, which the kernels' delegate shares */          \
    (void* pool, void (*task)(void*, size_t), void* context, size_t range, uint32_t flags))                   \
  X(TfLiteInterpreter*, TfLiteInterpreterCreate,                                                              \
    (const TfLiteModel* model, const TfLiteInterpreterOptions* options))                                      \
  X(void, TfLiteInterpreterDelete, (TfLiteInterpreter * interpreter))                                         \
  X(TfLiteStatus, TfLiteInterpreterAllocateTensors, (TfLiteInterpreter * interpreter))                        \
  X(TfLiteStatus, TfLiteInterpreterInvoke, (TfLiteInterpreter * interpreter))                                 \
  X(int32_t, TfLiteInterpreterGetInputTensorCount, (const TfLiteInterpreter* interpreter))                    \
  X(int32_t, TfLiteInterpreterGetOutputTensorCount, (const TfLiteInterpreter* interpreter))                   \
  X(TfLiteTensor*, TfLiteInterpreterGetInputTensor, (const TfLiteInterpreter* interpreter, int32_t index))    \
  X(const TfLiteTensor*, TfLiteInterpreterGetOutputTensor,                                                    \
    (const TfLiteInterpreter* interpreter, int32_t index))                                                    \
  X(int, TfLiteTensorType, (const TfLiteTensor* tensor))                                                      \
  X(int32_t, TfLiteTensorNumDims, (const TfLiteTensor* tensor))                                               \
  X(int32_t, TfLiteTensorDim, (const TfLiteTensor* tensor, int32_t dim_index))                                \
  X(size_t, TfLiteTensorByteSize, (const TfLiteTensor* tensor))                                               \
  X(void*, TfLiteTensorData, (const TfLiteTensor* tensor))

/* From the kernels (bnn_tflite.c): registration i of the LCE ops (NULL past the last). */
const TfLiteRegistration* bnn_registration_at(int i);
/* From bnn_delegate.c: the fusing delegate of one interpreter of `model`. */
TfLiteDelegate* bnn_delegate_create(const void* model, size_t size);
void bnn_delegate_use_pool(TfLiteDelegate* delegate, void* pool, void* parallelize);
void bnn_delegate_delete(TfLiteDelegate* delegate);
const char* bnn_version(void);
int bnn_isa(void);
const char* bnn_isa_name(int isa);

/* One loaded model and its interpreter. */
typedef struct bnn_model bnn_model;

#ifndef BNN_API
#define BNN_API __attribute__((visibility("default")))
#endif

/* The C API's function names, comma-separated, in the order bnn_capi_bind expects them. */
BNN_API const char* bnn_capi_symbols(void);
/* Bind the table to `n` function addresses (in bnn_capi_symbols' order). Returns 0, or i + 1 when
 * address i is missing (nothing is bound then). */
BNN_API int bnn_capi_bind(const void* const* addresses, int n);
/* The bound library's TFLite version, or NULL when nothing is bound. */
BNN_API const char* bnn_capi_version(void);

/* Load `size` bytes of a .tflite flatbuffer (copied) and allocate its tensors, with `threads`
 * threads and XNNPACK unless `xnnpack` is 0. NULL on failure, with the reason in `error`. */
BNN_API bnn_model* bnn_model_create(const void* bytes, size_t size, int threads, int xnnpack, char* error,
                                    size_t error_cap);
BNN_API void bnn_model_delete(bnn_model* model);
/* Number of inputs (input != 0) or outputs. */
BNN_API int bnn_model_count(const bnn_model* model, int input);
/* The shape of input/output `index` into dims[0..cap): its rank, or -1 when there is no such tensor. */
BNN_API int bnn_model_dims(const bnn_model* model, int input, int index, int32_t* dims, int cap);
/* TfLiteType of input/output `index`, or -1. */
BNN_API int bnn_model_type(const bnn_model* model, int input, int index);
/* The data of input/output `index` and its size in bytes, or NULL. */
BNN_API void* bnn_model_data(const bnn_model* model, int input, int index, size_t* bytes);
/* Run once: 0, or -1 with the interpreter's messages in bnn_model_error. */
BNN_API int bnn_model_invoke(bnn_model* model);
BNN_API const char* bnn_model_error(const bnn_model* model);

#endif
