/* A model over the TFLite C API with the project's kernels: see bnn_capi.h. */
#include "bnn_capi.h"

#include "bnn.h"

#ifndef BNN_FREESTANDING
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int vformat(char* buf, size_t cap, const char* fmt, va_list ap) {
  const int n = vsnprintf(buf, cap, fmt, ap);
  return n < 0 ? 0 : n;
}
#else
void* memset(void*, int, size_t);
void* memcpy(void*, const void*, size_t);
int bnn_vformat(char* buf, size_t cap, const char* fmt, va_list ap); /* the bridge's shim.c */
static int vformat(char* buf, size_t cap, const char* fmt, va_list ap) { return bnn_vformat(buf, cap, fmt, ap); }
#endif

typedef struct {
#define BNN_FIELD(ret, name, params) ret(*name) params;
  BNN_CAPI_FUNCS(BNN_FIELD)
#undef BNN_FIELD
} capi_table;

static capi_table api;
static int bound = 0;

#define BNN_NAME(ret, name, params) #name ","
static const char symbols[] = BNN_CAPI_FUNCS(BNN_NAME);
#undef BNN_NAME
#define BNN_COUNT(ret, name, params) +1
enum { N_FUNCS = 0 BNN_CAPI_FUNCS(BNN_COUNT) };
#undef BNN_COUNT

BNN_API const char* bnn_capi_symbols(void) { return symbols; }

BNN_API int bnn_capi_bind(const void* const* addresses, int n) {
  if (!addresses || n != N_FUNCS) return N_FUNCS + 1;
  for (int i = 0; i < n; ++i)
    if (!addresses[i]) return i + 1;
  void** slot = (void**)&api; /* the struct is N_FUNCS function pointers, in BNN_CAPI_FUNCS order */
  for (int i = 0; i < n; ++i) slot[i] = (void*)addresses[i];
  bound = 1;
  return 0;
}

#ifdef BNN_CAPI_LINKED
/* The bridge links the library: bind the table to its symbols on first use. */
#define BNN_DECLARE(ret, name, params) ret name params;
BNN_CAPI_FUNCS(BNN_DECLARE)
#undef BNN_DECLARE
static int ensure_bound(void) {
  if (!bound) {
#define BNN_ADDRESS(ret, name, params) (const void*)&name,
    static const void* const linked[] = {BNN_CAPI_FUNCS(BNN_ADDRESS)};
#undef BNN_ADDRESS
    bnn_capi_bind(linked, N_FUNCS);
  }
  return bound;
}
#else
static int ensure_bound(void) { return bound; }
#endif

BNN_API const char* bnn_capi_version(void) { return ensure_bound() ? api.TfLiteVersion() : 0; }

struct bnn_model {
  TfLiteModel* model;
  TfLiteInterpreter* interpreter;
  TfLiteDelegate* fuse;    /* the kernels' delegate (bnn_delegate.c); deleted after the interpreter */
  TfLiteDelegate* xnnpack; /* float ops; likewise */
  void* bytes;             /* the flatbuffer, owned: the C API reads it for the model's lifetime */
  size_t size;
  char error[768];
  int error_len;
};

/* Error reporter: messages joined with "; ", truncated to the buffer. */
static void reporter(void* user, const char* fmt, va_list ap) {
  bnn_model* m = (bnn_model*)user;
  if (m->error_len + 3 >= (int)sizeof(m->error)) return;
  if (m->error_len) m->error[m->error_len++] = ';', m->error[m->error_len++] = ' ';
  m->error_len += vformat(m->error + m->error_len, sizeof(m->error) - (size_t)m->error_len, fmt, ap);
  if (m->error_len >= (int)sizeof(m->error)) m->error_len = (int)sizeof(m->error) - 1;
  m->error[m->error_len] = 0;
}

static void copy_text(char* dst, size_t cap, const char* a, const char* b) {
  size_t n = 0;
  if (!dst || !cap) return;
  for (const char* s = a; s && *s && n + 1 < cap; ++s) dst[n++] = *s;
  for (const char* s = b; s && *s && n + 1 < cap; ++s) dst[n++] = *s;
  dst[n] = 0;
}

BNN_API void bnn_model_delete(bnn_model* m) {
  if (!m) return;
  if (m->interpreter) api.TfLiteInterpreterDelete(m->interpreter);
  if (m->xnnpack) api.TfLiteXNNPackDelegateDelete(m->xnnpack);
  bnn_delegate_delete(m->fuse);
  if (m->model) api.TfLiteModelDelete(m->model);
  bnn_free(m->bytes);
  bnn_free(m);
}

/* Fail: the reason (and the reporter's messages) into `error`, everything freed. */
static bnn_model* fail(bnn_model* m, char* error, size_t cap, const char* why) {
  copy_text(error, cap, why, m && m->error_len ? m->error : 0);
  bnn_model_delete(m);
  return 0;
}

