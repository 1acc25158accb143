/* test_train_step.c — the pieces of a training step that `qsgdsim train` and the distributed
 * trainer share (issue 12 item 4): the per-tensor codec grad_codec and the plan of a run
 * (train_plan_steps, train_schedule_resolve).
 *  - train's round trip (grad_codec_roundtrip) is bit for bit what train did before the codec
 *    was shared (a reference written here: tensors below the threshold copied, the others
 *    quant_alloc_spec'd and encoded/decoded with quant_ctx {seed, 0, step, tensor}), with the
 *    same bits (payloads only), over several steps of every kind of quantizer (error
 *    feedback included);
 *  - it equals the trainer's path (grad_codec_encode, then grad_codec_decode_add into zeros),
 *    whose bits are the round trip's plus the header;
 *  - "none" and lossless specs quantize nothing;
 *  - the plan: ceil(epochs x steps per epoch) bounded by max_steps and by 2^32 - 1; cosine's
 *    total and step's step size filled from the run only where the spec leaves them 0.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_codec.h"
#include "train.h"

static model *small_mlp(void) {
    /* tensors 784x32 (25088: quantized at the default threshold), 32, 10x32, 10 */
    data_shape sh = {.dim = 784, .channels = 1, .height = 28, .width = 28, .nclass = 10};
    qsgd_err me = {0};
    return model_alloc_spec("mlp:hidden=32", &sh, 8, &me);
}

static void fill(float *g, size_t n, int step) {
    for (size_t i = 0; i < n; i++)
        g[i] = (float)(sin(0.37 * (double)i + step) * (1.0 + 0.01 * (double)(i % 97)));
}

/* train's codec before it was shared: out = decode(encode(grad)) tensor by tensor, small
 * tensors copied; *bits = payload bits. The quantizers persist across steps (onebit's
 * residual), as train's did. */
typedef struct ref_codec {
    quant **q; /* [ntensors] NULL: copied */
    uint8_t *buf;
    size_t cap;
} ref_codec;

static void ref_alloc(ref_codec *r, const model *m, const char *spec, size_t min_numel) {
    r->q = calloc(m->ntensors, sizeof *r->q);
    r->cap = 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *mt = &m->tensors[t];
        if (!spec || mt->numel < min_numel)
            continue;
        size_t rows = mt->ndim > 1 ? mt->shape[0] : 1;
        qsgd_err qe = {0};
        r->q[t] = quant_alloc_spec(spec, rows, mt->numel / rows, &qe);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r->q[t]);
        if (quant_max_bytes(r->q[t]) > r->cap)
            r->cap = quant_max_bytes(r->q[t]);
    }
    r->buf = malloc(r->cap ? r->cap : 1);
}

static void ref_roundtrip(ref_codec *r, const model *m, const float *g, float *o, uint32_t step,
                          uint64_t *bits) {
    *bits = 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *mt = &m->tensors[t];
        if (!r->q[t]) {
            memcpy(o + mt->offset, g + mt->offset, mt->numel * sizeof *o);
            *bits += 32u * (uint64_t)mt->numel;
            continue;
        }
        quant_ctx ctx = {.seed = 7, .worker = 0, .step = step, .tensor = (uint32_t)t};
        qsgd_err qe = {0};
        uint64_t nb = 0;
        CU_ASSERT_EQUAL_FATAL(quant_encode(r->q[t], g + mt->offset, &ctx, r->buf, r->cap, &nb, &qe),
                              QSGD_OK);
        CU_ASSERT_EQUAL_FATAL(quant_decode(r->q[t], r->buf, r->cap, nb, o + mt->offset, &qe),
                              QSGD_OK);
        *bits += nb;
    }
}

static void ref_free(ref_codec *r, const model *m) {
    for (size_t t = 0; t < m->ntensors; t++)
        quant_free(r->q[t]);
    free(r->q);
    free(r->buf);
}

