/* sim_stripes.c — the data side of 1-bit SGD's CNTK aggregation ("stripes"): rank j owns
 * stripe j (a range of columns) of every tensor. Each rank quantizes stripe j of its
 * gradient with a quantizer whose error-feedback residual is kept per (tensor, stripe) and
 * sends it to rank j; rank j decodes the K pieces, averages them, quantizes the average
 * again with a second residual and sends that to everyone; all decode the K stripes into
 * the full averaged gradient. Each gradient is quantized twice (Seide et al. 2014).
 * The MPI calls (all-to-all-v, all-gather-v) are the trainer's; see sim.h for the API. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* An overflow marker (grad_codec.h) of T tensors: the header alone (stripes messages have
 * their lengths exchanged). Returns its length. */
static size_t stripes_marker(uint8_t *out, size_t T) {
    grad_codec_write_marker(out, 8 + 4 * T, T);
    return 8 + 4 * T;
}

void sim_stripes_free(sim_stripes *s) {
    if (!s)
        return;
    for (size_t i = 0; s->q1 && i < s->ntensors * (size_t)s->K; i++)
        quant_free(s->q1[i]);
    for (size_t t = 0; s->q2 && t < s->ntensors; t++)
        quant_free(s->q2[t]);
    free(s->q1);
    free(s->q2);
    free(s->rows);
    free(s->cols);
    free(s->off);
    free(s->c0);
    free(s->buf);
    free(s->sum);
    free(s->dec);
    free(s);
}

/* columns [c0, c1) of stripe j of a tensor with `cols` columns */
static size_t bound(size_t cols, int K, int j) {
    return cols * (size_t)j / (size_t)K;
}

sim_stripes *sim_stripes_alloc(const model *m, const char *spec, size_t min_numel, int K, int me,
                               qsgd_err *err) {
    quant_spec qs;
    if (quant_spec_parse(spec, &qs, err) != QSGD_OK)
        return NULL;
    sim_stripes *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->K = K;
    s->me = me;
    s->ntensors = m->ntensors;
    size_t T = m->ntensors;
    s->q1 = calloc(T * (size_t)K, sizeof *s->q1);
    s->q2 = calloc(T, sizeof *s->q2);
    s->rows = calloc(T, sizeof *s->rows);
    s->cols = calloc(T, sizeof *s->cols);
    s->off = calloc(T, sizeof *s->off);
    s->c0 = calloc(T * ((size_t)K + 1), sizeof *s->c0);
    if (!s->q1 || !s->q2 || !s->rows || !s->cols || !s->off || !s->c0)
        goto oom;
    size_t largest = 1;
    s->max_msg = (8 + 4 * T) * (size_t)K;
    s->max_msg2 = 8 + 4 * T;
    for (size_t t = 0; t < T; t++) {
        const model_tensor *mt = &m->tensors[t];
        s->rows[t] = mt->ndim > 1 ? mt->shape[0] : 1;
        s->cols[t] = mt->numel / s->rows[t];
        s->off[t] = mt->offset;
        largest = mt->numel > largest ? mt->numel : largest;
        int quantized = mt->numel >= min_numel && !quant_spec_lossless(&qs);
        size_t widest = 0;
        for (int j = 0; j <= K; j++)
            s->c0[t * ((size_t)K + 1) + (size_t)j] = bound(s->cols[t], K, j);
        for (int j = 0; j < K; j++) {
            size_t w = bound(s->cols[t], K, j + 1) - bound(s->cols[t], K, j);
            widest = w > widest ? w : widest;
            if (w == 0)
                continue;
            quant **q = &s->q1[t * (size_t)K + (size_t)j];
            *q = quantized ? quant_alloc(qs.name, &qs.params, s->rows[t], w, err)
                           : quant_alloc("fp32", NULL, s->rows[t], w, err);
            if (!*q)
                goto fail;
            s->max_msg += quant_max_bytes(*q);
            if (j == me) {
                s->q2[t] = quantized ? quant_alloc(qs.name, &qs.params, s->rows[t], w, err)
                                     : quant_alloc("fp32", NULL, s->rows[t], w, err);
                if (!s->q2[t])
                    goto fail;
            }
        }
        /* a second-stage message of any owner fits the widest stripe's bound */
        size_t wmax_bytes = 0;
        for (int j = 0; j < K; j++) {
            quant *q = s->q1[t * (size_t)K + (size_t)j];
            if (q && quant_max_bytes(q) > wmax_bytes)
                wmax_bytes = quant_max_bytes(q);
        }
        s->max_msg2 += wmax_bytes;
        (void)widest;
    }
    s->buf = malloc(largest * sizeof(float));
    s->sum = malloc(largest * sizeof(float));
    s->dec = malloc(largest * sizeof(float));
    if (!s->buf || !s->sum || !s->dec)
        goto oom;
    return s;
oom:
    QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "stripes: out of memory");
