/* quant_test_util.h — shared helpers of the quantizer test programs (tests/test_quant_*.c):
 * a CUnit runner, formatted failure reports that do not flood, the configurations every
 * registered quantizer is run through, input vector generators (GSL RNG) and the
 * reference arithmetic of QSGD levels computed in double. Header-only, all static. */
#ifndef QSGDSIM_QUANT_TEST_UTIL_H
#define QSGDSIM_QUANT_TEST_UTIL_H

#include <CUnit/Basic.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant.h"
#include "theory.h"

#define QT_FN static __attribute__((unused)) /* header-only helpers: not all used by every file */

/* ---- failure reporting -------------------------------------------------------------- */
/* Failures of one test beyond QT_MAX_REPORTS are counted but not recorded, so that a
 * broken property checked in a loop over thousands of cases stays readable. */
#define QT_MAX_REPORTS 25
static unsigned qt_nfail; /* failures in the current test */

QT_FN void qt_test_setup(void) {
    qt_nfail = 0;
}
QT_FN void qt_test_teardown(void) {
    if (qt_nfail > QT_MAX_REPORTS)
        fprintf(stderr, "  (%u failures in this test, only %d recorded)\n", qt_nfail,
                QT_MAX_REPORTS);
}

__attribute__((format(printf, 3, 4))) QT_FN void qt_fail_at(const char *file, int line,
                                                            const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qt_nfail++;
    if (qt_nfail <= QT_MAX_REPORTS)
        CU_assertImplementation(CU_FALSE, (unsigned)line, msg, file, "", CU_FALSE);
}

/* Returns ok; records a formatted failure when ok is 0. */
__attribute__((format(printf, 4, 5))) QT_FN int qt_check_at(int ok, const char *file, int line,
                                                            const char *fmt, ...) {
    if (ok) { /* counted, so that CUnit's summary shows how many checks ran */
        CU_assertImplementation(CU_TRUE, (unsigned)line, "", file, "", CU_FALSE);
        return 1;
    }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qt_nfail++;
    if (qt_nfail <= QT_MAX_REPORTS)
        CU_assertImplementation(CU_FALSE, (unsigned)line, msg, file, "", CU_FALSE);
    return 0;
}

/* QT_CHECK(cond, fmt, ...): record a formatted failure if cond is false; evaluates to cond
 * (0 or 1), so loops can `if (!QT_CHECK(...)) break;`. The format arguments are evaluated
 * whether or not cond holds: keep them in bounds. */
#define QT_CHECK(cond, ...) qt_check_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define QT_FAIL(...) qt_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* ---- runner --------------------------------------------------------------------------- */
typedef struct qt_test {
    const char *name;
    void (*fn)(void);
} qt_test;

/* Run one suite with CUnit's basic interface; returns 0 iff every test passed. */
QT_FN int qt_run(const char *suite, const qt_test *tests) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s =
        CU_add_suite_with_setup_and_teardown(suite, NULL, NULL, qt_test_setup, qt_test_teardown);
    if (!s) {
        CU_cleanup_registry();
        return 2;
    }
    for (const qt_test *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn)) {
            CU_cleanup_registry();
            return 2;
        }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    unsigned tfails = CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    printf("\n%s: %u failed assertion(s) in %u test(s)\n", suite, fails, tfails);
    return fails || tfails ? 1 : 0;
}

QT_FN double qt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- instances -------------------------------------------------------------------------- */
/* Allocate from a spec or record a failure (with the library's message) and return NULL. */
#define qt_alloc(spec, rows, cols) qt_alloc_at(__FILE__, __LINE__, (spec), (rows), (cols))
QT_FN quant *qt_alloc_at(const char *file, int line, const char *spec, size_t rows, size_t cols) {
    qsgd_err err = {0};
    quant *q = quant_alloc_spec(spec, rows, cols, &err);
    if (!q)
        qt_fail_at(file, line, "quant_alloc_spec(\"%s\", %zu, %zu) failed: code %d: %s", spec, rows,
                   cols, err.code, err.msg);
    return q;
}

QT_FN unsigned qt_bitlen(uint64_t x) {
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

/* Effective bucket length d of a qsgd/onebit vector instance (0 / oversize = whole). */
QT_FN size_t qt_bucket(const quant *q) {
    size_t d = q->params.bucket;
    return d == 0 || d > q->n ? q->n : d;
}
QT_FN size_t qt_nbuckets(const quant *q) {
    size_t d = qt_bucket(q);
    return (q->n + d - 1) / d;
}

QT_FN quant_ctx qt_ctx(uint64_t seed, uint32_t worker, uint32_t step, uint32_t tensor) {
    quant_ctx c = {seed, worker, step, tensor};
    return c;
}

/* Bitwise-equal floats (so -0.0 != 0.0 and NaN patterns count). */
QT_FN int qt_same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}
/* Index of the first coordinate where a and b differ bitwise (so -0.0 != 0.0), or n. */
QT_FN size_t qt_first_diff(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!qt_same_bits(a[i], b[i]))
            return i;
    return n;
}

