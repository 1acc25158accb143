/* model_cuda_none.c — model_cuda.h for builds without CUDA (QSGDSIM_HAVE_CUDA off): there
 * are no CUDA models, so device cuda fails and auto picks the CPU. */
#include <stdio.h>

#include "model_cuda.h"

const model_type *model_cuda_type(const char *name, char *why, size_t len) {
    (void)name;
    if (why && len)
        snprintf(why, len, "built without CUDA (no nvcc at configure time, or QSGDSIM_CUDA=OFF)");
    return NULL;
}
