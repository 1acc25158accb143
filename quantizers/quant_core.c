/* quant_core.c — the quantizer registry, spec parsing, instance lifetime and the checked
 * entry points (quant_encode/quant_decode) shared by all quantizer types. */
#include "quant.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsgd_opt.h"

extern const quant_type quant_type_fp32;
extern const quant_type quant_type_qsgd;
extern const quant_type quant_type_onebit;
extern const quant_type quant_type_topk;
extern const quant_type quant_type_randomk;
extern const quant_type quant_type_fp16;
extern const quant_type quant_type_bf16;
extern const quant_type quant_type_nuqsgd;
extern const quant_type quant_type_natural;
extern const quant_type quant_type_terngrad;
extern const quant_type quant_type_signsgd;
extern const quant_type quant_type_efsignsgd;
extern const quant_type quant_type_mxfp8;
extern const quant_type quant_type_mxfp4;
extern const quant_type quant_type_powersgd;

/* The registry: adding a quantizer is one file plus one line here. */
static const quant_type *const registry[] = {
    &quant_type_fp32,
    &quant_type_qsgd,
    &quant_type_onebit,
    &quant_type_topk,
    &quant_type_randomk,
    &quant_type_fp16,
    &quant_type_bf16,
    &quant_type_nuqsgd,
    &quant_type_natural,
    &quant_type_terngrad,
    &quant_type_signsgd,
    &quant_type_efsignsgd,
    &quant_type_mxfp8,
    &quant_type_mxfp4,
    &quant_type_powersgd,
#ifdef QSGDSIM_EXTRA_QUANT_TYPES /* a variant build's extra registry lines (tests/extend/) */
    QSGDSIM_EXTRA_QUANT_TYPES,
#endif
    NULL,
};

const quant_type *const *quant_types(void) {
    return registry;
}

const quant_type *quant_type_find(const char *name) {
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

static void valid_names(char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; registry[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", registry[i]->name);
}

int quant_spec_parse(const char *spec, quant_spec *out, qsgd_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "empty quantizer spec");
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    char names[128];
    valid_names(names, sizeof names);
    if (nlen == 0 || nlen >= sizeof out->name)
        return QSGD_FAIL_BIT(
            err, QSGD_EINVAL, 0,
            "bad quantizer spec '%s' (expected NAME[:key=value,...], NAME one of %s)", spec, names);
    memcpy(out->name, spec, nlen);
    out->name[nlen] = '\0';
    const quant_type *t = quant_type_find(out->name);
    if (!t)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "unknown quantizer '%s' (valid: %s)", out->name,
                             names);
    char owner[64], msg[sizeof err->msg];
    snprintf(owner, sizeof owner, "quantizer %s", t->name);
    if (qsgd_opt_defaults(t->opts, &out->params, msg, sizeof msg) ||
        qsgd_opt_parse(t->opts, owner, colon ? colon + 1 : NULL, &out->params, &out->given, msg,
                       sizeof msg))
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "%s", msg);
    return QSGD_OK;
}

quant *quant_alloc(const char *name, const quant_params *p, size_t rows, size_t cols,
                   qsgd_err *err) {
    char names[128];
    const quant_type *t = name ? quant_type_find(name) : NULL;
    if (!t) {
        valid_names(names, sizeof names);
        QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "unknown quantizer '%s' (valid: %s)",
                      name ? name : "(null)", names);
        return NULL;
    }
    if (rows == 0 || cols == 0 || rows > ((size_t)1 << 40) / cols) {
        QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "quantizer %s: bad tensor shape %zu x %zu", name, rows,
                      cols);
        return NULL;
    }
    quant *q = calloc(1, sizeof *q);
    if (!q) {
        QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "out of memory");
        return NULL;
    }
    q->type = t;
    if (p) {
        q->params = *p;
    } else {
        char msg[200];
        if (qsgd_opt_defaults(t->opts, &q->params, msg, sizeof msg)) {
            QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "quantizer %s: %s", t->name, msg);
            free(q);
            return NULL;
        }
    }
    q->rows = rows;
    q->cols = cols;
    q->n = rows * cols;
    if (t->init(q, err) != QSGD_OK) {
        free(q);
        return NULL;
    }
    return q;
}

quant *quant_alloc_spec(const char *spec, size_t rows, size_t cols, qsgd_err *err) {
    quant_spec s;
    if (quant_spec_parse(spec, &s, err) != QSGD_OK)
        return NULL;
    return quant_alloc(s.name, &s.params, rows, cols, err);
}

void quant_free(quant *q) {
    if (!q)
        return;
    q->type->fini(q);
    free(q);
}

void quant_reset(quant *q) {
    if (q && q->type->reset)
        q->type->reset(q);
}

const float *quant_residual(const quant *q) {
    return q && q->type->residual ? q->type->residual(q) : NULL;
}

uint64_t quant_max_bits(const quant *q) {
    return q->type->max_bits(q);
}

size_t quant_max_bytes(const quant *q) {
    return (size_t)((quant_max_bits(q) + 7) / 8) + 8;
}

int quant_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out, qsgd_err *err) {
    return q->type->quantize(q, v, ctx, out, err);
}

int quant_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                 uint64_t *nbits, qsgd_err *err) {
    *nbits = 0;
    return q->type->encode(q, v, ctx, buf, cap, nbits, err);
}

int quant_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                 qsgd_err *err) {
    if (len > (UINT64_MAX >> 3) || nbits > (uint64_t)len * 8)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, (uint64_t)len * 8,
                             "%s message claims %llu bits but its buffer holds %zu bytes",
                             q->type->name, (unsigned long long)nbits, len);
    return q->type->decode(q, buf, len, nbits, out, err);
}

int quant_describe(const quant *q, char *buf, size_t len) {
    return qsgd_opt_describe(q->type->opts, q->type->name, &q->params, buf, len) ? QSGD_EINVAL
                                                                                 : QSGD_OK;
}

int quant_spec_lossless(const quant_spec *s) {
    const quant_type *t = quant_type_find(s->name);
    return t && t->lossless;
}

int quant_spec_fixed_size(const quant_spec *s) {
    const quant_type *t = quant_type_find(s->name);
    return t && !(t->variable_length && t->variable_length(&s->params));
}

int quant_type_usage(const quant_type *t, char *buf, size_t len) {
    return qsgd_opt_usage(t->opts, buf, len);
}

/* The label of a type without a label hook: its name, then the options given as written
 * in canonical form ("onebit feedback=0"). */
static int default_label(const quant_type *t, const quant_spec *s, char *out, size_t len) {
    int w = snprintf(out, len, "%s", t->name);
    size_t off = w < 0 ? 0 : (size_t)w;
    char v[160];
    for (size_t i = 0; t->opts && t->opts[i].name && off < len; i++)
        if (i < 64 && (s->given >> i & 1) && !qsgd_opt_format(&t->opts[i], &s->params, v, sizeof v))
            off += (size_t)snprintf(out + off, len - off, " %s=%s", t->opts[i].name, v);
    return off < len ? 0 : -1;
}

int quant_spec_label(const char *spec, int level, char *out, size_t len) {
    quant_spec s;
    qsgd_err e = {0};
    if (len)
        out[0] = '\0';
    if (quant_spec_parse(spec, &s, &e) != QSGD_OK)
        return -1;
    const quant_type *t = quant_type_find(s.name);
    return t->label ? t->label(&s, level, out, len) : default_label(t, &s, out, len);
}
