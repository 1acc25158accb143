/* quant.h — public API of the gradient quantizer library (quantizers/).
 *
 * A quantizer maps one float32 tensor (a flat gradient, or one tensor of it) to a bit
 * message and back. Quantizers are type tables found by name in a registry (quant_types()):
 *   fp32    uncompressed baseline, 32 bits per coordinate
 *   qsgd    QSGD stochastic quantizer (Alistarh et al., NIPS 2017) with s levels, buckets,
 *           l2 or max norm, and two wire formats: "elias" (the paper's sparse code) and
 *           "dense" (one float scale per bucket + fixed-width sign|level per coordinate)
 *   onebit  1-bit SGD with error feedback (Seide et al. 2014)
 *
 * Level convention (QSGD). A quantizer has s >= 1 uniformly spaced levels in [0, 1]; a
 * coordinate is sent as a sign and an integer level 0..s. "bits = b" is shorthand for
 * s = 2^(b-1) - 1, the largest s whose sign+level fits in b bits, so a dense b-bit code is
 * exactly b bits per coordinate (b = 8 -> s = 127, b = 4 -> s = 7, b = 2 -> s = 1, ternary).
 * The paper's "b bits" examples use s = 2^b instead; give s explicitly to reproduce them.
 *
 * Threading and state: a quant object is used by one thread at a time. It owns its
 * workspace (allocated once in quant_alloc; encode/decode never allocate) and, for stateful
 * quantizers (onebit), the error-feedback residual. There is no global mutable state.
 *
 * Randomness: every random draw is a pure function of (ctx.seed, ctx.worker, ctx.step,
 * ctx.tensor, coordinate index) through a counter-based generator (Philox4x32-10, see
 * qrng.h), so the same inputs and context give identical bits on every run and platform.
 *
 * Messages: bits are written MSB-first into bytes; nbits is the exact number of meaningful
 * bits (the last byte is zero-padded). A message carries no header: both ends construct
 * the quantizer with the same name, parameters and shape.
 */
#ifndef QSGDSIM_QUANT_H
#define QSGDSIM_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "qsgd_err.h" /* the one error type: qsgd_err, QSGD_OK, QSGD_E*, QSGD_FAIL */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum quant_norm { QUANT_NORM_L2 = 0, QUANT_NORM_MAX = 1 } quant_norm;
typedef enum quant_format { QUANT_FMT_DENSE = 0, QUANT_FMT_ELIAS = 1 } quant_format;

/* Options of a quantizer. Zero-initialise, then set what you need (or parse a spec).
 * Unused fields are ignored by quantizers that have no such option. */
typedef struct quant_params {
    unsigned s;          /* qsgd: number of levels (>= 1); 0 = derive from bits */
    unsigned bits;       /* qsgd: shorthand, s = 2^(bits-1) - 1 (2..16); ignored if s > 0 */
    size_t bucket;       /* qsgd, onebit (vectors): bucket size d; 0 = whole tensor */
    quant_norm norm;     /* qsgd: l2 (default) or max (QSGDinf) */
    quant_format format; /* qsgd: dense (default) or elias */
    int no_feedback;     /* onebit: 1 = plain sign quantization, residual dropped */
    /* Options of every other type: each keeps its own options struct in this space, so
     * that a new quantizer is one file (its struct, its option rows, its type table) and
     * one registry line, and this header does not change. Rows address a field with
     * QUANT_EXT_OFFSET(struct, field); code reads the struct with QUANT_EXT(params, struct);
     * QUANT_EXT_FITS(struct) checks at compile time that it fits. */
    union {
        unsigned char bytes[128];
        double d_;   /* alignment for any scalar field */
        uint64_t u_; /* ditto */
        void *p_;    /* ditto */
    } ext;
} quant_params;

