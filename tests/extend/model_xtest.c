/* model_xtest.c — a model added from outside models/ (tests/extend/): ridge regression
 * 1/(2m) sum (a_i.w - y_i)^2 + l2/2 |w|^2 on dense rows, written with plain loops. One
 * tensor "w" {dim}, every weight starting at init; its options (l2, and init kept in
 * model_params.ext) are rows of its own table. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "model.h"
#include "nn_ops.h"
#include "qsgd_opt.h"

static int xm_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    if (shape->nclass != 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "model xtest needs regression targets (nclass 0)");
    int rc = nn_tensors_begin(m, 1, err);
    if (rc)
        return rc;
    nn_tensor_add(m, "w", 1, shape->dim, 0, 0, 0);
    return QSGD_OK;
}

static void xm_fini(model *m) {}

/* Its own option, kept in model_params.ext (model.h did not change for it). */
typedef struct xm_opts_t {
    double init; /* every weight's initial value */
} xm_opts_t;
MODEL_EXT_FITS(xm_opts_t);

static void xm_init_params(const model *m, float *theta, uint64_t seed) {
    (void)seed;
    const float w0 = (float)MODEL_EXT_CONST(&m->params, xm_opts_t)->init;
    for (size_t j = 0; j < m->nparams; j++)
        theta[j] = w0;
}

/* Residual a_i.w - y_i of row i. */
static double xm_residual(const model *m, const float *w, const dataset *d, size_t i) {
    const float *a = d->x + i * m->shape.dim;
    double z = 0.0;
    for (size_t j = 0; j < m->shape.dim; j++)
        z += (double)a[j] * w[j];
    return z - d->target[i];
}

static double xm_reg(const model *m, const float *w) {
    double s = 0.0;
    for (size_t j = 0; j < m->nparams; j++)
        s += (double)w[j] * w[j];
    return 0.5 * m->params.l2 * s;
}

static int xm_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                        size_t batch, double *loss, float *grad, qsgd_err *err) {
    int rc = nn_check_data(m, d, 0, err);
    if (rc)
        return rc;
    if (batch == 0 || batch > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model xtest: batch %zu not in [1, %zu]", batch,
                         m->max_batch);
    size_t dim = m->shape.dim;
    for (size_t j = 0; j < dim; j++)
        grad[j] = (float)m->params.l2 * theta[j];
    double sum = 0.0;
    for (size_t b = 0; b < batch; b++) {
        double r = xm_residual(m, theta, d, idx[b]);
        sum += 0.5 * r * r;
        const float *a = d->x + idx[b] * dim;
        for (size_t j = 0; j < dim; j++)
            grad[j] += (float)(r / (double)batch) * a[j];
    }
    *loss = sum / (double)batch + xm_reg(m, theta);
    return QSGD_OK;
}

static int xm_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                       double *accuracy, qsgd_err *err) {
    int rc = nn_check_data(m, d, 0, err);
    if (rc)
        return rc;
    double sum = 0.0;
    for (size_t i = 0; i < d->n; i++) {
        double r = xm_residual(m, theta, d, i);
        sum += 0.5 * r * r;
    }
    *loss = (d->n ? sum / (double)d->n : 0.0) + xm_reg(m, theta);
    if (accuracy)
        *accuracy = NAN;
    return QSGD_OK;
}

static double xm_flops(const model *m) {
    return 4.0 * (double)m->shape.dim + 4.0;
}

static const qsgd_opt xm_opts[] = {
    {.name = "l2",
     .kind = QSGD_OPT_DOUBLE,
     .offset = offsetof(model_params, l2),
     .dmax = DBL_MAX,
     .def = "0",
     .meta = "LAMBDA",
     .help = "L2 regularization lambda in the loss"},
    {.name = "init",
     .kind = QSGD_OPT_DOUBLE,
     .offset = MODEL_EXT_OFFSET(xm_opts_t, init),
     .dmin = -1e3,
     .dmax = 1e3,
     .def = "0",
     .meta = "W0",
     .help = "every weight's initial value (an option of the type's own, in model_params.ext)"},
    {.name = NULL},
};

const model_type model_type_xtest = {
    .name = "xtest",
    .summary = "ridge regression with plain loops, dense rows (extension test)",
    .init = xm_init,
    .fini = xm_fini,
    .init_params = xm_init_params,
    .loss_grad = xm_loss_grad,
    .evaluate = xm_evaluate,
    .flops_per_sample = xm_flops,
    .opts = xm_opts,
};
