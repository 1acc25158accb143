/* exp_config.c — experiment files: libconfig -> a validated experiment (settings, sweep
 * axes, the cartesian product of points, references), every spec string checked by the
 * parser the trainer uses, impossible combinations rejected with file:line (exp_config.h,
 * docs/experiments.md). */
#define _GNU_SOURCE
#include "exp_config.h"
#include "gpu_device.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <getopt.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "net.h"
#include "optim.h"
#include "quant.h"
#include "sim.h"

#define MAX_ERRORS 40 /* errors kept; the rest are counted */

/* The settings are the rows of the run-settings table (sim/sim_settings.def): exp_key k is
 * row k of sim_setting_get. */
_Static_assert((int)EXP_NKEYS == (int)SIM_NKEYS, "exp_key = the table's experiment keys");
#define KEY(k) sim_setting_get((int)(k))

exp_type exp_key_type(exp_key k) {
    switch (KEY(k)->kind) {
    case SIM_SK_COUNT:
        return EXP_T_INT;
    case SIM_SK_DOUBLE:
        return EXP_T_FLOAT;
    case SIM_SK_FLAG:
        return EXP_T_BOOL;
    default:
        return EXP_T_STRING;
    }
}

/* Keys that are not settings. */
static const char *const meta_keys[] = {"name", "description", "reference", "pair", "baseline"};
#define N_META (sizeof meta_keys / sizeof meta_keys[0])
/* Fields of a reference group besides settings. */
static const char *const ref_fields[] = {"speedup", "accuracy", "source", "group"};
#define N_REF_FIELDS (sizeof ref_fields / sizeof ref_fields[0])

const exp_keyinfo *exp_key_info(exp_key k) {
    return (unsigned)k < EXP_NKEYS ? KEY(k) : NULL;
}

int exp_key_find(const char *name) {
    return sim_setting_find(name, 0);
}

/* ---- diagnostics ------------------------------------------------------------------------- */
void exp_diag_free(exp_diag *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->line[i]);
    free(d->line);
    memset(d, 0, sizeof *d);
}

static void diag_push(exp_diag *d, char *s) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->line[i], s) == 0) { /* the same message from several points */
            free(s);
            return;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        char **l = realloc(d->line, cap * sizeof *l);
        if (!l) {
            free(s);
            return;
        }
        d->line = l;
        d->cap = cap;
    }
    d->line[d->n++] = s;
}

/* An integer literal of a file's text, as written (libconfig 1.5 keeps a plain integer in
 * an int, so 4294967296 reads as 0 and 99999999999 as 1215752191: the text is the only
 * place the user's number survives). */
typedef struct int_lit {
    int line;
    int fits;      /* the number is a long long (no overflow) */
    int plain;     /* no L suffix: a 32-bit int in libconfig 1.5 */
    int used;      /* matched to a setting */
    long long val; /* the number, when fits */
    char text[40]; /* as written, cut with "..." */
} int_lit;

/* One file libconfig reads: the experiment file (src[0]) or an @include'd one. */
typedef struct src_text {
    char *path;   /* as libconfig names it in config_setting_source_file */
    int_lit *lit; /* [nlit], in file order */
    size_t nlit, cap;
    size_t cur; /* literals before it are behind the settings matched so far */
} src_text;

#define MAX_SOURCES 16

typedef struct ctx {
    exp_experiment *e;
    exp_diag *d;
    const char *file; /* path for messages */
    size_t dropped;   /* errors beyond MAX_ERRORS */
    src_text src[MAX_SOURCES];
    size_t nsrc;
    const config_setting_t **wrapped; /* [nwrapped] integers reported "too large", sorted */
    size_t nwrapped, capwrapped;
    /* pairs (exp_experiment.pair): their settings in the order the pair names them */
    exp_key pairs[EXP_NKEYS][EXP_NKEYS];
    size_t npair[EXP_NKEYS];
    int pair_line[EXP_NKEYS]; /* line where setting k is named in a pair */
    int bad[EXP_NKEYS];       /* setting k had an error (reported) */
} ctx;

static int wrapped(const ctx *c, const config_setting_t *s);
static void setting_path(const config_setting_t *s, char *buf, size_t len);

static void vreport(ctx *c, int warning, const char *file, int line, const char *fmt, va_list ap) {
    char msg[1400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char *s = NULL;
    char at[24] = ""; /* no line: the message is about the file as a whole */
    if (line > 0)
        snprintf(at, sizeof at, ":%d", line);
    if (asprintf(&s, "%s%s: %s%s", file ? file : c->file, at, warning ? "warning: " : "", msg) < 0)
        return;
    for (size_t i = 0; i < c->d->n; i++)
        if (strcmp(c->d->line[i], s) == 0) { /* the same message from another point */
            free(s);
            return;
        }
    if (!warning && c->d->nerrors >= MAX_ERRORS) {
        free(s);
        c->d->nerrors++;
        c->dropped++;
        return;
    }
    size_t before = c->d->n;
    diag_push(c->d, s);
    if (c->d->n > before) {
        if (warning)
            c->d->nwarnings++;
        else
            c->d->nerrors++;
    }
}

/* "line N" of a value, or "default" for a setting not in the file. */
static const char *where(int line) {
    static __thread char buf[4][32];
    static __thread int i;
    char *b = buf[i++ & 3];
    if (line > 0)
        snprintf(b, sizeof buf[0], "line %d", line);
    else
        snprintf(b, sizeof buf[0], "default");
    return b;
}

static void err_at(ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err_at(ctx *c, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, 0, NULL, line, fmt, ap);
    va_end(ap);
}

static void err_s(ctx *c, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_s(ctx *c, const config_setting_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, 0, config_setting_source_file(s), config_setting_source_line(s), fmt, ap);
    va_end(ap);
}

static void warn_at(ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn_at(ctx *c, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, 1, NULL, line, fmt, ap);
    va_end(ap);
}

/* ---- small helpers ------------------------------------------------------------------------ */
/* A value quoted into a message: "s", or its first ECHO_MAX characters then "..." and its
 * length, so that a long value never pushes the reason out of the message. Messages put
 * the reason first and echoes after it. */
#define ECHO_MAX 60
typedef struct echo_buf {
    char s[ECHO_MAX + 48];
} echo_buf;

static const char *echo_q(const char *v, size_t l, char q, echo_buf *b) {
    if (l <= ECHO_MAX)
        snprintf(b->s, sizeof b->s, "%c%.*s%c", q, (int)l, v, q);
    else
        snprintf(b->s, sizeof b->s, "%c%.*s...%c (%zu characters)", q, ECHO_MAX, v, q, l);
    return b->s;
}
static const char *echo(const char *v, echo_buf *b) {
    return echo_q(v, strlen(v), '"', b);
}
/* The same in single quotes, for a part of a value inside a reason. */
static const char *echo1(const char *v, size_t l, echo_buf *b) {
    return echo_q(v, l, '\'', b);
}

static size_t levenshtein(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* "valid: a, b, c" of the top-level keys (settings_only: of the settings), and a "did you
 * mean" for name. */
static void valid_keys(const char *name, int settings_only, char *buf, size_t len) {
    size_t off = 0;
    const char *best = NULL;
    size_t bestd = 3;
    size_t meta = settings_only ? 0 : N_META;
    off += (size_t)snprintf(buf + off, len - off, "valid: ");
    for (size_t i = 0; i < meta + EXP_NKEYS && off < len; i++) {
        const char *k = i < meta ? meta_keys[i] : KEY(i - meta)->name;
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", k);
        size_t dd = levenshtein(name, k);
        if (dd < bestd) {
            bestd = dd;
            best = k;
        }
    }
    if (best && off < len)
        snprintf(buf + off, len - off, "; did you mean '%s'?", best);
}

static const char *type_phrase(int t) {
    switch (t) {
    case CONFIG_TYPE_GROUP:
        return "a group { ... }";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a floating-point number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array [ ... ]";
    case CONFIG_TYPE_LIST:
        return "a list ( ... )";
    default:
        return "nothing";
    }
}

static const char *expected_phrase(exp_type t) {
    switch (t) {
    case EXP_T_STRING:
        return "a string";
    case EXP_T_INT:
        return "an integer";
    case EXP_T_FLOAT:
        return "a number";
    case EXP_T_BOOL:
        return "a boolean (true or false)";
    }
    return "?";
}

static int is_list(const config_setting_t *s) {
    return config_setting_type(s) == CONFIG_TYPE_LIST ||
           config_setting_type(s) == CONFIG_TYPE_ARRAY;
}

/* A scalar setting s into v, checking its type against t. 0 or -1 (error reported). */
static int read_scalar(ctx *c, const char *what, exp_type t, const config_setting_t *s,
                       exp_value *v) {
    int ty = config_setting_type(s);
    char buf[64];
    v->line = config_setting_source_line(s);
    v->num = NAN;
    if ((ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64) && wrapped(c, s))
        return -1; /* reported "too large" at its line */
    switch (t) {
    case EXP_T_STRING:
        if (ty != CONFIG_TYPE_STRING)
            break;
        v->text = strdup(config_setting_get_string(s));
        return v->text ? 0 : -1;
    case EXP_T_INT:
        if (ty != CONFIG_TYPE_INT && ty != CONFIG_TYPE_INT64)
            break;
        long long i = config_setting_get_int64(s);
        snprintf(buf, sizeof buf, "%lld", i);
        v->num = (double)i;
        v->text = strdup(buf);
        return v->text ? 0 : -1;
    case EXP_T_FLOAT:
        if (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64)
            v->num = (double)config_setting_get_int64(s);
        else if (ty == CONFIG_TYPE_FLOAT)
            v->num = config_setting_get_float(s);
        else
            break;
        if (!isfinite(v->num)) { /* libconfig reads 1e400 as inf */
            err_s(c, s, "%s: too large: beyond the largest number, %g", what, DBL_MAX);
            return -1;
        }
        snprintf(buf, sizeof buf, "%.15g", v->num);
        v->text = strdup(buf);
        return v->text ? 0 : -1;
    case EXP_T_BOOL:
        if (ty != CONFIG_TYPE_BOOL)
            break;
        v->num = config_setting_get_bool(s) ? 1 : 0;
        v->text = strdup(v->num ? "true" : "false");
        return v->text ? 0 : -1;
    }
    err_s(c, s, "%s: expected %s%s, got %s", what, expected_phrase(t),
          t == EXP_T_STRING && !strcmp(what, "quantizer") ? " or a group {name = ...; ...}" : "",
          type_phrase(ty));
    return -1;
}

static void value_free(exp_value *v) {
    free(v->text);
    free(v->canon);
    v->text = v->canon = NULL;
}

static int push_value(exp_setting *st, exp_value *v) {
    if ((st->n & (st->n - 1)) == 0) { /* capacity: n rounded up to a power of two */
        exp_value *nv = realloc(st->v, (st->n ? 2 * st->n : 1) * sizeof *nv);
        if (!nv) {
            value_free(v);
            return -1;
        }
        st->v = nv;
    }
    st->v[st->n++] = *v;
    return 0;
}

/* The longest value of string setting k that reaches the trainer or `qsgdsim sim` whole
 * (the table's size: the trainer's spec buffers, sim's platform spec and SMPI options). */
static size_t max_length(exp_key k) {
    return KEY(k)->size - 1;
}

/* Validate one value of setting k: the table's check of its row (kind, range, spec parser),
 * then what depends on this machine. msg gets the reason. */
static int check_value(exp_key k, const exp_value *v, char *msg, size_t len) {
    if (sim_setting_check((int)k, v->text, v->num, msg, len))
        return -1;
    char why[200];
    if (k == EXP_DEVICE && !strcmp(v->text, "cuda") && gpu_device_count(why, sizeof why) == 0) {
        snprintf(msg, len, "cuda: no usable GPU here (%s); use auto or cpu", why);
        return -1;
    }
    return 0;
}

/* Read one value (or a quantizer group, expanded) and validate it; appends to st. */
static int read_and_check(ctx *c, exp_key k, const config_setting_t *s, exp_setting *st,
                          int *swept);

static int format_member(const config_setting_t *m, char *buf, size_t len) {
    switch (config_setting_type(m)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, len, "%lld", config_setting_get_int64(m));
        return 0;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, len, "%.15g", config_setting_get_float(m));
        return 0;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, len, "%d", config_setting_get_bool(m) ? 1 : 0);
        return 0;
    case CONFIG_TYPE_STRING:
        snprintf(buf, len, "%s", config_setting_get_string(m));
        return 0;
    default:
        return -1;
    }
}

