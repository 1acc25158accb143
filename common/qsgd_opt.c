/* qsgd_opt.c — the generic option-schema functions of qsgd_opt.h: parse "k=v,..." into a
 * params struct through a const row table, describe it canonically, print usage and help. */
#include "qsgd_opt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64  /* bytes of a key, with the NUL */
#define VAL_MAX 512 /* bytes of a value, with the NUL (a path) */

static int fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

size_t qsgd_opt_count(const qsgd_opt *t) {
    size_t n = 0;
    while (t && t[n].name)
        n++;
    return n;
}

/* Is key one of the '|'-separated names in list? */
static int in_list(const char *list, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = list; p && *p;) {
        size_t l = strcspn(p, "|");
        if (l == kl && strncmp(p, key, l) == 0)
            return 1;
        p += l + (p[l] == '|');
    }
    return 0;
}

const qsgd_opt *qsgd_opt_find(const qsgd_opt *t, const char *key) {
    for (size_t i = 0; t && t[i].name; i++)
        if (strcmp(t[i].name, key) == 0 || in_list(t[i].aliases, key))
            return &t[i];
    return NULL;
}

static void *field(const qsgd_opt *o, void *params) {
    return (char *)params + o->offset;
}

static const void *cfield(const qsgd_opt *o, const void *params) {
    return (const char *)params + o->offset;
}

/* The canonical choices of an enum row, "a, b". */
static void choice_list(const qsgd_opt *o, const char *sep, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; o->choices && o->choices[i].name && off < len; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = o->choices[j].value == o->choices[i].value;
        if (!dup)
            off +=
                (size_t)snprintf(buf + off, len - off, "%s%s", off ? sep : "", o->choices[i].name);
    }
}

/* An exact non-negative integer written "D[.D][e[+|-]E]" ("6e4", "1.5e3", "60000") into
 * *out. -1 when val is not one: junk, a fraction ("6.5e0"), more than 64 bits. The digits
 * are kept as digits (no double), so every integer is exact. */
