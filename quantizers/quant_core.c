/* quant_core.c — the quantizer registry, spec parsing, instance lifetime and the checked
 * entry points (quant_encode/quant_decode) shared by all quantizer types. */
#include "quant.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const quant_type quant_type_fp32;
extern const quant_type quant_type_qsgd;
extern const quant_type quant_type_onebit;

/* The registry: adding a quantizer is one file plus one line here. */
static const quant_type *const registry[] = {
    &quant_type_fp32,
    &quant_type_qsgd,
    &quant_type_onebit,
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

int quant_fail(quant_err *err, int code, uint64_t bit, const char *fmt, ...) {
    if (err) {
        err->code = code;
        err->bit = bit;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void valid_names(char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; registry[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", registry[i]->name);
}

static int parse_ulong(const char *key, const char *val, unsigned long max, unsigned long *out,
                       quant_err *err) {
    char *end;
    errno = 0;
    if (*val == '-' || *val == '\0')
        return quant_fail(err, QUANT_EINVAL, 0, "option %s: '%s' is not a non-negative integer",
                          key, val);
    unsigned long v = strtoul(val, &end, 10);
    if (errno || *end != '\0' || v > max)
        return quant_fail(err, QUANT_EINVAL, 0, "option %s: '%s' is not an integer in [0, %lu]",
                          key, val, max);
    *out = v;
    return QUANT_OK;
}

int quant_spec_parse(const char *spec, quant_spec *out, quant_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec)
        return quant_fail(err, QUANT_EINVAL, 0, "empty quantizer spec");
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    char names[128];
    valid_names(names, sizeof names);
    if (nlen == 0 || nlen >= sizeof out->name)
        return quant_fail(err, QUANT_EINVAL, 0,
                          "bad quantizer spec '%s' (expected NAME[:key=value,...], NAME one of %s)",
                          spec, names);
    memcpy(out->name, spec, nlen);
    out->name[nlen] = '\0';
    const quant_type *t = quant_type_find(out->name);
    if (!t)
        return quant_fail(err, QUANT_EINVAL, 0, "unknown quantizer '%s' (valid: %s)", out->name,
                          names);
    if (!colon || colon[1] == '\0')
        return QUANT_OK;

    char opts[256];
    if (strlen(colon + 1) >= sizeof opts)
        return quant_fail(err, QUANT_EINVAL, 0, "quantizer options too long: '%s'", colon + 1);
    strcpy(opts, colon + 1);
    quant_params *p = &out->params;
    char *save = NULL;
    for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return quant_fail(err, QUANT_EINVAL, 0,
                              "quantizer %s: option '%s' is not key=value (options: %s)", t->name,
                              kv, t->options);
        *eq = '\0';
        const char *key = kv, *val = eq + 1;
        unsigned long v;
        int rc;
        if (strcmp(key, "s") == 0 || strcmp(key, "levels") == 0) {
            if ((rc = parse_ulong(key, val, 1u << 30, &v, err)))
                return rc;
            p->s = (unsigned)v;
        } else if (strcmp(key, "bits") == 0 || strcmp(key, "b") == 0) {
            if ((rc = parse_ulong(key, val, 64, &v, err)))
                return rc;
            p->bits = (unsigned)v;
        } else if (strcmp(key, "bucket") == 0 || strcmp(key, "d") == 0) {
            if ((rc = parse_ulong(key, val, (unsigned long)-1, &v, err)))
                return rc;
            p->bucket = (size_t)v;
        } else if (strcmp(key, "norm") == 0) {
            if (strcmp(val, "l2") == 0)
                p->norm = QUANT_NORM_L2;
            else if (strcmp(val, "max") == 0 || strcmp(val, "inf") == 0)
                p->norm = QUANT_NORM_MAX;
            else
                return quant_fail(err, QUANT_EINVAL, 0, "option norm: '%s' (valid: l2, max)", val);
        } else if (strcmp(key, "format") == 0) {
            if (strcmp(val, "dense") == 0)
                p->format = QUANT_FMT_DENSE;
            else if (strcmp(val, "elias") == 0)
                p->format = QUANT_FMT_ELIAS;
            else
                return quant_fail(err, QUANT_EINVAL, 0, "option format: '%s' (valid: dense, elias)",
                                  val);
        } else if (strcmp(key, "feedback") == 0) {
            if ((rc = parse_ulong(key, val, 1, &v, err)))
                return rc;
            p->no_feedback = v ? 0 : 1;
        } else {
            return quant_fail(err, QUANT_EINVAL, 0,
                              "quantizer %s: unknown option '%s' (options: %s)", t->name, key,
                              t->options);
        }
    }
    return QUANT_OK;
}

quant *quant_alloc(const char *name, const quant_params *p, size_t rows, size_t cols,
                   quant_err *err) {
    char names[128];
    const quant_type *t = name ? quant_type_find(name) : NULL;
    if (!t) {
        valid_names(names, sizeof names);
        quant_fail(err, QUANT_EINVAL, 0, "unknown quantizer '%s' (valid: %s)",
                   name ? name : "(null)", names);
        return NULL;
    }
    if (rows == 0 || cols == 0 || rows > ((size_t)1 << 40) / cols) {
        quant_fail(err, QUANT_EINVAL, 0, "quantizer %s: bad tensor shape %zu x %zu", name, rows,
                   cols);
        return NULL;
    }
    quant *q = calloc(1, sizeof *q);
    if (!q) {
        quant_fail(err, QUANT_ENOMEM, 0, "out of memory");
        return NULL;
    }
    q->type = t;
    if (p)
        q->params = *p;
    q->rows = rows;
    q->cols = cols;
    q->n = rows * cols;
    if (t->init(q, err) != QUANT_OK) {
        free(q);
        return NULL;
    }
    return q;
}

quant *quant_alloc_spec(const char *spec, size_t rows, size_t cols, quant_err *err) {
    quant_spec s;
    if (quant_spec_parse(spec, &s, err) != QUANT_OK)
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

int quant_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out, quant_err *err) {
    return q->type->quantize(q, v, ctx, out, err);
}

int quant_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                 uint64_t *nbits, quant_err *err) {
    *nbits = 0;
    return q->type->encode(q, v, ctx, buf, cap, nbits, err);
}

int quant_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                 quant_err *err) {
    if (len > (UINT64_MAX >> 3) || nbits > (uint64_t)len * 8)
        return quant_fail(err, QUANT_ECORRUPT, (uint64_t)len * 8,
                          "%s message claims %llu bits but its buffer holds %zu bytes",
                          q->type->name, (unsigned long long)nbits, len);
    return q->type->decode(q, buf, len, nbits, out, err);
}

int quant_describe(const quant *q, char *buf, size_t len) {
    const quant_params *p = &q->params;
    int w;
    if (strcmp(q->type->name, "qsgd") == 0)
        w = snprintf(buf, len, "qsgd:s=%u,bucket=%zu,norm=%s,format=%s", p->s, p->bucket,
                     p->norm == QUANT_NORM_MAX ? "max" : "l2",
                     p->format == QUANT_FMT_ELIAS ? "elias" : "dense");
    else if (strcmp(q->type->name, "onebit") == 0)
        w = snprintf(buf, len, "onebit:bucket=%zu,feedback=%d", p->bucket, !p->no_feedback);
    else
        w = snprintf(buf, len, "%s", q->type->name);
    return (w < 0 || (size_t)w >= len) ? QUANT_EINVAL : QUANT_OK;
}
