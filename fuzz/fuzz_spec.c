/* fuzz_spec.c — libFuzzer target: the quantizer spec parser (quant_spec_parse,
 * quant_alloc_spec) and quant_describe.
 * Properties: parse returns QSGD_OK or QSGD_EINVAL with a NUL-terminated message; a
 * parsed spec allocates through quant_alloc and quant_alloc_spec alike, to the same resolved
 * parameters; its canonical description parses and allocates again and describes itself
 * identically (describe is a fixed point); describe into a short buffer never writes past
 * it and reports the truncation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

#include "fuzz_check.h"

static int same_params(const quant_params *a, const quant_params *b) {
    return a->s == b->s && a->bucket == b->bucket && a->norm == b->norm && a->format == b->format &&
           a->no_feedback == b->no_feedback;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 512)
        return 0;
    /* exactly size+1 bytes, so ASan sees any read past the terminator */
    char *s = malloc(size + 1);
    FUZZ_CHECK(s);
    memcpy(s, data, size);
    s[size] = 0;

    quant_spec spec;
    qsgd_err err;
    memset(&err, 0, sizeof err);
    int rc = quant_spec_parse(s, &spec, &err);
    FUZZ_CHECK(rc == QSGD_OK || rc == QSGD_EINVAL);
    FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
    if (rc == QSGD_OK) {
        FUZZ_CHECK(memchr(spec.name, 0, sizeof spec.name) != NULL);
        static const size_t shapes[3][2] = {{1, 64}, {8, 8}, {1, 1}};
        for (int k = 0; k < 3; k++) {
            quant *q = quant_alloc(spec.name, &spec.params, shapes[k][0], shapes[k][1], &err);
            quant *q2 = quant_alloc_spec(s, shapes[k][0], shapes[k][1], &err);
            FUZZ_CHECK((q == NULL) == (q2 == NULL));
            if (q) {
                FUZZ_CHECK(same_params(&q->params, &q2->params));
                char desc[256];
                FUZZ_CHECK(quant_describe(q, desc, sizeof desc) == QSGD_OK);
                quant *q3 = quant_alloc_spec(desc, shapes[k][0], shapes[k][1], &err);
                if (!q3) {
                    fprintf(stderr, "fuzz: describe of '%s' gives '%s', which fails: %s\n", s, desc,
                            err.msg);
                    __builtin_trap();
                }
                char desc3[256];
                FUZZ_CHECK(quant_describe(q3, desc3, sizeof desc3) == QSGD_OK);
                FUZZ_CHECK(strcmp(desc, desc3) == 0);
                /* short buffers */
                size_t dl = strlen(desc);
                for (size_t len = 0; len <= dl + 1 && len < 8; len++) {
                    char *small = malloc(len ? len : 1);
                    FUZZ_CHECK(small);
                    int drc = quant_describe(q, small, len);
                    FUZZ_CHECK(drc == (len > dl ? QSGD_OK : QSGD_EINVAL));
                    if (len)
                        FUZZ_CHECK(memchr(small, 0, len) != NULL);
                    free(small);
                }
                quant_free(q3);
            }
            quant_free(q2);
            quant_free(q);
        }
    } else {
        FUZZ_CHECK(err.code == QSGD_EINVAL);
        FUZZ_CHECK(quant_alloc_spec(s, 1, 64, &err) == NULL);
    }
    free(s);
    return 0;
}
