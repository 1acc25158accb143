/* grad_codec.c — one worker's gradient message: every tensor encoded by its quantizer (the
 * requested one, or fp32 below the size threshold), behind a small header; the codec of
 * both `qsgdsim train` and the distributed trainer. See grad_codec.h for the layout. */
#include "grad_codec.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int no_quant(const char *spec) {
    return !spec || !*spec || !strcmp(spec, "none");
}

int grad_codec_overflowed(const quant *q, const float *v) {
    const float *res = quant_residual(q);
    double ss = 0;
    for (size_t i = 0; i < q->n; i++) {
        float x = res ? v[i] + res[i] : v[i]; /* what onebit encodes, in the same precision */
        if (!isfinite(x))
            return 1;
        ss += (double)x * (double)x;
    }
    return !(sqrt(ss) <= (double)FLT_MAX);
}

int grad_codec_is_marker(const uint8_t *msg, size_t len) {
    double loss;
    if (len < 12)
        return 0;
    memcpy(&loss, msg, 8);
    return loss == -INFINITY && grad_codec_get_u32(msg + 8) == UINT32_MAX;
}

void grad_codec_write_marker(uint8_t *msg, size_t len, size_t ntensors) {
    double ninf = -INFINITY;
    (void)ntensors; /* the header's length: len >= 8 + 4 ntensors */
    memset(msg, 0, len);
    memcpy(msg, &ninf, 8);
    grad_codec_put_u32(msg + 8, UINT32_MAX);
}

size_t grad_codec_header_bytes(const grad_codec *c) {
    return 8 + 4 * c->ntensors;
}

void grad_codec_free(grad_codec *c) {
    if (!c)
        return;
    for (size_t t = 0; c->q && t < c->ntensors; t++)
        quant_free(c->q[t]);
    free(c->q);
    free(c->offset);
    free(c->numel);
    free(c->tmp);
    free(c);
}

grad_codec *grad_codec_alloc(const model *m, const char *spec, size_t min_numel, qsgd_err *err) {
    quant_spec qs;
    int lossless = no_quant(spec);
    if (!lossless) {
        if (quant_spec_parse(spec, &qs, err) != QSGD_OK)
            return NULL;
        lossless = quant_spec_lossless(&qs);
    }
    grad_codec *c = calloc(1, sizeof *c);
    if (!c) {
        QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "out of memory");
        return NULL;
    }
    size_t nt = m->ntensors;
    c->ntensors = nt;
    c->q = calloc(nt ? nt : 1, sizeof *c->q);
    c->offset = calloc(nt ? nt : 1, sizeof *c->offset);
    c->numel = calloc(nt ? nt : 1, sizeof *c->numel);
    size_t largest = 1;
    for (size_t t = 0; t < nt; t++)
        largest = m->tensors[t].numel > largest ? m->tensors[t].numel : largest;
    c->tmp = malloc(largest * sizeof(float));
    if (!c->q || !c->offset || !c->numel || !c->tmp) {
        grad_codec_free(c);
        QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "out of memory");
        return NULL;
    }
    c->max_bytes = grad_codec_header_bytes(c);
    c->fixed_size = 1;
    c->fixed_len = grad_codec_header_bytes(c);
    for (size_t t = 0; t < nt; t++) {
        const model_tensor *mt = &m->tensors[t];
        size_t rows = mt->ndim > 1 ? mt->shape[0] : 1;
        size_t cols = rows ? mt->numel / rows : mt->numel;
        /* a lossless type (fp32) is sent as fp32 on every tensor */
        int quantized = mt->numel >= min_numel && !lossless;
        c->q[t] = quantized ? quant_alloc(qs.name, &qs.params, rows, cols, err)
                            : quant_alloc("fp32", NULL, rows, cols, err);
        if (!c->q[t]) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            msg[sizeof msg - 1] = '\0';
            snprintf(err->msg, sizeof err->msg, "tensor %.31s (%zu x %zu): %.200s", mt->name, rows,
                     cols, msg);
            grad_codec_free(c);
            return NULL;
        }
        c->offset[t] = mt->offset;
        c->numel[t] = mt->numel;
        c->max_bytes += quant_max_bytes(c->q[t]);
        c->fixed_len += (size_t)((quant_max_bits(c->q[t]) + 7) / 8); /* exact if fixed_size */
        if (quantized) {
            c->nquantized++;
            c->quantized_numel += mt->numel;
            if (!quant_spec_fixed_size(&qs))
                c->fixed_size = 0;
        }
    }
    return c;
}

int grad_codec_describe(const grad_codec *c, char *buf, size_t len) {
    size_t total = 0;
    for (size_t t = 0; t < c->ntensors; t++)
        total += c->numel[t];
    char q[160] = "fp32";
    for (size_t t = 0; t < c->ntensors; t++)
        if (!c->q[t]->type->lossless) {
            quant_describe(c->q[t], q, sizeof q);
            break;
        }
    int w = snprintf(buf, len, "%s on %zu of %zu tensors (%.2f%% of %zu parameters), others fp32",
                     q, c->nquantized, c->ntensors,
                     total ? 100.0 * (double)c->quantized_numel / (double)total : 0.0, total);
    return w < 0 || (size_t)w >= len;
}

