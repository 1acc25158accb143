/* sim_codec.c — one worker's gradient message: every tensor encoded by its quantizer
 * (the requested one, or fp32 below the size threshold), behind a small header. See
 * sim.h for the layout. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

int sim_encode_overflowed(const quant *q, const float *v) {
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

int sim_is_overflow_marker(const uint8_t *msg, size_t len) {
    double loss;
    if (len < 12)
        return 0;
    memcpy(&loss, msg, 8);
    return loss == -INFINITY && sim_get_u32(msg + 8) == UINT32_MAX;
}

/* The marker in place of a message of `len` bytes (len >= the header). */
static void write_marker(uint8_t *msg, size_t len) {
    double ninf = -INFINITY;
    memset(msg, 0, len);
    memcpy(msg, &ninf, 8);
    sim_put_u32(msg + 8, UINT32_MAX);
}

void sim_codec_free(sim_codec *c) {
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

sim_codec *sim_codec_alloc(const model *m, const char *spec, size_t min_numel, quant_err *err) {
    quant_spec qs;
    if (quant_spec_parse(spec, &qs, err) != QUANT_OK)
        return NULL;
    sim_codec *c = calloc(1, sizeof *c);
    if (!c) {
        quant_fail(err, QUANT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    c->ntensors = m->ntensors;
    c->q = calloc(m->ntensors, sizeof *c->q);
    c->offset = calloc(m->ntensors, sizeof *c->offset);
    c->numel = calloc(m->ntensors, sizeof *c->numel);
    size_t largest = 1;
    for (size_t t = 0; t < m->ntensors; t++)
        largest = m->tensors[t].numel > largest ? m->tensors[t].numel : largest;
    c->tmp = malloc(largest * sizeof(float));
    if (!c->q || !c->offset || !c->numel || !c->tmp) {
        sim_codec_free(c);
        quant_fail(err, QUANT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    c->max_bytes = 8 + 4 * m->ntensors;
    c->fixed_size = 1;
    c->fixed_len = 8 + 4 * m->ntensors;
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *mt = &m->tensors[t];
        size_t rows = mt->ndim > 1 ? mt->shape[0] : 1;
        size_t cols = mt->numel / rows;
        /* a lossless type (fp32) is sent as fp32 on every tensor */
        int quantized = mt->numel >= min_numel && !quant_spec_lossless(&qs);
        c->q[t] = quantized ? quant_alloc(qs.name, &qs.params, rows, cols, err)
                            : quant_alloc("fp32", NULL, rows, cols, err);
        if (!c->q[t]) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            msg[sizeof msg - 1] = '\0';
            snprintf(err->msg, sizeof err->msg, "tensor %.31s: %.200s", mt->name, msg);
            sim_codec_free(c);
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

int sim_codec_describe(const sim_codec *c, char *buf, size_t len) {
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

int sim_codec_encode(sim_codec *c, const float *grad, double loss, uint64_t seed, uint32_t worker,
                     uint32_t step, uint8_t *msg, size_t cap, size_t *len, uint64_t *bits,
                     quant_err *err) {
    size_t hdr = 8 + 4 * c->ntensors;
    if (cap < hdr)
        return quant_fail(err, QUANT_ENOSPC, 0, "message buffer too small");
    memcpy(msg, &loss, 8);
    size_t off = hdr;
    uint64_t total = 8ull * hdr;
    for (size_t t = 0; t < c->ntensors; t++) {
        quant_ctx ctx = {seed, worker, step, (uint32_t)t};
        uint64_t nb;
        int rc = quant_encode(c->q[t], grad + c->offset[t], &ctx, msg + off, cap - off, &nb, err);
        if (rc && sim_encode_overflowed(c->q[t], grad + c->offset[t])) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            quant_fail(err, SIM_EOVERFLOW, 0, "tensor %zu: %.200s", t, why);
            *len = c->fixed_size ? c->fixed_len : hdr;
            if (*len > cap)
                return quant_fail(err, QUANT_ENOSPC, 0, "message buffer too small");
            write_marker(msg, *len);
            *bits = 8ull * *len;
            return SIM_EOVERFLOW;
        }
        if (rc)
            return rc;
        if (nb >= UINT32_MAX) /* 0xFFFFFFFF marks an overflow (see SIM_EOVERFLOW) */
            return quant_fail(err, QUANT_EINVAL, 0, "tensor %zu message exceeds 2^32 - 2 bits", t);
        sim_put_u32(msg + 8 + 4 * t, (uint32_t)nb);
        off += (size_t)((nb + 7) / 8);
        total += nb;
    }
    *len = off;
    *bits = total;
    return QUANT_OK;
}

int sim_codec_decode_add(sim_codec *c, const uint8_t *msg, size_t len, float *acc, double *loss,
                         quant_err *err) {
    size_t hdr = 8 + 4 * c->ntensors;
    if (len < hdr)
        return quant_fail(err, QUANT_ECORRUPT, 8ull * len, "message of %zu bytes has no header",
                          len);
    memcpy(loss, msg, 8);
    if (sim_is_overflow_marker(msg, len)) {
        *loss = -INFINITY;
        return QUANT_OK;
    }
    size_t off = hdr;
    for (size_t t = 0; t < c->ntensors; t++) {
        uint64_t nb = sim_get_u32(msg + 8 + 4 * t);
        size_t bytes = (size_t)((nb + 7) / 8);
        if (bytes > len - off)
            return quant_fail(err, QUANT_ECORRUPT, 8ull * off,
                              "tensor %zu: %llu bits announced, %zu bytes left", t,
                              (unsigned long long)nb, len - off);
        int rc = quant_decode(c->q[t], msg + off, bytes, nb, c->tmp, err);
        if (rc)
            return rc;
        float *a = acc + c->offset[t];
        for (size_t i = 0; i < c->numel[t]; i++)
            a[i] += c->tmp[i];
        off += bytes;
    }
    if (off != len)
        return quant_fail(err, QUANT_ECORRUPT, 8ull * off, "%zu trailing bytes in message",
                          len - off);
    return QUANT_OK;
}
