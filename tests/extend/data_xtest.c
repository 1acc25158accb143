/* data_xtest.c — a data source added from outside models/ (tests/extend/): a
 * noiseless linear regression y = a.w* with w*_j = 1/(j+1) on n rows of dim
 * deterministic features in [-1, 1]; the test set is the next n/4 + 1 rows.
 * Options n and dim. */
#include <stddef.h>
#include <stdio.h>

#include "data.h"

typedef struct xd_spec {
    size_t n, dim;
} xd_spec;
DATA_PARAMS_FITS(xd_spec);

static const qsgd_opt xd_opts[] = {
    {.name = "n",
     .kind = QSGD_OPT_SIZE,
     .offset = offsetof(xd_spec, n),
     .min = 1,
     .max = DATA_MAX_COUNT,
     .def = "256",
     .meta = "N",
     .flags = QSGD_OPT_EXP,
     .help = "training rows"},
    {.name = "dim",
     .aliases = "d",
     .kind = QSGD_OPT_SIZE,
     .offset = offsetof(xd_spec, dim),
     .min = 1,
     .max = DATA_MAX_COUNT,
     .def = "8",
     .meta = "D",
     .flags = QSGD_OPT_EXP,
     .help = "features"},
    {.name = NULL},
};

/* Rows first .. first + n of the sequence. */
static int xd_make(const xd_spec *s, size_t first, size_t n, dataset **out, qsgd_err *err) {
    data_shape shape = {.dim = s->dim};
    int rc = dataset_alloc_dense(&shape, n, out, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        double y = 0.0;
        for (size_t j = 0; j < s->dim; j++) {
            float a = (float)((((first + i) * 7919u + j * 104729u) % 2001u) / 1000.0 - 1.0);
            (*out)->x[i * s->dim + j] = a;
            y += (double)a / (double)(j + 1);
        }
        (*out)->target[i] = (float)y;
    }
    snprintf((*out)->source, sizeof(*out)->source, "xtest:n=%zu,dim=%zu", s->n, s->dim);
    return QSGD_OK;
}

static int xd_load(const data_source *src, const char *path, const void *params, uint64_t seed,
                   dataset **train, dataset **test, qsgd_err *err) {
    (void)src;
    (void)path;
    (void)seed;
    *train = *test = NULL;
    const xd_spec *s = params;
    int rc;
    if ((rc = xd_make(s, 0, s->n, train, err)))
        return rc;
    if ((rc = xd_make(s, s->n, s->n / 4 + 1, test, err))) {
        dataset_free(*train);
        *train = NULL;
    }
    return rc;
}

const data_source data_source_xtest = {
    .name = "xtest",
    .summary = "noiseless linear regression y = a.w*, w*_j = 1/(j+1) (extension test)",
    .opts = xd_opts,
    .params_size = sizeof(xd_spec),
    .load = xd_load,
};