/* ---- configurations ---------------------------------------------------------------------- */
#define QT_SPEC_LEN 96
/* Specs every registered quantizer is run through. A type this file does not know still
 * runs under its bare name, so a newly registered quantizer is covered automatically. */
QT_FN size_t qt_specs_for(const quant_type *t, char (*out)[QT_SPEC_LEN], size_t max) {
    size_t k = 0;
    if (strcmp(t->name, "qsgd") == 0) {
        static const unsigned ss[] = {1, 2, 7, 127};
        static const size_t bs[] = {0, 7, 128, 512};
        static const char *norms[] = {"l2", "max"};
        static const char *fmts[] = {"dense", "elias"};
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++)
                for (size_t c = 0; c < 2; c++)
                    for (size_t f = 0; f < 2 && k < max; f++)
                        snprintf(out[k++], QT_SPEC_LEN, "qsgd:s=%u,bucket=%zu,norm=%s,format=%s",
                                 ss[a], bs[b], norms[c], fmts[f]);
    } else if (strcmp(t->name, "onebit") == 0) {
        static const size_t bs[] = {0, 7, 128};
        for (size_t b = 0; b < 3; b++)
            for (int fb = 1; fb >= 0 && k < max; fb--)
                snprintf(out[k++], QT_SPEC_LEN, "onebit:bucket=%zu,feedback=%d", bs[b], fb);
    } else if (strcmp(t->name, "topk") == 0) { /* C2: sparse */
        static const char *const sp[] = {"topk", "topk:ratio=0.1,index=elias",
                                         "topk:k=3,feedback=0", "topk:k=1,index=elias,feedback=0",
                                         "topk:ratio=1"};
        for (size_t a = 0; a < sizeof sp / sizeof *sp && k < max; a++)
            snprintf(out[k++], QT_SPEC_LEN, "%s", sp[a]);
    } else if (strcmp(t->name, "randomk") == 0) { /* C2: sparse */
        static const char *const sp[] = {"randomk", "randomk:ratio=0.1,index=elias",
                                         "randomk:k=3,index=raw,scale=0", "randomk:k=1,scale=0",
                                         "randomk:ratio=1,index=elias"};
        for (size_t a = 0; a < sizeof sp / sizeof *sp && k < max; a++)
            snprintf(out[k++], QT_SPEC_LEN, "%s", sp[a]);
    } else if (strcmp(t->name, "nuqsgd") == 0) { /* C2 */
        static const char *const sp[] = {"nuqsgd", "nuqsgd:s=1,bucket=7", "nuqsgd:s=3,norm=max",
                                         "nuqsgd:s=31,bucket=128", "nuqsgd:s=15,bucket=512"};
        for (size_t a = 0; a < sizeof sp / sizeof *sp && k < max; a++)
            snprintf(out[k++], QT_SPEC_LEN, "%s", sp[a]);
    } else if (strcmp(t->name, "terngrad") == 0 || strcmp(t->name, "efsignsgd") == 0) { /* C1 */
        static const char *const sp[] = {"terngrad",
                                         "terngrad:bucket=7",
                                         "terngrad:clip=2.5",
                                         "terngrad:bucket=128,clip=1",
                                         "efsignsgd",
                                         "efsignsgd:bucket=7",
                                         "efsignsgd:bucket=128,feedback=0",
                                         "efsignsgd:feedback=0"};
        for (size_t a = 0; a < sizeof sp / sizeof *sp && k < max; a++)
            if (strncmp(sp[a], t->name, strlen(t->name)) == 0)
                snprintf(out[k++], QT_SPEC_LEN, "%s", sp[a]);
    } else if (strncmp(t->name, "mx", 2) == 0) { /* C3: mxfp8, mxfp4 */
        snprintf(out[k++], QT_SPEC_LEN, "%s", t->name);
        if (k < max)
            snprintf(out[k++], QT_SPEC_LEN, "%s:rounding=stochastic", t->name);
    } else if (strcmp(t->name, "powersgd") == 0) { /* C3 */
        static const char *const sp[] = {"powersgd", "powersgd:rank=1", "powersgd:rank=4",
                                         "powersgd:rank=2,feedback=0", "powersgd:rank=64"};
        for (size_t a = 0; a < sizeof sp / sizeof *sp && k < max; a++)
            snprintf(out[k++], QT_SPEC_LEN, "%s", sp[a]);
    } else if (k < max) {
        snprintf(out[k++], QT_SPEC_LEN, "%s", t->name);
    }
    return k;
}

