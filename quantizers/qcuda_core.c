/* qcuda_core.c — the GPU codec's driver (qcuda.h): which kernels run in which order, the
 * CPU quantizers' checks and error messages, and the host emulation backend that runs the
 * same kernel bodies (qcuda_kernels.h) as loops over host memory. The CUDA backend is in
 * qcuda.cu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcuda_private.h"

/* ---- the emulation backend ------------------------------------------------------------------ */

static int emu_alloc(qcuda *g, void **p, size_t bytes, qsgd_err *err) {
    *p = calloc(1, bytes ? bytes : 1);
    return *p ? QSGD_OK
              : QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "qcuda (emulated): out of memory (%zu bytes)",
                              bytes);
}

static void emu_release(qcuda *g, void *p) {
    free(p);
}

static int emu_copy(qcuda *g, void *dst, const void *src, size_t bytes, int kind, qsgd_err *err) {
    memmove(dst, src, bytes);
    return QSGD_OK;
}

static int emu_zero(qcuda *g, void *dst, size_t bytes, qsgd_err *err) {
    memset(dst, 0, bytes);
    return QSGD_OK;
}

static int emu_run(qcuda *g, int kernel, uint64_t nitems, const qk_args *a, qsgd_err *err) {
    for (uint64_t i = 0; i < nitems; i++)
        qk_run_item(kernel, a, i);
    return QSGD_OK;
}

static void emu_destroy(qcuda *g) {}

static const qc_ops emu_ops = {"emulated", emu_alloc, emu_release, emu_copy,
                               emu_zero,   emu_run,   emu_destroy};

/* ---- objects ------------------------------------------------------------------------------- */

static unsigned bitlen(uint32_t x) {
    return x ? 32u - (unsigned)__builtin_clz(x) : 0u;
}

/* What the GPU codec can do is read from the type's table (quant_type.gpu_codec and
 * variable_length), never from its name. */
int qcuda_supported(const quant *q, char *why, size_t len) {
    char who[96];
    snprintf(who, sizeof who, "%s", q && q->type ? q->type->name : "(null)");
    const char *no = NULL;
    if (!q || !q->type) {
        no = "no quantizer";
    } else if (q->type->gpu_codec <= QUANT_GPU_NONE || q->type->gpu_codec >= QUANT_GPU_COUNT) {
        no = "no GPU codec for this quantizer type";
    } else if (q->type->variable_length && q->type->variable_length(&q->params)) {
        /* the instance's options say which one varies (qsgd:...,format=elias) */
        quant_describe(q, who, sizeof who);
        no = "variable-length messages stay on the CPU (the GPU codec writes fixed sizes)";
    } else if (q->n > 0x7FFFFFFFull) {
        no = "more than 2^31-1 coordinates";
    }
    if (no && why && len)
        snprintf(why, len, "%s: %s", who, no);
    return no == NULL;
}

static int ws(qcuda *g, void *pp, size_t bytes, qsgd_err *err) {
    return g->ops->alloc(g, (void **)pp, bytes, err);
}

