/* sim_settings.c — the run settings (sim/sim_settings.def, sim.h): the table, and what is
 * generated from it: sim_config's defaults, the trainer's options, parse, --help and config
 * dump, the checks of experiment-file values and the markdown table of the docs. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "net.h"
#include "optim.h"
#include "sim.h"

/* ---- the table ---------------------------------------------------------------------------- */
static const qsgd_opt_choice sim_exchange_choices[] = {
#define SIM_EXCHANGE(id, name, flags, summary) {#name, SIM_EX_##id},
#include "exchanges.def"
#undef SIM_EXCHANGE
    {NULL, 0}};
static const qsgd_opt_choice sim_allreduce_choices[] = {{"ring", 0}, {"mpi", 1}, {NULL, 0}};
static const qsgd_opt_choice sim_allreduce_sum_choices[] = {
    {"fp32", 0},
    {"wire", SIM_ARSUM_WIRE},
    {"fp32-measure", SIM_ARSUM_MEASURE},
    {"wire-measure", SIM_ARSUM_WIRE | SIM_ARSUM_MEASURE},
    {NULL, 0}};

static int sim_parse_compute(sim_config *c, const char *v, char *err, size_t errlen);
static void sim_format_compute(const sim_config *c, char *buf, size_t len);
static int sim_parse_codec(sim_config *c, const char *v, char *err, size_t errlen);
static void sim_format_codec(const sim_config *c, char *buf, size_t len);
static int sim_parse_backend(sim_config *c, const char *v, char *err, size_t errlen);
static void sim_format_backend(const sim_config *c, char *buf, size_t len);

#define SIM_FIELD(f) .offset = offsetof(sim_config, f), .size = sizeof(((sim_config *)0)->f)
static const sim_setting settings[] = {
#define SIM_SETTING(id, ...) [SIM_SET_##id] = __VA_ARGS__,
#define SIM_OPTION(id, ...) [SIM_SET_##id] = __VA_ARGS__,
#include "sim_settings.def"
#undef SIM_SETTING
#undef SIM_OPTION
};
#undef SIM_FIELD
_Static_assert(sizeof settings / sizeof settings[0] == SIM_NSETTINGS, "one row per setting");
_Static_assert(sizeof(sim_exchange) == sizeof(int) && sizeof(model_device) == sizeof(int),
               "enum fields are ints");

const sim_setting *sim_setting_get(int id) {
    return id >= 0 && id < SIM_NSETTINGS ? &settings[id] : NULL;
}

int sim_setting_find(const char *name, int option) {
    for (int i = 0; i < SIM_NSETTINGS; i++)
        if (option ? strcmp(settings[i].option, name) == 0
                   : i < SIM_NKEYS && strcmp(settings[i].name, name) == 0)
            return i;
    return -1;
}

