/* Helpers shared by the TFLite-facing C files (bnn_tflite.c: the custom ops, bnn_delegate.c: the
 * fusing delegate): tensor checks, shape setting, error reports and the run settings. */
#ifndef BNN_GLUE_H_
#define BNN_GLUE_H_
#include "bnn.h"
#include "tflite_abi.h"

#ifndef BNN_FREESTANDING
#include <stdlib.h>
#endif
#ifdef BNN_TFLITE_C_API
/* Linked against a TFLite C library (the Android bridge): arrays handed to ResizeTensor must
 * come from its own allocator, which frees them. */
TfLiteIntArray* TfLiteIntArrayCreate(int size);
#endif

#define INT_MAX_ 2147483647
#define INT_MIN_ (-2147483647 - 1)

static inline void report(TfLiteContext* ctx, const char* op, const char* msg) {
  if (ctx && ctx->ReportError) ctx->ReportError(ctx, "%s: %s", op, msg);
}

#define ENSURE(cond, msg)          \
  do {                             \
    if (!(cond)) {                 \
      report(ctx, OPNAME, (msg)); \
      return kTfLiteError;         \
    }                              \
  } while (0)

static inline TfLiteTensor* tensor_at(TfLiteContext* ctx, const TfLiteIntArray* arr, int i) {
  if (!arr || i < 0 || i >= arr->size) return 0;
  const int idx = arr->data[i];
  if (idx < 0 || (size_t)idx >= ctx->tensors_size) return 0;
  return &ctx->tensors[idx];
}

static inline int type_size(int type) {
  switch (type) {
    case kTfLiteFloat32: case kTfLiteInt32: return 4;
    case kTfLiteInt8: case kTfLiteUInt8: return 1;
    default: return 0;
  }
}

/* Shape sanity: rank in [1, 8], positive dims, element count * type size == bytes when the data
 * is allocated. Returns the element count, or -1. */
static inline int64_t checked_count(const TfLiteTensor* t, int rank) {
  if (!t || !t->dims || t->dims->size < 1 || t->dims->size > 8) return -1;
  if (rank && t->dims->size != rank) return -1;
  int64_t n = 1;
  for (int i = 0; i < t->dims->size; ++i) {
    if (t->dims->data[i] <= 0 || t->dims->data[i] > (1 << 24)) return -1;
    n *= t->dims->data[i];
    if (n > ((int64_t)1 << 31)) return -1;
  }
  return n;
}

static inline int data_ok(const TfLiteTensor* t) {
  const int64_t n = checked_count(t, 0);
  const int es = type_size(t->type);
  return n > 0 && es > 0 && t->data.raw && (int64_t)t->bytes >= n * es;
}

/* Resize `t` to `rank` dims unless it already has them. */
static inline TfLiteStatus set_shape(TfLiteContext* ctx, TfLiteTensor* t, int rank, const int* dims) {
  int same = t->dims && t->dims->size == rank;
  for (int i = 0; same && i < rank; ++i) same = t->dims->data[i] == dims[i];
  if (same) return kTfLiteOk;
#ifdef BNN_TFLITE_C_API
  TfLiteIntArray* a = TfLiteIntArrayCreate(rank);
#else
  TfLiteIntArray* a = (TfLiteIntArray*)bnn_alloc(sizeof(int) * (size_t)(rank + 1));
#endif
  if (!a) return kTfLiteError;
  a->size = rank;
  for (int i = 0; i < rank; ++i) a->data[i] = dims[i];
  return ctx->ResizeTensor(ctx, t, a); /* takes ownership */
}

/* Settings read from the environment once per Prepare (never in Invoke): the inner-kernel ISA
 * and the thread cap for the binary ops (BNN_MAX_THREADS). */
typedef struct {
  int isa;
  int max_threads;
} run_cfg;

static inline run_cfg cfg_now(void) {
  run_cfg c = {bnn_selected_isa(), 64};
#ifndef BNN_FREESTANDING
  const char* cap = getenv("BNN_MAX_THREADS");
  if (cap && atoi(cap) > 0 && atoi(cap) < c.max_threads) c.max_threads = atoi(cap);
#endif
  return c;
}

static inline int threads_of(TfLiteContext* ctx, const run_cfg* c) {
  int n = ctx->recommended_num_threads;
  n = n < 1 ? 1 : n > 64 ? 64 : n;
  return n < c->max_threads ? n : c->max_threads;
}

/* bnn_tflite.c, for the fusing delegate: the LceBconv2d kernel, an instance's prepared
 * convolution when it reads bit-packed input (else NULL), and running it with an epilogue
 * (profiled like the op; -1 when it cannot); the profile of the delegate's own passes
 * (t0 = bnn_profile_clock() before, 0 when not profiling). */
const TfLiteRegistration* bnn_bconv_registration(void);
const bnn_bconv* bnn_bconv_prepared(const void* user_data);
int bnn_bconv_run_fused(void* user_data, const int32_t* input, const bnn_epilogue* e, int threads);
int64_t bnn_profile_clock(void);
enum { BNN_PASS_BN_SIGN, BNN_PASS_CONCAT_ADD, BNN_PASS_MAX_POOL, BNN_PASS_UPSAMPLE_ADD, BNN_PASS_KINDS };
void bnn_profile_pass(int kind, int64_t t0);

#endif /* BNN_GLUE_H_ */