static qcuda *alloc_common(const quant *q, const qc_ops *ops, int device, void *stream,
                           qsgd_err *err) {
    char why[160];
    if (!qcuda_supported(q, why, sizeof why)) {
        QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qcuda: %s", why);
        return NULL;
    }
    qcuda *g = calloc(1, sizeof *g);
    if (!g) {
        QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "qcuda: out of memory");
        return NULL;
    }
    if (ops) {
        g->ops = ops;
    } else if (qc_cuda_attach(g, device, stream, err) != QSGD_OK) {
        free(g);
        return NULL;
    }
    quant_describe(q, g->name, sizeof g->name);
    qk_args *a = &g->base;
    a->n = q->n;
    a->rows = q->rows;
    a->cols = q->cols;
    const int codec = q->type->gpu_codec; /* one of QUANT_GPU_*: qcuda_supported */
    int rc = QSGD_OK;
    if (codec == QUANT_GPU_FP32) {
        g->type = QC_FP32;
        g->msg_bits = 32ull * q->n;
    } else if (codec == QUANT_GPU_QSGD) {
        g->type = QC_QSGD;
        a->s = q->params.s;
        a->w = 1 + bitlen(a->s);
        a->d = q->params.bucket ? q->params.bucket : q->n; /* init resolved it; be safe */
        a->nb = (q->n + a->d - 1) / a->d;
        a->norm_max = q->params.norm == QUANT_NORM_MAX;
        g->msg_bits = 32ull * a->nb + (uint64_t)q->n * a->w;
        rc = ws(g, &g->lanes, a->nb * QK_LANES * sizeof(double), err);
        if (!rc)
            rc = ws(g, &g->norms, a->nb * sizeof(float), err);
    } else { /* QUANT_GPU_ONEBIT */
        g->type = QC_ONEBIT;
        a->columns = q->rows > 1;
        a->d = a->columns ? 0 : (q->params.bucket ? q->params.bucket : q->n);
        a->nb = a->columns ? q->cols : (q->n + a->d - 1) / a->d;
        a->feedback = !q->params.no_feedback;
        g->msg_bits = 64ull * a->nb + q->n;
        rc = ws(g, &g->residual, q->n * sizeof(float), err);
        if (!rc)
            rc = ws(g, &g->g, q->n * sizeof(float), err);
        if (!rc)
            rc = ws(g, &g->m0, a->nb * sizeof(float), err);
        if (!rc)
            rc = ws(g, &g->m1, a->nb * sizeof(float), err);
        if (!rc)
            rc = qcuda_reset(g, err);
    }
    if (!rc)
        rc = ws(g, &g->bad, sizeof *g->bad, err);
    if (rc) {
        qcuda_free(g);
        return NULL;
    }
    a->lanes = g->lanes;
    a->norms = g->norms;
    a->residual = g->residual;
    a->g = g->g;
    a->m0 = g->m0;
    a->m1 = g->m1;
    a->bad = g->bad;
    return g;
}

qcuda *qcuda_alloc(const quant *q, int device, void *stream, qsgd_err *err) {
    return alloc_common(q, NULL, device, stream, err);
}

qcuda *qcuda_alloc_emulated(const quant *q, qsgd_err *err) {
    return alloc_common(q, &emu_ops, 0, NULL, err);
}

void qcuda_free(qcuda *g) {
    if (!g)
        return;
    void *bufs[] = {g->lanes, g->norms, g->residual, g->g, g->m0, g->m1, g->bad};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            g->ops->release(g, bufs[i]);
    g->ops->destroy(g);
    free(g);
}

const char *qcuda_backend(const qcuda *g) {
    return g ? g->ops->name : "none";
}

uint64_t qcuda_message_bits(const qcuda *g) {
    return g->msg_bits;
}

size_t qcuda_message_bytes(const qcuda *g) {
    return (size_t)((g->msg_bits + 7) / 8);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static int clear_bad(qcuda *g, qsgd_err *err) {
    unsigned long long none = QK_NONE;
    return g->ops->copy(g, g->bad, &none, sizeof none, QC_H2D, err);
}

/* After the kernels (rc: how queuing them went): wait for them and read the error word. */
static int wait_bad(qcuda *g, int rc, unsigned long long *bad, qsgd_err *err) {
    *bad = QK_NONE;
    return rc ? rc : g->ops->copy(g, bad, g->bad, sizeof *bad, QC_D2H, err);
}

static int run(qcuda *g, int k, uint64_t items, const qk_args *a, qsgd_err *err) {
    return items ? g->ops->run(g, k, items, a, err) : QSGD_OK;
}

int qcuda_reset(qcuda *g, qsgd_err *err) {
    if (g->type != QC_ONEBIT)
        return QSGD_OK;
    return g->ops->zero(g, g->residual, g->base.n * sizeof(float), err);
}

int qcuda_residual(const qcuda *g, float *d_out, qsgd_err *err) {
    if (g->type != QC_ONEBIT)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qcuda %s: no residual (stateless quantizer)",
                             g->name);
    return g->ops->copy((qcuda *)g, d_out, g->residual, g->base.n * sizeof(float), QC_D2D, err);
}

/* The first non-finite value of v[i0 .. i1) (device), for the error messages: 1 found (*at,
 * *val), 0 none, -1 a copy failed (err filled). */
static int first_nonfinite(qcuda *g, const float *d_v, uint64_t i0, uint64_t i1, uint64_t *at,
                           float *val, qsgd_err *err) {
    float chunk[1024];
    for (uint64_t i = i0; i < i1; i += 1024) {
        size_t k = (size_t)(i1 - i < 1024 ? i1 - i : 1024);
        if (g->ops->copy(g, chunk, d_v + i, k * sizeof(float), QC_D2H, err))
            return -1;
        for (size_t j = 0; j < k; j++)
            if (!qk_isfinite_f(chunk[j])) {
                *at = i + j;
                *val = chunk[j];
                return 1;
            }
    }
    return 0;
}