void sim_setting_choices(const sim_setting *s, const char *sep, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = '\0';
    for (const qsgd_opt_choice *ch = s->choices; ch && ch->name && off < len; ch++) {
        int n = snprintf(buf + off, len - off, "%s%s", ch == s->choices ? "" : sep, ch->name);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- values --------------------------------------------------------------------------------- */
/* A count: decimal digits only (no sign, no blanks), at most SIZE_MAX ("too large" beyond,
 * never a wrapped value). */
static int parse_size(const char *s, size_t *out, char *err, size_t errlen) {
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return fail(err, errlen, "'%s' is not a non-negative integer", s);
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return fail(err, errlen, "'%s' is not a non-negative integer", s);
    if (errno == ERANGE || v > SIZE_MAX)
        return fail(err, errlen, "'%s' is too large (at most %zu)", s, (size_t)SIZE_MAX);
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *s, double *out, char *err, size_t errlen) {
    char *end;
    double v = strtod(s, &end);
    if (*end || s[0] == '\0' || v != v)
        return fail(err, errlen, "'%s' is not a number", s);
    if (!isfinite(v))
        return fail(err, errlen, "'%s' is too large (not a finite double)", s);
    *out = v;
    return 0;
}

/* "must be ..." of a number row, into buf. */
static void range_text(const sim_setting *s, char *buf, size_t len) {
    if (s->kind == SIM_SK_DOUBLE) {
        if (isinf(s->dmax))
            snprintf(buf, len, "must be %s %g", s->flags & SIM_SF_OPEN_MIN ? ">" : ">=", s->dmin);
        else
            snprintf(buf, len, "must be in %c%g, %g]", s->flags & SIM_SF_OPEN_MIN ? '(' : '[',
                     s->dmin, s->dmax);
    } else if (s->max >= SIZE_MAX) {
        snprintf(buf, len, "must be >= %llu", s->min);
    } else {
        snprintf(buf, len, "must be in %llu..%llu", s->min, s->max);
    }
}

static int double_in_range(const sim_setting *s, double v) {
    return (s->flags & SIM_SF_OPEN_MIN ? v > s->dmin : v >= s->dmin) && v <= s->dmax;
}

static void *field(const sim_setting *s, sim_config *c) {
    return (char *)c + s->offset;
}
static const void *cfield(const sim_setting *s, const sim_config *c) {
    return (const char *)c + s->offset;
}

int sim_setting_parse(int id, const char *v, sim_config *c, char *err, size_t errlen) {
    const sim_setting *s = sim_setting_get(id);
    if (!s || (s->flags & SIM_SF_LAUNCHER))
        return fail(err, errlen, "not a trainer setting");
    char range[64];
    switch (s->kind) {
    case SIM_SK_STRING:
        if (strlen(v) >= s->size)
            return fail(err, errlen, "value too long (max %zu characters)", s->size - 1);
        memcpy(field(s, c), v, strlen(v) + 1);
        return 0;
    case SIM_SK_COUNT: {
        size_t z = 0;
        if (parse_size(v, &z, err, errlen))
            return -1;
        if (z < s->min || z > s->max) {
            range_text(s, range, sizeof range);
            return fail(err, errlen, "'%s' %s", v, range);
        }
        if (s->size == sizeof(uint64_t))
            *(uint64_t *)field(s, c) = (uint64_t)z;
        else
            *(int *)field(s, c) = (int)z;
        return 0;
    }
    case SIM_SK_DOUBLE: {
        double d = 0;
        if (parse_double(v, &d, err, errlen))
            return -1;
        if (!double_in_range(s, d)) {
            range_text(s, range, sizeof range);
            return fail(err, errlen, "'%s' %s", v, range);
        }
        *(double *)field(s, c) = d;
        return 0;
    }
    case SIM_SK_FLAG: /* NULL: the option given; else the setting's value */
        if (!v)
            *(int *)field(s, c) = !(s->flags & SIM_SF_NEGATED);
        else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            *(int *)field(s, c) = v[0] == 't';
        else
            return fail(err, errlen, "'%s' is not true or false", v);
        return 0;
    case SIM_SK_ENUM:
        for (const qsgd_opt_choice *ch = s->choices; ch->name; ch++)
            if (strcmp(ch->name, v) == 0) {
                *(int *)field(s, c) = ch->value;
                return 0;
            }
        char names[256];
        sim_setting_choices(s, ", ", names, sizeof names);
        return fail(err, errlen, "unknown '%s' (valid: %s)", v, names);
    case SIM_SK_HOOK:
        return s->parse(c, v, err, errlen);
    }
    return fail(err, errlen, "bad row");
}

/* The value of row s in c as the dump writes it. */
static void format_value(const sim_setting *s, const sim_config *c, char *buf, size_t len) {
    switch (s->kind) {
    case SIM_SK_STRING:
        snprintf(buf, len, "%s", (const char *)cfield(s, c));
        return;
    case SIM_SK_COUNT:
        if (s->size == sizeof(uint64_t))
            snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)cfield(s, c));
        else
            snprintf(buf, len, "%d", *(const int *)cfield(s, c));
        return;
    case SIM_SK_DOUBLE:
        snprintf(buf, len, "%g", *(const double *)cfield(s, c));
        return;
    case SIM_SK_FLAG:
        snprintf(buf, len, "%d", *(const int *)cfield(s, c));
        return;
    case SIM_SK_ENUM:
        for (const qsgd_opt_choice *ch = s->choices; ch->name; ch++)
            if (ch->value == *(const int *)cfield(s, c)) {
                snprintf(buf, len, "%s", ch->name);
                return;
            }
        snprintf(buf, len, "?");
        return;
    case SIM_SK_HOOK:
        s->format(c, buf, len);
        return;
    }
}

