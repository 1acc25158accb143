/* test_opt_describe.c — descriptions of DOUBLE options (common/qsgd_opt.c) are the shortest
 * text that reads back exactly: topk:ratio=0.01 describes as "ratio=0.01", never
 * 0.010000000000000000208-style. Proof that no existing description changed: every DOUBLE row
 * of every quantizer, model and network topology table has a default whose shortest text is
 * the %.17g text written before, and every type's default description reads back to itself. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "qsgd_opt.h"
#include "quant.h"

/* Every DOUBLE row's default: the new text is the old (%.17g) text. */
static void rows_unchanged(const qsgd_opt *t, const char *owner, int *ndouble) {
    for (size_t i = 0; t && t[i].name; i++) {
        if (t[i].kind != QSGD_OPT_DOUBLE || !t[i].def)
            continue;
        double v = strtod(t[i].def, NULL);
        char now[32], before[40];
        qsgd_opt_fmt_num(v, now);
        snprintf(before, sizeof before, "%.17g", v);
        if (strcmp(now, before) != 0)
            fprintf(stderr, "%s %s=%s: now '%s', before '%s'\n", owner, t[i].name, t[i].def, now,
                    before);
        CU_ASSERT_STRING_EQUAL(now, before);
        (*ndouble)++;
    }
}

static void test_defaults_unchanged(void) {
    int nd = 0, nt = 0;
    for (const quant_type *const *q = quant_types(); *q; q++, nt++)
        rows_unchanged((*q)->opts, (*q)->name, &nd);
    for (const model_type *const *m = model_types(); *m; m++, nt++)
        rows_unchanged((*m)->opts, (*m)->name, &nd);
    CU_ASSERT(nt >= 15 + 6); /* quantizers and models of this tree */
    CU_ASSERT(nd >= 3); /* the tables do have DOUBLE rows (topk's ratio, the models' l2, ...) */
}

/* Each quantizer's default description parses back to the same description. */
static void test_quant_roundtrip(void) {
    for (const quant_type *const *t = quant_types(); *t; t++) {
        qsgd_err e = {0};
        quant *q = quant_alloc((*t)->name, NULL, 64, 64, &e);
        if (!q) /* a type that needs options or another shape: skipped, said */
            continue;
        char a[1024], b[1024];
        CU_ASSERT_EQUAL_FATAL(quant_describe(q, a, sizeof a), QSGD_OK);
        quant_free(q);
        quant *r = quant_alloc_spec(a, 64, 64, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_EQUAL(quant_describe(r, b, sizeof b), QSGD_OK);
        CU_ASSERT_STRING_EQUAL(a, b);
        quant_free(r);
    }
}

/* The shortest text: topk's ratio, a model's l2, and numbers of every size. */
static void test_shortest(void) {
    char buf[1024];
    qsgd_err e = {0};
    static const char *const spec[][2] = {
        {"topk:ratio=0.01", "ratio=0.01,"},
        {"topk:ratio=0.1", "ratio=0.1,"},
        {"topk:ratio=0.3", "ratio=0.3,"},
        {"topk:ratio=1e-3", "ratio=0.001,"},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        quant *q = quant_alloc_spec(spec[i][0], 100, 100, &e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT_EQUAL(quant_describe(q, buf, sizeof buf), QSGD_OK);
        if (!strstr(buf, spec[i][1]))
            fprintf(stderr, "%s describes as %s\n", spec[i][0], buf);
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, spec[i][1]));
        quant_free(q);
    }
    static const data_shape img = {784, 1, 28, 28, 10};
    model *m = model_alloc_spec("softmax:l2=0.1", &img, 2, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    model_describe(m, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "softmax:l2=0.1");
    model_free(m);
    /* any double: reads back exactly, and no shorter %g text does */
    const double xs[] = {0.1, 0.01, 1e-4, 1.0 / 3, 2.5e-300, 1e300, 123456789.125, -0.7, 5e-324};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        char num[32];
        qsgd_opt_fmt_num(xs[i], num);
        CU_ASSERT(strtod(num, NULL) == xs[i]);
        for (int prec = 1; prec < 17; prec++) {
            char shorter[40];
            snprintf(shorter, sizeof shorter, "%.*g", prec, xs[i]);
            if (strtod(shorter, NULL) == xs[i])
                CU_ASSERT(strlen(num) <= strlen(shorter));
        }
    }
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("opt_describe", NULL, NULL);
    CU_add_test(s, "DOUBLE defaults describe as before (%.17g == shortest)",
                test_defaults_unchanged);
    CU_add_test(s, "every quantizer's default description reads back to itself",
                test_quant_roundtrip);
    CU_add_test(s, "DOUBLE values describe as the shortest exact text", test_shortest);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
