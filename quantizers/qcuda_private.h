/* qcuda_private.h — the GPU codec's object and the backend it runs on (internal to
 * quantizers/): qcuda_core.c holds the driver (phases, checks, error messages) and the host
 * emulation backend; qcuda.cu the CUDA backend (qcuda_none.c when built without CUDA). */
#ifndef QSGDSIM_QCUDA_PRIVATE_H
#define QSGDSIM_QCUDA_PRIVATE_H

#include "qcuda.h"
#include "qcuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { QC_FP32, QC_QSGD, QC_ONEBIT };
enum { QC_H2D, QC_D2H, QC_D2D };

typedef struct qc_ops {
    const char *name; /* "cuda" or "emulated" */
    int (*alloc)(qcuda *g, void **p, size_t bytes, qsgd_err *err);
    void (*release)(qcuda *g, void *p);
    /* queued on the codec's stream (the CUDA backend's D2H copies wait for it) */
    int (*copy)(qcuda *g, void *dst, const void *src, size_t bytes, int kind, qsgd_err *err);
    int (*zero)(qcuda *g, void *dst, size_t bytes, qsgd_err *err); /* synchronous */
    int (*run)(qcuda *g, int kernel, uint64_t nitems, const qk_args *a, qsgd_err *err);
    void (*destroy)(qcuda *g); /* backend state (stream, device) */
} qc_ops;

struct qcuda {
    const qc_ops *ops;
    int type;          /* QC_* */
    qk_args base;      /* shape, parameters and workspace pointers */
    uint64_t msg_bits; /* every message's exact size */
    char name[96];     /* quant_describe of the CPU instance */
    int device;        /* CUDA device (cuda backend) */
    void *stream;      /* cudaStream_t (cuda backend) */
    /* device workspace */
    double *lanes;           /* qsgd: [nb * 9] */
    float *norms;            /* qsgd: [nb] */
    float *residual, *g;     /* onebit: [n] each */
    float *m0, *m1;          /* onebit: [nb] each */
    unsigned long long *bad; /* [1] */
};

/* The CUDA backend: sets g->ops, g->device, g->stream. QSGD_EINVAL with the reason when
 * there is none (built without CUDA, no device, bad device index). */
int qc_cuda_attach(qcuda *g, int device, void *stream, qsgd_err *err);

#ifdef __cplusplus
}
#endif
#endif