/* A quantizer group member that cannot be used: an integer already reported "too large"
 * (its value is wrapped), a float beyond the largest double or a string longer than a
 * spec may be (both reported here). */
static int member_overflows(ctx *c, const config_setting_t *m) {
    int ty = config_setting_type(m);
    if (ty == CONFIG_TYPE_STRING &&
        strlen(config_setting_get_string(m)) > max_length(EXP_QUANTIZER)) {
        char what[200];
        echo_buf b;
        setting_path(m, what, sizeof what);
        err_s(c, m, "%s: too long: %zu characters, at most %zu; the value is %s", what,
              strlen(config_setting_get_string(m)), max_length(EXP_QUANTIZER),
              echo(config_setting_get_string(m), &b));
        return 1;
    }
    if (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64)
        return wrapped(c, m);
    if (ty == CONFIG_TYPE_FLOAT && !isfinite(config_setting_get_float(m))) {
        char what[200];
        setting_path(m, what, sizeof what);
        err_s(c, m, "%s: too large: beyond the largest number, %g", what, DBL_MAX);
        return 1;
    }
    return 0;
}

/* A quantizer group {name = "qsgd"; bits = [2, 4]; bucket = 512; ...}: one spec per
 * combination of its list members (member order, the last varying fastest). */
static int expand_quant_group(ctx *c, const config_setting_t *g, exp_setting *st, int *swept) {
    const config_setting_t *nm = config_setting_get_member(g, "name");
    if (!nm || config_setting_type(nm) != CONFIG_TYPE_STRING) {
        char names[128] = "";
        size_t off = 0;
        for (const quant_type *const *t = quant_types(); *t; t++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s",
                                    t == quant_types() ? "" : ", ", (*t)->name);
        err_s(c, nm ? nm : g, "quantizer group: needs name = \"...\" (a string; valid: %s)", names);
        return -1;
    }
    const char *qname = config_setting_get_string(nm);
    int nmem = config_setting_length(g);
    /* members other than name: each a scalar or a list of scalars */
    const config_setting_t *mem[32];
    int cnt[32], nm2 = 0, bad = 0;
    for (int i = 0; i < nmem; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        if (m == nm)
            continue;
        if (nm2 == 32) {
            err_s(c, m, "quantizer group: too many options");
            return -1;
        }
        int n = 1;
        char tmp[160];
        if (is_list(m)) {
            n = config_setting_length(m);
            if (n == 0) {
                err_s(c, m, "quantizer %s: empty list", config_setting_name(m));
                bad = 1;
                continue;
            }
            *swept = 1;
            for (int j = 0; j < n; j++)
                if (member_overflows(c, config_setting_get_elem(m, (unsigned)j)))
                    bad = 1;
                else if (format_member(config_setting_get_elem(m, (unsigned)j), tmp, sizeof tmp)) {
                    err_s(
                        c, config_setting_get_elem(m, (unsigned)j),
                        "quantizer %s: expected a number or a string, got %s",
                        config_setting_name(m),
                        type_phrase(config_setting_type(config_setting_get_elem(m, (unsigned)j))));
                    bad = 1;
                }
        } else if (member_overflows(c, m)) {
            bad = 1;
        } else if (format_member(m, tmp, sizeof tmp)) {
            err_s(c, m, "quantizer %s: expected a number, a string or a list of them, got %s",
                  config_setting_name(m), type_phrase(config_setting_type(m)));
            bad = 1;
        }
        if (!bad) {
            /* check the option alone first, so an error points at its line */
            const config_setting_t *first = is_list(m) ? config_setting_get_elem(m, 0) : m;
            char one[400], val[160];
            format_member(first, val, sizeof val);
            snprintf(one, sizeof one, "%s:%s=%s", qname, config_setting_name(m), val);
            quant_spec qs;
            qsgd_err qe = {0};
            if (quant_spec_parse(one, &qs, &qe) != QSGD_OK) {
                echo_buf b;
                err_s(c, m, "quantizer %s: %s; the option is %s", config_setting_name(m), qe.msg,
                      echo(one, &b));
                bad = 1;
            }
        }
        mem[nm2] = m;
        cnt[nm2++] = n;
    }
    if (bad)
        return -1;
    double combos = 1;
    for (int i = 0; i < nm2; i++)
        combos *= cnt[i];
    if (combos > EXP_MAX_POINTS) {
        err_s(c, g,
              "quantizer group: expands to %.0f quantizers, more than the %d points an "
              "experiment may have; split it",
              combos, EXP_MAX_POINTS);
        return -1;
    }
    int idx[32] = {0};
    for (;;) {
        char spec[512];
        size_t off = (size_t)snprintf(spec, sizeof spec, "%s", qname);
        for (int i = 0; i < nm2 && off < sizeof spec; i++) {
            const config_setting_t *m =
                is_list(mem[i]) ? config_setting_get_elem(mem[i], (unsigned)idx[i]) : mem[i];
            char val[160];
            format_member(m, val, sizeof val);
            off += (size_t)snprintf(spec + off, sizeof spec - off, "%c%s=%s", i ? ',' : ':',
                                    config_setting_name(mem[i]), val);
        }
        exp_value v = {strdup(spec), NAN, config_setting_source_line(g), NULL};
        if (!v.text)
            return -1;
        char msg[600];
        if (check_value(EXP_QUANTIZER, &v, msg, sizeof msg)) {
            echo_buf b;
            err_s(c, g, "quantizer: %s; the group gives %s", msg, echo(spec, &b));
            value_free(&v);
            bad = 1;
        } else if (push_value(st, &v)) {
            return -1;
        }
        int i = nm2 - 1;
        while (i >= 0 && ++idx[i] == cnt[i])
            idx[i--] = 0;
        if (i < 0)
            break;
    }
    return bad ? -1 : 0;
}

static int read_and_check(ctx *c, exp_key k, const config_setting_t *s, exp_setting *st,
                          int *swept) {
    if (k == EXP_QUANTIZER && config_setting_type(s) == CONFIG_TYPE_GROUP)
        return expand_quant_group(c, s, st, swept);
    exp_value v = {0};
    if (read_scalar(c, KEY(k)->name, exp_key_type(k), s, &v))
        return -1;
    char msg[700];
    if (check_value(k, &v, msg, sizeof msg)) {
        echo_buf b;
        if (exp_key_type(k) == EXP_T_STRING) /* the reason first: a long value cannot cut it off */
            err_s(c, s, "%s: %s; the value is %s", KEY(k)->name, msg, echo(v.text, &b));
        else
            err_s(c, s, "%s = %s: %s", KEY(k)->name, v.text, msg);
        value_free(&v);
        return -1;
    }
    return push_value(st, &v);
}

/* Order of value indices: by text, then by position. */
static int cmp_value_text(const void *a, const void *b, void *arg) {
    const exp_value *v = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int r = strcmp(v[i].text, v[j].text);
    return r ? r : (i > j) - (i < j);
}