fail:
    sim_stripes_free(s);
    return NULL;
}

/* stripe j of tensor t of v into dst (rows x w, row-major) */
static void gather(const sim_stripes *s, size_t t, int j, const float *v, float *dst) {
    size_t a = s->c0[t * ((size_t)s->K + 1) + (size_t)j],
           b = s->c0[t * ((size_t)s->K + 1) + (size_t)j + 1];
    size_t w = b - a, C = s->cols[t];
    const float *src = v + s->off[t];
    for (size_t r = 0; r < s->rows[t]; r++)
        memcpy(dst + r * w, src + r * C + a, w * sizeof(float));
}

static void scatter(const sim_stripes *s, size_t t, int j, const float *src, float *v) {
    size_t a = s->c0[t * ((size_t)s->K + 1) + (size_t)j],
           b = s->c0[t * ((size_t)s->K + 1) + (size_t)j + 1];
    size_t w = b - a, C = s->cols[t];
    float *dst = v + s->off[t];
    for (size_t r = 0; r < s->rows[t]; r++)
        memcpy(dst + r * C + a, src + r * w, w * sizeof(float));
}

/* The message for rank j: [nbits of each tensor: uint32][payloads, byte-aligned]: stripe j
 * of every tensor of grad, encoded by this rank's first-stage quantizer of that stripe. */
static int encode_for(sim_stripes *s, int j, const float *grad, double loss, uint64_t seed,
                      uint32_t step, uint8_t *out, size_t cap, size_t *len, uint64_t *bits,
                      qsgd_err *err) {
    size_t T = s->ntensors, off = 8 + 4 * T;
    uint64_t total = 8ull * off;
    memcpy(out, &loss, 8);
    out += 8;
    cap -= 8;
    off -= 8;
    for (size_t t = 0; t < T; t++) {
        quant *q = s->q1[t * (size_t)s->K + (size_t)j];
        uint64_t nb = 0;
        if (q) {
            gather(s, t, j, grad, s->buf);
            quant_ctx ctx = {seed, (uint32_t)s->me, step, (uint32_t)t << 16 | (uint32_t)j};
            int rc = quant_encode(q, s->buf, &ctx, out + off, cap - off, &nb, err);
            if (rc && grad_codec_overflowed(q, s->buf)) {
                char why[sizeof err->msg];
                snprintf(why, sizeof why, "%s", err->msg);
                return QSGD_FAIL_BIT(err, GRAD_CODEC_EOVERFLOW, 0, "tensor %zu (stripe %d): %.200s",
                                     t, j, why);
            }
            if (rc)
                return rc;
            if (nb >= UINT32_MAX)
                return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                     "tensor %zu message exceeds 2^32 - 2 bits", t);
        }
        grad_codec_put_u32(out + 4 * t, (uint32_t)nb);
        off += (size_t)((nb + 7) / 8);
        total += nb;
    }
    *len = off + 8;
    *bits = total;
    return QSGD_OK;
}

int sim_stripes_encode(sim_stripes *s, const float *grad, double loss, uint64_t seed, uint32_t step,
                       uint8_t *out, size_t cap_each, int *counts, int *displs, uint64_t *bits,
                       qsgd_err *err) {
    *bits = 0;
    size_t pos = 0;
    for (int j = 0; j < s->K; j++) {
        size_t len;
        uint64_t b;
        int rc = encode_for(s, j, grad, loss, seed, step, out + pos, cap_each, &len, &b, err);
        if (rc == GRAD_CODEC_EOVERFLOW) { /* every destination gets a marker */
            *bits = 0;
            for (int k = 0; k < s->K; k++) {
                counts[k] =
                    (int)stripes_marker(out + (size_t)k * (8 + 4 * s->ntensors), s->ntensors);
                displs[k] = k * counts[k];
                if (k != s->me)
                    *bits += 8ull * (uint64_t)counts[k];
            }
            return rc;
        }
        if (rc)
            return rc;
        counts[j] = (int)len;
        displs[j] = (int)pos;
        pos += len;
        if (j != s->me)
            *bits += b;
    }
    return QSGD_OK;
}