/* ---- encode ------------------------------------------------------------------------------ */

static int encode_qsgd(qcuda *g, const float *d_v, const quant_ctx *ctx, uint8_t *d_buf, size_t cap,
                       uint64_t *nbits, qsgd_err *err) {
    qk_args a = g->base;
    a.v = d_v;
    a.buf = d_buf;
    a.word_store = ((uintptr_t)d_buf & 3) == 0;
    a.st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    const int fits = (g->msg_bits + 7) / 8 <= cap;
    if (!fits) /* norms only (they decide between EINVAL and ENOSPC, as on the CPU), no bytes */
        a.buf = NULL;
    int rc = clear_bad(g, err);
    if (!rc)
        rc = run(g, QK_QSGD_LANES, a.nb * QK_LANES, &a, err);
    if (!rc)
        rc = run(g, QK_QSGD_NORMS, a.nb, &a, err);
    if (!rc && fits)
        rc = run(g, QK_QSGD_ENCODE, (a.n + 31) / 32, &a, err);
    unsigned long long bad;
    if ((rc = wait_bad(g, rc, &bad, err)))
        return rc;
    if (bad != QK_NONE) {
        uint64_t b = bad, b0 = b * a.d, b1 = b0 + a.d < a.n ? b0 + a.d : a.n, at = 0;
        float val = 0;
        int found = first_nonfinite(g, d_v, b0, b1, &at, &val, err);
        if (found < 0)
            return err ? err->code : QSGD_EINVAL;
        if (found)
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                 "qsgd: input value %g at index %llu is not finite", (double)val,
                                 (unsigned long long)at);
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "qsgd: the norm of bucket %llu overflows float (values too large)",
                             (unsigned long long)b);
    }
    if (!fits)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "qsgd: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((g->msg_bits + 7) / 8));
    *nbits = g->msg_bits;
    return QSGD_OK;
}

static int encode_onebit(qcuda *g, const float *d_v, uint8_t *d_buf, size_t cap, uint64_t *nbits,
                         qsgd_err *err) {
    if ((g->msg_bits + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "onebit: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((g->msg_bits + 7) / 8));
    qk_args a = g->base;
    a.v = d_v;
    a.buf = d_buf;
    int rc = clear_bad(g, err);
    if (!rc)
        rc = run(g, QK_OB_G, a.n, &a, err);
    if (!rc)
        rc = run(g, QK_OB_STATS, a.nb, &a, err);
    if (!rc)
        rc = run(g, QK_OB_BITS, (a.n + 7) / 8, &a, err);
    if (!rc) /* updates the residual only if QK_OB_G found nothing wrong */
        rc = run(g, QK_OB_FINISH, a.n, &a, err);
    unsigned long long bad;
    if ((rc = wait_bad(g, rc, &bad, err)))
        return rc;
    if (bad != QK_NONE) {
        float val = 0;
        rc = g->ops->copy(g, &val, d_v + bad, sizeof val, QC_D2H, err);
        if (rc)
            return rc;
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "onebit: input value %g (+ residual) at index %llu is not finite",
                             (double)val, (unsigned long long)bad);
    }
    *nbits = g->msg_bits;
    return QSGD_OK;
}

int qcuda_encode(qcuda *g, const float *d_v, const quant_ctx *ctx, uint8_t *d_buf, size_t cap,
                 uint64_t *nbits, qsgd_err *err) {
    *nbits = 0;
    if (g->type == QC_QSGD) {
        if (!ctx)
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qcuda %s: encode needs a quant_ctx",
                                 g->name);
        return encode_qsgd(g, d_v, ctx, d_buf, cap, nbits, err);
    }
    if (g->type == QC_ONEBIT)
        return encode_onebit(g, d_v, d_buf, cap, nbits, err);
    if (cap < 4 * g->base.n)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "fp32: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)(4 * g->base.n));
    qk_args a = g->base;
    a.v = d_v;
    a.buf = d_buf;
    int rc = run(g, QK_FP32_ENCODE, a.n, &a, err);
    unsigned long long bad;
    if ((rc = wait_bad(g, rc, &bad, err)))
        return rc;
    *nbits = g->msg_bits;
    return QSGD_OK;
}

/* ---- decode ------------------------------------------------------------------------------ */