/* The values of setting k from s (a scalar, a list/array, or a quantizer group). */
static int read_setting(ctx *c, exp_key k, const config_setting_t *s) {
    exp_setting *st = &c->e->set[k];
    st->given = 1;
    st->line = config_setting_source_line(s);
    int bad = 0, swept = 0;
    if (is_list(s)) {
        swept = 1;
        int n = config_setting_length(s);
        if (n == 0) {
            err_s(c, s, "%s: empty list (give at least one value)", KEY(k)->name);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
            if (is_list(el)) {
                err_s(c, el, "%s: a list inside a list (expected %s)", KEY(k)->name,
                      expected_phrase(exp_key_type(k)));
                bad = 1;
                continue;
            }
            if (read_and_check(c, k, el, st, &swept))
                bad = 1;
        }
    } else {
        if (config_setting_type(s) == CONFIG_TYPE_GROUP && k != EXP_QUANTIZER) {
            err_s(c, s, "%s: expected %s (or a list of them), got a group { ... }", KEY(k)->name,
                  expected_phrase(exp_key_type(k)));
            return -1;
        }
        if (read_and_check(c, k, s, st, &swept))
            bad = 1;
    }
    if (bad)
        return -1;
    st->swept = swept;
    if (c->e->pair[k])
        return 0; /* a paired setting repeats values: its pair's tuples are checked instead */
    /* duplicates would give two points with the same directory (sorted: a list may have
     * 100,000 values) */
    size_t *ord = malloc(st->n * sizeof *ord);
    if (!ord) {
        err_s(c, s, "%s: out of memory", KEY(k)->name);
        return -1;
    }
    for (size_t i = 0; i < st->n; i++)
        ord[i] = i;
    qsort_r(ord, st->n, sizeof *ord, cmp_value_text, st->v);
    for (size_t i = 1, first = 0; i < st->n; i++) {
        const exp_value *dup = &st->v[ord[i]];
        if (strcmp(st->v[ord[first]].text, dup->text) != 0) {
            first = i; /* the first of a run of equal values */
            continue;
        }
        echo_buf b;
        err_at(c, dup->line, "%s: a value is listed twice (also line %d): %s", KEY(k)->name,
               st->v[ord[first]].line, echo(dup->text, &b));
        bad = 1;
    }
    free(ord);
    return bad ? -1 : 0;
}

/* ---- pairs: `pair = ["model", "batch"];`
 * --------------------------------------------------------- Settings given as lists of equal
 * length, zipped: value i of each forms tuple i, and the tuples are ONE dimension of the product
 * (exp_experiment.pair). `pair` is one list of names or a list of such lists (several pairs). Read
 * before the settings, so that a paired setting may repeat a value (batch = [128, 16, 128]); its
 * tuples must differ instead. */
static void read_pair(ctx *c, const config_setting_t *l) {
    exp_experiment *e = c->e;
    int n = config_setting_length(l);
    size_t pi = e->npairs++;
    if (n < 2)
        err_s(c, l,
              "pair: give at least two settings to pair, e.g. pair = [\"model\", \"batch\"] "
              "(got %d)",
              n);
    for (int i = 0; i < n; i++) {
        const config_setting_t *el = config_setting_get_elem(l, (unsigned)i);
        int line = config_setting_source_line(el);
        if (config_setting_type(el) != CONFIG_TYPE_STRING) {
            err_s(c, el,
                  "pair: expected the name of a setting in quotes (pair = [\"model\", "
                  "\"batch\"]), got %s",
                  type_phrase(config_setting_type(el)));
            continue;
        }
        const char *name = config_setting_get_string(el);
        int k = exp_key_find(name);
        echo_buf b;
        if (k < 0) {
            char valid[1024];
            valid_keys(name, 1, valid, sizeof valid);
            err_s(c, el, "pair: unknown setting %s (%s)", echo1(name, strlen(name), &b), valid);
            continue;
        }
        if (e->pair[k]) {
            err_s(c, el,
                  "pair: %s is paired twice (also line %d); a setting is in one pair at most", name,
                  c->pair_line[k]);
            continue;
        }
        e->pair[k] = (int)pi + 1;
        c->pair_line[k] = line;
        c->pairs[pi][c->npair[pi]++] = (exp_key)k;
    }
}

static void read_pairs(ctx *c, const config_setting_t *s) {
    int several = 0;
    if (is_list(s))
        for (int i = 0; i < config_setting_length(s) && !several; i++)
            several = is_list(config_setting_get_elem(s, (unsigned)i));
    if (!is_list(s)) {
        err_s(c, s,
              "pair: expected a list of settings, pair = [\"model\", \"batch\"], or a list of "
              "them, pair = ([\"model\", \"batch\"], [\"workers\", \"network\"]); got %s",
              type_phrase(config_setting_type(s)));
        return;
    }
    if (!several) {
        read_pair(c, s);
        return;
    }
    for (int i = 0; i < config_setting_length(s) && c->e->npairs < EXP_NKEYS; i++) {
        const config_setting_t *l = config_setting_get_elem(s, (unsigned)i);
        if (is_list(l))
            read_pair(c, l);
        else
            err_s(c, l,
                  "pair: expected a list of settings [\"model\", \"batch\"] (in a list of "
                  "pairs), got %s",
                  type_phrase(config_setting_type(l)));
    }
}

typedef struct tuple_arg {
    const exp_experiment *e;
    const exp_key *ks;
    size_t m;
} tuple_arg;

/* Order of tuple indices: by the texts of the pair's settings, then by position. */
static int cmp_tuple(const void *a, const void *b, void *arg) {
    const tuple_arg *t = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    for (size_t x = 0; x < t->m; x++) {
        const exp_setting *st = &t->e->set[t->ks[x]];
        int r = strcmp(st->v[i].text, st->v[j].text);
        if (r)
            return r;
    }
    return 0;
}

/* "(model, batch)" of pair pi. */
static const char *pair_names(const ctx *c, size_t pi, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < c->npair[pi] && off < len; j++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s%s", j ? ", " : "(",
                                KEY(c->pairs[pi][j])->name, j + 1 == c->npair[pi] ? ")" : "");
    return buf;
}

/* After the settings: every paired setting is a list, the lists of a pair have one length,
 * and no tuple is listed twice. */
static void check_pairs(ctx *c) {
    const exp_experiment *e = c->e;
    for (size_t pi = 0; pi < e->npairs; pi++) {
        size_t m = c->npair[pi];
        int ok = m >= 2;
        for (size_t j = 0; j < m; j++) {
            exp_key k = c->pairs[pi][j];
            const exp_setting *st = &e->set[k];
            const char *name = KEY(k)->name;
            if (c->bad[k])
                ok = 0; /* reported where it is set */
            else if (!st->given) {
                err_at(c, c->pair_line[k],
                       "pair: %s is not set in the file; a paired setting is a list with one "
                       "value per tuple (%s = [...];)",
                       name, name);
                ok = 0;
            } else if (!st->swept) {
                err_at(c, c->pair_line[k],
                       "pair: %s is one value (line %d), not a list; a paired setting is a list "
                       "with one value per tuple (%s = [...];)",
                       name, st->line, name);
                ok = 0;
            }
        }
        if (!ok)
            continue;
        exp_key k0 = c->pairs[pi][0];
        for (size_t j = 1; j < m; j++) {
            exp_key k = c->pairs[pi][j];
            if (e->set[k].n == e->set[k0].n)
                continue;
            char pn[400];
            err_at(c, c->pair_line[k],
                   "pair %s: lists of different lengths: %s has %zu values (line %d), %s has %zu "
                   "(line %d); paired settings have one value each per tuple",
                   pair_names(c, pi, pn, sizeof pn), KEY(k0)->name, e->set[k0].n, e->set[k0].line,
                   KEY(k)->name, e->set[k].n, e->set[k].line);
            ok = 0;
        }
        if (!ok)
            continue;
        size_t n = e->set[k0].n;
        size_t *ord = malloc(n * sizeof *ord);
        if (!ord) {
            err_at(c, c->pair_line[k0], "pair: out of memory");
            continue;
        }
        for (size_t i = 0; i < n; i++)
            ord[i] = i;
        tuple_arg ta = {e, c->pairs[pi], m};
        qsort_r(ord, n, sizeof *ord, cmp_tuple, &ta);
        for (size_t i = 1, first = 0; i < n; i++) {
            if (cmp_tuple(&ord[first], &ord[i], &ta) != 0) {
                first = i;
                continue;
            }
            char tup[1400], pn[400];
            size_t off = 0;
            for (size_t j = 0; j < m && off < sizeof tup; j++) { /* ("logreg", 16) */
                const exp_value *v = &e->set[c->pairs[pi][j]].v[ord[i]];
                echo_buf b;
                off += (size_t)snprintf(
                    tup + off, sizeof tup - off, "%s%s", j ? ", " : "(",
                    exp_key_type(c->pairs[pi][j]) == EXP_T_STRING ? echo(v->text, &b) : v->text);
            }
            if (off < sizeof tup)
                snprintf(tup + off, sizeof tup - off, ")");
            size_t a = ord[first] < ord[i] ? ord[first] : ord[i];
            size_t z = ord[first] < ord[i] ? ord[i] : ord[first];
            err_at(c, e->set[k0].v[z].line,
                   "pair %s: a tuple is listed twice (values %zu and %zu of the lists): %s",
                   pair_names(c, pi, pn, sizeof pn), a + 1, z + 1, tup);
        }
        free(ord);
    }
}

/* The settings of a pair next to each other, at the place of the first one in the file. */
static void order_axes(ctx *c) {
    exp_experiment *e = c->e;
    exp_key out[EXP_NKEYS];
    int done[EXP_NKEYS + 1] = {0};
    size_t n = 0;
    for (size_t a = 0; a < e->naxes; a++) {
        exp_key k = e->axes[a];
        int pi = e->pair[k];
        if (!pi)
            out[n++] = k;
        else if (!done[pi]) {
            done[pi] = 1;
            for (size_t j = 0; j < c->npair[pi - 1]; j++)
                out[n++] = c->pairs[pi - 1][j];
        }
    }
    memcpy(e->axes, out, n * sizeof *out);
    e->naxes = n;
}

/* The dimensions of the product: first[d] is the first axis of dimension d (a setting swept
 * alone, or a pair, whose axes are adjacent); first[nd] = naxes. Returns nd. */
static size_t dimensions(const exp_experiment *e, size_t first[EXP_NKEYS + 1]) {
    size_t nd = 0;
    for (size_t a = 0; a < e->naxes; a++) {
        int pi = e->pair[e->axes[a]];
        if (a == 0 || !pi || pi != e->pair[e->axes[a - 1]])
            first[nd++] = a;
    }
    first[nd] = e->naxes;
    return nd;
}