static TfLiteInterpreterOptions* options_for(bnn_model* m, int threads, int xnnpack) {
  TfLiteInterpreterOptions* opt = api.TfLiteInterpreterOptionsCreate();
  if (!opt) return 0;
  api.TfLiteInterpreterOptionsSetNumThreads(opt, threads < 1 ? 1 : threads);
  api.TfLiteInterpreterOptionsSetErrorReporter(opt, reporter, m);
  const TfLiteRegistration* reg;
  for (int i = 0; (reg = bnn_registration_at(i)); ++i) /* every LCE op the kernels implement */
    api.TfLiteInterpreterOptionsAddCustomOp(opt, reg->custom_name, reg, 1, 1);
  m->fuse = bnn_delegate_create(m->bytes, m->size); /* first: it claims nodes XNNPACK would take */
  if (m->fuse) api.TfLiteInterpreterOptionsAddDelegate(opt, m->fuse);
  if (xnnpack) { /* as tflite-runtime's interpreter does by default: the same float arithmetic */
    bnn_xnnpack_options xo = api.TfLiteXNNPackDelegateOptionsDefault();
    xo.num_threads = threads < 1 ? 1 : threads;
    m->xnnpack = api.TfLiteXNNPackDelegateCreate(&xo);
    if (m->xnnpack) api.TfLiteInterpreterOptionsAddDelegate(opt, m->xnnpack);
    if (m->xnnpack && m->fuse) /* one set of worker threads for both */
      bnn_delegate_use_pool(m->fuse, api.TfLiteXNNPackDelegateGetThreadPool(m->xnnpack),
                            (void*)api.pthreadpool_parallelize_1d);
  }
  return opt;
}

BNN_API bnn_model* bnn_model_create(const void* bytes, size_t size, int threads, int xnnpack, char* error,
                                    size_t error_cap) {
  if (!ensure_bound()) return fail(0, error, error_cap, "the TFLite C API library is not bound");
  if (!bytes || !size) return fail(0, error, error_cap, "no model bytes");
  bnn_model* m = (bnn_model*)bnn_alloc(sizeof(bnn_model));
  if (!m) return fail(0, error, error_cap, "out of memory");
  memset(m, 0, sizeof(*m));
  m->bytes = bnn_alloc(size);
  if (!m->bytes) return fail(m, error, error_cap, "out of memory");
  memcpy(m->bytes, bytes, size);
  m->size = size;
  m->model = api.TfLiteModelCreateWithErrorReporter(m->bytes, size, reporter, m);
  if (!m->model) return fail(m, error, error_cap, "not a valid TFLite model: ");
  TfLiteInterpreterOptions* opt = options_for(m, threads, xnnpack);
  if (!opt) return fail(m, error, error_cap, "out of memory");
  m->interpreter = api.TfLiteInterpreterCreate(m->model, opt);
  api.TfLiteInterpreterOptionsDelete(opt);
  if (!m->interpreter || api.TfLiteInterpreterAllocateTensors(m->interpreter) != kTfLiteOk)
    return fail(m, error, error_cap, "the model cannot run here: ");
  return m;
}

static const TfLiteTensor* tensor_of(const bnn_model* m, int input, int index) {
  if (!m || index < 0 || index >= bnn_model_count(m, input)) return 0;
  return input ? api.TfLiteInterpreterGetInputTensor(m->interpreter, index)
               : api.TfLiteInterpreterGetOutputTensor(m->interpreter, index);
}

BNN_API int bnn_model_count(const bnn_model* m, int input) {
  if (!m) return 0;
  return input ? api.TfLiteInterpreterGetInputTensorCount(m->interpreter)
               : api.TfLiteInterpreterGetOutputTensorCount(m->interpreter);
}

BNN_API int bnn_model_dims(const bnn_model* m, int input, int index, int32_t* dims, int cap) {
  const TfLiteTensor* t = tensor_of(m, input, index);
  if (!t) return -1;
  const int rank = api.TfLiteTensorNumDims(t);
  for (int i = 0; i < rank && i < cap; ++i) dims[i] = api.TfLiteTensorDim(t, i);
  return rank;
}

BNN_API int bnn_model_type(const bnn_model* m, int input, int index) {
  const TfLiteTensor* t = tensor_of(m, input, index);
  return t ? api.TfLiteTensorType(t) : -1;
}

BNN_API void* bnn_model_data(const bnn_model* m, int input, int index, size_t* bytes) {
  const TfLiteTensor* t = tensor_of(m, input, index);
  if (bytes) *bytes = t ? api.TfLiteTensorByteSize(t) : 0;
  return t ? api.TfLiteTensorData(t) : 0;
}

BNN_API int bnn_model_invoke(bnn_model* m) {
  if (!m) return -1;
  m->error_len = 0;
  m->error[0] = 0;
  return api.TfLiteInterpreterInvoke(m->interpreter) == kTfLiteOk ? 0 : -1;
}

BNN_API const char* bnn_model_error(const bnn_model* m) { return m ? m->error : "no model"; }