static int parse_exp_count(const char *val, unsigned long long *out) {
    char dig[40]; /* significant digits, leading zeros dropped */
    size_t nd = 0;
    long frac = 0, e = 0;
    int any = 0;
    const char *p = val;
    for (int in_frac = 0;; p++) {
        if (*p == '.' && !in_frac) {
            in_frac = 1;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        any = 1;
        frac += in_frac;
        if (nd == 0 && *p == '0')
            continue;
        if (nd == sizeof dig)
            return -1;
        dig[nd++] = *p;
    }
    if (!any)
        return -1;
    if (*p == 'e' || *p == 'E') {
        int neg = p[1] == '-';
        p += 1 + (p[1] == '-' || p[1] == '+');
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            if (e < 100000)
                e = e * 10 + (*p - '0');
        e = neg ? -e : e;
    }
    if (*p != '\0')
        return -1;
    long scale = e - frac; /* value = digits * 10^scale */
    while (scale < 0 && nd > 0 && dig[nd - 1] == '0') {
        nd--;
        scale++;
    }
    unsigned long long v = 0;
    if (nd > 0 && scale < 0)
        return -1; /* a fraction */
    for (size_t i = 0; i < nd; i++) {
        unsigned d = (unsigned)(dig[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    for (; nd > 0 && scale > 0; scale--) {
        if (v > ULLONG_MAX / 10)
            return -1;
        v *= 10;
    }
    *out = v;
    return 0;
}

const char *qsgd_opt_fmt_num(double x, char buf[32]) {
    if (x == floor(x) && fabs(x) < 1e16) { /* integers in full: "1250000000", not "1.25e+09" */
        snprintf(buf, 32, "%.0f", x);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

/* Parse val for row o (key: the name the user wrote) into params. */
static int set_value(const qsgd_opt *o, const char *key, const char *val, void *params, char *err,
                     size_t errlen) {
    switch (o->kind) {
    case QSGD_OPT_UINT:
    case QSGD_OPT_SIZE:
    case QSGD_OPT_BOOL: {
        unsigned long long lo = o->kind == QSGD_OPT_BOOL ? 0 : o->min;
        unsigned long long hi = o->kind == QSGD_OPT_BOOL ? 1 : o->max;
        char *end;
        errno = 0;
        if (*val == '-' || *val == '\0')
            return fail(err, errlen, "option %s: '%s' is not a non-negative integer", key, val);
        unsigned long long v = strtoull(val, &end, 10);
        if ((o->flags & QSGD_OPT_EXP) && o->kind != QSGD_OPT_BOOL && (errno || *end != '\0')) {
            errno = 0;
            if (parse_exp_count(val, &v) == 0)
                end = (char *)val + strlen(val);
            else
                end = (char *)val; /* not an integer: refused below */
        }
        if (errno || *end != '\0' || v < lo || v > hi)
            return fail(err, errlen, "option %s: '%s' is not an integer in [%llu, %llu]", key, val,
                        lo, hi);
        if (o->kind == QSGD_OPT_UINT)
            *(unsigned *)field(o, params) = (unsigned)v;
        else if (o->kind == QSGD_OPT_SIZE)
            *(size_t *)field(o, params) = (size_t)v;
        else
            *(int *)field(o, params) = (o->flags & QSGD_OPT_NEGATED) ? !v : (int)v;
        return 0;
    }
    case QSGD_OPT_DOUBLE: {
        char *end;
        errno = 0;
        double v = *val ? strtod(val, &end) : NAN;
        if (!*val || errno || *end != '\0' || !isfinite(v) || v < o->dmin || v > o->dmax)
            return fail(err, errlen, "option %s: '%s' is not a number in [%g, %g]", key, val,
                        o->dmin, o->dmax);
        *(double *)field(o, params) = v;
        return 0;
    }
    case QSGD_OPT_SIZES: {
        size_t *v = (size_t *)field(o, params), k = 0;
        const char *q = val;
        for (;;) {
            char *end;
            errno = 0;
            unsigned long long x = (*q >= '0' && *q <= '9') ? strtoull(q, &end, 10) : 0;
            if (*q < '0' || *q > '9' || errno || x < o->min || x > o->max || k == o->len ||
                (*end != '\0' && *end != 'x' && *end != 'X') || (*end != '\0' && end[1] == '\0'))
                return fail(err, errlen,
                            "option %s: '%s' is not a list of 1 to %zu integers in [%llu, %llu] "
                            "separated by 'x' (e.g. %s=%s)",
                            key, val, o->len, o->min, o->max, key, o->def ? o->def : "1x2");
            v[k++] = (size_t)x;
            if (*end == '\0')
                break;
            q = end + 1;
        }
        memset(v + k, 0, (o->len - k) * sizeof *v); /* no stale values after the count */
        *(int *)((char *)params + o->count_offset) = (int)k;
        return 0;
    }
    case QSGD_OPT_STRING: {
        char valid[256] = "";
        size_t l = strlen(val);
        if (l == 0 || l >= o->len)
            return fail(err, errlen, "option %s: '%s' is not a text of 1 to %zu characters", key,
                        val, o->len ? o->len - 1 : 0);
        if (o->check && o->check(val, valid, sizeof valid))
            return fail(err, errlen, "option %s: unknown %s '%s' (valid: %s)", key, key, val,
                        valid);
        memcpy(field(o, params), val, l + 1);
        return 0;
    }
    case QSGD_OPT_UNIT: {
        const qsgd_opt_units *u = o->units;
        char *end;
        errno = 0;
        double x = strtod(val, &end);
        if (!u)
            return fail(err, errlen, "option %s: no units in the option table", key);
        if (end == val || errno || !isfinite(x))
            return fail(err, errlen, "option %s: '%s' is not a number with a unit (%s)", key, val,
                        u->valid);
        if (*end == '\0')
            return fail(err, errlen, "option %s: '%s' needs a unit (%s)", key, val, u->valid);
        for (const qsgd_opt_unit *k = u->units; k && k->suffix; k++)
            if (strcmp(end, k->suffix) == 0) {
                double v = x * k->mul / k->div;
                if (!isfinite(v) || v < o->dmin || v > o->dmax)
                    return fail(err, errlen, "option %s: '%s' is not in [%g, %g] %s", key, val,
                                o->dmin, o->dmax, u->canon);
                *(double *)field(o, params) = v;
                return 0;
            }
        return fail(err, errlen, "option %s: unknown unit '%s' in '%s' (valid: %s)", key, end, val,
                    u->valid);
    }
    case QSGD_OPT_ENUM:
        for (size_t i = 0; o->choices && o->choices[i].name; i++)
            if (strcmp(o->choices[i].name, val) == 0) {
                *(int *)field(o, params) = o->choices[i].value;
                return 0;
            }
        char valid[256];
        choice_list(o, ", ", valid, sizeof valid);
        return fail(err, errlen, "option %s: '%s' (valid: %s)", key, val, valid);
    }
    return fail(err, errlen, "option %s: bad kind %d in the option table", key, (int)o->kind);
}

int qsgd_opt_defaults(const qsgd_opt *t, void *params, char *err, size_t errlen) {
    for (size_t i = 0; t && t[i].name; i++) {
        const qsgd_opt *o = &t[i];
        if (o->def) {
            if (set_value(o, o->name, o->def, params, err, errlen))
                return -1;
        } else if (o->kind == QSGD_OPT_UINT) {
            *(unsigned *)field(o, params) = 0;
        } else if (o->kind == QSGD_OPT_SIZE) {
            *(size_t *)field(o, params) = 0;
        } else if (o->kind == QSGD_OPT_DOUBLE || o->kind == QSGD_OPT_UNIT) {
            *(double *)field(o, params) = 0;
        } else if (o->kind == QSGD_OPT_SIZES) {
            memset(field(o, params), 0, o->len * sizeof(size_t));
            *(int *)((char *)params + o->count_offset) = 0;
        } else if (o->kind == QSGD_OPT_STRING) {
            memset(field(o, params), 0, o->len);
        } else {
            *(int *)field(o, params) = 0;
        }
    }
    return 0;
}

/* qsgd_opt_parse; where (may be NULL) gets "key=" (as written) when the error is a key's:
 * unknown, given twice, or a bad value. */
static int parse_at(const qsgd_opt *t, const char *owner, const char *opts, void *params,
                    uint64_t *given, char *err, size_t errlen, char *where, size_t wlen) {
    uint64_t seen = 0;
    char usage[512];
    if (given)
        *given = 0;
    if (qsgd_opt_count(t) > QSGD_OPT_MAX)
        return fail(err, errlen, "%s: more than %d options in the table", owner, QSGD_OPT_MAX);
    for (const char *p = opts; p && *p;) {
        size_t l = strcspn(p, ",");
        const char *next = p + l + (p[l] == ',');
        if (l == 0) { /* empty element: skipped, like strtok */
            p = next;
            continue;
        }
        const char *eq = memchr(p, '=', l);
        if (!eq) {
            qsgd_opt_usage(t, usage, sizeof usage);
            return fail(err, errlen, "%s: option '%.*s' is not key=value (options: %s)", owner,
                        (int)(l < VAL_MAX ? l : VAL_MAX), p, usage);
        }
        size_t kl = (size_t)(eq - p), vl = l - kl - 1;
        char key[KEY_MAX], val[VAL_MAX];
        if (kl >= sizeof key || vl >= sizeof val)
            return fail(err, errlen, "%s: option '%.*s' too long", owner,
                        (int)(l < VAL_MAX ? l : VAL_MAX), p);
        memcpy(key, p, kl);
        key[kl] = '\0';
        memcpy(val, eq + 1, vl);
        val[vl] = '\0';
        if (where)
            snprintf(where, wlen, "%s=", key);
        const qsgd_opt *o = qsgd_opt_find(t, key);
        if (!o) {
            qsgd_opt_usage(t, usage, sizeof usage);
            return fail(err, errlen, "%s: unknown option '%s' (options: %s)", owner, key, usage);
        }
        uint64_t bit = (uint64_t)1 << (size_t)(o - t);
        if (seen & bit)
            return fail(err, errlen, "%s: option %s given twice%s%s%s", owner, o->name,
                        strcmp(key, o->name) ? " (as " : "", strcmp(key, o->name) ? key : "",
                        strcmp(key, o->name) ? ")" : "");
        seen |= bit;
        if (set_value(o, key, val, params, err, errlen))
            return -1;
        if (where)
            where[0] = '\0';
        p = next;
    }
    if (given)
        *given = seen;
    return 0;
}

int qsgd_opt_parse(const qsgd_opt *t, const char *owner, const char *opts, void *params,
                   uint64_t *given, char *err, size_t errlen) {
    return parse_at(t, owner, opts, params, given, err, errlen, NULL, 0);
}

int qsgd_opt_parse_err(const qsgd_opt *t, const char *owner, const char *opts, void *params,
                       uint64_t *given, qsgd_err *err) {
    char msg[sizeof err->msg], where[sizeof err->where] = "";
    if (parse_at(t, owner, opts, params, given, msg, sizeof msg, where, sizeof where) == 0)
        return QSGD_OK;
    QSGD_FAIL(err, QSGD_EINVAL, "%s", msg);
    return qsgd_err_where(err, "%s", where);
}

int qsgd_opt_format(const qsgd_opt *o, const void *params, char *buf, size_t len) {
    int w = -1;
    const void *f = cfield(o, params);
    switch (o->kind) {
    case QSGD_OPT_UINT:
        w = snprintf(buf, len, "%u", *(const unsigned *)f);
        break;
    case QSGD_OPT_SIZE:
        w = snprintf(buf, len, "%zu", *(const size_t *)f);
        break;
    case QSGD_OPT_DOUBLE: { /* shortest exact text: 0.01, not 0.010000000000000000208 */
        char num[32];
        w = snprintf(buf, len, "%s", qsgd_opt_fmt_num(*(const double *)f, num));
        break;
    }
    case QSGD_OPT_BOOL: {
        int v = *(const int *)f != 0;
        w = snprintf(buf, len, "%d", (o->flags & QSGD_OPT_NEGATED) ? !v : v);
        break;
    }
    case QSGD_OPT_ENUM: {
        int v = *(const int *)f;
        const char *name = NULL;
        for (size_t i = 0; o->choices && o->choices[i].name && !name; i++)
            if (o->choices[i].value == v)
                name = o->choices[i].name;
        w = name ? snprintf(buf, len, "%s", name) : snprintf(buf, len, "%d", v);
        break;
    }
    case QSGD_OPT_SIZES: {
        const size_t *v = f;
        int n = *(const int *)((const char *)params + o->count_offset);
        size_t off = 0;
        if (len)
            buf[0] = '\0';
        w = 0;
        for (int i = 0; i < n && (size_t)i < o->len && off < len; i++) {
            w = snprintf(buf + off, len - off, "%s%zu", i ? "x" : "", v[i]);
            off += w < 0 ? 0 : (size_t)w;
        }
        w = (int)off;
        break;
    }
    case QSGD_OPT_STRING:
        w = snprintf(buf, len, "%.*s", (int)o->len, (const char *)f);
        break;
    case QSGD_OPT_UNIT: {
        char num[32];
        w = snprintf(buf, len, "%s%s", qsgd_opt_fmt_num(*(const double *)f, num),
                     o->units ? o->units->canon : "");
        break;
    }
    }
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

int qsgd_opt_describe(const qsgd_opt *t, const char *name, const void *params, char *buf,
                      size_t len) {
    char out[1024], v[VAL_MAX];
    size_t off = 0;
    int n = 0, trunc = 0;
    int w = snprintf(out, sizeof out, "%s", name);
    off = w < 0 ? 0 : (size_t)w;
    for (size_t i = 0; t && t[i].name && off < sizeof out; i++) {
        if ((t[i].flags & QSGD_OPT_HIDDEN) || (t[i].shown && !t[i].shown(params)))
            continue;
        if (qsgd_opt_format(&t[i], params, v, sizeof v))
            trunc = 1;
        off +=
            (size_t)snprintf(out + off, sizeof out - off, "%s%s=%s", n++ ? "," : ":", t[i].name, v);
    }
    if (trunc || off >= sizeof out) {
        if (len)
            snprintf(buf, len, "%s", out);
        return -1;
    }
    if (len)
        snprintf(buf, len, "%s", out);
    return off < len ? 0 : -1;
}

int qsgd_opt_usage(const qsgd_opt *t, char *buf, size_t len) {
    size_t off = 0;
    char ch[256];
    if (len)
        buf[0] = '\0';
    if (!qsgd_opt_count(t)) {
        int w = snprintf(buf, len, "none");
        return (w < 0 || (size_t)w >= len) ? -1 : 0;
    }
    for (size_t i = 0; t[i].name; i++) {
        const char *meta = t[i].meta;
        if (t[i].kind == QSGD_OPT_ENUM) {
            choice_list(&t[i], "|", ch, sizeof ch);
            meta = ch;
        } else if (!meta) {
            meta = t[i].kind == QSGD_OPT_BOOL     ? "1|0"
                   : t[i].kind == QSGD_OPT_SIZES  ? "AxB..."
                   : t[i].kind == QSGD_OPT_STRING ? "TEXT"
                   : t[i].kind == QSGD_OPT_UNIT   ? "X"
                                                  : "N";
        }
        if (off < len)
            off +=
                (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? ", " : "", t[i].name, meta);
    }
    return off < len ? 0 : -1;
}

void qsgd_opt_print_help(FILE *f, const qsgd_opt *t, const char *indent) {
    char keys[KEY_MAX * 2], range[256];
    for (size_t i = 0; t && t[i].name; i++) {
        const qsgd_opt *o = &t[i];
        snprintf(keys, sizeof keys, "%s", o->name);
        if (o->aliases) {
            size_t l = strlen(keys);
            snprintf(keys + l, sizeof keys - l, " (%s)", o->aliases);
        }
        switch (o->kind) {
        case QSGD_OPT_UINT:
        case QSGD_OPT_SIZE:
            snprintf(range, sizeof range, "integer %llu..%llu", o->min, o->max);
            break;
        case QSGD_OPT_DOUBLE:
            snprintf(range, sizeof range, "number %g..%g", o->dmin, o->dmax);
            break;
        case QSGD_OPT_BOOL:
            snprintf(range, sizeof range, "1|0");
            break;
        case QSGD_OPT_ENUM:
            choice_list(o, "|", range, sizeof range);
            break;
        case QSGD_OPT_SIZES:
            snprintf(range, sizeof range, "1 to %zu of %llu..%llu, x-separated", o->len, o->min,
                     o->max);
            break;
        case QSGD_OPT_STRING:
            if (!o->check || !o->check(NULL, range, sizeof range))
                snprintf(range, sizeof range, "text");
            break;
        case QSGD_OPT_UNIT:
            snprintf(range, sizeof range, "%g..%g %s (units %s)", o->dmin, o->dmax,
                     o->units ? o->units->canon : "", o->units ? o->units->valid : "none");
            break;
        }
        if ((o->kind == QSGD_OPT_UINT || o->kind == QSGD_OPT_SIZE) && (o->flags & QSGD_OPT_EXP)) {
            size_t l = strlen(range);
            snprintf(range + l, sizeof range - l, " (6e4 ok)");
        }
        fprintf(f, "%s%-16s %s, default %s: %s\n", indent, keys, range,
                (o->flags & QSGD_OPT_DERIVED) ? "derived"
                : o->def                      ? o->def
                : o->kind == QSGD_OPT_STRING  ? "\"\""
                : o->kind == QSGD_OPT_SIZES   ? "none"
                                              : "0",
                o->help ? o->help : "");
    }
}

int qsgd_spec_value(const char *spec, const char *key, char *out, size_t len) {
    const char *p = strchr(spec, ':');
    size_t kl = strlen(key);
    while (p) {
        p++;
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, ",");
            snprintf(out, len, "%.*s", (int)n, p + kl + 1);
            return 1;
        }
        p = strchr(p, ',');
    }
    return 0;
}
