/* qcuda_test_util.h — the checks of the GPU codec (quantizers/qcuda.h) against the CPU
 * quantizers, written once for both backends: test_quant_qcuda_emul.c runs them on the host
 * emulation (every machine), test_quant_qcuda_gpu.c on a CUDA GPU (skipped without one).
 *
 * For every supported spec (fp32; qsgd dense with s = 1, 2, 7, 16 (a 6-bit code that
 * straddles bytes), 127, buckets whole/7/128/512, l2 and max norms; onebit with buckets
 * whole/7/128 and with/without feedback), every test shape and every input kind, over 3
 * steps (so onebit's residual evolves): the GPU message has the CPU's exact bytes and nbits
 * and leaves the bytes after it alone; decoding a CPU message gives the CPU's float bits;
 * decode_add adds them with one float addition; onebit residuals stay bit-identical. Then
 * the errors: non-finite inputs (and onebit's residual left unchanged), small buffers,
 * wrong sizes, and thousands of randomly corrupted messages, each with the CPU's code, bit
 * offset and message, and decode_add leaving its output untouched on failure. */
#ifndef QSGDSIM_QCUDA_TEST_UTIL_H
#define QSGDSIM_QCUDA_TEST_UTIL_H

#include "gpu_device.h"
#include "qcuda.h"
#include "quant_test_util.h"

typedef struct qc_backend {
    const char *name;
    qcuda *(*make)(const quant *q, qsgd_err *err);
    void *(*alloc)(size_t bytes);
    void (*release)(void *p);
    int (*to_dev)(void *d, const void *h, size_t bytes);
    int (*to_host)(void *h, const void *d, size_t bytes);
} qc_backend;

static const qc_backend *QB; /* the backend under test (set by main) */
static gsl_rng *QR;

#define QC_NMAX 4096

/* Specs of the GPU codec. */
static size_t qc_specs(char (*out)[QT_SPEC_LEN], size_t max) {
    size_t k = 0;
    snprintf(out[k++], QT_SPEC_LEN, "fp32");
    static const unsigned ss[] = {1, 2, 7, 16, 127};
    static const size_t bs[] = {0, 7, 128, 512};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 4; b++)
            for (int m = 0; m < 2 && k < max; m++)
                snprintf(out[k++], QT_SPEC_LEN, "qsgd:s=%u,bucket=%zu,norm=%s,format=dense", ss[a],
                         bs[b], m ? "max" : "l2");
    static const size_t ob[] = {0, 7, 128};
    for (size_t b = 0; b < 3; b++)
        for (int fb = 1; fb >= 0 && k < max; fb--)
            snprintf(out[k++], QT_SPEC_LEN, "onebit:bucket=%zu,feedback=%d", ob[b], fb);
    return k;
}

/* Device buffers of one case. */
typedef struct qc_dev {
    float *v, *out;
    uint8_t *buf;
    size_t cap;
} qc_dev;

static int qc_dev_alloc(qc_dev *d, size_t n, size_t cap) {
    d->v = QB->alloc(n * sizeof(float));
    d->out = QB->alloc(n * sizeof(float));
    d->buf = QB->alloc(cap);
    d->cap = cap;
    return d->v && d->out && d->buf;
}

static void qc_dev_free(qc_dev *d) {
    QB->release(d->v);
    QB->release(d->out);
    QB->release(d->buf);
}

static qcuda *qc_make(const quant *q) {
    qsgd_err err = {0};
    qcuda *g = QB->make(q, &err);
    QT_CHECK(g != NULL, "%s: qcuda (%s) for %zux%zu: %s", QB->name, q->type->name, q->rows, q->cols,
             err.msg);
    return g;
}

/* Same code, bit offset (decode errors) and message. */
static int qc_same_error(const char *what, int rc_cpu, const qsgd_err *ec, int rc_gpu,
                         const qsgd_err *eg) {
    int ok = QT_CHECK(rc_cpu == rc_gpu, "%s: cpu rc %d (%s), gpu rc %d (%s)", what, rc_cpu, ec->msg,
                      rc_gpu, eg->msg);
    if (ok && rc_cpu) {
        ok &= QT_CHECK(strcmp(ec->msg, eg->msg) == 0, "%s: cpu '%s' / gpu '%s'", what, ec->msg,
                       eg->msg);
        ok &= QT_CHECK(ec->bit == eg->bit, "%s: bit cpu %llu gpu %llu (%s)", what,
                       (unsigned long long)ec->bit, (unsigned long long)eg->bit, ec->msg);
    }
    return ok;
}