/* ---- sanitizing directory names ------------------------------------------------------------ */
void exp_sanitize(const char *s, char *out, size_t len) {
    size_t o = 0;
    if (len == 0)
        return;
    for (size_t i = 0; s[i] && o + 1 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char w;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-')
            w = (char)ch;
        else if (ch == '=')
            continue; /* bits=4 -> bits4: '=' separates the axis from its value */
        else if (ch == '.' && i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9' && s[i + 1] >= '0' &&
                 s[i + 1] <= '9')
            w = 'p'; /* 0.5 -> 0p5 */
        else
            w = '-'; /* ':' ',' '/' '_' ' ' ... ('_' separates axes) */
        if (w == '-' && (o == 0 || out[o - 1] == '-'))
            continue;
        out[o++] = w;
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    out[o] = '\0';
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int cmp_dir(const void *a, const void *b, void *arg) {
    const exp_point *p = arg;
    return strcmp(p[*(const size_t *)a].dir, p[*(const size_t *)b].dir);
}

static void name_points(exp_experiment *e) {
    for (size_t i = 0; i < e->npoints; i++) {
        exp_point *p = &e->points[i];
        char name[1024];
        size_t off = 0;
        name[0] = '\0';
        for (size_t a = 0; a < e->naxes && off < sizeof name; a++) {
            exp_key k = e->axes[a];
            char frag[400];
            exp_sanitize(e->set[k].v[p->vi[k]].text, frag, sizeof frag);
            off += (size_t)snprintf(name + off, sizeof name - off, "%s%s=%s", a ? "_" : "",
                                    KEY(k)->abbrev, frag);
        }
        if (e->naxes == 0)
            snprintf(name, sizeof name, "run");
        if (strlen(name) > 150) { /* keep names usable: a prefix and a hash of the rest */
            uint32_t h = fnv1a(name);
            snprintf(name + 140, sizeof name - 140, "-%08x", h);
        }
        snprintf(p->dir, sizeof p->dir, "%s", name);
    }
    /* distinct values may sanitize to the same name: number the later ones */
    size_t *ord = malloc(e->npoints * sizeof *ord);
    if (!ord)
        return;
    for (size_t i = 0; i < e->npoints; i++)
        ord[i] = i;
    qsort_r(ord, e->npoints, sizeof *ord, cmp_dir, e->points);
    for (size_t i = 1; i < e->npoints; i++)
        if (strcmp(e->points[ord[i]].dir, e->points[ord[i - 1]].dir) == 0) {
            size_t j = i;
            while (j < e->npoints && strcmp(e->points[ord[j]].dir, e->points[ord[i - 1]].dir) == 0)
                j++;
            for (size_t m = i; m < j; m++) {
                exp_point *p = &e->points[ord[m]];
                size_t l = strlen(p->dir);
                if (l > sizeof p->dir - 16)
                    l = sizeof p->dir - 16;
                snprintf(p->dir + l, sizeof p->dir - l, "_p%zu", ord[m] + 1);
            }
            i = j - 1;
        }
    free(ord);
}

/* ---- points -------------------------------------------------------------------------------- */
const exp_value *exp_point_value(const exp_experiment *e, const exp_point *p, exp_key k) {
    return &e->set[k].v[p->vi[k]];
}

static const char *pv(const exp_experiment *e, const exp_point *p, exp_key k) {
    return e->set[k].v[p->vi[k]].text;
}

static int pline(const exp_experiment *e, const exp_point *p, exp_key k) {
    return e->set[k].v[p->vi[k]].line;
}

/* The network spec as qsgdsim sim builds it (hosts = workers unless the spec sizes it). */
static void network_spec(const char *net, const char *workers, char *buf, size_t len) {
    if (strstr(net, "hosts=") || strstr(net, "nodes="))
        snprintf(buf, len, "%s", net);
    else
        snprintf(buf, len, "%s%shosts=%s", net, strchr(net, ':') ? "," : ":", workers);
}

/* The registry flags (SIM_EXF_*) of the exchange named name; 0 for an unknown name (already
 * reported where the value was read). Rules ask these, never the exchange's name. */
static unsigned exchange_flags(const char *name) {
    sim_exchange x;
    return sim_exchange_find(name, &x) == 0 ? sim_exchange_get(x)->flags : 0u;
}

#define MAX_ARGV 80

/* Whether setting k is passed at point p, and how: 0 not passed, 1 "--opt" (a flag), 2
 * "--opt value". Read from the table: optional settings only when given, flags when they
 * differ from the option's absence, settings of one kind of exchange only with it. */
static int passed(const exp_experiment *e, const exp_point *p, int k) {
    const sim_setting *s = KEY(k);
    if (s->only_exf && !(exchange_flags(pv(e, p, EXP_EXCHANGE)) & s->only_exf))
        return 0;
    if (s->kind == SIM_SK_FLAG)
        return (exp_point_value(e, p, (exp_key)k)->num != 0) != !!(s->flags & SIM_SF_NEGATED);
    if ((s->flags & SIM_SF_OPTIONAL) && !*pv(e, p, (exp_key)k))
        return 0;
    return 2;
}

/* Arguments of `qsgdsim sim` (sim = 1, from "qsgdsim") or of the trainer only (sim = 0, from
 * the trainer's argv[0]) into av[MAX_ARGV]; pointers into e's strings, opt and outdir.
 * Launcher settings, then --out and "--", then the trainer's, in the table's order. */
typedef char opt_names[EXP_NKEYS][40]; /* "--" + each row's option, for argv */
static int build_args(const exp_experiment *e, const exp_point *p, const char *outdir, int sim,
                      const char **av, opt_names opt) {
    int n = 0;
    if (sim) {
        av[n++] = "qsgdsim";
        av[n++] = "sim";
    } else {
        av[n++] = "qsgdsim-trainer";
    }
    for (int side = 1; side >= 0; side--) {
        for (int k = 0; k < EXP_NKEYS; k++) {
            if (!!(KEY(k)->flags & SIM_SF_LAUNCHER) != side)
                continue;
            int how = passed(e, p, k);
            if (!how || (side && !sim))
                continue;
            snprintf(opt[k], sizeof opt[k], "--%s", KEY(k)->option);
            av[n++] = opt[k];
            if (how == 2)
                av[n++] = pv(e, p, (exp_key)k);
        }
        if (side && sim) {
            av[n++] = "--out";
            av[n++] = outdir;
            av[n++] = "--";
        }
    }
    av[n] = NULL;
    return n;
}

char **exp_point_argv(const exp_experiment *e, const exp_point *p, const char *outdir) {
    const char *av[MAX_ARGV];
    opt_names opt;
    int n = build_args(e, p, outdir, 1, av, opt);
    size_t bytes = (size_t)(n + 1) * sizeof(char *);
    for (int i = 0; i < n; i++)
        bytes += strlen(av[i]) + 1;
    char **out = malloc(bytes);
    if (!out)
        return NULL;
    char *s = (char *)(out + n + 1);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(av[i]) + 1;
        memcpy(s, av[i], l);
        out[i] = s;
        s += l;
    }
    out[n] = NULL;
    return out;
}

/* Properties of a quantizer spec from its type table (quant.h), never from its name:
 * lossless (fp32: all-reduce can sum it; the speedup baseline) and variable-length messages
 * (qsgd format=elias: no double buffering). A spec that does not parse has neither. */
static int quant_lossless(const char *spec) {
    quant_spec qs;
    qsgd_err qe = {0};
    return quant_spec_parse(spec, &qs, &qe) == QSGD_OK && quant_spec_lossless(&qs);
}

static int quant_variable_length(const char *spec) {
    quant_spec qs;
    qsgd_err qe = {0};
    return quant_spec_parse(spec, &qs, &qe) == QSGD_OK && !quant_spec_fixed_size(&qs);
}

/* The line of setting k, the one the trainer's parser (sim_config_parse_at) reports; when
 * the file does not give it (or the error is about no setting), the first setting of the file. */
static int setting_line(const exp_experiment *e, const exp_point *p, int k) {
    int line = k >= 0 && k < EXP_NKEYS ? pline(e, p, (exp_key)k) : 0;
    for (int j = 0; j < EXP_NKEYS && line <= 0; j++)
        if (e->set[j].given && e->set[j].line > 0)
            line = line <= 0 || e->set[j].line < line ? e->set[j].line : line;
    return line;
}

/* The line to report a conflict of setting k with setting other at: k's own when the file
 * gives k, else other's (k is then a default, and the message says so with dflt()). */
static int conflict_line(const exp_experiment *e, const exp_point *p, exp_key k, exp_key other) {
    int l = pline(e, p, k);
    return l > 0 ? l : pline(e, p, other);
}
static const char *dflt(const exp_experiment *e, const exp_point *p, exp_key k) {
    return pline(e, p, k) > 0 ? "" : " (the default)";
}

/* Combinations that cannot run, each reported once at the line of the setting to change
 * (or, when that one is a default, of the setting it conflicts with). Reasons come before
 * echoed values, which are cut to ECHO_MAX characters. */
static void check_point(ctx *c, const exp_point *p) {
    const exp_experiment *e = c->e;
    const char *ex = pv(e, p, EXP_EXCHANGE), *q = pv(e, p, EXP_QUANTIZER);
    long K = (long)exp_point_value(e, p, EXP_WORKERS)->num;
    int overlap = exp_point_value(e, p, EXP_OVERLAP)->num != 0;
    echo_buf b1, b2;
    unsigned xf = exchange_flags(ex);
    /* which quantizers an exchange carries is the trainer's rule (sim_settings.c), checked
     * below through its parser: one place for it */
    if (overlap && !(xf & SIM_EXF_OVERLAP))
        err_at(c, conflict_line(e, p, EXP_OVERLAP, EXP_EXCHANGE),
               "overlap = true%s: overlap is implemented for exchange \"allgather\" only, not "
               "exchange %s (%s)",
               dflt(e, p, EXP_OVERLAP), echo(ex, &b1), where(pline(e, p, EXP_EXCHANGE)));
    if (overlap && quant_variable_length(q))
        err_at(c, conflict_line(e, p, EXP_OVERLAP, EXP_QUANTIZER),
               "overlap = true%s: overlap needs a fixed-size format (fp32, qsgd format=dense, "
               "onebit), and Elias messages vary in length: quantizer %s (%s)",
               dflt(e, p, EXP_OVERLAP), echo(q, &b1), where(pline(e, p, EXP_QUANTIZER)));
    if ((xf & SIM_EXF_SERVER_RANK0) && K < 2)
        err_at(c, conflict_line(e, p, EXP_WORKERS, EXP_EXCHANGE),
               "workers = %ld%s: a parameter server needs at least 2 ranks (rank 0 is the "
               "server): exchange \"ps\" (%s)",
               K, dflt(e, p, EXP_WORKERS), where(pline(e, p, EXP_EXCHANGE)));
    /* the network must have a host per rank */
    char spec[700];
    network_spec(pv(e, p, EXP_NETWORK), pv(e, p, EXP_WORKERS), spec, sizeof spec);
    net_config nc;
    qsgd_err ne = {0};
    if (net_config_parse(spec, &nc, &ne) != QSGD_OK)
        err_at(c, conflict_line(e, p, EXP_NETWORK, EXP_WORKERS),
               "network with workers = %ld (%s): %s; the network is %s%s", K,
               where(pline(e, p, EXP_WORKERS)), ne.msg, echo(pv(e, p, EXP_NETWORK), &b1),
               dflt(e, p, EXP_NETWORK));
    else if ((long)nc.hosts < K)
        err_at(c, conflict_line(e, p, EXP_NETWORK, EXP_WORKERS),
               "network: %u hosts, fewer than workers = %ld (%s); the network is %s%s", nc.hosts, K,
               where(pline(e, p, EXP_WORKERS)), echo(pv(e, p, EXP_NETWORK), &b1),
               dflt(e, p, EXP_NETWORK));
    /* device_eff only with the FLOPs compute model; codec device = compute device: asked of
     * the parsed time models (the trainer's parser), not of their names */
    const char *comp = pv(e, p, EXP_COMPUTE), *codec = pv(e, p, EXP_CODEC);
    sim_config tc, cc;
    sim_config_default(&tc);
    sim_config_default(&cc);
    char why[400];
    if (sim_setting_parse(SIM_SET_COMPUTE, comp, &tc, why, sizeof why) == 0) {
        if (*pv(e, p, EXP_DEVICE_EFF) && tc.compute != SIM_COMPUTE_FLOPS)
            err_at(c, conflict_line(e, p, EXP_DEVICE_EFF, EXP_COMPUTE),
                   "device_eff needs compute = \"flops:DEVICE\"; compute is %s (%s)",
                   echo(comp, &b1), where(pline(e, p, EXP_COMPUTE)));
        if (sim_setting_parse(SIM_SET_CODEC, codec, &cc, why, sizeof why) == 0 &&
            sim_setting_parse(SIM_SET_CODEC, codec, &tc, why, sizeof why) != 0)
            err_at(c, conflict_line(e, p, EXP_CODEC, EXP_COMPUTE),
                   "codec %s names another device than compute %s (%s)", echo(codec, &b1),
                   echo(comp, &b2), where(pline(e, p, EXP_COMPUTE)));
    }
    /* iterations: at least one per epoch, counted in 32 bits, unless max_steps stops earlier */
    double epochs = exp_point_value(e, p, EXP_EPOCHS)->num;
    if (exp_point_value(e, p, EXP_MAX_STEPS)->num == 0 && epochs > SIM_MAX_ITERATIONS)
        err_at(c, conflict_line(e, p, EXP_EPOCHS, EXP_MAX_STEPS),
               "epochs = %s: too large: an epoch is at least one iteration, and the trainer "
               "counts at most %.0f iterations; give fewer epochs, or max_steps to stop earlier",
               pv(e, p, EXP_EPOCHS), SIM_MAX_ITERATIONS);
    if (c->d->nerrors)
        return; /* the trainer's own check below would repeat the errors above */
    /* last, the trainer's parser on the whole command line */
    const char *av[MAX_ARGV];
    opt_names opt;
    int n = build_args(e, p, "", 0, av, opt);
    sim_config sc;
    sim_config_default(&sc);
    char msg[600];
    int help = 0, setting = -1;
    int rc = sim_config_parse_at(n, (char **)av, &sc, &help, &setting, msg, sizeof msg);
    optind = 0;
    if (rc)
        err_at(c, setting_line(e, p, setting), "%s (the trainer's check of point %s)", msg, p->dir);
}

static void make_points(ctx *c) {
    exp_experiment *e = c->e;
    size_t first[EXP_NKEYS + 1];
    size_t nd = dimensions(e, first);
    size_t total = 1;
    for (size_t d = 0; d < nd; d++) {
        size_t n = e->set[e->axes[first[d]]].n;
        if (total > EXP_MAX_POINTS / n + 1) {
            total = EXP_MAX_POINTS + 1;
            break;
        }
        total *= n;
    }
    if (total > EXP_MAX_POINTS) {
        err_at(c, e->set[e->axes[0]].line, "the sweep has more than %d points; split it",
               EXP_MAX_POINTS);
        return;
    }
    e->points = calloc(total, sizeof *e->points);
    if (!e->points) {
        err_at(c, 0, "out of memory for %zu points", total);
        return;
    }
    e->npoints = total;
    size_t idx[EXP_NKEYS] = {0}; /* per dimension */
    for (size_t i = 0; i < total; i++) {
        for (size_t d = 0; d < nd; d++)
            for (size_t a = first[d]; a < first[d + 1]; a++)
                e->points[i].vi[e->axes[a]] = idx[d];
        for (long d = (long)nd - 1; d >= 0; d--) {
            if (++idx[d] < e->set[e->axes[first[d]]].n)
                break;
            idx[d] = 0;
        }
    }
    name_points(e);
}

static int same_value(exp_key k, const exp_value *a, const exp_value *b);

/* The baseline named by the experiment's `baseline` group (exp_point_baseline). */
static long named_baseline(const exp_experiment *e, size_t i) {
    const exp_reference *b = &e->baseline;
    const exp_point *p = &e->points[i];
    int free_pair[EXP_NKEYS + 1] = {0}; /* pairs whose tuple the group picks */
    for (int k = 0; k < EXP_NKEYS; k++)
        if (e->pair[k] && (b->has[k] || (k == EXP_QUANTIZER && !b->has[EXP_QUANTIZER])))
            free_pair[e->pair[k]] = 1;
    for (size_t j = 0; j < e->npoints; j++) {
        const exp_point *c = &e->points[j];
        int ok = 1;
        for (int k = 0; k < EXP_NKEYS && ok; k++) {
            const exp_value *v = exp_point_value(e, c, (exp_key)k);
            if (b->has[k])
                ok = same_value((exp_key)k, &b->v[k], v);
            else if (k == EXP_QUANTIZER)
                ok = quant_lossless(v->text); /* the first lossless one */
            else if (!(e->pair[k] && free_pair[e->pair[k]]))
                ok = c->vi[k] == p->vi[k];
        }
        if (ok)
            return (long)j;
    }
    return -1;
}

long exp_point_baseline(const exp_experiment *e, size_t i) {
    if (e->has_baseline)
        return named_baseline(e, i);
    const exp_setting *q = &e->set[EXP_QUANTIZER];
    const exp_point *p = &e->points[i];
    if (quant_lossless(q->v[p->vi[EXP_QUANTIZER]].text))
        return (long)i;
    if (!q->swept)
        return -1;
    int qp = e->pair[EXP_QUANTIZER];
    size_t fp = q->n;
    for (size_t j = 0; j < q->n && fp == q->n; j++) {
        if (!quant_lossless(q->v[j].text))
            continue;
        int same = 1; /* a paired quantizer: the other settings of the tuple the same */
        for (int k = 0; k < EXP_NKEYS && qp && same; k++)
            if (k != EXP_QUANTIZER && e->pair[k] == qp)
                same = strcmp(e->set[k].v[j].text, e->set[k].v[p->vi[k]].text) == 0;
        if (same)
            fp = j;
    }
    if (fp == q->n)
        return -1;
    /* index of the point with vi[quantizer] = fp: strides of the product's dimensions */
    size_t first[EXP_NKEYS + 1];
    size_t nd = dimensions(e, first);
    size_t stride = 1, idx = 0;
    for (long d = (long)nd - 1; d >= 0; d--) {
        exp_key k = e->axes[first[d]];
        int hasq = k == EXP_QUANTIZER || (qp && e->pair[k] == qp);
        idx += (hasq ? fp : p->vi[k]) * stride;
        stride *= e->set[k].n;
    }
    return (long)idx;
}

/* ---- references ------------------------------------------------------------------------------ */
/* The canonical form of a quantizer or model spec (exp_value.canon), or NULL. */
static char *canon_of(exp_key k, const char *text) {
    if (k == EXP_QUANTIZER) {
        qsgd_err qe = {0};
        quant *q = quant_alloc_spec(text, 1, 1 << 20, &qe);
        char d[256];
        int ok = q && quant_describe(q, d, sizeof d) == 0;
        quant_free(q);
        return ok ? strdup(d) : NULL;
    }
    if (k == EXP_MODEL) {
        model_spec m;
        qsgd_err me = {0};
        memset(&m, 0, sizeof m);
        if (model_spec_parse(text, &m, &me) != QSGD_OK)
            return NULL;
        char *hex = malloc(2 * sizeof m + 1); /* the parsed struct, byte for byte */
        if (hex)
            for (size_t i = 0; i < sizeof m; i++)
                snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)&m)[i]);
        return hex;
    }
    return NULL;
}