/* Shapes (rows x cols): vectors, matrices, n = 1, sizes that are not multiples of 32. */
__attribute__((unused)) static const size_t qt_shapes[][2] = {{1, 1000}, {33, 17}, {1, 1},
                                                              {1, 37},   {16, 64}, {3, 1}};
#define QT_NSHAPES (sizeof qt_shapes / sizeof qt_shapes[0])

/* ---- inputs -------------------------------------------------------------------------------- */
enum qt_input {
    QT_IN_GAUSS,   /* N(0, 1) */
    QT_IN_ZERO,    /* all zeros */
    QT_IN_SINGLE,  /* one nonzero at a random index */
    QT_IN_SPARSE,  /* ~90% zeros, some of them -0.0, Gaussian rest */
    QT_IN_WIDE,    /* log-uniform magnitudes 1e-30..1e30, random signs */
    QT_IN_TINY,    /* subnormal magnitudes only (norm near FLT_MIN) */
    QT_IN_UNIFORM, /* +-1 with random signs (equal magnitudes: QSGD's worst case) */
    QT_IN_COUNT
};
__attribute__((unused)) static const char *const qt_input_names[QT_IN_COUNT] = {
    "gauss", "zero", "single", "sparse", "wide", "tiny", "uniform"};

QT_FN void qt_fill(float *v, size_t n, int kind, gsl_rng *r) {
    switch (kind) {
    case QT_IN_GAUSS:
        for (size_t i = 0; i < n; i++)
            v[i] = (float)gsl_ran_gaussian(r, 1.0);
        break;
    case QT_IN_ZERO:
        memset(v, 0, n * sizeof *v);
        break;
    case QT_IN_SINGLE:
        memset(v, 0, n * sizeof *v);
        v[gsl_rng_uniform_int(r, n)] = gsl_rng_uniform(r) < 0.5 ? -3.25f : 0.625f;
        break;
    case QT_IN_SPARSE:
        for (size_t i = 0; i < n; i++) {
            double u = gsl_rng_uniform(r);
            v[i] = u < 0.45 ? 0.0f : u < 0.9 ? -0.0f : (float)gsl_ran_gaussian(r, 2.0);
        }
        break;
    case QT_IN_WIDE:
        for (size_t i = 0; i < n; i++) {
            double m = pow(10.0, -30.0 + 60.0 * gsl_rng_uniform(r));
            v[i] = (float)(gsl_rng_uniform(r) < 0.5 ? -m : m);
        }
        break;
    case QT_IN_TINY:
        for (size_t i = 0; i < n; i++) {
            double m = 1e-45 + 1e-39 * gsl_rng_uniform(r);
            v[i] = (float)(gsl_rng_uniform(r) < 0.5 ? -m : m);
        }
        break;
    case QT_IN_UNIFORM:
        for (size_t i = 0; i < n; i++)
            v[i] = gsl_rng_uniform(r) < 0.5 ? -1.0f : 1.0f;
        break;
    }
}

QT_FN gsl_rng *qt_rng(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

/* ---- QSGD reference arithmetic (double) --------------------------------------------------- */
/* Scale of bucket v[0..len): l2 or max norm, in double. */
QT_FN double qt_norm(const float *v, size_t len, int maxnorm) {
    double acc = 0;
    for (size_t i = 0; i < len; i++) {
        double a = fabs((double)v[i]);
        if (maxnorm)
            acc = a > acc ? a : acc;
        else
            acc += a * a;
    }
    return maxnorm ? acc : sqrt(acc);
}

/* Per-coordinate law of QSGD's Q(v)_i: value = sgn * unit * level, level = l + Bernoulli(p).
 * Fills unit[i] (the level spacing norm/s of i's bucket), lo[i] = l, p[i], and returns the
 * exact E||Q(v) - v||^2 = sum unit^2 p (1 - p). */
QT_FN double qt_qsgd_law(const float *v, size_t n, size_t d, unsigned s, int maxnorm, double *unit,
                         double *lo, double *p) {
    double var = 0;
    for (size_t b0 = 0; b0 < n; b0 += d) {
        size_t len = b0 + d <= n ? d : n - b0;
        double nrm = qt_norm(v + b0, len, maxnorm);
        for (size_t i = b0; i < b0 + len; i++) {
            double u = nrm / s, x = nrm > 0 ? fabs((double)v[i]) * s / nrm : 0.0;
            double l = floor(x);
            if (l >= s) {
                l = s;
                x = s;
            }
            unit[i] = u;
            lo[i] = l;
            p[i] = x - l;
            var += u * u * p[i] * (1 - p[i]);
        }
    }
    return var;
}

#endif
