/* test_model_api.c — the model registry and everything around the gradients: spec parsing
 * and its error messages, tensor tables, deterministic init, CSR == dense for the linear
 * models, chunked evaluate == one big batch, batch additivity (the cnn's chunked GEMMs),
 * FLOP counts against hand counts, input validation, and plain SGD in the test itself
 * reaching high accuracy on small separable problems. */
#include "model_test_util.h"
#include "qsgd_opt.h"

static const data_shape IMG = {784, 1, 28, 28, 10};

static int msg_has(const qsgd_err *e, const char *s) {
    if (!strstr(e->msg, s)) {
        fprintf(stderr, "\n    message '%s' lacks '%s'", e->msg, s);
        return 0;
    }
    return 1;
}

static void test_registry(void) {
    const char *names[] = {"leastsq", "logreg", "softmax", "mlp", "cnn", "profile"};
    const model_type *const *t = model_types();
    size_t n = 0;
    for (; t[n]; n++) {
        CU_ASSERT_STRING_EQUAL(t[n]->name, names[n]);
        CU_ASSERT_PTR_EQUAL(model_type_find(names[n]), t[n]);
        CU_ASSERT(t[n]->summary && t[n]->opts && t[n]->init && t[n]->fini && t[n]->init_params &&
                  t[n]->loss_grad && t[n]->evaluate && t[n]->flops_per_sample);
    }
    CU_ASSERT_EQUAL(n, 6); /* profile: tests/test_model_profile.c */
    CU_ASSERT_PTR_NULL(model_type_find("resnet"));
    CU_ASSERT_PTR_NULL(model_type_find(NULL));
    model_set_threads(1);
    CU_ASSERT_EQUAL(model_get_threads(), 1);
}

/* What callers learn from the tables, never from the names: the timing stand-in (its loss
 * curves are skipped by `qsgdsim plot`), the option that labels a spec in figures, the CUDA
 * implementation (model_cuda.cu picks its kernels from it). */
static void test_type_properties(void) {
    static const struct {
        const char *name;
        int timing_only;
        const char *label_opt;
        int cuda;
    } want[] = {
        {"leastsq", 0, NULL, MODEL_CUDA_LEASTSQ}, {"logreg", 0, NULL, MODEL_CUDA_LOGREG},
        {"softmax", 0, NULL, MODEL_CUDA_SOFTMAX}, {"mlp", 0, NULL, MODEL_CUDA_MLP},
        {"cnn", 0, NULL, MODEL_CUDA_CNN},         {"profile", 1, "name", MODEL_CUDA_NONE},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const model_type *t = model_type_find(want[i].name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(t->timing_only, want[i].timing_only);
        CU_ASSERT_EQUAL(t->cuda, want[i].cuda);
        if (want[i].label_opt) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(t->label_opt);
            CU_ASSERT_STRING_EQUAL(t->label_opt, want[i].label_opt);
            CU_ASSERT_PTR_NOT_NULL(qsgd_opt_find(t->opts, t->label_opt)); /* one of its rows */
        } else {
            CU_ASSERT_PTR_NULL(t->label_opt);
        }
    }
}