/* ---- the compute and codec time models, the gradient device ------------------------------- */
/* A time model of registry reg (sim_compute_models, sim_codec_models) spelled NAME[:ARG]:
 * *kind = its index, its fields set by its parse hook. */
static int parse_time_model(const sim_time_model *const *reg, int *kind, sim_config *c,
                            const char *a, char *err, size_t errlen) {
    const char *colon = strchr(a, ':');
    size_t nl = colon ? (size_t)(colon - a) : strlen(a);
    for (int i = 0; reg[i]; i++) {
        const sim_time_model *m = reg[i];
        if (strlen(m->name) != nl || strncmp(m->name, a, nl) != 0)
            continue;
        if (colon ? !m->arg : m->arg && !m->arg_optional)
            break; /* NAME:ARG of a model without argument, or NAME without its ARG */
        *kind = i;
        return m->parse(c, colon ? colon + 1 : NULL, err, errlen);
    }
    char names[256];
    sim_time_models_usage(reg, ", ", names, sizeof names);
    return fail(err, errlen, "'%s' (valid: %s)", a, names);
}

static int sim_parse_compute(sim_config *c, const char *a, char *err, size_t errlen) {
    int k = 0;
    int rc = parse_time_model(sim_compute_models(), &k, c, a, err, errlen);
    c->compute = (sim_compute_kind)k;
    return rc;
}

static void sim_format_compute(const sim_config *c, char *buf, size_t len) {
    sim_compute_models()[c->compute]->format(c, buf, len);
}

static int sim_parse_codec(sim_config *c, const char *a, char *err, size_t errlen) {
    int k = 0;
    int rc = parse_time_model(sim_codec_models(), &k, c, a, err, errlen);
    c->codec = (sim_codec_kind)k;
    return rc;
}

static void sim_format_codec(const sim_config *c, char *buf, size_t len) {
    sim_codec_models()[c->codec]->format(c, buf, len);
}

static int sim_parse_backend(sim_config *c, const char *a, char *err, size_t errlen) {
    qsgd_err me = {0};
    if (model_device_parse(a, &c->backend, &me) != QSGD_OK)
        return fail(err, errlen, "%s", me.msg);
    return 0;
}

static void sim_format_backend(const sim_config *c, char *buf, size_t len) {
    snprintf(buf, len, "%s", model_device_name(c->backend));
}

/* ---- checks of experiment-file values ------------------------------------------------------ */
/* A value quoted into a message, cut to 60 characters. */
static const char *quote(const char *v, size_t l, char *b, size_t blen) {
    if (l <= 60)
        snprintf(b, blen, "'%.*s'", (int)l, v);
    else
        snprintf(b, blen, "'%.60s...' (%zu characters)", v, l);
    return b;
}

int sim_check_model(const char *v, char *msg, size_t len) {
    model_spec ms;
    qsgd_err me = {0};
    return model_spec_parse(v, &ms, &me) == QSGD_OK ? 0 : fail(msg, len, "%s", me.msg);
}

/* The data spec: the source name and option names, checked through the data source registry
 * (values are checked when the point runs, without loading here). */
int sim_check_data(const char *spec, char *msg, size_t len) {
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    const data_source *src = data_source_find(spec, nlen);
    char b[128];
    if (!src) {
        char usage[400];
        data_sources_usage(usage, sizeof usage);
        return fail(msg, len, "unknown data source %s (valid: %s)", quote(spec, nlen, b, sizeof b),
                    usage);
    }
    char names[256];
    data_opt_names(src->opts, " ", names, sizeof names);
    char opts[1024];
    snprintf(opts, sizeof opts, "%s", colon ? colon + 1 : "");
    if (src->path_meta && opts[0] == '\0') {
        char usage[512];
        data_source_usage(src, 1, usage, sizeof usage);
        return fail(msg, len, "%s needs a file: %s", src->name, usage);
    }
    char *save = NULL;
    int first = 1;
    for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save), first = 0) {
        if (src->path_meta && first)
            continue; /* the path */
        char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            return fail(msg, len, "%s: option %s is not key=value (options: %s)", src->name,
                        quote(kv, strlen(kv), b, sizeof b), names);
        *eq = '\0';
        if (!data_opt_find(src->opts, kv))
            return fail(msg, len, "%s: unknown option %s (valid: %s)", src->name,
                        quote(kv, strlen(kv), b, sizeof b), names);
    }
    return 0;
}

