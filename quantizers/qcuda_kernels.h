/* qcuda_kernels.h — the per-item bodies of the GPU codec (qcuda.h), shared by the CUDA
 * kernels (qcuda.cu: one thread per item, grid-stride) and the host emulation
 * (qcuda_core.c: a loop over the items). Internal to quantizers/.
 *
 * Every body computes one independent item (a bucket lane, a bucket, a group of 32
 * coordinates, one output byte or one coordinate) and writes only that item's outputs, so
 * the order in which items run never matters: the emulation's loop and the GPU's threads give
 * the same bytes. Errors are reported by lowering *bad to a key that orders them as the CPU
 * quantizer meets them (qk_min), so the smallest key is the error the CPU would report.
 *
 * Arithmetic is that of the CPU quantizers, operation for operation, with explicit
 * round-to-nearest intrinsics on the GPU (no FMA contraction; qcuda.cu is also compiled with
 * --fmad=false) — see quant_qsgd.c, qsgd_kernels.c (qsgd_norm_l2: 8 double lanes, each
 * sequential, then a fixed tree, then the tail) and quant_onebit.c. */
#ifndef QSGDSIM_QCUDA_KERNELS_H
#define QSGDSIM_QCUDA_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "qrng.h"

#if defined(__CUDACC__)
#define QK_HD __host__ __device__ static inline
#else
#define QK_HD static inline
#endif

/* IEEE round-to-nearest float/double operations, never contracted into FMAs. */
#if defined(__CUDA_ARCH__)
#define QK_FMUL(a, b) __fmul_rn((a), (b))
#define QK_FADD(a, b) __fadd_rn((a), (b))
#define QK_FSUB(a, b) __fsub_rn((a), (b))
#define QK_FDIV(a, b) __fdiv_rn((a), (b))
#define QK_DMUL(a, b) __dmul_rn((a), (b))
#define QK_DADD(a, b) __dadd_rn((a), (b))
#define QK_DDIV(a, b) __ddiv_rn((a), (b))
#define QK_MIN_U64(p, v) atomicMin((unsigned long long *)(p), (unsigned long long)(v))
#define QK_UNROLL _Pragma("unroll")
#else
#define QK_UNROLL
#define QK_FMUL(a, b) ((float)(a) * (float)(b))
#define QK_FADD(a, b) ((float)(a) + (float)(b))
#define QK_FSUB(a, b) ((float)(a) - (float)(b))
#define QK_FDIV(a, b) ((float)(a) / (float)(b))
#define QK_DMUL(a, b) ((double)(a) * (double)(b))
#define QK_DADD(a, b) ((double)(a) + (double)(b))
#define QK_DDIV(a, b) ((double)(a) / (double)(b))
#define QK_MIN_U64(p, v)                                                                           \
    do {                                                                                           \
        unsigned long long qk_v_ = (unsigned long long)(v);                                        \
        if (qk_v_ < *(p))                                                                          \
            *(p) = qk_v_;                                                                          \
    } while (0)
#endif

#define QK_NONE 0xFFFFFFFFFFFFFFFFull /* *bad when nothing went wrong */
#define QK_LANES 9                    /* l2/max norm: 8 strided lanes + the tail */
#define QK_FLT_MAX 3.40282347e38f

/* The items' kernels. */
enum qk_kernel {
    QK_QSGD_LANES,  /* nb * 9 items: partial sums (l2) or maxima (max) of one bucket lane */
    QK_QSGD_NORMS,  /* nb: combine the lanes -> norm, its bytes in the message; bad = bucket */
    QK_QSGD_ENCODE, /* ceil(n/32): 32 coordinates -> 4w bytes of codes */
    QK_QSGD_DNORMS, /* nb: read and check a bucket norm; bad = 2 * first coordinate */
    QK_QSGD_DECODE, /* ceil(n/32): 32 codes -> values (out may be NULL: check only);
                       bad = 2 * coordinate + 1 */
    QK_OB_G,        /* n: g = v + residual; bad = index of a non-finite g */
    QK_OB_STATS,    /* G: one group's means m0, m1 (sequential double sums) + message bytes */
    QK_OB_BITS,     /* ceil(n/8): one byte of sign bits */
    QK_OB_FINISH,   /* n: residual = g - decoded (or 0 without feedback) */
    QK_OB_DCHECK,   /* G: check m0, m1 of the message; bad = group */
    QK_OB_DECODE,   /* n: one value from its bit and its group's bytes */
    QK_FP32_ENCODE, /* n: big-endian float bytes */
    QK_FP32_DECODE, /* n */
    QK_NKERNELS
};