int sim_stripes_reduce(sim_stripes *s, const uint8_t *in, const int *counts, const int *displs,
                       uint64_t seed, uint32_t step, uint8_t *out, size_t cap, size_t *len,
                       uint64_t *bits, qsgd_err *err) {
    /* tensor by tensor: average my stripe over the K messages (in rank order), re-quantize */
    size_t T = s->ntensors;
    size_t pos = 4 * T;
    uint64_t total = 8ull * (8 + 4 * T);
    double lsum = 0;
    int marker = 0;
    for (int w = 0; w < s->K; w++) {
        double l;
        if ((size_t)counts[w] < 8 + 4 * T)
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 0, "stripes: message of rank %d has no header",
                                 w);
        memcpy(&l, in + displs[w], 8);
        lsum += l;
        marker |= grad_codec_is_marker(in + displs[w], (size_t)counts[w]);
    }
    if (marker) { /* a worker's gradient overflowed: pass the marker on */
        *len = stripes_marker(out, T);
        *bits = 8ull * *len;
        return QSGD_OK;
    }
    lsum /= s->K;
    memcpy(out, &lsum, 8);
    out += 8;
    cap -= 8;
    for (size_t t = 0; t < T; t++) {
        quant *q = s->q1[t * (size_t)s->K + (size_t)s->me];
        uint64_t nb = 0;
        if (q) {
            memset(s->sum, 0, q->n * sizeof(float));
            for (int w = 0; w < s->K; w++) {
                const uint8_t *msg = in + displs[w] + 8;
                size_t mlen = (size_t)counts[w] - 8, off = 4 * T;
                for (size_t u = 0; u < t; u++)
                    off += (grad_codec_get_u32(msg + 4 * u) + 7) / 8;
                uint64_t mb = grad_codec_get_u32(msg + 4 * t);
                if (off + (mb + 7) / 8 > mlen)
                    return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 8ull * off,
                                         "stripes: rank %d tensor %zu truncated", w, t);
                int rc = quant_decode(q, msg + off, (size_t)((mb + 7) / 8), mb, s->dec, err);
                if (rc)
                    return rc;
                for (size_t i = 0; i < q->n; i++)
                    s->sum[i] += s->dec[i];
            }
            float inv = 1.0f / (float)s->K;
            for (size_t i = 0; i < q->n; i++)
                s->sum[i] *= inv;
            quant_ctx ctx = {seed, (uint32_t)s->me, step,
                             (uint32_t)(1u << 31 | (uint32_t)t << 16 | (uint32_t)s->me)};
            int rc = quant_encode(s->q2[t], s->sum, &ctx, out + pos, cap - pos, &nb, err);
            if (rc && grad_codec_overflowed(s->q2[t], s->sum)) {
                char why[sizeof err->msg];
                snprintf(why, sizeof why, "%s", err->msg);
                *len = stripes_marker(out - 8, T);
                *bits = 8ull * *len;
                return QSGD_FAIL_BIT(err, GRAD_CODEC_EOVERFLOW, 0,
                                     "tensor %zu (average of stripe %d): %.200s", t, s->me, why);
            }
            if (rc)
                return rc;
            if (nb >= UINT32_MAX)
                return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                     "tensor %zu message exceeds 2^32 - 2 bits", t);
        }
        grad_codec_put_u32(out + 4 * t, (uint32_t)nb);
        pos += (size_t)((nb + 7) / 8);
        total += nb;
    }
    *len = pos + 8;
    *bits = total;
    return QSGD_OK;
}

int sim_stripes_assemble(sim_stripes *s, const uint8_t *in, const int *counts, const int *displs,
                         float *avg, double *loss, qsgd_err *err) {
    size_t T = s->ntensors;
    for (int j = 0; j < s->K; j++)
        if (grad_codec_is_marker(in + displs[j], (size_t)counts[j])) {
            *loss = -INFINITY;
            return QSGD_OK;
        }
    for (int j = 0; j < s->K; j++) {
        if ((size_t)counts[j] < 8 + 4 * T)
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 0, "stripes: message of rank %d has no header",
                                 j);
        if (j == 0)
            memcpy(loss, in + displs[j], 8);
        const uint8_t *msg = in + displs[j] + 8;
        size_t mlen = (size_t)counts[j] - 8, off = 4 * T;
        for (size_t t = 0; t < T; t++) {
            quant *q = s->q1[t * (size_t)s->K + (size_t)j];
            uint64_t nb = grad_codec_get_u32(msg + 4 * t);
            size_t bytes = (size_t)((nb + 7) / 8);
            if (!q)
                continue;
            if (off + bytes > mlen)
                return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 8ull * off,
                                     "stripes: rank %d tensor %zu truncated", j, t);
            int rc = quant_decode(q, msg + off, bytes, nb, s->dec, err);
            if (rc)
                return rc;
            scatter(s, t, j, s->dec, avg);
            off += bytes;
        }
    }
    return QSGD_OK;
}