static void test_spec_parse(void) {
    model_spec s;
    qsgd_err e = {0};
    CU_ASSERT_EQUAL(model_spec_parse("mlp", &s, &e), QSGD_OK);
    CU_ASSERT_STRING_EQUAL(s.name, "mlp");
    CU_ASSERT_EQUAL(s.params.nhidden, 2);
    CU_ASSERT_EQUAL(s.params.hidden[0], 256);
    CU_ASSERT_EQUAL(s.params.hidden[1], 128);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=64x32x16", &s, &e), QSGD_OK);
    CU_ASSERT_EQUAL(s.params.nhidden, 3);
    CU_ASSERT_EQUAL(s.params.hidden[2], 16);
    CU_ASSERT_EQUAL(model_spec_parse("cnn:channels=8,fc=0", &s, &e), QSGD_OK);
    CU_ASSERT_EQUAL(s.params.nconv, 1);
    CU_ASSERT_EQUAL(s.params.channels[0], 8);
    CU_ASSERT_EQUAL(s.params.fc, 0);
    CU_ASSERT_EQUAL(model_spec_parse("cnn", &s, &e), QSGD_OK);
    CU_ASSERT_EQUAL(s.params.nconv, 2);
    CU_ASSERT_EQUAL(s.params.fc, 128);
    CU_ASSERT_EQUAL(model_spec_parse("softmax:l2=1e-4", &s, &e), QSGD_OK);
    CU_ASSERT_DOUBLE_EQUAL(s.params.l2, 1e-4, 1e-18);

    /* errors name what was wrong and list the valid choices */
    CU_ASSERT_EQUAL(model_spec_parse("resnet:depth=50", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "resnet") && msg_has(&e, "leastsq, logreg, softmax, mlp, cnn"));
    CU_ASSERT_EQUAL(model_spec_parse("", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "mlp"));
    CU_ASSERT_EQUAL(model_spec_parse(":l2=1", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:depth=3", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "depth") && msg_has(&e, "hidden="));
    CU_ASSERT_EQUAL(model_spec_parse("mlp:l2=0.1", &s, &e), QSGD_EINVAL); /* not an mlp option */
    CU_ASSERT(msg_has(&e, "l2"));
    CU_ASSERT_EQUAL(model_spec_parse("logreg:hidden=3", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "l2="));
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=64x", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=64y32", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=1x2x3x4x5x6x7x8x9", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "hidden"));
    CU_ASSERT_EQUAL(model_spec_parse("cnn:channels=16x0", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("cnn:channels=1x2x3x4x5", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("cnn:fc=-1", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "fc"));
    CU_ASSERT_EQUAL(model_spec_parse("cnn:fc=12a", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("softmax:l2=-1", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("softmax:l2=abc", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("softmax:l2=nan", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "l2"));
}

static void test_alloc_errors(void) {
    qsgd_err e = {0};
    data_shape bin = {10, 0, 0, 0, 2}, reg = {10, 0, 0, 0, 0}, flat = {784, 0, 0, 0, 10};
    data_shape tiny = {4, 1, 2, 2, 10};
    CU_ASSERT_PTR_NULL(model_alloc("nope", NULL, &IMG, 8, &e));
    CU_ASSERT(msg_has(&e, "leastsq, logreg, softmax, mlp, cnn"));
    CU_ASSERT_PTR_NULL(model_alloc("mlp", NULL, &IMG, 0, &e));   /* max_batch 0 */
    CU_ASSERT_PTR_NULL(model_alloc_spec("logreg", &IMG, 8, &e)); /* 10 classes */
    CU_ASSERT(msg_has(&e, "nclass"));
    CU_ASSERT_PTR_NULL(model_alloc_spec("leastsq", &bin, 8, &e)); /* labels, no targets */
    CU_ASSERT_PTR_NULL(model_alloc_spec("softmax", &reg, 8, &e));
    CU_ASSERT_PTR_NULL(model_alloc_spec("mlp", &reg, 8, &e));
    CU_ASSERT_PTR_NULL(model_alloc_spec("cnn", &flat, 8, &e)); /* not an image */
    CU_ASSERT(msg_has(&e, "image"));
    CU_ASSERT_PTR_NULL(model_alloc_spec("cnn", &tiny, 8, &e)); /* 2x2 can't pool twice */
    CU_ASSERT(msg_has(&e, "small"));
    model *m = model_alloc("mlp", NULL, &IMG, 8, &e); /* NULL params: defaults */
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->params.nhidden, 2);
    model_free(m);
    model_params p = {0}; /* zeroed: mlp and cnn fall back to their default layers */
    m = model_alloc("cnn", &p, &IMG, 8, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->params.nconv, 2);
    CU_ASSERT_EQUAL(m->params.fc, 0); /* fc = 0 means none */
    CU_ASSERT_PTR_NULL(mt_tensor(m, "fc1.w"));
    model_free(m);
    model_free(NULL);
}

static void check_tensor(const model *m, const char *name, int ndim, size_t d0, size_t d1,
                         size_t d2, size_t d3) {
    const model_tensor *t = mt_tensor(m, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    size_t d[4] = {d0, d1, d2, d3};
    CU_ASSERT_EQUAL(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        CU_ASSERT_EQUAL(t->shape[i], d[i]);
}

static void test_tensors(void) {
    qsgd_err e = {0};
    data_shape bin = {784, 1, 28, 28, 2}, reg = {784, 1, 28, 28, 0};
    const char *specs[] = {
        "leastsq", "logreg", "softmax", "mlp", "cnn", "mlp:hidden=7", "cnn:channels=4x4x4,fc=0"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        const data_shape *sh = i == 0 ? &reg : i == 1 ? &bin : &IMG;
        model *m = model_alloc_spec(specs[i], sh, 16, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        size_t off = 0;
        for (size_t t = 0; t < m->ntensors; t++) {
            size_t n = 1;
            for (int k = 0; k < m->tensors[t].ndim; k++)
                n *= m->tensors[t].shape[k];
            CU_ASSERT_EQUAL(m->tensors[t].offset, off);
            CU_ASSERT_EQUAL(m->tensors[t].numel, n);
            off += n;
        }
        CU_ASSERT_EQUAL(off, m->nparams);
        char buf[128];
        model_describe(m, buf, sizeof buf);
        model *m2 = model_alloc_spec(buf, sh, 4, &e); /* describe() round-trips */
        CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
        CU_ASSERT_EQUAL(m2->nparams, m->nparams);
        model_free(m2);
        model_free(m);
    }
    model *m = model_alloc_spec("mlp", &IMG, 16, &e);
    CU_ASSERT_EQUAL(m->nparams, 235146);
    CU_ASSERT_EQUAL(m->ntensors, 6);
    check_tensor(m, "fc1.w", 2, 256, 784, 0, 0);
    check_tensor(m, "fc1.b", 1, 256, 0, 0, 0);
    check_tensor(m, "fc2.w", 2, 128, 256, 0, 0);
    check_tensor(m, "fc3.w", 2, 10, 128, 0, 0);
    check_tensor(m, "fc3.b", 1, 10, 0, 0, 0);
    char buf[64];
    model_describe(m, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "mlp:hidden=256x128");
    model_free(m);
    m = model_alloc_spec("cnn", &IMG, 16, &e);
    CU_ASSERT_EQUAL(m->nparams, 206922);
    check_tensor(m, "conv1.w", 4, 16, 1, 3, 3);
    check_tensor(m, "conv1.b", 1, 16, 0, 0, 0);
    check_tensor(m, "conv2.w", 4, 32, 16, 3, 3);
    check_tensor(m, "fc1.w", 2, 128, 32 * 7 * 7, 0, 0);
    check_tensor(m, "out.w", 2, 10, 128, 0, 0);
    check_tensor(m, "out.b", 1, 10, 0, 0, 0);
    model_describe(m, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "cnn:channels=16x32,fc=128");
    model_free(m);
    m = model_alloc_spec("softmax:l2=0.5", &IMG, 16, &e);
    check_tensor(m, "W", 2, 10, 784, 0, 0);
    check_tensor(m, "b", 1, 10, 0, 0, 0);
    model_describe(m, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "softmax:l2=0.5");
    model_free(m);
}

static void test_init_deterministic(void) {
    qsgd_err e = {0};
    const char *specs[] = {"mlp", "cnn", "softmax"};
    for (size_t i = 0; i < 3; i++) {
        model *m = model_alloc_spec(specs[i], &IMG, 4, &e);
        size_t P = m->nparams;
        float *a = malloc(P * 4), *b = malloc(P * 4), *c = malloc(P * 4);
        memset(a, 0xff, P * 4);
        memset(b, 0x00, P * 4);
        m->type->init_params(m, a, 42);
        m->type->init_params(m, b, 42);
        m->type->init_params(m, c, 43);
        CU_ASSERT_EQUAL(memcmp(a, b, P * 4), 0);
        if (i < 2) {
            CU_ASSERT_NOT_EQUAL(memcmp(a, c, P * 4), 0);
        } else { /* convex models start at the origin */
            for (size_t j = 0; j < P; j++)
                CU_ASSERT_EQUAL(a[j], 0.0f);
        }
        /* He init: std sqrt(2/fan_in) for ReLU layers, zero biases */
        for (size_t t = 0; i < 2 && t < m->ntensors; t++) {
            const model_tensor *T = &m->tensors[t];
            double s2 = 0;
            for (size_t j = 0; j < T->numel; j++)
                s2 += (double)a[T->offset + j] * a[T->offset + j];
            if (T->ndim == 1) {
                CU_ASSERT_EQUAL(s2, 0.0);
                continue;
            }
            double fan_in = (double)(T->numel / T->shape[0]);
            int last = strcmp(T->name, "fc3.w") == 0 || strcmp(T->name, "out.w") == 0;
            double want = (last ? 1.0 : 2.0) / fan_in, got = s2 / (double)T->numel;
            CU_ASSERT(fabs(got / want - 1) < (T->numel > 1000 ? 0.1 : 0.5));
        }
        free(a);
        free(b);
        free(c);
        model_free(m);
    }
}

/* The linear models give the same loss and gradient on CSR and dense copies of the data. */
static void test_csr_equals_dense(void) {
    const char *specs[] = {"leastsq:l2=0.01", "logreg:l2=0.01", "softmax:l2=0.01"};
    int ncls[] = {0, 2, 5};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    for (size_t i = 0; i < 3; i++) {
        dataset *dd = mt_dense(r, 50, 40, ncls[i], 0.7), *dc = mt_to_csr(dd);
        qsgd_err e = {0};
        model *m = model_alloc_spec(specs[i], &dd->shape, 20, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        size_t P = m->nparams;
        float *th = malloc(P * 4), *g1 = malloc(P * 4), *g2 = malloc(P * 4);
        for (size_t j = 0; j < P; j++)
            th[j] = (float)gsl_ran_gaussian(r, 0.3);
        size_t idx[20];
        for (size_t k = 0; k < 20; k++)
            idx[k] = (k * 13 + 5) % 50;
        double L1 = mt_loss(m, th, dd, idx, 20, g1), L2 = mt_loss(m, th, dc, idx, 20, g2);
        CU_ASSERT(fabs(L1 - L2) <= 1e-6 * fabs(L1));
        double gmax = 0, dmax = 0;
        for (size_t j = 0; j < P; j++) {
            gmax = fmax(gmax, fabs(g1[j]));
            dmax = fmax(dmax, fabs(g1[j] - g2[j]));
        }
        CU_ASSERT(dmax <= 1e-5 * gmax);
        double E1, E2, A1, A2;
        CU_ASSERT_EQUAL(m->type->evaluate(m, th, dd, &E1, &A1, &e), QSGD_OK);
        CU_ASSERT_EQUAL(m->type->evaluate(m, th, dc, &E2, &A2, &e), QSGD_OK);
        CU_ASSERT(fabs(E1 - E2) <= 1e-6 * fabs(E1));
        if (ncls[i]) {
            CU_ASSERT_EQUAL(A1, A2);
        } else {
            CU_ASSERT(isnan(A1) && isnan(A2));
        }
        free(th);
        free(g1);
        free(g2);
        model_free(m);
        mt_free(dd);
        mt_free(dc);
    }
    gsl_rng_free(r);
}

/* evaluate in chunks of max_batch == one loss_grad over all rows; and a batch's gradient is
 * the weighted mean of its parts' (exercises the cnn's chunked GEMM accumulation). */
static void test_evaluate_and_batches(void) {
    const char *specs[] = {"leastsq:l2=0.1", "logreg", "softmax:l2=0.1", "mlp:hidden=9x7",
                           "cnn:channels=4x6,fc=5"};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 9);
    for (size_t i = 0; i < 5; i++) {
        int ncls = i == 0 ? 0 : i == 1 ? 2 : 3;
        dataset *d = i == 4 ? mt_images(r, 37, 2, 8, 8, ncls) : mt_dense(r, 37, 12, ncls, 0);
        qsgd_err e = {0};
        model *small = model_alloc_spec(specs[i], &d->shape, 8, &e);
        model *big = model_alloc_spec(specs[i], &d->shape, 37, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(small);
        CU_ASSERT_PTR_NOT_NULL_FATAL(big);
        size_t P = big->nparams;
        float *th = malloc(P * 4), *g = malloc(P * 4), *ga = malloc(P * 4), *gb = malloc(P * 4);
        big->type->init_params(big, th, 5);
        for (size_t j = 0; j < P; j++)
            th[j] += (float)gsl_ran_gaussian(r, 0.1);
        size_t idx[37];
        for (size_t k = 0; k < 37; k++)
            idx[k] = k;
        double Lall = mt_loss(big, th, d, idx, 37, g), E, A;
        CU_ASSERT_EQUAL(small->type->evaluate(small, th, d, &E, &A, &e), QSGD_OK);
        CU_ASSERT(fabs(E - Lall) <= 1e-6 * fabs(Lall));
        CU_ASSERT(ncls ? (A >= 0 && A <= 1) : isnan(A));
        /* 37 = 20 + 17 rows: L and grad are the weighted means of the parts' */
        double La = mt_loss(big, th, d, idx, 20, ga), Lb = mt_loss(big, th, d, idx + 20, 17, gb);
        CU_ASSERT(fabs((20 * La + 17 * Lb) / 37 - Lall) <= 1e-6 * fabs(Lall));
        double gmax = 0, dmax = 0;
        for (size_t j = 0; j < P; j++) {
            /* (the regularizer is in each part once: its weighted mean is itself) */
            double comb = (20.0 * ga[j] + 17.0 * gb[j]) / 37.0;
            gmax = fmax(gmax, fabs(g[j]));
            dmax = fmax(dmax, fabs(comb - g[j]));
        }
        CU_ASSERT(dmax <= 1e-5 * gmax);
        free(th);
        free(g);
        free(ga);
        free(gb);
        model_free(small);
        model_free(big);
        mt_free(d);
    }
    gsl_rng_free(r);
}

static void test_flops(void) {
    qsgd_err e = {0};
    data_shape bin = {784, 1, 28, 28, 2}, reg = {784, 1, 28, 28, 0};
    const char *specs[] = {"leastsq", "logreg", "softmax", "mlp", "cnn"};
    for (size_t i = 0; i < 5; i++) {
        model *m = model_alloc_spec(specs[i], i == 0 ? &reg : i == 1 ? &bin : &IMG, 4, &e);
        double f = m->type->flops_per_sample(m);
        CU_ASSERT(f > 0 && isfinite(f));
        /* at least 2x the multiply-adds of the forward pass over the parameters */
        CU_ASSERT(f >= 4.0 * (double)(m->nparams - 300));
        model_free(m);
    }
    /* mlp 784-256-128-10, by hand: layer l (in->out), G = 2*in*out:
     *   fwd G + out (bias) + out (ReLU, hidden); bwd G (dW) + G (dX, not layer 1) + out (db)
     *   + out (ReLU mask, hidden); softmax-xent 6*10.
     *   L1: 2*401408 + 4*256 = 803840   L2: 3*65536 + 4*128 = 197120
     *   L3: 3*2560 + 2*10 = 7700       + 60                  = 1008720 */
    model *m = model_alloc_spec("mlp", &IMG, 4, &e);
    CU_ASSERT_DOUBLE_EQUAL(m->type->flops_per_sample(m), 1008720.0, 0.5);
    model_free(m);
    /* cnn 16x32/fc128 on 1x28x28, by hand (see model_cnn.c): conv1 2*225792 + 2*12544;
     * conv2 3*1806336 + 2*6272; fc1 3*401408 + 4*128; out 3*2560 + 2*10; + 60 = 7120720 */
    m = model_alloc_spec("cnn", &IMG, 4, &e);
    CU_ASSERT_DOUBLE_EQUAL(m->type->flops_per_sample(m), 7120720.0, 0.5);
    model_free(m);
}

static void test_input_validation(void) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    dataset *d = mt_dense(r, 10, 6, 3, 0);
    qsgd_err e = {0};
    model *m = model_alloc_spec("mlp:hidden=4", &d->shape, 4, &e);
    size_t P = m->nparams, idx[5] = {0, 1, 2, 3, 4};
    float *th = calloc(P, 4), *g = calloc(P, 4);
    double L;
    CU_ASSERT_EQUAL(m->type->loss_grad(m, th, d, idx, 5, &L, g, &e), QSGD_EINVAL); /* > max */
    CU_ASSERT(msg_has(&e, "batch"));
    d->label[2] = 3;
    CU_ASSERT_EQUAL(m->type->loss_grad(m, th, d, idx, 4, &L, g, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "label"));
    d->label[2] = 0;
    dataset *c = mt_to_csr(d);
    CU_ASSERT_EQUAL(m->type->loss_grad(m, th, c, idx, 4, &L, g, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "dense"));
    d->shape.dim = 5;
    CU_ASSERT_EQUAL(m->type->loss_grad(m, th, d, idx, 4, &L, g, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "dim"));
    d->shape.dim = 6;
    CU_ASSERT_EQUAL(m->type->loss_grad(m, th, d, idx, 4, &L, g, &e), QSGD_OK);
    free(th);
    free(g);
    model_free(m);
    mt_free(c);
    mt_free(d);
    gsl_rng_free(r);
}

/* Plain SGD inside the test: from the model's own init, a few hundred minibatch steps on a
 * small separable problem reach high accuracy (leastsq: the loss falls to the noise). */
static void train_case(const char *spec, dataset *d, int steps, float lr, size_t B,
                       double min_acc) {
    qsgd_err e = {0};
    model *m = model_alloc_spec(spec, &d->shape, B, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    size_t P = m->nparams;
    float *th = malloc(P * 4), *g = malloc(P * 4);
    size_t *idx = malloc(B * sizeof(size_t));
    m->type->init_params(m, th, 11);
    double L0, A0, L1, A1, L;
    CU_ASSERT_EQUAL(m->type->evaluate(m, th, d, &L0, &A0, &e), QSGD_OK);
    uint64_t st = 88172645463325252ull;
    for (int s = 0; s < steps; s++) {
        for (size_t k = 0; k < B; k++) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            idx[k] = st % d->n;
        }
        CU_ASSERT_EQUAL_FATAL(m->type->loss_grad(m, th, d, idx, B, &L, g, &e), QSGD_OK);
        for (size_t j = 0; j < P; j++)
            th[j] -= lr * g[j];
    }
    CU_ASSERT_EQUAL(m->type->evaluate(m, th, d, &L1, &A1, &e), QSGD_OK);
    printf("\n    %-26s loss %.4f -> %.4f, accuracy %.3f -> %.3f (need >= %.2f)", spec, L0, L1, A0,
           A1, min_acc);
    CU_ASSERT(L1 < 0.5 * L0);
    if (d->shape.nclass)
        CU_ASSERT(A1 >= min_acc);
    free(th);
    free(g);
    free(idx);
    model_free(m);
}

static void test_training(void) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 21);
    dataset *d = mt_blobs(r, 200, 8, 2);
    train_case("logreg", d, 300, 0.1f, 16, 0.97);
    mt_free(d);
    d = mt_blobs(r, 200, 8, 4);
    train_case("softmax", d, 300, 0.1f, 16, 0.97);
    train_case("mlp:hidden=16", d, 300, 0.05f, 16, 0.97);
    mt_free(d);
    d = mt_dense(r, 200, 8, 0, 0); /* y = x.w* + 0.1 noise */
    train_case("leastsq", d, 400, 0.05f, 16, 0);
    mt_free(d);
    /* images: class k has a bright 3x3 square in quadrant k */
    d = mt_images(r, 160, 1, 8, 8, 4);
    for (size_t i = 0; i < d->n; i++) {
        int k = (int)(i % 4);
        d->label[i] = k;
        for (size_t p = 0; p < 64; p++)
            d->x[i * 64 + p] *= 0.3f;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++)
                d->x[i * 64 + (size_t)((k / 2) * 4 + y) * 8 + (size_t)((k % 2) * 4 + x)] += 2.0f;
    }
    train_case("cnn:channels=4x8,fc=16", d, 300, 0.05f, 16, 0.97);
    mt_free(d);
    gsl_rng_free(r);
    printf("\n");
}
/* The option tables: usage generated from them, their defaults == model_params_default,
 * the schema's errors (duplicate keys, ranges) and describe pinned byte for byte to the
 * strings the hand-written describe printed before the tables (provenance lines and
 * reference files match on them). */
static void test_option_schema(void) {
    static const char *const usage[][2] = {
        {"leastsq", "l2=LAMBDA"},         {"logreg", "l2=LAMBDA"},
        {"softmax", "l2=LAMBDA"},         {"mlp", "hidden=AxB..."},
        {"cnn", "channels=AxB..., fc=N"}, {"profile", "name=NET, stride=v1.5|v1, frames=N"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        CU_ASSERT_EQUAL(model_type_usage(model_type_find(usage[i][0]), buf, sizeof buf), 0);
        CU_ASSERT_STRING_EQUAL(buf, usage[i][1]);
    }
    model_spec s;
    model_params def;
    qsgd_err e = {0};
    model_params_default(&def);
    for (const model_type *const *t = model_types(); *t; t++) {
        CU_ASSERT_EQUAL(model_spec_parse((*t)->name, &s, &e), QSGD_OK);
        CU_ASSERT(memcmp(&s.params, &def, sizeof def) == 0); /* table defaults agree */
    }
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=8,hidden=16", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "model mlp") && msg_has(&e, "twice"));
    CU_ASSERT_EQUAL(model_spec_parse("mlp:hidden=8x16777217", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "model mlp") && msg_has(&e, "8x16777217"));
    CU_ASSERT_EQUAL(model_spec_parse("cnn:fc=16777217", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "model cnn") && msg_has(&e, "fc"));
    CU_ASSERT_EQUAL(model_spec_parse("cnn:channels=8X4", &s, &e), QSGD_OK);
    CU_ASSERT(s.params.nconv == 2 && s.params.channels[1] == 4);
    CU_ASSERT_EQUAL(model_spec_parse("profile:name=", &s, &e), QSGD_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("profile:name=resnet18", &s, &e), QSGD_EINVAL);
    CU_ASSERT(msg_has(&e, "model profile") && msg_has(&e, "resnet18") && msg_has(&e, "vgg19"));

    /* describe: every spec in tests/, the experiment files and docs, as printed before */
    static const char *const desc[][2] = {
        {"leastsq", "leastsq:l2=0"},
        {"logreg:l2=1e-4", "logreg:l2=0.0001"},
        {"softmax", "softmax:l2=0"},
        {"softmax:l2=0.1", "softmax:l2=0.1"},
        {"mlp", "mlp:hidden=256x128"},
        {"mlp:hidden=64", "mlp:hidden=64"},
        {"mlp:hidden=8", "mlp:hidden=8"},
        {"mlp:hidden=64X32x16", "mlp:hidden=64x32x16"},
        {"cnn", "cnn:channels=16x32,fc=128"},
        {"cnn:channels=8,fc=0", "cnn:channels=8,fc=0"},
        {"profile", "profile:name=resnet50"},
        {"profile:name=alexnet", "profile:name=alexnet"},
        {"profile:name=lstm-an4", "profile:name=lstm-an4"},
        {"profile:name=resnet152", "profile:name=resnet152"},
        {"profile:name=vgg19", "profile:name=vgg19"},
    };
    const data_shape bin = {784, 1, 28, 28, 2}, reg = {784, 1, 28, 28, 0};
    for (size_t i = 0; i < sizeof desc / sizeof desc[0]; i++) {
        const data_shape *sh = !strncmp(desc[i][0], "logreg", 6)    ? &bin
                               : !strncmp(desc[i][0], "leastsq", 7) ? &reg
                                                                    : &IMG;
        model *m = model_alloc_spec(desc[i][0], sh, 2, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_EQUAL(model_describe(m, buf, sizeof buf), strlen(desc[i][1]));
        CU_ASSERT_STRING_EQUAL(buf, desc[i][1]);
        CU_ASSERT_EQUAL(model_describe(m, buf, 5), 4); /* truncated to len - 1 */
        CU_ASSERT_EQUAL(strncmp(buf, desc[i][1], 4), 0);
        model_free(m);
    }
}

int main(void) {
    model_set_threads(1);
    static const mt_test tests[] = {
        {"registry: six models in order, found by name", test_registry},
        {"type properties: timing_only, label_opt, cuda", test_type_properties},
        {"spec parsing: options, defaults, errors listing choices", test_spec_parse},
        {"model_alloc: shape and option errors, defaults", test_alloc_errors},
        {"tensor tables: names, shapes, contiguous offsets, describe", test_tensors},
        {"option tables: usage, defaults, errors, describe byte-identical", test_option_schema},
        {"init_params: same seed same theta, He scale, zero biases", test_init_deterministic},
        {"linear models: CSR == dense (loss, gradient, evaluate)", test_csr_equals_dense},
        {"evaluate chunks == one batch; batch gradient additivity", test_evaluate_and_batches},
        {"flops_per_sample: positive, mlp and cnn hand counts", test_flops},
        {"loss_grad input validation", test_input_validation},
        {"plain SGD reaches high accuracy on separable data", test_training},
        {NULL, NULL},
    };
    return mt_run("model_api", tests);
}