/* Everything a body may read or write. Pointers are device pointers on the GPU, host
 * pointers in the emulation. */
typedef struct qk_args {
    uint64_t n;  /* coordinates */
    uint64_t d;  /* qsgd bucket / onebit bucket (vectors) */
    uint64_t nb; /* qsgd buckets / onebit groups */
    uint64_t rows, cols;
    uint32_t s, w;           /* qsgd levels and code width */
    int norm_max;            /* qsgd: 1 = max norm */
    int columns;             /* onebit: groups are matrix columns */
    int feedback;            /* onebit: keep the residual */
    int add;                 /* decode kernels: out += value instead of out = value */
    qrng_stream st;          /* qsgd randomness of this encode */
    const float *v;          /* [n] input */
    float *out;              /* [n] decoded values (decode), optional */
    uint8_t *buf;            /* message being written (encode) */
    const uint8_t *msg;      /* message being read (decode) */
    double *lanes;           /* [nb * 9] */
    float *norms;            /* [nb] */
    float *residual;         /* [n] onebit state */
    float *g;                /* [n] onebit g + residual */
    float *m0, *m1;          /* [nb] onebit means */
    unsigned long long *bad; /* the smallest error key, QK_NONE if none */
    int word_store;          /* 1: buf is 4-byte aligned; the GPU may store 32-bit words */
} qk_args;

QK_HD uint32_t qk_float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

QK_HD float qk_bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