static void check_spec(const char *spec, size_t min_numel) {
    model *m = small_mlp();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    size_t n = m->nparams;
    qsgd_err qe = {0};
    /* two codecs of one spec: train's round trip and the trainer's message, each with its own
     * quantizer state */
    grad_codec *a = grad_codec_alloc(m, spec, min_numel, &qe);
    grad_codec *b = grad_codec_alloc(m, spec, min_numel, &qe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    ref_codec ref;
    ref_alloc(&ref, m, spec, min_numel);
    float *g = malloc(n * sizeof *g), *o = malloc(n * sizeof *o), *o_ref = malloc(n * sizeof *o),
          *acc = malloc(n * sizeof *acc);
    uint8_t *msg = malloc(a->max_bytes), *msg2 = malloc(b->max_bytes);
    for (uint32_t step = 0; step < 4; step++) {
        fill(g, n, (int)step);
        uint64_t bits = 0, bits_ref = 0, mbits = 0;
        CU_ASSERT_EQUAL_FATAL(
            grad_codec_roundtrip(a, g, o, 7, 0, step, msg, a->max_bytes, &bits, &qe), QSGD_OK);
        ref_roundtrip(&ref, m, g, o_ref, step, &bits_ref);
        CU_ASSERT_EQUAL(bits, bits_ref);
        CU_ASSERT_EQUAL(memcmp(o, o_ref, n * sizeof *o), 0); /* bit for bit */

        size_t len = 0;
        double loss = 0;
        CU_ASSERT_EQUAL_FATAL(
            grad_codec_encode(b, g, 0.25, 7, 0, step, msg2, b->max_bytes, &len, &mbits, &qe),
            QSGD_OK);
        CU_ASSERT_EQUAL(mbits, bits + 8ull * grad_codec_header_bytes(b));
        if (b->fixed_size)
            CU_ASSERT_EQUAL(len, b->fixed_len);
        memset(acc, 0, n * sizeof *acc);
        CU_ASSERT_EQUAL_FATAL(grad_codec_decode_add(b, msg2, len, acc, &loss, &qe), QSGD_OK);
        CU_ASSERT_EQUAL(loss, 0.25);
        int same = 1;
        for (size_t i = 0; i < n; i++)
            same &= acc[i] == o[i];
        CU_ASSERT(same);
    }
    free(g);
    free(o);
    free(o_ref);
    free(acc);
    free(msg);
    free(msg2);
    ref_free(&ref, m);
    grad_codec_free(a);
    grad_codec_free(b);
    model_free(m);
}

static void test_codec_is_train_and_trainer(void) {
    check_spec("qsgd:bits=4,bucket=128", TRAIN_QUANT_MIN_NUMEL);
    check_spec("qsgd:bits=2,bucket=64,format=elias", 0);
    check_spec("onebit", 1);
    check_spec("qsgd:s=3,norm=max", 100);
}

static void test_codec_lossless(void) {
    model *m = small_mlp();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const char *specs[] = {NULL, "", "none", "fp32"};
    for (size_t k = 0; k < 4; k++) {
        qsgd_err qe = {0};
        grad_codec *c = grad_codec_alloc(m, specs[k], 0, &qe);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_EQUAL(c->nquantized, 0);
        CU_ASSERT(c->fixed_size);
        char d[300];
        CU_ASSERT_EQUAL(grad_codec_describe(c, d, sizeof d), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(d, "fp32 on 0 of 4 tensors"));
        CU_ASSERT_EQUAL(c->fixed_len, grad_codec_header_bytes(c) + 4 * m->nparams);
        grad_codec_free(c);
    }
    qsgd_err qe = {0};
    CU_ASSERT_PTR_NULL(grad_codec_alloc(m, "qsgd:bits=1", 0, &qe));
    CU_ASSERT_EQUAL(qe.code, QSGD_EINVAL);
    model_free(m);
}

static void test_plan_steps(void) {
    qsgd_err err = {0};
    size_t steps = 0;
    CU_ASSERT_EQUAL(train_plan_steps(2, 4, 0, &steps, &err), QSGD_OK);
    CU_ASSERT_EQUAL(steps, 8);
    CU_ASSERT_EQUAL(train_plan_steps(0.3, 4, 0, &steps, &err), QSGD_OK);
    CU_ASSERT_EQUAL(steps, 2); /* ceil(1.2) */
    CU_ASSERT_EQUAL(train_plan_steps(2.5, 4, 7, &steps, &err), QSGD_OK);
    CU_ASSERT_EQUAL(steps, 7); /* max_steps bounds */
    CU_ASSERT_EQUAL(train_plan_steps(1e300, 4, 5, &steps, &err), QSGD_OK);
    CU_ASSERT_EQUAL(steps, 5);
    CU_ASSERT_EQUAL(train_plan_steps(1073741824.0, 4, 0, &steps, &err), QSGD_EINVAL); /* 2^32 */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "4294967295"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--max-steps"));
    CU_ASSERT_EQUAL(train_plan_steps(1073741823.75, 4, 0, &steps, &err), QSGD_OK);
    CU_ASSERT_EQUAL(steps, 4294967295u);
}

static void test_schedule_resolve(void) {
    optim_params p = {.lr = 0.1, .schedule = OPTIM_LR_COSINE};
    train_schedule_resolve(&p, 120, 10, 0);
    CU_ASSERT_EQUAL(p.total_steps, 120);
    CU_ASSERT_EQUAL(p.step_size, 0);
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_COSINE, .total_steps = 50};
    train_schedule_resolve(&p, 120, 10, 0);
    CU_ASSERT_EQUAL(p.total_steps, 50); /* the spec's own total stays */
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP};
    train_schedule_resolve(&p, 120, 10, 2.5);
    CU_ASSERT_EQUAL(p.step_size, 25);
    CU_ASSERT_EQUAL(p.total_steps, 0);
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP};
    train_schedule_resolve(&p, 120, 10, 0); /* no decay_epochs: one epoch */
    CU_ASSERT_EQUAL(p.step_size, 10);
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP};
    train_schedule_resolve(&p, 120, 10, 0.01); /* at least 1 */
    CU_ASSERT_EQUAL(p.step_size, 1);
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP, .step_size = 3};
    train_schedule_resolve(&p, 120, 10, 2);
    CU_ASSERT_EQUAL(p.step_size, 3);
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_CONSTANT};
    train_schedule_resolve(&p, 120, 10, 2);
    CU_ASSERT(p.total_steps == 0 && p.step_size == 0);
    /* resolved, the cosine schedule is the one optim_alloc accepts and ends at lr_min */
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_COSINE, .lr_min = 0.001};
    qsgd_err oe = {0};
    CU_ASSERT_NOT_EQUAL(optim_params_check(&p, &oe), QSGD_OK);
    train_schedule_resolve(&p, 120, 10, 0);
    CU_ASSERT_EQUAL(optim_params_check(&p, &oe), QSGD_OK);
    CU_ASSERT(fabs(optim_lr(&p, 120) - 0.001) < 1e-12);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("train_step", NULL, NULL);
    CU_add_test(s, "grad_codec: train's round trip and the trainer's message",
                test_codec_is_train_and_trainer);
    CU_add_test(s, "grad_codec: none and lossless specs", test_codec_lossless);
    CU_add_test(s, "train_plan_steps", test_plan_steps);
    CU_add_test(s, "train_schedule_resolve", test_schedule_resolve);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
