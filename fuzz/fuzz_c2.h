/* fuzz_c2.h — shared by fuzz_topk.c, fuzz_randomk.c and fuzz_nuqsgd.c (after fuzz_common.c):
 * their options live in quant_params.ext, so the instance is built from a spec string that
 * the header selects (h[3], h[4]; n and rows as fuzz_common.c's fuzz_make), then the common
 * decode and round-trip checks run on it. The checked-in seeds under fuzz/corpus/<name>/
 * were written by the generator mode of these files (see fuzz_c2_gen below). */
#ifndef QSGDSIM_FUZZ_C2_H
#define QSGDSIM_FUZZ_C2_H

/* spec of the header for one of the three types (t: 0 topk, 1 randomk, 2 nuqsgd) */
static void fuzz_c2_spec(int t, const uint8_t *h, char *spec, size_t len) {
    static const char *const kk[8] = {"k=1",        "k=2",       "k=3",     "k=7",
                                      "ratio=0.01", "ratio=0.1", "ratio=1", "k=100"};
    static const char *const idx[3] = {"raw", "elias", "seed"};
    static const unsigned ss[8] = {1, 2, 3, 7, 15, 31, 7, 3};
    static const size_t bs[5] = {0, 1, 7, 64, 512};
    if (t == 0)
        snprintf(spec, len, "topk:%s,index=%s,feedback=%d", kk[h[3] & 7], idx[h[4] & 1],
                 (h[4] >> 1) & 1);
    else if (t == 1)
        snprintf(spec, len, "randomk:%s,index=%s,scale=%d", kk[h[3] & 7], idx[(h[3] >> 4) % 3],
                 (h[4] >> 1) & 1);
    else
        snprintf(spec, len, "nuqsgd:s=%u,bucket=%zu,norm=%s", ss[h[3] & 7], bs[(h[3] >> 4) % 5],
                 (h[4] & 1) ? "max" : "l2");
}

static int fuzz_c2_one(int t, const uint8_t *data, size_t size) {
    if (size < FUZZ_HDR)
        return 0;
    const uint8_t *h = data;
    size_t n = (size_t)(fuzz_le(h + 1, 2) % (FUZZ_MAX_N + 1));
    size_t rows = fuzz_rows_table[(h[4] >> 2) & 7];
    if (n == 0)
        n = 1;
    if (rows > n)
        rows = 1;
    size_t cols = n / rows;
    n = rows * cols;
    char spec[96];
    fuzz_c2_spec(t, h, spec, sizeof spec);
    quant_spec sp;
    qsgd_err err;
    FUZZ_CHECK(quant_spec_parse(spec, &sp, &err) == QSGD_OK);
    quant *q = quant_alloc(sp.name, &sp.params, rows, cols, &err);
    FUZZ_CHECK(q != NULL && q->n == n);
    fuzz_target ft = {sp.name, 0, 0, 0, quant_spec_fixed_size(&sp)};
    if ((h[0] & 3) < 2)
        fuzz_decode(&ft, q, n, h, data + FUZZ_HDR, size - FUZZ_HDR);
    else
        fuzz_roundtrip(q, n, h, data + FUZZ_HDR, size - FUZZ_HDR);
    quant_free(q);
    return 0;
}

#ifdef FUZZ_C2_GEN
/* Generator: fuzz_c2_gen DIR writes seeds: per header, a valid message (decode mode) and a
 * round-trip input (int16 payload). Built by hand (docs/compressors-sparse.md). */
#include <sys/stat.h>
static void fuzz_c2_gen(int t, const char *dir) {
    mkdir(dir, 0777);
    int count = 0;
    static const uint8_t hs[][2] = {{0x00, 0x00}, {0x14, 0x01}, {0x25, 0x02}, {0x06, 0x03},
                                    {0x13, 0x0C}, {0x21, 0x11}, {0x07, 0x16}, {0x42, 0x1E}};
    static const size_t ns[] = {1, 5, 64, 300, 1000};
    for (size_t a = 0; a < sizeof hs / sizeof *hs; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b += 1 + (a & 1)) {
            uint8_t hdr[FUZZ_HDR] = {0};
            hdr[1] = (uint8_t)ns[b];
            hdr[2] = (uint8_t)(ns[b] >> 8);
            hdr[3] = hs[a][0];
            hdr[4] = hs[a][1];
            hdr[5] = (uint8_t)(a * 37 + b);
            hdr[13] = (uint8_t)b;
            size_t n = ns[b], rows = fuzz_rows_table[(hdr[4] >> 2) & 7];
            if (rows > n)
                rows = 1;
            n = rows * (n / rows);
            char spec[96];
            fuzz_c2_spec(t, hdr, spec, sizeof spec);
            qsgd_err err;
            quant *q = quant_alloc_spec(spec, rows, n / rows, &err);
            if (!q)
                continue;
            float *v = malloc(n * sizeof *v);
            int16_t *raw = malloc(n * sizeof *raw);
            for (size_t i = 0; i < n; i++) {
                raw[i] = (int16_t)((int)((i * 2654435761u + a) % 4001) - 2000);
                v[i] = (float)raw[i] / 256.0f;
            }
            size_t cap = quant_max_bytes(q);
            uint8_t *msg = malloc(FUZZ_HDR + cap + 2 * n);
            quant_ctx ctx = {hdr[5], 0, 0, 0};
            uint64_t nb;
            for (int mode = 0; mode < 2; mode++) {
                memcpy(msg, hdr, FUZZ_HDR);
                size_t len;
                if (mode == 0) {
                    if (quant_encode(q, v, &ctx, msg + FUZZ_HDR, cap, &nb, &err))
                        continue;
                    msg[0] = (nb % 8) ? 0x04 : 0x00; /* partial last byte: nbits mode 1 */
                    msg[13] = (uint8_t)((8 - nb % 8) % 8);
                    len = FUZZ_HDR + (size_t)((nb + 7) / 8);
                } else {
                    msg[0] = 3;
                    for (size_t i = 0; i < n; i++) {
                        msg[FUZZ_HDR + 2 * i] = (uint8_t)raw[i];
                        msg[FUZZ_HDR + 2 * i + 1] = (uint8_t)((uint16_t)raw[i] >> 8);
                    }
                    len = FUZZ_HDR + 2 * n;
                }
                char path[4200];
                snprintf(path, sizeof path, "%s/seed-%03d", dir, count++);
                FILE *f = fopen(path, "wb");
                if (f) {
                    fwrite(msg, 1, len, f);
                    fclose(f);
                }
            }
            free(msg);
            free(raw);
            free(v);
            quant_free(q);
        }
}
#endif
#endif