int sim_check_quant(const char *v, char *msg, size_t len) {
    qsgd_err qe = {0};
    quant_spec qs;
    if (quant_spec_parse(v, &qs, &qe) != QSGD_OK)
        return fail(msg, len, "%s", qe.msg);
    quant *q = quant_alloc(qs.name, &qs.params, 1, 4096, &qe); /* init checks the values */
    if (!q)
        return fail(msg, len, "%s", qe.msg);
    quant_free(q);
    return 0;
}

int sim_check_optim(const char *v, char *msg, size_t len) {
    optim_params op;
    memset(&op, 0, sizeof op); /* as the trainer does */
    qsgd_err oe = {0};
    if (optim_params_parse(v, &op, &oe) != QSGD_OK || optim_params_check(&op, &oe) != QSGD_OK)
        return fail(msg, len, "%s", oe.msg);
    return 0;
}

int sim_check_network(const char *v, char *msg, size_t len) {
    net_config nc;
    qsgd_err ne = {0};
    return net_config_parse(v, &nc, &ne) == QSGD_OK ? 0 : fail(msg, len, "%s", ne.msg);
}

int sim_check_smpi_model(const char *v, char *msg, size_t len) {
    net_smpi_model m;
    qsgd_err ne = {0};
    return net_smpi_model_parse(v, &m, &ne) == QSGD_OK ? 0 : fail(msg, len, "%s", ne.msg);
}