/* Fill exp_value.canon of every quantizer and model value (once, before any comparison). */
static void canon_values(exp_experiment *e) {
    static const exp_key ks[] = {EXP_QUANTIZER, EXP_MODEL};
    for (size_t i = 0; i < 2; i++) {
        exp_key k = ks[i];
        for (size_t j = 0; j < e->set[k].n; j++)
            if (!e->set[k].v[j].canon)
                e->set[k].v[j].canon = canon_of(k, e->set[k].v[j].text);
        for (size_t r = 0; r < e->nrefs; r++)
            if (e->refs[r].has[k] && !e->refs[r].v[k].canon)
                e->refs[r].v[k].canon = canon_of(k, e->refs[r].v[k].text);
        if (e->has_baseline && e->baseline.has[k] && !e->baseline.v[k].canon)
            e->baseline.v[k].canon = canon_of(k, e->baseline.v[k].text);
    }
}

static int same_value(exp_key k, const exp_value *a, const exp_value *b) {
    if (strcmp(a->text, b->text) == 0)
        return 1;
    if (exp_key_type(k) == EXP_T_INT || exp_key_type(k) == EXP_T_BOOL)
        return 0; /* canonical text ("%lld"): exact beyond 2^53, where doubles are not */
    if (exp_key_type(k) != EXP_T_STRING)
        return a->num == b->num;
    if (a->canon && b->canon)
        return strcmp(a->canon, b->canon) == 0;
    if (k == EXP_QUANTIZER) { /* canonical descriptions of built instances */
        qsgd_err qe = {0};
        quant *qa = quant_alloc_spec(a->text, 1, 1 << 20, &qe);
        quant *qb = quant_alloc_spec(b->text, 1, 1 << 20, &qe);
        char da[256] = "", db[256] = "-";
        if (qa && qb) {
            quant_describe(qa, da, sizeof da);
            quant_describe(qb, db, sizeof db);
        }
        quant_free(qa);
        quant_free(qb);
        return strcmp(da, db) == 0;
    }
    if (k == EXP_MODEL) {
        model_spec ma, mb;
        qsgd_err me = {0};
        memset(&ma, 0, sizeof ma);
        memset(&mb, 0, sizeof mb);
        return model_spec_parse(a->text, &ma, &me) == QSGD_OK &&
               model_spec_parse(b->text, &mb, &me) == QSGD_OK && memcmp(&ma, &mb, sizeof ma) == 0;
    }
    return 0;
}