int grad_codec_encode(grad_codec *c, const float *grad, double loss, uint64_t seed, uint32_t worker,
                      uint32_t step, uint8_t *msg, size_t cap, size_t *len, uint64_t *bits,
                      qsgd_err *err) {
    size_t hdr = grad_codec_header_bytes(c);
    if (cap < hdr)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "message buffer too small");
    memcpy(msg, &loss, 8);
    size_t off = hdr;
    uint64_t total = 8ull * hdr;
    for (size_t t = 0; t < c->ntensors; t++) {
        quant_ctx ctx = {seed, worker, step, (uint32_t)t};
        uint64_t nb;
        int rc = quant_encode(c->q[t], grad + c->offset[t], &ctx, msg + off, cap - off, &nb, err);
        if (rc && grad_codec_overflowed(c->q[t], grad + c->offset[t])) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            QSGD_FAIL_BIT(err, GRAD_CODEC_EOVERFLOW, 0, "tensor %zu: %.200s", t, why);
            *len = c->fixed_size ? c->fixed_len : hdr;
            if (*len > cap)
                return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "message buffer too small");
            grad_codec_write_marker(msg, *len, c->ntensors);
            *bits = 8ull * *len;
            return GRAD_CODEC_EOVERFLOW;
        }
        if (rc)
            return rc;
        if (nb >= UINT32_MAX) /* 0xFFFFFFFF marks an overflow */
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "tensor %zu message exceeds 2^32 - 2 bits",
                                 t);
        grad_codec_put_u32(msg + 8 + 4 * t, (uint32_t)nb);
        off += (size_t)((nb + 7) / 8);
        total += nb;
    }
    *len = off;
    *bits = total;
    return QSGD_OK;
}

/* Decode msg[len] into v[nparams]: added to it (add) or written in place. */
static int decode(grad_codec *c, const uint8_t *msg, size_t len, float *v, int add, double *loss,
                  qsgd_err *err) {
    size_t hdr = grad_codec_header_bytes(c);
    if (len < hdr)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 8ull * len, "message of %zu bytes has no header",
                             len);
    memcpy(loss, msg, 8);
    if (grad_codec_is_marker(msg, len)) {
        *loss = -INFINITY;
        return QSGD_OK;
    }
    size_t off = hdr;
    for (size_t t = 0; t < c->ntensors; t++) {
        uint64_t nb = grad_codec_get_u32(msg + 8 + 4 * t);
        size_t bytes = (size_t)((nb + 7) / 8);
        if (bytes > len - off)
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 8ull * off,
                                 "tensor %zu: %llu bits announced, %zu bytes left", t,
                                 (unsigned long long)nb, len - off);
        float *a = v + c->offset[t];
        int rc = quant_decode(c->q[t], msg + off, bytes, nb, add ? c->tmp : a, err);
        if (rc)
            return rc;
        if (add)
            for (size_t i = 0; i < c->numel[t]; i++)
                a[i] += c->tmp[i];
        off += bytes;
    }
    if (off != len)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 8ull * off, "%zu trailing bytes in message",
                             len - off);
    return QSGD_OK;
}

int grad_codec_decode_add(grad_codec *c, const uint8_t *msg, size_t len, float *acc, double *loss,
                          qsgd_err *err) {
    return decode(c, msg, len, acc, 1, loss, err);
}

int grad_codec_votes(const grad_codec *c) {
    for (size_t t = 0; t < c->ntensors; t++)
        if (c->q[t]->type->aggregate == QUANT_AGG_VOTE)
            return 1;
    return 0;
}

void grad_codec_aggregate(const grad_codec *c, const float *acc, int count, float *out) {
    float inv = 1.0f / (float)count;
    for (size_t t = 0; t < c->ntensors; t++) {
        const float *a = acc + c->offset[t];
        float *o = out + c->offset[t];
        size_t n = c->numel[t];
        if (c->q[t]->type->aggregate == QUANT_AGG_VOTE)
            for (size_t i = 0; i < n; i++)
                o[i] = a[i] > 0 ? 1.0f : a[i] < 0 ? -1.0f : 0.0f;
        else
            for (size_t i = 0; i < n; i++)
                o[i] = a[i] * inv;
    }
}

int grad_codec_roundtrip(grad_codec *c, const float *grad, float *out, uint64_t seed,
                         uint32_t worker, uint32_t step, uint8_t *msg, size_t cap, uint64_t *bits,
                         qsgd_err *err) {
    size_t len;
    uint64_t nb;
    double loss;
    int rc = grad_codec_encode(c, grad, 0.0, seed, worker, step, msg, cap, &len, &nb, err);
    if (rc)
        return rc;
    if ((rc = decode(c, msg, len, out, 0, &loss, err)))
        return rc;
    *bits = nb - 8ull * grad_codec_header_bytes(c);
    return QSGD_OK;
}