/* A CPU instance of spec, its GPU codec and device buffers for it; 0 (and nothing held) if
 * any of them fails (failures are recorded). */
static int qc_open(const char *spec, size_t rows, size_t cols, quant **A, qcuda **G, qc_dev *d) {
    *A = qt_alloc(spec, rows, cols);
    *G = *A ? qc_make(*A) : NULL;
    memset(d, 0, sizeof *d);
    if (*G && QT_CHECK(qc_dev_alloc(d, (*A)->n, quant_max_bytes(*A)), "%s: device buffers", spec))
        return 1;
    qc_dev_free(d);
    qcuda_free(*G);
    quant_free(*A);
    return 0;
}

/* One spec x shape x input, STEPS steps. */
static int qc_case(const char *spec, size_t rows, size_t cols, int kind) {
    enum { STEPS = 3 };
    quant *A = qt_alloc(spec, rows, cols);
    if (!A)
        return 0;
    qcuda *G = qc_make(A);
    const size_t n = A->n, cap = quant_max_bytes(A);
    float *v = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)),
          *got = malloc(n * sizeof(float)), *base = malloc(n * sizeof(float)),
          *r1 = malloc(n * sizeof(float)), *r2 = malloc(n * sizeof(float));
    uint8_t *buf = malloc(cap), *gbuf = malloc(cap);
    qc_dev d = {0};
    int ok = G && qc_dev_alloc(&d, n, cap);
    for (uint32_t t = 0; ok && t < STEPS; t++) {
        quant_ctx ctx = qt_ctx(0xC0DA0000u + t, 5, 40 + t, 3);
        qsgd_err ec = {0}, eg = {0};
        uint64_t nb_c = 0, nb_g = 0;
        qt_fill(v, n, kind, QR);
        memset(buf, 0xA5, cap);
        memset(gbuf, 0xA5, cap);
        QB->to_dev(d.buf, gbuf, cap);
        QB->to_dev(d.v, v, n * sizeof(float));
        int rc = quant_encode(A, v, &ctx, buf, cap, &nb_c, &ec);
        int rg = qcuda_encode(G, d.v, &ctx, d.buf, cap, &nb_g, &eg);
        char what[200];
        snprintf(what, sizeof what, "%.96s %zux%zu %s step %u", spec, rows, cols,
                 qt_input_names[kind], t);
        if (!qc_same_error(what, rc, &ec, rg, &eg)) {
            ok = 0;
            break;
        }
        if (rc) /* the same error on both sides (e.g. a norm overflowing float): done */
            break;
        QB->to_host(gbuf, d.buf, cap);
        ok &= QT_CHECK(nb_c == nb_g, "%s: nbits cpu %llu gpu %llu", what, (unsigned long long)nb_c,
                       (unsigned long long)nb_g);
        ok &= QT_CHECK(nb_g == qcuda_message_bits(G), "%s: nbits %llu != qcuda_message_bits", what,
                       (unsigned long long)nb_g);
        size_t len = (size_t)((nb_c + 7) / 8);
        size_t diff = 0;
        while (diff < cap && buf[diff] == gbuf[diff])
            diff++;
        ok &= QT_CHECK(diff == cap, "%s: message byte %zu differs: cpu 0x%02x gpu 0x%02x (len %zu)",
                       what, diff, diff < cap ? buf[diff] : 0, diff < cap ? gbuf[diff] : 0, len);
        /* decode the CPU's message on both sides, then decode_add onto a base */
        rc = quant_decode(A, buf, len, nb_c, ref, &ec);
        ok &= QT_CHECK(rc == 0, "%s: cpu decode: %s", what, ec.msg);
        QB->to_dev(d.buf, buf, len);
        for (size_t i = 0; i < n; i++)
            got[i] = NAN;
        QB->to_dev(d.out, got, n * sizeof(float));
        rg = qcuda_decode(G, d.buf, len, nb_c, d.out, &eg);
        ok &= QT_CHECK(rg == 0, "%s: gpu decode: %s", what, eg.msg);
        QB->to_host(got, d.out, n * sizeof(float));
        size_t i = qt_first_diff(ref, got, n);
        ok &= QT_CHECK(i == n, "%s: decoded[%zu] cpu %.9g gpu %.9g", what, i, i < n ? ref[i] : 0.0,
                       i < n ? got[i] : 0.0);
        for (size_t k = 0; k < n; k++)
            base[k] = (float)gsl_ran_gaussian(QR, 1.0);
        QB->to_dev(d.out, base, n * sizeof(float));
        rg = qcuda_decode_add(G, d.buf, len, nb_c, d.out, &eg);
        ok &= QT_CHECK(rg == 0, "%s: gpu decode_add: %s", what, eg.msg);
        QB->to_host(got, d.out, n * sizeof(float));
        for (size_t k = 0; k < n; k++)
            base[k] = base[k] + ref[k];
        i = qt_first_diff(base, got, n);
        ok &= QT_CHECK(i == n, "%s: decode_add[%zu] want %.9g got %.9g", what, i,
                       i < n ? base[i] : 0.0, i < n ? got[i] : 0.0);
        /* onebit: the residuals evolve identically */
        if (quant_residual(A)) {
            memcpy(r1, quant_residual(A), n * sizeof(float));
            rg = qcuda_residual(G, d.out, &eg);
            ok &= QT_CHECK(rg == 0, "%s: residual: %s", what, eg.msg);
            QB->to_host(r2, d.out, n * sizeof(float));
            i = qt_first_diff(r1, r2, n);
            ok &= QT_CHECK(i == n, "%s: residual[%zu] cpu %.9g gpu %.9g", what, i,
                           i < n ? r1[i] : 0.0, i < n ? r2[i] : 0.0);
        }
    }
    qc_dev_free(&d);
    qcuda_free(G);
    quant_free(A);
    free(v), free(ref), free(got), free(base), free(r1), free(r2), free(buf), free(gbuf);
    return ok;
}