const exp_reference *exp_point_reference(const exp_experiment *e, const exp_point *p) {
    for (size_t r = 0; r < e->nrefs; r++) {
        const exp_reference *ref = &e->refs[r];
        int ok = 1;
        for (int k = 0; k < EXP_NKEYS && ok; k++)
            if (ref->has[k])
                ok = same_value((exp_key)k, &ref->v[k], exp_point_value(e, p, (exp_key)k));
        if (ok)
            return ref;
    }
    return NULL;
}

/* A `reference` group (the settings it matches and the paper's numbers), or with base = 1 the
 * `baseline` group (settings only). */
static void read_reference(ctx *c, const config_setting_t *g, exp_reference *r, int base) {
    r->speedup = r->accuracy = NAN;
    r->line = config_setting_source_line(g);
    const char *what0 = base ? "baseline" : "reference";
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        if (base)
            err_s(c, g, "baseline: expected a group { exchange = ...; }, got %s",
                  type_phrase(config_setting_type(g)));
        else
            err_s(c, g,
                  "reference: expected a group { model = ...; speedup = ...; source = ...; }, "
                  "got %s",
                  type_phrase(config_setting_type(g)));
        return;
    }
    int n = config_setting_length(g), numbers = 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        int k = exp_key_find(name);
        if (k >= 0) {
            if (is_list(m) || (config_setting_type(m) == CONFIG_TYPE_GROUP)) {
                err_s(c, m, "%s %s: expected one value (%s), got %s", what0, name,
                      expected_phrase(exp_key_type(k)), type_phrase(config_setting_type(m)));
                continue;
            }
            exp_value v = {0};
            char what[64];
            snprintf(what, sizeof what, "%s %s", what0, name);
            if (read_scalar(c, what, exp_key_type(k), m, &v))
                continue;
            char msg[700];
            if (check_value((exp_key)k, &v, msg, sizeof msg)) {
                echo_buf b;
                err_s(c, m, "%s %s: %s; the value is %s", what0, name, msg, echo(v.text, &b));
                value_free(&v);
                continue;
            }
            r->has[k] = 1;
            r->v[k] = v;
        } else if (base) {
            echo_buf b;
            err_s(c, m,
                  "baseline: unknown field %s (a baseline group names settings only, e.g. "
                  "baseline = { exchange = \"allreduce\"; quantizer = \"fp32\"; })",
                  echo1(name, strlen(name), &b));
        } else if (!strcmp(name, "group")) {
            exp_value v = {0};
            if (read_scalar(c, "reference group", EXP_T_STRING, m, &v))
                continue;
            if (strlen(v.text) > 60 || strpbrk(v.text, "\t\n\r")) {
                echo_buf b;
                err_s(c, m,
                      "reference group: at most 60 characters, no tabs or newlines; the "
                      "value is %s",
                      echo(v.text, &b));
                value_free(&v);
                continue;
            }
            free(r->group);
            r->group = v.text;
        } else if (!strcmp(name, "speedup") || !strcmp(name, "accuracy")) {
            exp_value v = {0};
            char what[64];
            snprintf(what, sizeof what, "reference %s", name);
            if (read_scalar(c, what, EXP_T_FLOAT, m, &v)) {
                numbers++; /* given, but wrong: reported */
                continue;
            }
            numbers++;
            value_free(&v);
            if (!strcmp(name, "speedup")) {
                if (!(v.num > 0))
                    err_s(c, m, "reference speedup must be > 0 (got %g)", v.num);
                r->speedup = v.num;
            } else {
                if (!(v.num >= 0 && v.num <= 1))
                    err_s(c, m, "reference accuracy is a fraction in [0, 1] (got %g)", v.num);
                r->accuracy = v.num;
            }
        } else if (!strcmp(name, "source")) {
            exp_value v = {0};
            if (read_scalar(c, name, EXP_T_STRING, m, &v))
                continue;
            free(r->source);
            r->source = v.text;
        } else {
            char valid[1024];
            size_t off = 0;
            for (size_t j = 0; j < N_REF_FIELDS; j++)
                off += (size_t)snprintf(valid + off, sizeof valid - off, "%s, ", ref_fields[j]);
            for (int j = 0; j < EXP_NKEYS && off < sizeof valid; j++)
                off += (size_t)snprintf(valid + off, sizeof valid - off, "%s%s", KEY(j)->name,
                                        j + 1 < EXP_NKEYS ? ", " : "");
            echo_buf b;
            err_s(c, m, "reference: unknown field %s (valid: %s)", echo1(name, strlen(name), &b),
                  valid);
        }
    }
    if (base) {
        int any = 0;
        for (int k = 0; k < EXP_NKEYS; k++)
            any |= r->has[k];
        if (!any)
            err_s(c, g,
                  "baseline: an empty group; name the settings of the baseline point, "
                  "e.g. baseline = { exchange = \"allreduce\"; }");
    } else if (!numbers)
        err_s(c, g, "reference: give speedup = X and/or accuracy = A (the paper's numbers)");
    if (!r->group && !(r->group = strdup("")))
        err_s(c, g, "out of memory");
    if (!r->source && !(r->source = strdup("")))
        err_s(c, g, "out of memory");
}

/* ---- the file's text: size, NUL bytes, integer literals --------------------------------------
 * The experiment file is read here (at most EXP_MAX_FILE_BYTES) and given to libconfig as a
 * string; its @include'd files are read the same way first, so that no file libconfig reads
 * is over the limit. The text is scanned for integer literals, because libconfig 1.5 keeps a
 * plain integer in an int and silently wraps a larger one (4294967296 reads as 0): every
 * integer setting is matched to its literal and a number libconfig does not hold is
 * reported "too large" at its line instead of being used wrapped. */

/* Read path into a NUL-terminated heap buffer. 0, or -1 with msg set. */
static int read_text(const char *path, char **text, size_t *len, char *msg, size_t msglen) {
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, msglen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > EXP_MAX_FILE_BYTES) {
        snprintf(msg, msglen, "%lld bytes; experiment files are limited to %d bytes",
                 (long long)st.st_size, EXP_MAX_FILE_BYTES);
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)EXP_MAX_FILE_BYTES + 2);
    if (!buf) {
        snprintf(msg, msglen, "out of memory reading the file");
        close(fd);
        return -1;
    }
    size_t n = 0;
    for (;;) { /* a pipe or a device has no size: read one byte past the limit */
        ssize_t r = read(fd, buf + n, (size_t)EXP_MAX_FILE_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(msg, msglen, "cannot read: %s", strerror(errno));
            break;
        }
        if (r == 0) {
            close(fd);
            buf[n] = '\0';
            *text = buf;
            *len = n;
            return 0;
        }
        n += (size_t)r;
        if (n > EXP_MAX_FILE_BYTES) {
            snprintf(msg, msglen, "more than %d bytes; experiment files are limited to %d bytes",
                     EXP_MAX_FILE_BYTES, EXP_MAX_FILE_BYTES);
            break;
        }
    }
    free(buf);
    close(fd);
    return -1;
}

static void err_in(ctx *c, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_in(ctx *c, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, 0, file, line, fmt, ap);
    va_end(ap);
}

/* Record the integer literal tok[0..n) (digits with an optional sign, or 0x hex digits,
 * then an optional L or LL) of line `line`. */
static void add_literal(src_text *t, int line, const char *tok, size_t n) {
    if (t->nlit == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        int_lit *l = realloc(t->lit, cap * sizeof *l);
        if (!l)
            return; /* unmatched integers are then taken as libconfig read them */
        t->lit = l;
        t->cap = cap;
    }
    int_lit *l = &t->lit[t->nlit++];
    memset(l, 0, sizeof *l);
    l->line = line;
    if (n < sizeof l->text)
        snprintf(l->text, sizeof l->text, "%.*s", (int)n, tok);
    else
        snprintf(l->text, sizeof l->text, "%.*s...", (int)sizeof l->text - 4, tok);
    size_t k = n;
    l->plain = tok[k - 1] != 'L';
    while (k > 0 && tok[k - 1] == 'L')
        k--;
    int hex = k > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X');
    const char *d = tok + (hex ? 2 : 0);
    size_t dl = k - (hex ? 2 : 0);
    char num[32];
    size_t o = 0;
    if (!hex && (*d == '-' || *d == '+')) {
        num[o++] = *d++;
        dl--;
    }
    while (dl > 1 && *d == '0') { /* leading zeros do not make a number larger */
        d++;
        dl--;
    }
    if (dl + o >= sizeof num) /* more digits than any 64-bit number has */
        return;
    memcpy(num + o, d, dl);
    num[o + dl] = '\0';
    errno = 0;
    if (hex) {
        unsigned long long u = strtoull(num, NULL, 16);
        l->fits = errno == 0 && u <= (unsigned long long)LLONG_MAX;
        l->val = l->fits ? (long long)u : 0;
    } else {
        long long v = strtoll(num, NULL, 10);
        l->fits = errno == 0;
        l->val = v;
    }
}