QK_HD void qk_put_be32(uint8_t *p, uint32_t u) {
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

QK_HD uint32_t qk_get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

QK_HD int qk_isfinite_f(float x) {
    return fabsf(x) <= QK_FLT_MAX;
}

QK_HD int qk_isfinite_d(double x) {
    return fabs(x) <= 1.7976931348623157e308;
}

/* Bytes of the QSGD code region / onebit bit region. */
QK_HD uint64_t qk_code_bytes(const qk_args *a) {
    return (a->n * a->w + 7) / 8;
}

/* ---- QSGD encode -------------------------------------------------------------------------- */

/* Lane l (0..7) of bucket b: sum over j = l, l + 8, ... < len8 of v^2 (l2) or max |v| (max);
 * lane 8: the tail [len8, len). len8 = len rounded down to a multiple of 8, exactly as
 * qsgd_norm_l2 / qsgd_norm_max. max: a non-finite |v| makes the lane NaN. */
QK_HD void qk_qsgd_lanes(const qk_args *a, uint64_t item) {
    uint64_t b = item / QK_LANES, l = item % QK_LANES;
    uint64_t b0 = b * a->d, len = (b0 + a->d <= a->n) ? a->d : a->n - b0;
    uint64_t len8 = len - len % 8;
    const float *v = a->v + b0;
    uint64_t j0 = l < 8 ? l : len8, jend = l < 8 ? len8 : len, step = l < 8 ? 8 : 1;
    if (!a->norm_max) {
        double acc = 0;
        for (uint64_t j = j0; j < jend; j += step)
            acc = QK_DADD(acc, QK_DMUL((double)v[j], (double)v[j]));
        a->lanes[item] = acc;
    } else {
        float m = 0;
        int bad = 0;
        for (uint64_t j = j0; j < jend; j += step) {
            float x = fabsf(v[j]);
            bad |= !(x <= QK_FLT_MAX);
            m = x > m ? x : m;
        }
        a->lanes[item] = bad ? (double)NAN : (double)m;
    }
}

QK_HD void qk_qsgd_norms(const qk_args *a, uint64_t b) {
    const double *L = a->lanes + b * QK_LANES;
    float norm;
    int finite;
    if (!a->norm_max) {
        double s = QK_DADD(QK_DADD(QK_DADD(L[0], L[4]), QK_DADD(L[1], L[5])),
                           QK_DADD(QK_DADD(L[2], L[6]), QK_DADD(L[3], L[7])));
        s = QK_DADD(s, L[8]);
        finite = qk_isfinite_d(s);
        norm = (float)sqrt(s);
    } else {
        float r = 0;
        finite = 1;
        for (int l = 0; l < QK_LANES; l++) {
            if (L[l] != L[l]) /* NaN: a non-finite value */
                finite = 0;
            else
                r = (float)L[l] > r ? (float)L[l] : r;
        }
        norm = r;
    }
    if (!finite || !qk_isfinite_f(norm)) {
        QK_MIN_U64(a->bad, b);
        norm = 0; /* never sent: the encode fails */
    }
    a->norms[b] = norm;
    if (a->buf)
        qk_put_be32(a->buf + 4 * b, qk_float_bits(norm));
}

/* The code of coordinate i (qsgd_levels_ref; the double path for subnormal norms). */
QK_HD uint32_t qk_qsgd_code(const qk_args *a, uint64_t i, uint32_t r) {
    float norm = a->norms[i / a->d];
    if (!(norm > 0.0f))
        return 0;
    const uint32_t s = a->s, signbit = 1u << (a->w - 1);
    float vi = a->v[i];
    float scale = QK_FDIV((float)s, norm);
    uint32_t level;
    if (qk_isfinite_f(scale)) {
        float x = QK_FMUL(fabsf(vi), scale);
        float fl = floorf(x);
        float p = QK_FSUB(x, fl);
        level = (uint32_t)fl + (qrng_uniform(r) < p ? 1u : 0u);
    } else { /* norm is subnormal: s / norm overflows; scale in double, as the CPU */
        double x = QK_DDIV(QK_DMUL(fabs((double)vi), (double)s), (double)norm);
        double fl = floor(x);
        level = (uint32_t)fl + (qrng_uniform(r) < x - fl ? 1u : 0u);
    }
    if (level > s)
        level = s;
    return level | ((vi < 0.0f && level) ? signbit : 0u);
}

/* Group G: coordinates 32G .. 32G+31. Coordinate i = 32G + k takes word k/8 of the Philox
 * block with counter {8G + k%8, tensor, step, worker} (qrng.h). Its codes fill the 4w bytes
 * at 4 nb + 4 w G; bytes past the code region are not written. */
QK_HD void qk_qsgd_encode(const qk_args *a, uint64_t G) {
    uint32_t blk[8][4]; /* fully unrolled loops below: constant indices, kept in registers */
    QK_UNROLL
    for (uint32_t l = 0; l < 8; l++) {
        uint32_t ctr[4] = {(uint32_t)(8 * G + l), a->st.ctr1, a->st.ctr2, a->st.ctr3};
        qrng_philox4x32_10(ctr, a->st.key, blk[l]);
    }
    const unsigned w = a->w;
    const uint64_t i0 = 32 * G, cb = qk_code_bytes(a);
    uint8_t *dst = a->buf + 4 * a->nb + 4 * (uint64_t)w * G;
    const uint64_t nbytes =
        (cb - 4 * (uint64_t)w * G) < 4 * (uint64_t)w ? cb - 4 * (uint64_t)w * G : 4 * (uint64_t)w;
    uint64_t acc = 0; /* pending bits, right-aligned */
    unsigned have = 0, out = 0;
#if defined(__CUDA_ARCH__)
    const int words = a->word_store && nbytes == 4 * (uint64_t)w;
    uint32_t wacc = 0;
#endif
    QK_UNROLL
    for (unsigned k = 0; k < 32; k++) {
        uint64_t i = i0 + k;
        uint32_t c = i < a->n ? qk_qsgd_code(a, i, blk[k % 8][k / 8]) : 0u;
        acc = (acc << w) | c;
        have += w;
        while (have >= 8) {
            uint8_t byte = (uint8_t)(acc >> (have - 8));
            have -= 8;
#if defined(__CUDA_ARCH__)
            if (words) {
                wacc = (wacc << 8) | byte;
                if ((out & 3) == 3)
                    ((uint32_t *)dst)[out >> 2] = __byte_perm(wacc, 0, 0x0123);
                out++;
                continue;
            }
#endif
            if (out < nbytes)
                dst[out] = byte;
            out++;
        }
    }
}

/* ---- QSGD decode -------------------------------------------------------------------------- */

QK_HD void qk_qsgd_dnorms(const qk_args *a, uint64_t b) {
    float norm = qk_bits_float(qk_get_be32(a->msg + 4 * b));
    if (!(norm >= 0.0f) || !qk_isfinite_f(norm))
        QK_MIN_U64(a->bad, 2 * (b * a->d));
    if (a->norms)
        a->norms[b] = norm;
}

/* Code i of the code region (w bits MSB-first). */
QK_HD uint32_t qk_qsgd_get_code(const qk_args *a, uint64_t i) {
    const uint8_t *src = a->msg + 4 * a->nb;
    uint64_t bit = i * a->w, byte = bit >> 3;
    unsigned off = (unsigned)(bit & 7), need = off + a->w; /* <= 23 bits: 3 bytes */
    uint32_t x = 0;
    unsigned got = 0;
    for (uint64_t k = byte; got < need; k++, got += 8)
        x = (x << 8) | src[k];
    return (x >> (got - need)) & ((1u << a->w) - 1);
}

QK_HD void qk_qsgd_decode(const qk_args *a, uint64_t G) {
    if (a->add && *a->bad != QK_NONE) /* the check pass found an error: add nothing */
        return;
    const uint32_t s = a->s, w = a->w, lmask = (1u << (w - 1)) - 1;
    uint64_t i0 = 32 * G, iend = i0 + 32 < a->n ? i0 + 32 : a->n;
    for (uint64_t i = i0; i < iend; i++) {
        uint32_t c = qk_qsgd_get_code(a, i), level = c & lmask, neg = c >> (w - 1);
        if (level > s || (neg && level == 0)) {
            QK_MIN_U64(a->bad, 2 * i + 1);
            return;
        }
        if (!a->out)
            continue;
        float norm =
            a->norms ? a->norms[i / a->d] : qk_bits_float(qk_get_be32(a->msg + 4 * (i / a->d)));
        float unit = QK_FDIV(norm, (float)s);
        float val = QK_FMUL((float)level, unit);
        val = neg ? -val : val;
        a->out[i] = a->add ? QK_FADD(a->out[i], val) : val;
    }
}

/* ---- onebit ----------------------------------------------------------------------------- */

QK_HD void qk_ob_g(const qk_args *a, uint64_t i) {
    float g = QK_FADD(a->v[i], a->residual[i]);
    if (!(fabsf(g) <= QK_FLT_MAX))
        QK_MIN_U64(a->bad, i);
    a->g[i] = g;
}

QK_HD void qk_ob_stats(const qk_args *a, uint64_t b) {
    double s0 = 0, s1 = 0;
    uint64_t c1 = 0, cnt;
    if (a->columns) {
        for (uint64_t r = 0; r < a->rows; r++) {
            float g = a->g[r * a->cols + b], gp = fmaxf(g, 0.0f);
            s1 = QK_DADD(s1, (double)gp);
            s0 = QK_DADD(s0, (double)QK_FSUB(g, gp));
            c1 += g >= 0.0f;
        }
        cnt = a->rows;
    } else {
        uint64_t b0 = b * a->d, bend = b0 + a->d < a->n ? b0 + a->d : a->n;
        for (uint64_t i = b0; i < bend; i++) {
            float g = a->g[i], gp = fmaxf(g, 0.0f);
            s1 = QK_DADD(s1, (double)gp);
            s0 = QK_DADD(s0, (double)QK_FSUB(g, gp));
            c1 += g >= 0.0f;
        }
        cnt = bend - b0;
    }
    uint64_t c0 = cnt - c1;
    float m0 = c0 ? (float)QK_DDIV(s0, (double)c0) : 0.0f;
    float m1 = c1 ? (float)QK_DDIV(s1, (double)c1) : 0.0f;
    a->m0[b] = m0;
    a->m1[b] = m1;
    qk_put_be32(a->buf + 8 * b, qk_float_bits(m0));
    qk_put_be32(a->buf + 8 * b + 4, qk_float_bits(m1));
}

QK_HD void qk_ob_bits(const qk_args *a, uint64_t j) {
    uint32_t byte = 0;
    for (unsigned k = 0; k < 8; k++) {
        uint64_t i = 8 * j + k;
        byte = (byte << 1) | (i < a->n ? (uint32_t)(a->g[i] >= 0.0f) : 0u);
    }
    a->buf[8 * a->nb + j] = (uint8_t)byte;
}

QK_HD uint64_t qk_ob_group(const qk_args *a, uint64_t i) {
    return a->columns ? i % a->cols : i / a->d;
}

QK_HD void qk_ob_finish(const qk_args *a, uint64_t i) {
    if (*a->bad != QK_NONE) /* a non-finite g: the residual stays as it was */
        return;
    float g = a->g[i];
    uint64_t b = qk_ob_group(a, i);
    float dec = g >= 0.0f ? a->m1[b] : a->m0[b];
    if (a->out)
        a->out[i] = dec;
    a->residual[i] = a->feedback ? QK_FSUB(g, dec) : 0.0f;
}

QK_HD void qk_ob_dcheck(const qk_args *a, uint64_t b) {
    float m0 = qk_bits_float(qk_get_be32(a->msg + 8 * b));
    float m1 = qk_bits_float(qk_get_be32(a->msg + 8 * b + 4));
    if (!qk_isfinite_f(m0) || !qk_isfinite_f(m1) || m0 > 0.0f || m1 < 0.0f)
        QK_MIN_U64(a->bad, b);
}

QK_HD void qk_ob_decode(const qk_args *a, uint64_t i) {
    if (*a->bad != QK_NONE) /* invalid means: nothing is written */
        return;
    const uint8_t *bits = a->msg + 8 * a->nb;
    int one = (bits[i >> 3] >> (7 - (i & 7))) & 1;
    float val = qk_bits_float(qk_get_be32(a->msg + 8 * qk_ob_group(a, i) + (one ? 4 : 0)));
    a->out[i] = a->add ? QK_FADD(a->out[i], val) : val;
}

/* ---- fp32 --------------------------------------------------------------------------------- */

QK_HD void qk_fp32_encode(const qk_args *a, uint64_t i) {
    qk_put_be32(a->buf + 4 * i, qk_float_bits(a->v[i]));
}

QK_HD void qk_fp32_decode(const qk_args *a, uint64_t i) {
    float val = qk_bits_float(qk_get_be32(a->msg + 4 * i));
    a->out[i] = a->add ? QK_FADD(a->out[i], val) : val;
}

/* One item of kernel k. */
QK_HD void qk_run_item(int k, const qk_args *a, uint64_t item) {
    switch (k) {
    case QK_QSGD_LANES:
        qk_qsgd_lanes(a, item);
        break;
    case QK_QSGD_NORMS:
        qk_qsgd_norms(a, item);
        break;
    case QK_QSGD_ENCODE:
        qk_qsgd_encode(a, item);
        break;
    case QK_QSGD_DNORMS:
        qk_qsgd_dnorms(a, item);
        break;
    case QK_QSGD_DECODE:
        qk_qsgd_decode(a, item);
        break;
    case QK_OB_G:
        qk_ob_g(a, item);
        break;
    case QK_OB_STATS:
        qk_ob_stats(a, item);
        break;
    case QK_OB_BITS:
        qk_ob_bits(a, item);
        break;
    case QK_OB_FINISH:
        qk_ob_finish(a, item);
        break;
    case QK_OB_DCHECK:
        qk_ob_dcheck(a, item);
        break;
    case QK_OB_DECODE:
        qk_ob_decode(a, item);
        break;
    case QK_FP32_ENCODE:
        qk_fp32_encode(a, item);
        break;
    case QK_FP32_DECODE:
        qk_fp32_decode(a, item);
        break;
    default:
        break;
    }
}

#endif