int sim_check_smpi_algorithm(const char *t, char *msg, size_t len) {
    if (*t &&
        strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+") == strlen(t))
        return 0;
    char b[128];
    return fail(msg, len,
                "not an SMPI algorithm name (letters, digits, '_', '-', e.g. ring, lr, rdb, NTSLR; "
                "see SimGrid's smpi/ collectives): %s",
                quote(t, strlen(t), b, sizeof b));
}

int sim_check_allocator(const char *t, char *msg, size_t len) {
    if (!strcmp(t, "auto") || !strcmp(t, "glibc") || !strcmp(t, "jemalloc") ||
        !strcmp(t, "tcmalloc") || (t[0] == '/' && t[1]))
        return 0;
    char b[128];
    return fail(msg, len,
                "not an allocator: %s (auto, glibc, jemalloc, tcmalloc or an absolute path to a "
                "malloc library)",
                quote(t, strlen(t), b, sizeof b));
}

int sim_setting_check(int id, const char *t, double num, char *msg, size_t len) {
    const sim_setting *s = sim_setting_get(id);
    char range[64];
    switch (s->kind) {
    case SIM_SK_STRING: {
        size_t max = s->size - 1;
        if (strlen(t) > max)
            return fail(msg, len, "too long: %zu characters, at most %zu", strlen(t), max);
        return s->check ? s->check(t, msg, len) : 0;
    }
    case SIM_SK_COUNT:
        if (num < 0 && s->min == 0)
            return fail(msg, len, "negative numbers are not allowed (must be >= 0)");
        if (num < (double)s->min || num > (double)s->max) {
            range_text(s, range, sizeof range);
            return fail(msg, len, "%s", range);
        }
        return 0;
    case SIM_SK_DOUBLE:
        if (!double_in_range(s, num)) {
            range_text(s, range, sizeof range);
            return fail(msg, len, "%s", range);
        }
        return 0;
    case SIM_SK_FLAG:
        return 0;
    case SIM_SK_ENUM:
    case SIM_SK_HOOK: {
        sim_config c;
        sim_config_default(&c);
        return sim_setting_parse(id, t, &c, msg, len);
    }
    }
    return 0;
}

void sim_setting_type_text(const sim_setting *s, char *buf, size_t len) {
    switch (s->kind) {
    case SIM_SK_COUNT:
        if (s->max >= SIZE_MAX)
            snprintf(buf, len, "integer ≥ %llu", s->min);
        else
            snprintf(buf, len, "integer %llu..%llu", s->min, s->max);
        return;
    case SIM_SK_DOUBLE:
        if (isinf(s->dmax))
            snprintf(buf, len, "number %s %g", s->flags & SIM_SF_OPEN_MIN ? ">" : "≥", s->dmin);
        else
            snprintf(buf, len, "number in %c%g, %g]", s->flags & SIM_SF_OPEN_MIN ? '(' : '[',
                     s->dmin, s->dmax);
        return;
    case SIM_SK_FLAG:
        snprintf(buf, len, "bool");
        return;
    case SIM_SK_ENUM: {
        char names[200];
        sim_setting_choices(s, " | ", names, sizeof names);
        snprintf(buf, len, "%s", names);
        return;
    }
    default:
        snprintf(buf, len, "string");
        return;
    }
}

void sim_setting_help(const sim_setting *s, char *buf, size_t len) {
    if (s->help)
        snprintf(buf, len, "%s", s->help);
    else if (s->models)
        sim_time_models_usage(s->models(), " | ", buf, len);
    else
        snprintf(buf, len, "%s", "");
}

/* s with '|' escaped for a markdown table cell. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++)
        fputs(*s == '|' ? "\\|" : (char[2]){*s, 0}, f);
}

void sim_settings_markdown(FILE *f) {
    fprintf(f, "| key | type | default | passed as | meaning |\n|---|---|---|---|---|\n");
    fprintf(f, "| `name` | string | file stem | — | output directory `results/<name>`; letters, "
               "digits, `.` `_` `-` `=` |\n");
    fprintf(f, "| `description` | string | \"\" | — | copied into the provenance lines of "
               "points.tsv and summary.tsv |\n");
    for (int i = 0; i < SIM_NKEYS; i++) {
        const sim_setting *s = &settings[i];
        char type[200], passed[300];
        sim_setting_type_text(s, type, sizeof type);
        if (i == SIM_SET_QUANTIZER)
            snprintf(type, sizeof type, "string or group");
        int n;
        if (s->kind == SIM_SK_FLAG)
            n = snprintf(passed, sizeof passed, "`--%s` when %s", s->option,
                         s->flags & SIM_SF_NEGATED ? "false" : "true");
        else
            n = snprintf(passed, sizeof passed, "%s`--%s`%s",
                         s->flags & SIM_SF_LAUNCHER ? "sim " : "", s->option,
                         s->flags & SIM_SF_OPTIONAL ? " when given" : "");
        if (s->only_exf) { /* the exchanges it applies to, from their flags */
            size_t nx, off = (size_t)n;
            const sim_exchange_info *x = sim_exchange_list(&nx);
            const char *sep = " (exchange ";
            for (size_t j = 0; j < nx && off < sizeof passed; j++)
                if (x[j].flags & s->only_exf) {
                    off +=
                        (size_t)snprintf(passed + off, sizeof passed - off, "%s%s", sep, x[j].name);
                    sep = ", ";
                }
            if (off < sizeof passed)
                snprintf(passed + off, sizeof passed - off, " only)");
        }
        fprintf(f, "| `%s` | ", s->name);
        md_cell(f, type);
        fprintf(f, " | %s%s%s | %s | ", *s->def ? "`" : "", *s->def ? s->def : "none",
                *s->def ? "`" : "", passed);
        char help[300];
        sim_setting_help(s, help, sizeof help);
        md_cell(f, help);
        fprintf(f, " |\n");
    }
    fprintf(f, "| `reference` | list of groups | none | — | paper numbers, see below |\n");
}

/* ---- the trainer's command line ------------------------------------------------------------ */
void sim_config_default(sim_config *c) {
    memset(c, 0, sizeof *c);
    char err[256];
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = &settings[i];
        if ((s->flags & SIM_SF_LAUNCHER) || !*s->def)
            continue;
        /* the defaults are the table's own text: a failure is a bug in the table */
        if (sim_setting_parse(i, s->def, c, err, sizeof err))
            abort();
    }
}

