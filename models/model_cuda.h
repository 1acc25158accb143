/* model_cuda.h — internal glue between the model registry (model.c, model_device.c) and the
 * CUDA backend: model_cuda.cu when CUDA is built, else model_cuda_none.c. Not a public
 * header: programs use model.h (model_alloc_spec_on / model_alloc_spec_for).
 */
#ifndef QSGDSIM_MODEL_CUDA_H
#define QSGDSIM_MODEL_CUDA_H

#include <stddef.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CUDA twin of the CPU model type called `name` (same name, options, tensors and
 * semantics), or NULL with the reason in why[len]: "built without CUDA ..." or "model X has
 * no CUDA implementation ...". Says nothing about whether a GPU is present
 * (gpu_device_count). */
const model_type *model_cuda_type(const char *name, char *why, size_t len);

/* model_alloc for a given type table (no registry lookup): model.c. */
model *model_alloc_type(const model_type *t, const model_params *p, const data_shape *shape,
                        size_t max_batch, qsgd_err *err);

#ifdef __cplusplus
}
#endif
#endif