static int name_start(int ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '*';
}
static int name_char(int ch) {
    return name_start(ch) || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}
static int is_digit(int ch) {
    return ch >= '0' && ch <= '9';
}

/* The integer literal starting at s[0] (a digit, or a sign before a digit), or 0 if the
 * number token there is something else (a float); *end gets the token's end. */
static size_t number_token(const char *s, size_t len, size_t *end) {
    size_t j = 0;
    if (s[0] == '-' || s[0] == '+')
        j = 1;
    int hex = j == 0 && len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    size_t k = j;
    while (k < len && (name_char((unsigned char)s[k]) || s[k] == '.' ||
                       ((s[k] == '+' || s[k] == '-') && !hex && k > j &&
                        (s[k - 1] == 'e' || s[k - 1] == 'E'))))
        k++;
    *end = k;
    size_t m = hex ? 2 : j;
    if (hex) {
        while (m < k &&
               ((s[m] >= '0' && s[m] <= '9') || ((s[m] | 32) >= 'a' && (s[m] | 32) <= 'f')))
            m++;
        if (m == 2)
            return 0;
    } else {
        while (m < k && is_digit((unsigned char)s[m]))
            m++;
    }
    size_t nl = 0;
    while (m + nl < k && s[m + nl] == 'L' && nl < 2)
        nl++;
    return m + nl == k ? k : 0;
}

static int scan_source(ctx *c, const char *name, const char *text, size_t len, const char *dir,
                       int depth);

/* An @include "name" at line `line` of file `from`: check its size and scan it. */
static int scan_include(ctx *c, const char *from, int line, const char *name, const char *dir,
                        int depth) {
    if (depth >= 10 || c->nsrc == MAX_SOURCES)
        return 0; /* libconfig reports the nesting itself; unscanned integers are taken as read */
    char full[2048];
    if (dir)
        snprintf(full, sizeof full, "%s/%s", dir, name); /* as libconfig 1.5 joins them */
    else
        snprintf(full, sizeof full, "%s", name);
    char *text;
    size_t len;
    char msg[300];
    if (read_text(full, &text, &len, msg, sizeof msg)) {
        if (strncmp(msg, "cannot open", 11) == 0)
            return 0; /* libconfig says "cannot open include file" at this line */
        echo_buf b;
        err_in(c, from, line, "@include %s: %s", echo(name, &b), msg);
        return -1;
    }
    int rc = scan_source(c, name, text, len, dir, depth + 1);
    free(text);
    return rc;
}

/* Scan one file's text: a NUL byte is an error; integer literals are recorded in a new
 * source; @include'd files are scanned in turn. 0, or -1 after an error. */
static int scan_source(ctx *c, const char *name, const char *text, size_t len, const char *dir,
                       int depth) {
    if (c->nsrc == MAX_SOURCES)
        return 0;
    const char *file = name ? name : c->file;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        err_in(c, file, line, "a NUL byte at offset %zu: an experiment file is text",
               (size_t)(nul - text));
        return -1;
    }
    src_text *t = &c->src[c->nsrc++];
    t->path = name ? strdup(name) : NULL;
    int line = 1, bol = 1, rc = 0;
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            line++;
            bol = 1;
            i++;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f') {
            i++;
            continue;
        }
        int at_bol = bol;
        bol = 0;
        if (ch == '#' || (ch == '/' && i + 1 < len && text[i + 1] == '/')) {
            while (i < len && text[i] != '\n')
                i++;
        } else if (ch == '/' && i + 1 < len && text[i + 1] == '*') {
            for (i += 2; i < len && !(text[i] == '*' && i + 1 < len && text[i + 1] == '/'); i++)
                line += text[i] == '\n';
            i += 2;
        } else if (ch == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                if (text[i] == '\\' && i + 1 < len)
                    i++;
                line += text[i] == '\n';
            }
            i++;
        } else if (ch == '@' && at_bol && strncmp(text + i, "@include", 8) == 0) {
            size_t j = i + 8;
            while (j < len && (text[j] == ' ' || text[j] == '\t'))
                j++;
            char inc[1024];
            size_t o = 0;
            if (j < len && text[j] == '"') {
                for (j++; j < len && text[j] != '"' && text[j] != '\n'; j++) {
                    if (text[j] == '\\' && j + 1 < len &&
                        (text[j + 1] == '\\' || text[j + 1] == '"'))
                        j++;
                    if (o + 1 < sizeof inc)
                        inc[o++] = text[j];
                }
                inc[o] = '\0';
                if (scan_include(c, file, line, inc, dir, depth))
                    rc = -1;
            }
            i = j + 1;
        } else if (name_start(ch)) {
            while (i < len && name_char((unsigned char)text[i]))
                i++;
        } else if (is_digit(ch) || ((ch == '-' || ch == '+' || ch == '.') && i + 1 < len &&
                                    is_digit((unsigned char)text[i + 1]))) {
            size_t end;
            size_t n = number_token(text + i, len - i, &end);
            if (n)
                add_literal(t, line, text + i, n);
            i += end ? end : 1;
        } else {
            i++;
        }
    }
    return rc;
}

/* The source a setting was read from (libconfig names an @include'd file as written, and
 * the experiment file, read from a string, not at all). */
static src_text *source_of(ctx *c, const config_setting_t *s) {
    const char *f = config_setting_source_file(s);
    if (!f || strcmp(f, c->file) == 0)
        return c->nsrc ? &c->src[0] : NULL;
    for (size_t i = 1; i < c->nsrc; i++)
        if (c->src[i].path && strcmp(c->src[i].path, f) == 0)
            return &c->src[i];
    return NULL;
}

/* A literal libconfig does not hold as written: beyond 64 bits, or a plain integer beyond
 * 32 bits (libconfig 1.5 wraps it; newer versions read it as a 64-bit one, which the value
 * match finds first). */
static int lit_wraps(const int_lit *l) {
    return !l->fits || (l->plain && (l->val < INT_MIN || l->val > INT_MAX));
}

static void report_wrapped(ctx *c, const char *file, int line, const char *what, const int_lit *l) {
    if (!l->fits)
        err_in(c, file, line, "%s = %s: too large: an integer is at most 64 bits (%lld..%lld)",
               what, l->text, LLONG_MIN, LLONG_MAX);
    else
        err_in(c, file, line,
               "%s = %s: too large for a plain integer, which libconfig 1.5 holds in 32 bits "
               "(%d..%d); write %sL for a 64-bit integer",
               what, l->text, INT_MIN, INT_MAX, l->text);
}

/* "quantizer bits", "seeds": the names from the top-level setting down to s. */
static void setting_path(const config_setting_t *s, char *buf, size_t len) {
    const char *names[8];
    int n = 0;
    for (const config_setting_t *t = s; t && !config_setting_is_root(t);
         t = config_setting_parent(t))
        if (config_setting_name(t)) {
            if (n == 8)
                n--; /* keep the top-level name */
            names[n++] = config_setting_name(t);
        }
    size_t off = 0;
    buf[0] = '\0';
    for (int i = n - 1; i >= 0 && off < len; i--)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i == n - 1 ? "" : " ", names[i]);
    if (n == 0)
        snprintf(buf, len, "an integer");
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;
    return x < y ? -1 : x > y;
}

/* Match integer setting s to its literal: the next unmatched one of its line. */
static void match_integer(ctx *c, const config_setting_t *s) {
    src_text *t = source_of(c, s);
    if (!t)
        return;
    int line = config_setting_source_line(s);
    long long v = config_setting_get_int64(s);
    while (t->cur < t->nlit && (t->lit[t->cur].line < line || t->lit[t->cur].used))
        t->cur++;
    int_lit *wrap = NULL;
    for (size_t i = t->cur; i < t->nlit && t->lit[i].line == line && i < t->cur + 64; i++) {
        int_lit *l = &t->lit[i];
        if (l->used)
            continue;
        if (l->fits && l->val == v) {
            l->used = 1;
            return;
        }
        if (!wrap && lit_wraps(l))
            wrap = l;
    }
    if (!wrap)
        return; /* no literal found (an odd layout): taken as libconfig read it */
    wrap->used = 1;
    char what[200];
    setting_path(s, what, sizeof what);
    report_wrapped(c, config_setting_source_file(s), line, what, wrap);
    if (c->nwrapped == c->capwrapped) {
        size_t cap = c->capwrapped ? 2 * c->capwrapped : 16;
        const config_setting_t **w = realloc(c->wrapped, cap * sizeof *w);
        if (!w)
            return;
        c->wrapped = w;
        c->capwrapped = cap;
    }
    c->wrapped[c->nwrapped++] = s;
}

static void match_integers(ctx *c, const config_setting_t *s) {
    int ty = config_setting_type(s);
    if (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64) {
        match_integer(c, s);
    } else if (ty == CONFIG_TYPE_GROUP || ty == CONFIG_TYPE_LIST || ty == CONFIG_TYPE_ARRAY) {
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++)
            match_integers(c, config_setting_get_elem(s, (unsigned)i));
    }
}

/* Every integer setting of the file checked against its literal; literals that would wrap
 * but matched no setting are reported too (never a wrapped number used silently). */
static void check_integers(ctx *c, const config_setting_t *root) {
    match_integers(c, root);
    for (size_t i = 0; i < c->nsrc; i++)
        for (size_t j = 0; j < c->src[i].nlit; j++) {
            int_lit *l = &c->src[i].lit[j];
            if (!l->used && lit_wraps(l))
                report_wrapped(c, c->src[i].path, l->line, "an integer", l);
        }
    if (c->nwrapped)
        qsort(c->wrapped, c->nwrapped, sizeof *c->wrapped, cmp_ptr);
}

/* Whether s is an integer already reported "too large" (its value is a wrapped one). */
static int wrapped(const ctx *c, const config_setting_t *s) {
    return c->nwrapped && bsearch(&s, c->wrapped, c->nwrapped, sizeof *c->wrapped, cmp_ptr);
}