void sim_config_usage(FILE *f, const char *prog) {
    fprintf(f, "usage: %s [options]   (an MPI program: run it under smpirun or mpirun)\n", prog);
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = &settings[i];
        if (s->flags & SIM_SF_LAUNCHER)
            continue;
        char head[64], text[600];
        snprintf(head, sizeof head, "--%s%s%s", s->option, s->meta ? " " : "",
                 s->meta ? s->meta : "");
        if (s->usage) {
            snprintf(text, sizeof text, "%s", s->usage);
        } else if (s->models) { /* the spellings of its models */
            char names[256];
            sim_time_models_usage(s->models(), " | ", names, sizeof names);
            snprintf(text, sizeof text, "%s (default %s)", names, s->def);
        } else { /* an enum: its choices */
            char names[256];
            sim_setting_choices(s, " | ", names, sizeof names);
            snprintf(text, sizeof text, "%s (default %s)", names, s->def);
        }
        fprintf(f, "  %-19s", head);
        for (const char *l = text, *nl; l; l = nl ? nl + 1 : NULL) {
            nl = strchr(l, '\n');
            fprintf(f, "%s%.*s\n", l == text ? "  " : "                       ",
                    nl ? (int)(nl - l) : (int)strlen(l), l);
        }
    }
    fprintf(f, "The status file, written last, is the completion marker: 'complete',\n"
               "'diverged at iteration N (...)' or 'failed (CLASS): MESSAGE'. Exit status:\n"
               "0 complete, 1 internal, 2 config, 3 diverged (tables kept), 4 data,\n"
               "5 io (results could not be written), 6 resources (out of memory).\n");
}

#define OPT_HELP (SIM_NSETTINGS + 256)