static void qc_test_roundtrip(void) {
    char specs[64][QT_SPEC_LEN];
    size_t ns = qc_specs(specs, 64), cases = 0, good = 0;
    for (size_t s = 0; s < ns; s++)
        for (size_t sh = 0; sh < QT_NSHAPES; sh++)
            for (int kind = 0; kind < QT_IN_COUNT; kind++) {
                cases++;
                good += qc_case(specs[s], qt_shapes[sh][0], qt_shapes[sh][1], kind);
            }
    /* larger tensors: many buckets and groups, n not a multiple of 32 */
    static const char *big[] = {"qsgd:bits=4,bucket=512",
                                "qsgd:s=16,bucket=100,norm=max",
                                "qsgd:bits=8",
                                "onebit",
                                "onebit:bucket=1000",
                                "fp32"};
    for (size_t s = 0; s < 6; s++) {
        cases += 2;
        good += qc_case(big[s], 1, QC_NMAX - 3, QT_IN_GAUSS);
        good += qc_case(big[s], 61, 67, QT_IN_SPARSE);
    }
    printf("\n  %s: %zu of %zu cases bit-identical to the CPU quantizers", QB->name, good, cases);
    CU_ASSERT_EQUAL(good, cases);
}

/* Non-finite inputs and small buffers: the CPU's errors; onebit's residual unchanged. */
static void qc_test_encode_errors(void) {
    static const char *specs[] = {"qsgd:bits=4,bucket=7",
                                  "qsgd:bits=4,bucket=7,norm=max",
                                  "qsgd:s=3",
                                  "onebit:bucket=5",
                                  "onebit",
                                  "fp32"};
    enum { R = 9, C = 11 };
    for (size_t s = 0; s < 6; s++)
        for (int shape = 0; shape < 2; shape++) {
            size_t rows = shape ? R : 1, cols = shape ? C : R * C, n = R * C;
            quant *A;
            qcuda *G;
            qc_dev d;
            if (!qc_open(specs[s], rows, cols, &A, &G, &d))
                continue;
            size_t cap = d.cap;
            float v[R * C], r1[R * C], r2[R * C];
            uint8_t buf[R * C * 4 + 64];
            quant_ctx ctx = qt_ctx(9, 1, 2, 3);
            for (int bad = 0; bad < 4; bad++) {
                qt_fill(v, n, QT_IN_GAUSS, QR);
                const char *what;
                size_t use_cap = cap;
                if (bad == 0) {
                    what = "NaN";
                    v[37] = NAN;
                } else if (bad == 1) {
                    what = "-inf";
                    v[80] = -INFINITY;
                } else if (bad == 2) {
                    what = "huge values"; /* finite, but an l2 norm overflows float */
                    for (size_t i = 14; i < 21; i++)
                        v[i] = 3e38f;
                } else {
                    what = "small buffer";
                    use_cap = (size_t)((quant_max_bits(A) + 7) / 8) - 1;
                }
                if (A->type->stateful) { /* a step first, so that there is a residual */
                    float ok_v[R * C];
                    uint64_t nb;
                    qsgd_err e = {0};
                    qt_fill(ok_v, n, QT_IN_GAUSS, QR);
                    QB->to_dev(d.v, ok_v, n * sizeof(float));
                    quant_encode(A, ok_v, &ctx, buf, cap, &nb, &e);
                    qcuda_encode(G, d.v, &ctx, d.buf, cap, &nb, &e);
                }
                qsgd_err ec = {0}, eg = {0};
                uint64_t nc = 1, ng = 1;
                QB->to_dev(d.v, v, n * sizeof(float));
                int rc = quant_encode(A, v, &ctx, buf, use_cap, &nc, &ec);
                int rg = qcuda_encode(G, d.v, &ctx, d.buf, use_cap, &ng, &eg);
                char w[160];
                snprintf(w, sizeof w, "%s %zux%zu %s", specs[s], rows, cols, what);
                qc_same_error(w, rc, &ec, rg, &eg);
                QT_CHECK(nc == ng, "%s: nbits cpu %llu gpu %llu", w, (unsigned long long)nc,
                         (unsigned long long)ng);
                if (quant_residual(A)) {
                    memcpy(r1, quant_residual(A), n * sizeof(float));
                    CU_ASSERT_EQUAL(qcuda_residual(G, d.out, &eg), QSGD_OK);
                    QB->to_host(r2, d.out, n * sizeof(float));
                    QT_CHECK(qt_first_diff(r1, r2, n) == n, "%s: residual differs after the error",
                             w);
                }
            }
            qc_dev_free(&d);
            qcuda_free(G);
            quant_free(A);
        }
}

