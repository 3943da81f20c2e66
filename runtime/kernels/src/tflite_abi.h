/*
 * The parts of TensorFlow Lite's C ABI (tensorflow/lite/core/c/common.h) that custom op kernels
 * touch, declared here so that the kernels build without TensorFlow's sources. The layout is the
 * one of TFLite 2.14 (tflite-runtime==2.14.0) on 64-bit Linux/Android, which is also what the
 * TFLite C API of later releases keeps for TfLiteContext / TfLiteNode / TfLiteTensor.
 * A layout mismatch is caught at load time by the self-test model (runtime/kernels/__init__.py).
 */
#ifndef BNN_TFLITE_ABI_H_
#define BNN_TFLITE_ABI_H_

#include <stddef.h>
#include <stdint.h>

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
} TfLiteType;

typedef struct {
  int size;
  int data[];
} TfLiteIntArray;

typedef struct {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct {
  int type; /* TfLiteQuantizationType: 0 none, 1 affine */
  void* params;
} TfLiteQuantization;

typedef union {
  int32_t* i32;
  int64_t* i64;
  float* f;
  char* raw;
  const char* raw_const;
  uint8_t* uint8;
  int8_t* int8;
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  int type; /* TfLiteType */
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  int allocation_type;
  size_t bytes;
  const void* allocation;
  const char* name;
  void* delegate;
  int buffer_handle;
  _Bool data_is_stale;
  _Bool is_variable;
  TfLiteQuantization quantization;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  void* delegate;
  _Bool might_have_side_effect;
} TfLiteNode;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext*, TfLiteIntArray**);
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor*, TfLiteIntArray*);
  void (*ReportError)(struct TfLiteContext*, const char* msg, ...);
  TfLiteStatus (*AddTensors)(struct TfLiteContext*, int, int*);
  void* GetNodeAndRegistration;                /* bnn_get_node_fn, in a delegate's Prepare */
  void* ReplaceNodeSubsetsWithDelegateKernels; /* bnn_replace_nodes_fn, likewise */
  int recommended_num_threads;
  void* GetExternalContext;
  void* SetExternalContext;
  _Bool allow_fp32_relax_to_fp16;
  void* profiler;
  void* AllocatePersistentBuffer;
  void* AllocateBufferForEval;
  void* RequestScratchBufferInArena;
  void* GetScratchBuffer;
  void* ResizeTensorExplicit;
  void* PreviewDelegatePartitioning; /* bnn_preview_fn, in a delegate's Prepare */
  /* further members are not used */
} TfLiteContext;

typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext*, const char* buffer, size_t length);
  void (*free)(TfLiteContext*, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext*, TfLiteNode*);
  TfLiteStatus (*invoke)(TfLiteContext*, TfLiteNode*);
  const char* (*profiling_string)(const TfLiteContext*, const TfLiteNode*);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;
  void* async_kernel;
  uint64_t inplace_operator;
  /* room for members added by later releases: they must read as zero */
  uint64_t reserved[8];
} TfLiteRegistration;

/* Delegates (common.h): what a delegate's Prepare uses to claim nodes. */
typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext* context, struct TfLiteDelegate* delegate);
  void* CopyFromBufferHandle;
  void* CopyToBufferHandle;
  void* FreeBufferHandle;
  int64_t flags;
  void* opaque_delegate_builder; /* NULL: a classic delegate */
  /* room for members added by later releases: they must read as zero */
  void* reserved[4];
} TfLiteDelegate;

/* What a delegate kernel's init receives (as its `buffer`) for one partition of claimed nodes. */
typedef struct {
  TfLiteDelegate* delegate;
  TfLiteIntArray* nodes_to_replace;
  TfLiteIntArray* input_tensors;
  TfLiteIntArray* output_tensors;
} TfLiteDelegateParams;

typedef TfLiteStatus (*bnn_get_node_fn)(TfLiteContext*, int node_index, TfLiteNode** node,
                                        TfLiteRegistration** registration);
typedef TfLiteStatus (*bnn_replace_nodes_fn)(TfLiteContext*, TfLiteRegistration registration,
                                             const TfLiteIntArray* nodes_to_replace, TfLiteDelegate* delegate);

/* The partitions ReplaceNodeSubsetsWithDelegateKernels would make of `nodes` (owned by the context). */
typedef TfLiteStatus (*bnn_preview_fn)(TfLiteContext*, const TfLiteIntArray* nodes,
                                       TfLiteDelegateParams** partitions, int* n_partitions);

/* Builtin operator codes (schema.fbs) the delegate matches. */
enum { kTfLiteBuiltinAdd = 0, kTfLiteBuiltinConcatenation = 2, kTfLiteBuiltinMaxPool2d = 17, kTfLiteBuiltinMul = 18,
       kTfLiteBuiltinCustom = 32, kTfLiteBuiltinPrelu = 54, kTfLiteBuiltinResizeNearestNeighbor = 97 };
/* Their builtin_data (builtin_op_data.h), as far as the delegate reads it. */
typedef enum { kTfLitePaddingUnknown = 0, kTfLitePaddingSame = 1, kTfLitePaddingValid = 2 } TfLitePadding;
typedef struct {
  TfLitePadding padding;
  int stride_width, stride_height, filter_width, filter_height;
  int activation; /* TfLiteFusedActivation; 0: none */
} TfLitePoolParams;
typedef struct {
  _Bool align_corners, half_pixel_centers; /* C bool */
} TfLiteResizeNearestNeighborParams;
/* TfLiteTensor.allocation_type of constant (model-owned) data */
enum { kTfLiteMmapRo = 1 };

#endif /* BNN_TFLITE_ABI_H_ */