static int failed_at(int *setting, int id, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int failed_at(int *setting, int id, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (setting)
        *setting = id;
    return 1;
}

int sim_config_parse_at(int argc, char **argv, sim_config *c, int *help, int *setting, char *err,
                        size_t errlen) {
    struct option opts[SIM_NSETTINGS + 2];
    int n = 0;
    for (int i = 0; i < SIM_NSETTINGS; i++)
        if (!(settings[i].flags & SIM_SF_LAUNCHER))
            opts[n++] = (struct option){
                settings[i].option,
                settings[i].kind == SIM_SK_FLAG ? no_argument : required_argument, 0, 256 + i};
    opts[n++] = (struct option){"help", no_argument, 0, OPT_HELP};
    opts[n] = (struct option){0, 0, 0, 0};
    *help = 0;
    if (setting)
        *setting = -1;
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == OPT_HELP) {
            *help = 1;
            return 0;
        }
        if (o < 256 || o >= 256 + SIM_NSETTINGS)
            return failed_at(setting, -1, err, errlen,
                             "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        int id = o - 256;
        char why[400];
        if (sim_setting_parse(id, settings[id].kind == SIM_SK_FLAG ? NULL : optarg, c, why,
                              sizeof why))
            return failed_at(setting, id, err, errlen, "--%s: %s", settings[id].option, why);
    }
    if (optind < argc)
        return failed_at(setting, -1, err, errlen, "unexpected argument '%s' (see --help)",
                         argv[optind]);
    /* cross-setting rules (the table's rows are read for the names) */
    if (c->device_eff > 0) {
        if (c->compute != SIM_COMPUTE_FLOPS || !c->device)
            return failed_at(setting, SIM_SET_DEVICE_EFF, err, errlen,
                             "--device-eff needs --compute flops:DEVICE (throughput:DEVICE "
                             "uses measured rates, not a fraction of the peak)");
        /* the profile table is const: the override lives in compute_factor for flops */
        c->compute_factor = c->device_eff / c->device->efficiency;
    } else if (c->compute == SIM_COMPUTE_FLOPS) {
        c->compute_factor = 1.0;
    }
    { /* throughput:DEVICE needs the model, whichever order the options came in */
        char why[400];
        if (sim_compute_resolve(c, why, sizeof why))
            return failed_at(setting, SIM_SET_COMPUTE, err, errlen, "--compute: %s", why);
    }
    /* every spec is parsed now, before any work: a bad one is a config error even when it
     * would never be used (a quantizer on a model whose tensors are all below
     * --quant-min-numel); the quantizer is built once on a 1 x 1 tensor, which checks the
     * values of its options too (qsgd:bits=1 has no level) */
    qsgd_err qe = {0};
    quant_spec qs;
    quant *q = NULL;
    if (quant_spec_parse(c->quant, &qs, &qe) != QSGD_OK ||
        !(q = quant_alloc(qs.name, &qs.params, 1, 1, &qe)))
        return failed_at(setting, SIM_SET_QUANTIZER, err, errlen, "--quant: %s (spec '%s')", qe.msg,
                         c->quant);
    quant_free(q);
    model_spec ms;
    qsgd_err me = {0};
    if (model_spec_parse(c->model, &ms, &me) != QSGD_OK)
        return failed_at(setting, SIM_SET_MODEL, err, errlen, "--model: %s (spec '%s')", me.msg,
                         c->model);
    optim_params op;
    memset(&op, 0, sizeof op);
    qsgd_err oe = {0};
    if (optim_params_parse(c->optim, &op, &oe) != QSGD_OK)
        return failed_at(setting, SIM_SET_OPTIMIZER, err, errlen, "--optim: %s (spec '%s')", oe.msg,
                         c->optim);
    const sim_exchange_info *x = sim_exchange_get(c->exchange);
    if (c->overlap && !(x->flags & SIM_EXF_OVERLAP))
        return failed_at(setting, SIM_SET_OVERLAP, err, errlen,
                         "--overlap is implemented for --exchange allgather only");
    if ((x->flags & SIM_EXF_FP32_ONLY) && !quant_spec_lossless(&qs)) /* qs: parsed above */
        return failed_at(setting, SIM_SET_EXCHANGE, err, errlen,
                         "--exchange %s sums dense fp32 gradients: use --quant fp32, or "
                         "--exchange allgather/ps for '%s' (a sum of quantized messages is not a "
                         "quantized message)",
                         x->name, c->quant);
    /* The exchanges' rules on the quantizer, read from its type's properties (never its
     * name). allgather and ps decode every worker's message: they take every quantizer. */
    const quant_type *qt = quant_type_find(qs.name);
    if (c->exchange == SIM_EX_ALLREDUCE && qt->allreduce == QUANT_AR_POWER) {
        /* PowerSGD's all-reduces of P and Q' on qsgdsim's ring (ex_allreduce_powersgd.c) */
        if (c->allreduce_mpi)
            return failed_at(setting, SIM_SET_ALLREDUCE_IMPL, err, errlen,
                             "--allreduce mpi: '%s' all-reduces its factors P and Q' on "
                             "qsgdsim's fixed-order ring (every worker must hold the same P "
                             "bits to orthogonalise): use --allreduce ring, or --quant fp32 "
                             "with --allreduce mpi",
                             c->quant);
    } else if (c->exchange == SIM_EX_ALLREDUCE && !quant_spec_lossless(&qs)) {
        /* the requantizing ring: a partial sum is re-encoded at every hop (ex_allreduce.c) */
        if (c->allreduce_mpi)
            return failed_at(setting, SIM_SET_ALLREDUCE_IMPL, err, errlen,
                             "--allreduce mpi sums dense fp32 (MPI_Allreduce cannot re-quantize "
                             "at each hop): use --allreduce ring for '%s', or --quant fp32",
                             c->quant);
        if (qt->stateful)
            return failed_at(setting, SIM_SET_EXCHANGE, err, errlen,
                             "--exchange allreduce re-quantizes partial sums at every hop, and "
                             "'%s' keeps error-feedback state per worker, which no hop's sum "
                             "owns: use --exchange allgather or ps (or stripes)",
                             c->quant);
        if (qt->aggregate == QUANT_AGG_VOTE)
            return failed_at(setting, SIM_SET_EXCHANGE, err, errlen,
                             "'%s' aggregates by majority vote, which a summing ring cannot "
                             "compute hop by hop: use --exchange allgather or ps",
                             c->quant);
    }
    if (c->exchange == SIM_EX_STRIPES && qt->aggregate == QUANT_AGG_VOTE)
        return failed_at(setting, SIM_SET_EXCHANGE, err, errlen,
                         "--exchange stripes averages the decoded stripes, and '%s' aggregates "
                         "by majority vote: use --exchange allgather or ps",
                         c->quant);
    return 0;
}

int sim_config_parse(int argc, char **argv, sim_config *c, int *help, char *err, size_t errlen) {
    return sim_config_parse_at(argc, argv, c, help, NULL, err, errlen);
}

void sim_config_write(FILE *f, const sim_config *c, const char *prefix) {
    unsigned xf = sim_exchange_get(c->exchange)->flags;
    char v[600];
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = &settings[i];
        if (!s->dump || (s->only_exf && !(xf & s->only_exf)))
            continue;
        format_value(s, c, v, sizeof v);
        fprintf(f, "%s%s = %s\n", prefix, s->dump, v);
    }
}