/* An integer literal of the experiment file's line `line` beyond 64 bits: newer libconfig
 * versions reject it as a syntax error, which is then reported as what it is. */
static const int_lit *overflow_at(const ctx *c, int line) {
    if (!c->nsrc)
        return NULL;
    for (size_t j = 0; j < c->src[0].nlit; j++)
        if (c->src[0].lit[j].line == line && !c->src[0].lit[j].fits)
            return &c->src[0].lit[j];
    return NULL;
}

static void ctx_free(ctx *c) {
    for (size_t i = 0; i < c->nsrc; i++) {
        free(c->src[i].path);
        free(c->src[i].lit);
    }
    free(c->wrapped);
}

/* ---- the file ------------------------------------------------------------------------------ */
static void set_default(exp_setting *st, exp_key k) {
    exp_value v = {strdup(KEY(k)->def), NAN, 0, NULL};
    if (exp_key_type(k) == EXP_T_BOOL)
        v.num = strcmp(KEY(k)->def, "true") == 0;
    else if (exp_key_type(k) != EXP_T_STRING && *KEY(k)->def)
        v.num = strtod(KEY(k)->def, NULL);
    if (v.text)
        push_value(st, &v);
}

static void stem(const char *path, char *out, size_t len) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", b);
    char *dot = strrchr(tmp, '.');
    if (dot && dot != tmp)
        *dot = '\0';
    size_t o = 0;
    for (const char *t = tmp; *t && o + 1 < len; t++) {
        int ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *t) &&
                 !(o == 0 && *t == '.');
        out[o++] = ok ? *t : '-';
    }
    out[o] = '\0';
    if (!*out)
        snprintf(out, len, "experiment");
}

exp_experiment *exp_config_load(const char *path, exp_diag *d) {
    exp_experiment *e = calloc(1, sizeof *e);
    ctx c = {.e = e, .d = d, .file = path};
    if (!e) {
        err_at(&c, 0, "out of memory");
        return NULL;
    }
    snprintf(e->path, sizeof e->path, "%s", path);
    /* the text first: size limit, NUL bytes, @include'd files, integer literals */
    char *text;
    size_t len;
    char msg[300];
    if (read_text(path, &text, &len, msg, sizeof msg)) {
        err_at(&c, 0, "%s", msg);
        free(e);
        return NULL;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (scan_source(&c, NULL, text, len, slash ? dir : NULL, 0)) {
        free(text);
        ctx_free(&c);
        free(e);
        return NULL;
    }
    config_t cfg;
    config_init(&cfg);
    if (slash)
        config_set_include_dir(&cfg, dir); /* @include "x.cfg" next to the file */
    int read_ok = config_read_string(&cfg, text) == CONFIG_TRUE;
    free(text);
    if (!read_ok) {
        char *s = NULL;
        const char *ef = config_error_file(&cfg);
        const char *et = config_error_text(&cfg) ? config_error_text(&cfg) : "cannot read";
        const char *hint = "";
        const int_lit *big =
            ef || !strstr(et, "syntax error") ? NULL : overflow_at(&c, config_error_line(&cfg));
        if (big)
            report_wrapped(&c, NULL, config_error_line(&cfg), "an integer", big);
        else if (strstr(et, "mismatched element type"))
            hint =
                " (an array [ ... ] holds one type: write 1.0 for a float, or use a list ( ... ))";
        else if (config_error_type(&cfg) == CONFIG_ERR_PARSE)
            hint = " (libconfig: `key = value;`, strings in double quotes, lists [a, b] or (a, b), "
                   "groups { key = value; })";
        if (!big &&
            asprintf(&s, "%s:%d: %s%s", ef ? ef : path, config_error_line(&cfg), et, hint) >= 0) {
            diag_push(d, s);
            d->nerrors++;
        }
        config_destroy(&cfg);
        ctx_free(&c);
        free(e);
        return NULL;
    }
    const config_setting_t *root = config_root_setting(&cfg);
    check_integers(&c, root);
    stem(path, e->name, sizeof e->name);
    e->description = strdup("");
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) { /* pairs first: a paired setting may repeat values */
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        if (strcmp(config_setting_name(s), "pair") == 0)
            read_pairs(&c, s);
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        int k = exp_key_find(name);
        if (k >= 0) {
            if (read_setting(&c, (exp_key)k, s) == 0) {
                if (e->set[k].swept)
                    e->axes[e->naxes++] = (exp_key)k;
            } else
                c.bad[k] = 1;
        } else if (strcmp(name, "pair") == 0) {
            continue; /* read above */
        } else if (strcmp(name, "name") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                err_s(&c, s, "name: expected a string, got %s",
                      type_phrase(config_setting_type(s)));
                continue;
            }
            const char *v = config_setting_get_string(s);
            size_t l = strlen(v);
            echo_buf eb;
            if (l == 0 || l >= sizeof e->name || v[0] == '.' ||
                strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-=") !=
                    l)
                err_s(&c, s,
                      "name: must be 1..%zu letters, digits, '.', '_', '-', '=' (a directory "
                      "name under results/), not starting with '.'; the value is %s",
                      sizeof e->name - 1, echo(v, &eb));
            else
                snprintf(e->name, sizeof e->name, "%s", v);
        } else if (strcmp(name, "description") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                err_s(&c, s, "description: expected a string, got %s",
                      type_phrase(config_setting_type(s)));
                continue;
            }
            free(e->description);
            e->description = strdup(config_setting_get_string(s));
        } else if (strcmp(name, "reference") == 0) {
            int single = config_setting_type(s) == CONFIG_TYPE_GROUP;
            if (!single && !is_list(s)) {
                err_s(&c, s, "reference: expected a list of groups ( { ... }, { ... } ), got %s",
                      type_phrase(config_setting_type(s)));
                continue;
            }
            int nr = single ? 1 : config_setting_length(s);
            if (e->nrefs + (size_t)nr > EXP_MAX_REFERENCES) {
                err_s(&c, s,
                      "reference: %zu groups, more than %d (every point is compared with "
                      "every reference); keep the paper's numbers only",
                      e->nrefs + (size_t)nr, EXP_MAX_REFERENCES);
                continue;
            }
            exp_reference *r = realloc(e->refs, (e->nrefs + (size_t)nr) * sizeof *r);
            if (!r)
                continue;
            e->refs = r;
            for (int j = 0; j < nr; j++) {
                exp_reference *ref = &e->refs[e->nrefs++];
                memset(ref, 0, sizeof *ref);
                read_reference(&c, single ? s : config_setting_get_elem(s, (unsigned)j), ref, 0);
            }
        } else if (strcmp(name, "baseline") == 0) {
            e->has_baseline = 1;
            read_reference(&c, s, &e->baseline, 1);
        } else {
            char valid[1024];
            valid_keys(name, 0, valid, sizeof valid);
            echo_buf eb;
            err_s(&c, s, "unknown setting %s (%s)", echo1(name, strlen(name), &eb), valid);
        }
    }
    int given = 0;
    for (int k = 0; k < EXP_NKEYS; k++)
        given |= e->set[k].given;
    if (!given && d->nerrors == 0)
        err_at(&c, 0,
               "no experiment keys: the file sets none of the settings (model, data, "
               "quantizer, workers, ...: `qsgdsim list settings`), and an experiment of "
               "defaults alone is refused; give at least one");
    check_pairs(&c);
    for (int k = 0; k < EXP_NKEYS; k++)
        if (!e->set[k].given)
            set_default(&e->set[k], (exp_key)k);
    if (d->nerrors == 0) {
        order_axes(&c);
        make_points(&c);
    }
    for (size_t i = 0; i < e->npoints; i++)
        check_point(&c, &e->points[i]);
    /* references that match nothing are probably typos */
    if (d->nerrors == 0 && (e->nrefs || e->has_baseline))
        canon_values(e);
    if (d->nerrors == 0 && e->has_baseline) { /* a baseline that is never found is a typo */
        size_t without = 0;
        for (size_t i = 0; i < e->npoints; i++)
            without += exp_point_baseline(e, i) < 0;
        if (without == e->npoints)
            err_at(&c, e->baseline.line,
                   "baseline: no point of the experiment has these settings%s; every speedup "
                   "would be empty",
                   e->baseline.has[EXP_QUANTIZER] ? "" : " and a lossless quantizer (fp32)");
        else if (without)
            warn_at(&c, e->baseline.line,
                    "baseline: %zu of %zu points have no baseline point (no point with these "
                    "settings and their other values): their speedup is empty",
                    without, e->npoints);
    }
    if (d->nerrors == 0)
        for (size_t i = 0; i < e->npoints; i++) {
            const exp_reference *r = exp_point_reference(e, &e->points[i]);
            if (r)
                ((exp_reference *)r)->matches++;
        }
    for (size_t r = 0; r < e->nrefs && d->nerrors == 0; r++)
        if (!e->refs[r].matches)
            warn_at(&c, e->refs[r].line, "this reference matches no point of the experiment");
    if (c.dropped) {
        char *s = NULL;
        if (asprintf(&s, "%s: ... and %zu more errors", path, c.dropped) >= 0)
            diag_push(d, s);
    }
    config_destroy(&cfg);
    ctx_free(&c);
    if (d->nerrors) {
        exp_experiment_free(e);
        return NULL;
    }
    return e;
}

void exp_experiment_free(exp_experiment *e) {
    if (!e)
        return;
    for (int k = 0; k < EXP_NKEYS; k++) {
        for (size_t i = 0; i < e->set[k].n; i++)
            value_free(&e->set[k].v[i]);
        free(e->set[k].v);
    }
    for (size_t r = 0; r < e->nrefs; r++) {
        for (int k = 0; k < EXP_NKEYS; k++)
            if (e->refs[r].has[k])
                value_free(&e->refs[r].v[k]);
        free(e->refs[r].source);
        free(e->refs[r].group);
    }
    for (int k = 0; k < EXP_NKEYS; k++)
        if (e->has_baseline && e->baseline.has[k])
            value_free(&e->baseline.v[k]);
    free(e->baseline.source);
    free(e->baseline.group);
    free(e->refs);
    free(e->points);
    free(e->description);
    free(e);
}