#define QUANT_EXT_OFFSET(type, field) (offsetof(quant_params, ext) + offsetof(type, field))
#define QUANT_EXT(params, type) ((type *)(void *)(params)->ext.bytes)
#define QUANT_EXT_CONST(params, type) ((const type *)(const void *)(params)->ext.bytes)
#define QUANT_EXT_FITS(type)                                                                       \
    _Static_assert(sizeof(type) <= sizeof(((quant_params *)0)->ext.bytes),                         \
                   #type " does not fit in quant_params.ext")

/* A parsed quantizer spec "name[:key=value,...]", e.g. "qsgd:bits=4,bucket=512,norm=max,
 * format=elias". The keys a type accepts are its option table (quant_type.opts): qsgd s
 * (alias levels), bits (b), bucket (d), norm (l2|max, alias inf), format (dense|elias);
 * onebit bucket (d), feedback (1|0); fp32 none. */
typedef struct quant_spec {
    char name[32];
    quant_params params;
    uint64_t given; /* bit i set: row i of the type's option table was given */
} quant_spec;

/* Randomness context of one encode: generator key material. */
typedef struct quant_ctx {
    uint64_t seed;   /* experiment seed */
    uint32_t worker; /* rank */
    uint32_t step;   /* iteration */
    uint32_t tensor; /* tensor index within the model */
} quant_ctx;

typedef struct quant quant; /* an instance: type + parameters + shape + workspace + state */

struct qsgd_opt; /* an option row (common/qsgd_opt.h) */

/* Type table of one quantizer. Implementations live in quant_<name>.c; adding one is one
 * file plus one line in the registry (quant_core.c). Function pointers are required unless
 * marked optional. Callers learn what a type does from these fields, never from its name. */
typedef struct quant_type {
    const char *name;
    const char *summary; /* one line */
    /* The options: rows {name, aliases, kind, offsetof(quant_params, field), range or
     * choices, default, help} ending with a row whose name is NULL (qsgd_opt.h); NULL = no
     * options. Parsing, describing and listing are generic over it. Checks across options
     * (qsgd's s vs bits) and against the shape are init's. */
    const struct qsgd_opt *opts;
    int stateful; /* 1 if encode carries state across steps (error feedback) */
    int lossless; /* 1 if decode(encode(v)) == v bit for bit (fp32): sent uncompressed,
                     summable by an all-reduce, the baseline of speedups */
    /* Optional: 1 if messages of these parameters vary in length (qsgd format=elias); NULL
     * or 0: every message is exactly max_bits (double buffering needs that). */
    int (*variable_length)(const quant_params *p);
    /* Optional: a short figure label of a parsed spec; level 0 is the shortest, level 1
     * adds detail. NULL: the name followed by the options given. Returns 0, or -1 when
     * truncated. */
    int (*label)(const quant_spec *s, int level, char *out, size_t len);
    /* Validate q->params for q's shape, fill derived fields, allocate q->impl. */
    int (*init)(quant *q, qsgd_err *err);
    void (*fini)(quant *q);
    /* Upper bound on the bits any encode of this instance writes. */
    uint64_t (*max_bits)(const quant *q);
    /* Q(v) written as floats, without encoding (reference semantics; updates state like
     * encode does). out may not alias v. */
    int (*quantize)(quant *q, const float *v, const quant_ctx *ctx, float *out, qsgd_err *err);
    int (*encode)(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                  uint64_t *nbits, qsgd_err *err);
    /* buf holds len bytes; nbits <= 8 * len is checked by quant_decode before the call. */
    int (*decode)(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                  qsgd_err *err);
    /* Optional (stateful types): zero the state; the residual vector (length n). */
    void (*reset)(quant *q);
    const float *(*residual)(const quant *q);
    /* Optional claims, checked on random vectors by `qsgdsim stats` (docs/compressors-stats.md);
     * NULL = unknown. C is one encode + decode from a reset state.
     * unbiased: 1 if E[C(v)] = v for every v with these parameters, 0 if not.
     * variance_bound: a bound on E||C(v) - v||^2 / ||v||^2 valid for every v != 0 for this
     *   instance (its resolved parameters and shape), NAN when none is known.
     * bits_bound: variable-length formats, a bound on the expected bits of a message tighter
     *   than max_bits (qsgd format=elias: Theorem 3.2), NAN when none is known. */
    int (*unbiased)(const quant_params *p);
    double (*variance_bound)(const quant *q);
    double (*bits_bound)(const quant *q);
    /* Optional: how a receiver combines the decoded messages of several workers (the
     * trainer's decode-and-average, grad_codec_aggregate): QUANT_AGG_AVERAGE (0, the
     * default) their mean; QUANT_AGG_VOTE the sign of their sum, a majority vote (signsgd:
     * Bernstein et al. 2019), which a summing collective cannot compute hop by hop. */
    int aggregate;
    /* Optional: the GPU codec (qcuda.h) whose kernels write and read this type's messages
     * bit for bit like encode/decode: QUANT_GPU_NONE (0, the default) none, the type stays
     * on the CPU. The GPU driver picks its kernels from this field, never from the name, so
     * a new type with one of these wire formats is one row. Messages of variable length
     * (variable_length) stay on the CPU whatever it says: the kernels write fixed sizes. */
    int gpu_codec;
    /* Optional: how --exchange allreduce carries this type: QUANT_AR_REQUANT (0, the
     * default) the requantizing ring (ex_allreduce.c; stateless averaging types only: the
     * settings refuse the others); QUANT_AR_POWER the power-iteration all-reduce of PowerSGD
     * (sim/ex_allreduce_powersgd.c: every worker's P and Q' summed by the fp32 ring between
     * the phases of quant_powersgd.h; the error feedback stays per worker). */
    int allreduce;
} quant_type;

enum { QUANT_AGG_AVERAGE = 0, QUANT_AGG_VOTE = 1 }; /* quant_type.aggregate */
enum { QUANT_AR_REQUANT = 0, QUANT_AR_POWER = 1 };  /* quant_type.allreduce */
/* quant_type.gpu_codec: the wire formats the GPU codec implements (qcuda_kernels.h). */
enum {
    QUANT_GPU_NONE = 0,
    QUANT_GPU_FP32 = 1,   /* raw big-endian floats (fp32) */
    QUANT_GPU_QSGD = 2,   /* QSGD dense: bucket norms + fixed-width codes (qsgd format=dense) */
    QUANT_GPU_ONEBIT = 3, /* 1-bit SGD: two means per group + sign bits, error feedback */
    QUANT_GPU_COUNT = 4,  /* number of values (not a codec) */
};

/* The instance. Public so that implementations in other files can reach it; callers use
 * the functions below and treat it as read-only. */
struct quant {
    const quant_type *type;
    quant_params params; /* as resolved by init (s filled in for qsgd, bucket clamped) */
    size_t rows, cols;   /* shape: rows x cols, row-major; a vector has rows = 1 */
    size_t n;            /* rows * cols */
    void *impl;          /* implementation-private workspace and state */
};

/* --- registry ------------------------------------------------------------------------ */
const quant_type *const *quant_types(void); /* NULL-terminated list */
const quant_type *quant_type_find(const char *name);

/* Parse "name[:key=value,...]". Unknown names and keys are errors naming the valid ones. */
int quant_spec_parse(const char *spec, quant_spec *out, qsgd_err *err);
/* Canonical spec string of an instance, e.g. "qsgd:s=7,bucket=512,norm=l2,format=dense":
 * every option of its table in row order with its resolved value, except shorthands
 * (qsgd's bits); just the name for a type without options. */
int quant_describe(const quant *q, char *buf, size_t len);
/* Properties of a parsed spec, from its type's table (see quant_type). */
int quant_spec_lossless(const quant_spec *s);
int quant_spec_fixed_size(const quant_spec *s); /* !variable_length */
/* Figure label of a spec string (see quant_type.label). Returns 0, or -1 when the spec does
 * not parse or the label is truncated. */
int quant_spec_label(const char *spec, int level, char *out, size_t len);
/* One line listing a type's options, e.g. "s=LEVELS, bits=B, ..." ("none" without). */
int quant_type_usage(const quant_type *t, char *buf, size_t len);

/* --- instances ----------------------------------------------------------------------- */
/* Create a quantizer for a rows x cols tensor. p NULL: the defaults of the type's option
 * table. Returns NULL and fills err on failure. */
quant *quant_alloc(const char *name, const quant_params *p, size_t rows, size_t cols,
                   qsgd_err *err);
quant *quant_alloc_spec(const char *spec, size_t rows, size_t cols, qsgd_err *err);
void quant_free(quant *q); /* NULL is fine */
/* Reset state (error-feedback residual) to zero. */
void quant_reset(quant *q);

uint64_t quant_max_bits(const quant *q);
size_t quant_max_bytes(const quant *q); /* (max_bits + 7) / 8, plus 8 bytes of slack */

int quant_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out, qsgd_err *err);
int quant_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                 uint64_t *nbits, qsgd_err *err);
/* Decode a message of nbits bits held in buf[0 .. len). A message that is truncated,
 * corrupt, or longer than the quantizer can produce (trailing bits), or nbits > 8 * len,
 * returns QSGD_ECORRUPT with err->bit at the offending bit offset; out is then unspecified
 * but nothing outside buf[0..len) and out[0..n) is touched. */
int quant_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                 qsgd_err *err);

/* onebit only: the current residual (length n), NULL for stateless quantizers. */
const float *quant_residual(const quant *q);

#ifdef __cplusplus
}
#endif
#endif /* QSGDSIM_QUANT_H */
