/* data.h — datasets read by the models: Fashion-MNIST (gzip'd IDX), LIBSVM text files,
 * synthetic convex problems; sharding across workers and minibatch sampling.
 *
 * The structs below are the contract shared with model.h (models read them); the
 * functions are implemented in data.c / data_*.c.
 */
#ifndef QSGDSIM_DATA_H
#define QSGDSIM_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Shape of a dataset's samples, as a model needs it. */
typedef struct data_shape {
    size_t dim;                     /* features per sample (= channels*height*width for images) */
    size_t channels, height, width; /* image layout (CHW), all 0 when not an image */
    int nclass;                     /* number of classes; 0 = real-valued regression targets */
} data_shape;

typedef enum data_layout { DATA_DENSE = 0, DATA_CSR = 1 } data_layout;

/* n samples. Dense: x[n][dim] row-major. CSR (sparse LIBSVM data): row i has the entries
 * val[rowptr[i] .. rowptr[i+1]) at columns col[...] (0-based). Exactly one of label / target
 * is non-NULL: label[n] in 0..nclass-1 for classification, target[n] for regression. */
typedef struct dataset {
    data_shape shape;
    size_t n;
    data_layout layout;
    float *x;        /* dense: [n][dim] */
    size_t *rowptr;  /* csr: [n+1] */
    uint32_t *col;   /* csr: [nnz] */
    float *val;      /* csr: [nnz] */
    int32_t *label;  /* [n] or NULL */
    float *target;   /* [n] or NULL */
    char source[256]; /* where it came from, for provenance lines */
} dataset;

#ifdef __cplusplus
}
#endif
#endif
