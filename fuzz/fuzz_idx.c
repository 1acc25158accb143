/* fuzz_idx.c — libFuzzer target: the IDX reader (models/data_fmnist.c, data_idx_load) on any
 * pair of files, gzip'd or plain, through memfds named /proc/self/fd/N (fuzz_memfd.h).
 * Input: byte 0 = options (bit 0: gzip the images here, bit 1: gzip the labels here, so that
 * mutations of the plain content reach the reader through zlib; bits 2-3 norm std, unit, raw;
 * bits 4-5 nclass 0 (= 10), 3, 10, 255; bits 6-7 limit 0, 1, 3, 1000), bytes 1-2 the split
 * (u16 % (rest + 1)): the rest is the images file up to the split and the labels file after it;
 * a file that starts with the gzip magic is a gzip stream already.
 * Properties: the load returns QSGD_OK or QSGD_EFORMAT (nothing else for small files) with
 * *out NULL and a NUL-terminated message naming one of the two files on failure; a loaded
 * dataset is dense 1 x h x w with finite values and labels below nclass, and where the plain
 * content is known here it matches the header (n, h, w, limit), the pixels (raw norm) and the
 * labels byte for byte. */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "data.h"
#include "fuzz_memfd.h"

#include "fuzz_check.h"

/* gzip data[0..len) at level into a malloc'd buffer. */
static uint8_t *gzip(const uint8_t *data, size_t len, int level, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    FUZZ_CHECK(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    uint8_t *out = malloc(cap);
    FUZZ_CHECK(out);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static uint32_t be32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int is_gzip(const uint8_t *b, size_t len) {
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* Write one file (compressed here if asked); *plain = the content the reader should see, or
 * NULL if it is a gzip stream of the input's own. */
static void put(fuzz_file *f, const char *name, const uint8_t *b, size_t len, int compress,
                int level, const uint8_t **plain) {
    if (compress) {
        size_t zl;
        uint8_t *z = gzip(b, len, level, &zl);
        fuzz_file_set(f, name, z, zl);
        free(z);
        *plain = b;
    } else {
        fuzz_file_set(f, name, b, len);
        *plain = is_gzip(b, len) ? NULL : b;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file fimg, flab;
    fuzz_limit_allocations();
    static const int nclasses[4] = {0, 3, 10, 255};
    static const size_t limits[4] = {0, 1, 3, 1000};
    if (size < 3 || size > 12288) /* at most ~12 MiB unzipped: 50 MiB as floats */
        return 0;
    uint8_t h = data[0];
    size_t rest = size - 3;
    size_t split = ((size_t)data[1] | (size_t)data[2] << 8) % (rest + 1);
    const uint8_t *img = data + 3, *lab = data + 3 + split;
    size_t ilen = split, llen = rest - split;
    const uint8_t *pimg, *plab;
    put(&fimg, "images", img, ilen, h & 1, (h >> 2) % 10, &pimg);
    put(&flab, "labels", lab, llen, (h >> 1) & 1, (h >> 4) % 10, &plab);

    data_idx_opts o = {0};
    o.norm = (data_norm)(((h >> 2) & 3) == 3 ? 2 : (h >> 2) & 3);
    o.nclass = nclasses[(h >> 4) & 3];
    o.limit = limits[(h >> 6) & 3];

    dataset *d = (dataset *)0x1;
    qsgd_err err;
    memset(&err, 0, sizeof err);
    int rc = data_idx_load(fimg.path, flab.path, &o, &d, &err);
    FUZZ_CHECK(rc == QSGD_OK || rc == QSGD_EFORMAT);
    if (rc != QSGD_OK) {
        FUZZ_CHECK(d == NULL);
        FUZZ_CHECK(err.code == rc);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
        FUZZ_CHECK(strstr(err.msg, fimg.path) || strstr(err.msg, flab.path));
        return 0;
    }
    FUZZ_CHECK(d && d->layout == DATA_DENSE && d->x && d->label && !d->target);
    int nclass = o.nclass ? o.nclass : 10;
    FUZZ_CHECK(d->shape.nclass == nclass && d->shape.channels == 1);
    FUZZ_CHECK(d->shape.dim == d->shape.height * d->shape.width && d->shape.dim >= 1);
    FUZZ_CHECK(d->n >= 1);
    for (size_t i = 0; i < d->n; i++)
        FUZZ_CHECK(d->label[i] >= 0 && d->label[i] < nclass);
    for (size_t i = 0; i < d->n * d->shape.dim; i++)
        FUZZ_CHECK(isfinite(d->x[i]));
    if (pimg) { /* the plain images file: header and (raw) pixels */
        FUZZ_CHECK(ilen >= 16 && be32(pimg) == 0x803);
        size_t n = be32(pimg + 4);
        FUZZ_CHECK(d->shape.height == be32(pimg + 8) && d->shape.width == be32(pimg + 12));
        FUZZ_CHECK(d->n == (o.limit && o.limit < n ? o.limit : n));
        FUZZ_CHECK(ilen == 16 + n * d->shape.dim);
        if (o.norm == DATA_NORM_RAW)
            for (size_t i = 0; i < d->n * d->shape.dim; i++)
                FUZZ_CHECK(d->x[i] == (float)pimg[16 + i]);
    }
    if (plab) {
        FUZZ_CHECK(llen >= 8 && be32(plab) == 0x801);
        for (size_t i = 0; i < d->n; i++)
            FUZZ_CHECK(d->label[i] == plab[8 + i]);
    }
    dataset_free(d);
    return 0;
}