static const char *type_name(const qcuda *g) {
    return g->type == QC_QSGD ? "qsgd dense" : g->type == QC_ONEBIT ? "onebit" : "fp32";
}

static int decode_common(const qcuda *gc, const uint8_t *d_buf, size_t len, uint64_t nbits,
                         float *d_out, int add, qsgd_err *err) {
    qcuda *g = (qcuda *)gc; /* the workspace changes, the codec does not */
    if (len > (UINT64_MAX >> 3) || nbits > (uint64_t)len * 8)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, (uint64_t)len * 8,
                             "%s message claims %llu bits but its buffer holds %zu bytes",
                             g->type == QC_QSGD ? "qsgd" : type_name(g), (unsigned long long)nbits,
                             len);
    const uint64_t want = g->msg_bits;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "%s: message of %llu bits, expected exactly %llu (%s)", type_name(g),
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    qk_args a = g->base;
    a.msg = d_buf;
    a.out = d_out;
    a.add = add;
    int rc = clear_bad(g, err);
    if (g->type == QC_QSGD) {
        qk_args chk = a;
        chk.out = add ? NULL : d_out; /* with add: validate everything before adding */
        chk.add = 0;
        if (!rc)
            rc = run(g, QK_QSGD_DNORMS, a.nb, &chk, err);
        if (!rc)
            rc = run(g, QK_QSGD_DECODE, (a.n + 31) / 32, &chk, err);
        if (!rc && add)
            rc = run(g, QK_QSGD_DECODE, (a.n + 31) / 32, &a, err);
    } else if (g->type == QC_ONEBIT) {
        if (!rc)
            rc = run(g, QK_OB_DCHECK, a.nb, &a, err);
        if (!rc)
            rc = run(g, QK_OB_DECODE, a.n, &a, err);
    } else if (!rc) {
        rc = run(g, QK_FP32_DECODE, a.n, &a, err);
    }
    unsigned long long bad;
    if ((rc = wait_bad(g, rc, &bad, err)) || bad == QK_NONE)
        return rc;
    if (g->type == QC_ONEBIT) {
        uint8_t m[8];
        rc = g->ops->copy(g, m, d_buf + 8 * bad, 8, QC_D2H, err);
        if (rc)
            return rc;
        return QSGD_FAIL_BIT(
            err, QSGD_ECORRUPT, 64ull * bad,
            "onebit: group %llu has invalid reconstruction values (%g, %g) at bit %llu", bad,
            (double)qk_bits_float(qk_get_be32(m)), (double)qk_bits_float(qk_get_be32(m + 4)),
            64ull * bad);
    }
    if (bad % 2 == 0) { /* a bucket norm */
        uint64_t b = bad / 2 / a.d;
        uint8_t m[4];
        rc = g->ops->copy(g, m, d_buf + 4 * b, 4, QC_D2H, err);
        if (rc)
            return rc;
        return QSGD_FAIL_BIT(
            err, QSGD_ECORRUPT, 32ull * b, "qsgd: bucket %llu has invalid norm %g at bit %llu",
            (unsigned long long)b, (double)qk_bits_float(qk_get_be32(m)), 32ull * b);
    }
    uint64_t i = bad / 2, bit = 32ull * a.nb + i * a.w;
    uint8_t m[3] = {0, 0, 0};
    uint64_t byte = bit >> 3, k = len - byte < 3 ? len - byte : 3;
    rc = g->ops->copy(g, m, d_buf + byte, (size_t)k, QC_D2H, err);
    if (rc)
        return rc;
    uint32_t x = (uint32_t)m[0] << 16 | (uint32_t)m[1] << 8 | m[2];
    uint32_t c = (x >> (24 - (bit & 7) - a.w)) & ((1u << a.w) - 1);
    return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, bit,
                         "qsgd dense: coordinate %llu has invalid code %u (s=%u) at bit %llu",
                         (unsigned long long)i, c, a.s, (unsigned long long)bit);
}

int qcuda_decode(const qcuda *g, const uint8_t *d_buf, size_t len, uint64_t nbits, float *d_out,
                 qsgd_err *err) {
    return decode_common(g, d_buf, len, nbits, d_out, 0, err);
}

int qcuda_decode_add(const qcuda *g, const uint8_t *d_buf, size_t len, uint64_t nbits, float *d_out,
                     qsgd_err *err) {
    return decode_common(g, d_buf, len, nbits, d_out, 1, err);
}