/* Wrong sizes and randomly corrupted messages: the CPU's verdicts, word for word. */
static void qc_test_decode_errors(void) {
    static const char *specs[] = {"qsgd:bits=4,bucket=16",
                                  "qsgd:s=16,bucket=10",
                                  "qsgd:s=1",
                                  "qsgd:bits=8,bucket=7,norm=max",
                                  "onebit:bucket=6",
                                  "onebit",
                                  "fp32"};
    size_t trials = 0, corrupt = 0;
    for (size_t s = 0; s < 7; s++)
        for (int shape = 0; shape < 2; shape++) {
            size_t rows = shape ? 6 : 1, cols = shape ? 9 : 54, n = 54;
            quant *A;
            qcuda *G;
            qc_dev d;
            if (!qc_open(specs[s], rows, cols, &A, &G, &d))
                continue;
            size_t cap = d.cap;
            float v[54], o1[54], o2[54], base[54];
            uint8_t *msg = malloc(cap), *bad = malloc(cap);
            qt_fill(v, n, QT_IN_GAUSS, QR);
            quant_ctx ctx = qt_ctx(11, 0, 1, 2);
            qsgd_err ec = {0}, eg = {0};
            uint64_t nbits;
            CU_ASSERT_EQUAL_FATAL(quant_encode(A, v, &ctx, msg, cap, &nbits, &ec), QSGD_OK);
            size_t len = (size_t)((nbits + 7) / 8);
            for (int trial = 0; trial < 400; trial++) {
                memcpy(bad, msg, cap);
                uint64_t nb = nbits;
                size_t blen = len;
                int mode = trial % 8;
                if (mode == 0) {
                    nb = nbits - 1 - gsl_rng_uniform_int(QR, 5);
                } else if (mode == 1) {
                    nb = nbits + 1 + gsl_rng_uniform_int(QR, 5);
                    blen = cap;
                } else if (mode == 2) {
                    blen = len - 1; /* nbits past the buffer */
                } else {
                    int flips = 1 + (int)gsl_rng_uniform_int(QR, 4);
                    for (int f = 0; f < flips; f++) {
                        uint64_t b = gsl_rng_uniform_int(QR, (unsigned long)nbits);
                        bad[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
                    }
                    if (mode == 7) /* a bucket norm / mean made NaN or negative */
                        bad[8 * gsl_rng_uniform_int(QR, (unsigned long)(len / 8 ? len / 8 : 1)) %
                            len] |= 0xFF;
                }
                for (size_t i = 0; i < n; i++)
                    base[i] = (float)i;
                QB->to_dev(d.buf, bad, cap);
                QB->to_dev(d.out, base, n * sizeof(float));
                memset(&ec, 0, sizeof ec);
                memset(&eg, 0, sizeof eg);
                int rc = quant_decode(A, bad, blen, nb, o1, &ec);
                int rg = qcuda_decode_add(G, d.buf, blen, nb, d.out, &eg);
                char w[160];
                snprintf(w, sizeof w, "%s %zux%zu trial %d (decode_add)", specs[s], rows, cols,
                         trial);
                qc_same_error(w, rc, &ec, rg, &eg);
                QB->to_host(o2, d.out, n * sizeof(float));
                if (rc) { /* nothing added */
                    corrupt++;
                    QT_CHECK(qt_first_diff(base, o2, n) == n, "%s: output changed on error", w);
                } else {
                    for (size_t i = 0; i < n; i++)
                        base[i] += o1[i];
                    QT_CHECK(qt_first_diff(base, o2, n) == n, "%s: sums differ", w);
                }
                memset(&eg, 0, sizeof eg);
                rg = qcuda_decode(G, d.buf, blen, nb, d.out, &eg);
                snprintf(w, sizeof w, "%s %zux%zu trial %d (decode)", specs[s], rows, cols, trial);
                qc_same_error(w, rc, &ec, rg, &eg);
                trials++;
            }
            free(msg);
            free(bad);
            qc_dev_free(&d);
            qcuda_free(G);
            quant_free(A);
        }
    printf("\n  %s: %zu corrupted/mis-sized messages, %zu rejected, all with the CPU's verdicts",
           QB->name, trials, corrupt);
    CU_ASSERT(corrupt > trials / 4);
}

/* What the GPU codec does not do is refused with a reason. */
static void qc_test_unsupported(void) {
    quant *e = qt_alloc("qsgd:bits=4,format=elias", 1, 100);
    char why[200] = "";
    CU_ASSERT_EQUAL(qcuda_supported(e, why, sizeof why), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "elias"));
    qsgd_err err = {0};
    CU_ASSERT_PTR_NULL(QB->make(e, &err));
    CU_ASSERT_EQUAL(err.code, QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "elias"));
    quant_free(e);
    /* every registered type: a GPU codec exactly when its table names one (gpu_codec) and
     * its messages have a fixed size, whatever its name */
    for (const quant_type *const *t = quant_types(); *t; t++) {
        qsgd_err te = {0};
        quant *x = quant_alloc((*t)->name, NULL, 4, 64, &te);
        if (!x)
            continue; /* defaults that need another shape: not this test's business */
        int fixed = !((*t)->variable_length && (*t)->variable_length(&x->params));
        why[0] = '\0';
        CU_ASSERT_EQUAL(qcuda_supported(x, why, sizeof why),
                        (*t)->gpu_codec != QUANT_GPU_NONE && fixed);
        if ((*t)->gpu_codec == QUANT_GPU_NONE)
            CU_ASSERT_PTR_NOT_NULL(strstr(why, "no GPU codec"));
        quant_free(x);
    }
    quant *q = qt_alloc("qsgd:bits=4", 1, 100);
    qcuda *g = qc_make(q);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_EQUAL(qcuda_backend(g), QB->name);
    CU_ASSERT_EQUAL(qcuda_residual(g, NULL, &err), QSGD_EINVAL);
    uint64_t nb;
    CU_ASSERT_EQUAL(qcuda_encode(g, NULL, NULL, NULL, 0, &nb, &err), QSGD_EINVAL); /* no ctx */
    qcuda_free(g);
    qcuda_free(NULL);
    quant_free(q);
}

static const qt_test qc_tests[] = {
    {"messages, decoded values and residuals == CPU", qc_test_roundtrip},
    {"encode errors == CPU", qc_test_encode_errors},
    {"decode errors == CPU (random corruption)", qc_test_decode_errors},
    {"unsupported configurations", qc_test_unsupported},
    {NULL, NULL},
};

#endif
