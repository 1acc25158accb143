/* test_model_profile.c — the profile model (models/model_profile.c): parameter counts and
 * forward MACs of every network against the published totals (torchvision's model table,
 * Krizhevsky et al. 2012 by hand, the paper's rounded numbers), contiguous tensor tables,
 * deterministic and seed-dependent synthetic gradients of the right scale, any data shape,
 * spec parsing and its errors. */
#include "model_test_util.h"

/* Published (or, where stated, hand-computed) totals: name, parameters, forward GMACs
 * per sample, the paper's rounded parameter count (Table 1, millions) and its tolerance. */
static const struct {
    const char *name;
    double params, gmacs;
    double paper_m, paper_tol;
} NETS[] = {
    /* Krizhevsky 2012 widths, ungrouped: by hand 34,944 + 614,656 + 885,120 + 1,327,488 +
     * 884,992 + 37,752,832 + 16,781,312 + 4,097,000; MACs 105.4M + 447.9M + 149.5M +
     * 224.3M + 149.5M + 58.6M */
    {"alexnet", 62378344, 1.1350, 62, 0.01},
    {"alexnet-owt", 61100840, 0.714, 62, 0.02}, /* torchvision: 61.1M, 0.71 GMACs */
    {"resnet50", 25557032, 4.09, 25, 0.03},     /* torchvision: 25.6M, 4.09 GMACs */
    {"resnet152", 60192808, 11.51, 60, 0.01},   /* torchvision: 60.2M, 11.51 GMACs */
    {"vgg19", 143667240, 19.63, 143, 0.01},     /* torchvision: 143.7M, 19.63 GMACs */
    /* 3 x LSTMP(1024 cells, 512 proj) on 363 inputs + 132 outputs, by hand:
     * 4096*(363+512) + 2*4096*1024 + 3*(4096 + 3072 + 512*1024) + 132*512 + 132; MACs per
     * frame = the matrix entries (13.63M), per sample = a 20-frame segment */
    {"lstm-an4", 13634692, 20 * 0.013630, 13, 0.05},
};

static model *alloc_profile(const char *name, const data_shape *shape, model_err *e) {
    char spec[64];
    snprintf(spec, sizeof spec, "profile:name=%s", name);
    return model_alloc_spec(spec, shape, 64, e);
}

