/* The part of the TFLite C API (tensorflow/lite/c/c_api.h, c_api_experimental.h) that the
 * bridge calls, declared here because no TFLite headers exist on the build machine. The library
 * is `liblitert-lm.so` from the pinned litert-lm-api wheel (TFLite 2.23); the structs the kernels
 * share with it are in runtime/kernels/src/tflite_abi.h. */
#ifndef BNN_TFLITE_C_H_
#define BNN_TFLITE_C_H_
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tflite_abi.h"

typedef struct TfLiteModel TfLiteModel;
typedef struct TfLiteInterpreterOptions TfLiteInterpreterOptions;
typedef struct TfLiteInterpreter TfLiteInterpreter;
typedef void (*TfLiteErrorReporterFn)(void* user_data, const char* format, va_list args);

const char* TfLiteVersion(void);
TfLiteModel* TfLiteModelCreateWithErrorReporter(const void* data, size_t size, TfLiteErrorReporterFn reporter,
                                                void* user_data);
void TfLiteModelDelete(TfLiteModel* model);

TfLiteInterpreterOptions* TfLiteInterpreterOptionsCreate(void);
void TfLiteInterpreterOptionsDelete(TfLiteInterpreterOptions* options);
void TfLiteInterpreterOptionsSetNumThreads(TfLiteInterpreterOptions* options, int32_t threads);
void TfLiteInterpreterOptionsSetErrorReporter(TfLiteInterpreterOptions* options, TfLiteErrorReporterFn reporter,
                                              void* user_data);
void TfLiteInterpreterOptionsAddCustomOp(TfLiteInterpreterOptions* options, const char* name,
                                         const TfLiteRegistration* registration, int32_t min_version,
                                         int32_t max_version);

TfLiteInterpreter* TfLiteInterpreterCreate(const TfLiteModel* model, const TfLiteInterpreterOptions* options);
void TfLiteInterpreterDelete(TfLiteInterpreter* interpreter);
TfLiteStatus TfLiteInterpreterAllocateTensors(TfLiteInterpreter* interpreter);
TfLiteStatus TfLiteInterpreterInvoke(TfLiteInterpreter* interpreter);
int32_t TfLiteInterpreterGetInputTensorCount(const TfLiteInterpreter* interpreter);
int32_t TfLiteInterpreterGetOutputTensorCount(const TfLiteInterpreter* interpreter);
TfLiteTensor* TfLiteInterpreterGetInputTensor(const TfLiteInterpreter* interpreter, int32_t index);
const TfLiteTensor* TfLiteInterpreterGetOutputTensor(const TfLiteInterpreter* interpreter, int32_t index);

/* XNNPACK (the float kernels TFLite's Python wheels use by default). The options struct is only
 * touched through its first member (int32_t num_threads); its full size is unknown here, so it
 * lives in a buffer larger than any TFLite release's. */
typedef struct TfLiteDelegate TfLiteDelegate;
typedef struct {
  int32_t num_threads;
  unsigned char rest[1020];
} bnn_xnnpack_options;
bnn_xnnpack_options TfLiteXNNPackDelegateOptionsDefault(void);
TfLiteDelegate* TfLiteXNNPackDelegateCreate(const bnn_xnnpack_options* options);
void TfLiteXNNPackDelegateDelete(TfLiteDelegate* delegate);
void TfLiteInterpreterOptionsAddDelegate(TfLiteInterpreterOptions* options, TfLiteDelegate* delegate);

int TfLiteTensorType(const TfLiteTensor* tensor);
int32_t TfLiteTensorNumDims(const TfLiteTensor* tensor);
int32_t TfLiteTensorDim(const TfLiteTensor* tensor, int32_t dim_index);
size_t TfLiteTensorByteSize(const TfLiteTensor* tensor);
void* TfLiteTensorData(const TfLiteTensor* tensor);

/* From the kernels (bnn_tflite.c). */
const TfLiteRegistration* bnn_registration(const char* name);
const char* bnn_op_names(void);
const char* bnn_version(void);
int bnn_isa(void);
const char* bnn_isa_name(int isa);

#endif