static void test_counts(void) {
    const data_shape shape = {8, 0, 0, 0, 2};
    for (size_t i = 0; i < sizeof NETS / sizeof NETS[0]; i++) {
        model_err e = {0};
        model *m = alloc_profile(NETS[i].name, &shape, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        double np = (double)m->nparams;
        double gmacs = m->type->flops_per_sample(m) / 6.0 / 1e9;
        printf("\n    %-12s %11zu params (published %.0f), %zu tensors, %.4g GMACs fwd "
               "(published %.4g), %.4g GFLOP fwd+bwd per sample",
               NETS[i].name, m->nparams, NETS[i].params, m->ntensors, gmacs, NETS[i].gmacs,
               m->type->flops_per_sample(m) / 1e9);
        CU_ASSERT(fabs(np / NETS[i].params - 1.0) < 0.01);
        CU_ASSERT(fabs(gmacs / NETS[i].gmacs - 1.0) < 0.01);
        CU_ASSERT(fabs(np / (NETS[i].paper_m * 1e6) - 1.0) < NETS[i].paper_tol);
        CU_ASSERT(m->type->flops_per_sample(m) > 0);
        /* tensors are contiguous and cover theta */
        size_t off = 0;
        for (size_t t = 0; t < m->ntensors; t++) {
            const model_tensor *tt = &m->tensors[t];
            CU_ASSERT_EQUAL(tt->offset, off);
            size_t n = 1;
            for (int k = 0; k < tt->ndim; k++)
                n *= tt->shape[k];
            CU_ASSERT_EQUAL(tt->numel, n);
            CU_ASSERT(tt->numel > 0 && tt->name[0]);
            off += tt->numel;
        }
        CU_ASSERT_EQUAL(off, m->nparams);
        char d[128];
        model_describe(m, d, sizeof d);
        char want[64];
        snprintf(want, sizeof want, "profile:name=%s", NETS[i].name);
        CU_ASSERT_STRING_EQUAL(d, want);
        model_free(m);
    }
    printf("\n");
}

/* Hand checks of a few tensor shapes (the torchvision names' counterparts). */
static void test_shapes(void) {
    const data_shape shape = {8, 0, 0, 0, 2};
    model_err e = {0};
    model *m = alloc_profile("resnet50", &shape, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const model_tensor *t = mt_tensor(m, "conv1.w");
    CU_ASSERT(t && t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 3 && t->shape[2] == 7);
    t = mt_tensor(m, "l4.2.conv3.w"); /* layer4[2].conv3: 2048 x 512 x 1 x 1 */
    CU_ASSERT(t && t->shape[0] == 2048 && t->shape[1] == 512 && t->shape[2] == 1);
    t = mt_tensor(m, "fc.w");
    CU_ASSERT(t && t->ndim == 2 && t->shape[0] == 1000 && t->shape[1] == 2048);
    /* > 99% of the parameters sit in tensors of >= 10,000 elements (paper §5) */
    size_t big = 0;
    for (size_t i = 0; i < m->ntensors; i++)
        big += m->tensors[i].numel >= 10000 ? m->tensors[i].numel : 0;
    CU_ASSERT((double)big / (double)m->nparams > 0.99);
    model_free(m);
    m = alloc_profile("vgg19", &shape, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    t = mt_tensor(m, "fc6.w");
    CU_ASSERT(t && t->shape[0] == 4096 && t->shape[1] == 25088);
    model_free(m);
}

static void test_gradients(void) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    dataset *d = mt_dense(r, 32, 5, 3, 0.0); /* any data works */
    model_err e = {0};
    model *a = alloc_profile("alexnet", &d->shape, &e);
    model *b = alloc_profile("alexnet", &d->shape, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t n = a->nparams;
    float *th = calloc(n, sizeof(float));
    float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    size_t idx[4] = {0, 1, 2, 3};
    double la[3], lb[3];
    a->type->init_params(a, th, 7);
    b->type->init_params(b, th, 7);
    for (int step = 0; step < 3; step++) {
        CU_ASSERT_EQUAL(a->type->loss_grad(a, th, d, idx, 4, &la[step], g1, &e), MODEL_OK);
        CU_ASSERT_EQUAL(b->type->loss_grad(b, th, d, idx, 4, &lb[step], g2, &e), MODEL_OK);
        CU_ASSERT_EQUAL(memcmp(g1, g2, n * sizeof(float)), 0); /* same seed, same calls */
        CU_ASSERT(isfinite(la[step]) && la[step] == lb[step]);
    }
    CU_ASSERT(la[2] < la[1] && la[1] < la[0]); /* slowly decreasing synthetic loss */
    /* scale: mean ~0, standard deviation ~0.01, all finite */
    double s = 0, s2 = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        finite &= isfinite(g1[i]);
        s += g1[i];
        s2 += (double)g1[i] * g1[i];
    }
    CU_ASSERT(finite);
    double sd = sqrt(s2 / (double)n);
    CU_ASSERT(fabs(s / (double)n) < 1e-3 && sd > 0.009 && sd < 0.011);
    /* the next step differs; another seed differs */
    CU_ASSERT_EQUAL(a->type->loss_grad(a, th, d, idx, 4, &la[0], g1, &e), MODEL_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(g1, g2, n * sizeof(float)), 0);
    b->type->init_params(b, th, 8);
    a->type->init_params(a, th, 7);
    a->type->loss_grad(a, th, d, idx, 4, &la[0], g1, &e);
    b->type->loss_grad(b, th, d, idx, 4, &lb[0], g2, &e);
    CU_ASSERT_NOT_EQUAL(memcmp(g1, g2, n * sizeof(float)), 0);
    /* evaluate: finite loss, NaN accuracy */
    double L = NAN, A = 0;
    CU_ASSERT_EQUAL(a->type->evaluate(a, th, d, &L, &A, &e), MODEL_OK);
    CU_ASSERT(isfinite(L) && isnan(A));
    free(th);
    free(g1);
    free(g2);
    model_free(a);
    model_free(b);
    mt_free(d);
    gsl_rng_free(r);
}

static void test_spec(void) {
    model_spec s;
    model_err e = {0};
    CU_ASSERT_EQUAL(model_spec_parse("profile", &s, &e), MODEL_OK);
    CU_ASSERT_STRING_EQUAL(s.params.profile, "");
    CU_ASSERT_EQUAL(model_spec_parse("profile:name=vgg19", &s, &e), MODEL_OK);
    CU_ASSERT_STRING_EQUAL(s.params.profile, "vgg19");
    CU_ASSERT_EQUAL(model_spec_parse("profile:name=resnet18", &s, &e), MODEL_EINVAL);
    CU_ASSERT(strstr(e.msg, "resnet18") && strstr(e.msg, "resnet152") && strstr(e.msg, "lstm-an4"));
    CU_ASSERT_EQUAL(model_spec_parse("profile:hidden=10", &s, &e), MODEL_EINVAL);
    CU_ASSERT_EQUAL(model_spec_parse("mlp:name=vgg19", &s, &e), MODEL_EINVAL);
    /* the default network, and any data shape (images, CSR-sized dims, regression) */
    const data_shape shapes[] = {{784, 1, 28, 28, 10}, {1, 0, 0, 0, 0}, {100000, 0, 0, 0, 2}};
    for (size_t i = 0; i < 3; i++) {
        model *m = model_alloc_spec("profile", &shapes[i], 8, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_EQUAL(m->nparams, 25557032);
        char d[64];
        model_describe(m, d, sizeof d);
        CU_ASSERT_STRING_EQUAL(d, "profile:name=resnet50");
        model_free(m);
    }
}

int main(void) {
    static const mt_test tests[] = {
        {"parameter counts and MACs match the published totals", test_counts},
        {"tensor shapes by hand; >99% of parameters in tensors >= 10K", test_shapes},
        {"synthetic gradients: deterministic, seeded, N(0, 0.01^2)", test_gradients},
        {"spec: name=, default, errors, any data shape", test_spec},
        {NULL, NULL},
    };
    return mt_run("model_profile", tests);
}
