/* exp_config.c — experiment files: libconfig -> a validated experiment (settings, sweep
 * axes, the cartesian product of points, references), every spec string checked by the
 * parser the trainer uses, impossible combinations rejected with file:line (exp_config.h,
 * docs/experiments.md). */
#define _GNU_SOURCE
#include "exp_config.h"
#include "gpu_device.h"

#include <errno.h>
#include <getopt.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "net.h"
#include "optim.h"
#include "quant.h"
#include "sim.h"

#define MAX_ERRORS 40 /* errors kept; the rest are counted */

/* The settings. deflt "" = not passed to the trainer/simulator unless given. */
static const exp_keyinfo keys[EXP_NKEYS] = {
    [EXP_MODEL] = {"model", "model", EXP_T_STRING, "mlp:hidden=256x128",
                   "model spec (qsgdsim list models)"},
    [EXP_DATA] = {"data", "data", EXP_T_STRING, "fmnist",
                  "data spec: fmnist[:n=,ntest=,norm=,dir=], libsvm:PATH[,test=,dense=,dim=,task=], "
                  "synth-leastsq[:..], synth-logreg[:..]"},
    [EXP_OPTIMIZER] = {"optimizer", "opt", EXP_T_STRING, "sgd:lr=0.05,momentum=0.9",
                       "optimizer spec sgd:lr=,momentum=,schedule=,total=,..."},
    [EXP_QUANTIZER] = {"quantizer", "q", EXP_T_STRING, "fp32",
                       "quantizer spec, or a group {name=..; bits=..; ..} (qsgdsim list quantizers)"},
    [EXP_QUANT_MIN_NUMEL] = {"quant_min_numel", "qmin", EXP_T_INT, "10000",
                             "tensors with fewer elements are sent fp32"},
    [EXP_EXCHANGE] = {"exchange", "ex", EXP_T_STRING, "allgather",
                      "allgather | allreduce | ps | stripes (qsgdsim list exchanges)"},
    [EXP_ALLREDUCE_IMPL] = {"allreduce_impl", "arimpl", EXP_T_STRING, "ring",
                            "exchange allreduce: ring (qsgdsim's, reproducible) | mpi"},
    [EXP_WORKERS] = {"workers", "K", EXP_T_INT, "4", "MPI ranks (ps: rank 0 is the server)"},
    [EXP_NETWORK] = {"network", "net", EXP_T_STRING, "star:link=10GbE",
                     "network spec (qsgdsim list networks); hosts= is set to workers"},
    [EXP_SMPI_MODEL] = {"smpi_model", "smpi", EXP_T_STRING, "cm02", "cm02 | default"},
    [EXP_SMPI_ALLGATHERV] = {"smpi_allgatherv", "agv", EXP_T_STRING, "",
                             "SMPI algorithm of MPI_Allgatherv (default ring)"},
    [EXP_SMPI_ALLGATHER] = {"smpi_allgather", "ag", EXP_T_STRING, "",
                            "SMPI algorithm of MPI_Allgather (default ring, NTSLR on multi-gpu-nodes)"},
    [EXP_SMPI_ALLREDUCE] = {"smpi_allreduce", "ar", EXP_T_STRING, "",
                            "SMPI algorithm of MPI_Allreduce (default lr)"},
    [EXP_OVERLAP] = {"overlap", "overlap", EXP_T_BOOL, "false",
                     "all-gathers overlap backprop (allgather, fixed-size formats)"},
    [EXP_SHARED_DECODE] = {"shared_decode", "shdec", EXP_T_BOOL, "true",
                           "SMPI: one decode per step serves all ranks (same bits)"},
    [EXP_COMPUTE] = {"compute", "compute", EXP_T_STRING, "measured",
                     "measured[:F] | flops:DEVICE | fixed:SECONDS"},
    [EXP_CODEC] = {"codec", "codec", EXP_T_STRING, "measured",
                   "measured[:F] | device:DEVICE | none"},
    [EXP_DEVICE_EFF] = {"device_eff", "eff", EXP_T_FLOAT, "",
                        "sustained fraction of the device's peak (compute flops:DEVICE)"},
    [EXP_BATCH] = {"batch", "batch", EXP_T_INT, "64", "minibatch per worker"},
    [EXP_EPOCHS] = {"epochs", "epochs", EXP_T_FLOAT, "1", "global epochs (may be fractional)"},
    [EXP_MAX_STEPS] = {"max_steps", "steps", EXP_T_INT, "0", "stop after N iterations (0 = no limit)"},
    [EXP_TARGET_ACCURACY] = {"target_accuracy", "target", EXP_T_FLOAT, "0",
                             "> 0: stop at this test accuracy (fraction)"},
    [EXP_EVAL_EVERY] = {"eval_every", "eval", EXP_T_INT, "0",
                        "evaluate every N iterations (0 = once per epoch)"},
    [EXP_SEEDS] = {"seeds", "seed", EXP_T_INT, "1", "experiment seed(s): one point per seed"},
    [EXP_THREADS] = {"threads", "threads", EXP_T_INT, "1", "OpenBLAS threads per rank"},
    [EXP_DEVICE] = {"device", "dev", EXP_T_STRING, "auto",
                    "where gradients are computed: auto (CUDA GPU if present) | cpu | cuda"},
};

/* Keys that are not settings. */
static const char *const meta_keys[] = {"name", "description", "reference"};
#define N_META (sizeof meta_keys / sizeof meta_keys[0])
/* Fields of a reference group besides settings. */
static const char *const ref_fields[] = {"speedup", "accuracy", "source"};
#define N_REF_FIELDS (sizeof ref_fields / sizeof ref_fields[0])

const exp_keyinfo *exp_key_info(exp_key k) {
    return (unsigned)k < EXP_NKEYS ? &keys[k] : NULL;
}

int exp_key_find(const char *name) {
    for (int k = 0; k < EXP_NKEYS; k++)
        if (strcmp(keys[k].name, name) == 0)
            return k;
    return -1;
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

typedef struct ctx {
    exp_experiment *e;
    exp_diag *d;
    const char *file; /* path for messages */
    size_t dropped;   /* errors beyond MAX_ERRORS */
} ctx;

static void vreport(ctx *c, int warning, const char *file, int line, const char *fmt, va_list ap) {
    char msg[1400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char *s = NULL;
    if (asprintf(&s, "%s:%d: %s%s", file ? file : c->file, line, warning ? "warning: " : "", msg) < 0)
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

/* "valid: a, b, c" of the top-level keys, and a "did you mean" for name. */
static void valid_top_keys(const char *name, char *buf, size_t len) {
    size_t off = 0;
    const char *best = NULL;
    size_t bestd = 3;
    off += (size_t)snprintf(buf + off, len - off, "valid: ");
    for (size_t i = 0; i < N_META + EXP_NKEYS && off < len; i++) {
        const char *k = i < N_META ? meta_keys[i] : keys[i - N_META].name;
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
    case CONFIG_TYPE_GROUP: return "a group { ... }";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a floating-point number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
    case CONFIG_TYPE_LIST: return "a list ( ... )";
    default: return "nothing";
    }
}

static const char *expected_phrase(exp_type t) {
    switch (t) {
    case EXP_T_STRING: return "a string";
    case EXP_T_INT: return "an integer";
    case EXP_T_FLOAT: return "a number";
    case EXP_T_BOOL: return "a boolean (true or false)";
    }
    return "?";
}

static int is_list(const config_setting_t *s) {
    return config_setting_type(s) == CONFIG_TYPE_LIST || config_setting_type(s) == CONFIG_TYPE_ARRAY;
}

/* A scalar setting s into v, checking its type against t. 0 or -1 (error reported). */
static int read_scalar(ctx *c, const char *what, exp_type t, const config_setting_t *s, exp_value *v) {
    int ty = config_setting_type(s);
    char buf[64];
    v->line = config_setting_source_line(s);
    v->num = NAN;
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
    v->text = NULL;
}

static int push_value(exp_setting *st, exp_value *v) {
    exp_value *nv = realloc(st->v, (st->n + 1) * sizeof *nv);
    if (!nv) {
        value_free(v);
        return -1;
    }
    st->v = nv;
    st->v[st->n++] = *v;
    return 0;
}

/* ---- the data spec: only the source name and option names (data_load_spec in models/data.c
 * has no parse-only entry; values are checked when the point runs, without loading here) -- */
static int data_check(const char *spec, char *msg, size_t len) {
    static const struct {
        const char *name, *opts;
    } src[] = {
        {"fmnist", "dir n ntest norm"},
        {"libsvm", "test dense dim task"},
        {"synth-leastsq", "n dim d kappa mu noise spread ntest"},
        {"synth-logreg", "n dim d scale hard ntest"},
    };
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (strlen(src[i].name) == nlen && strncmp(spec, src[i].name, nlen) == 0)
            which = i;
    if (which < 0) {
        snprintf(msg, len,
                 "unknown data source '%.*s' (valid: fmnist[:n=,ntest=,norm=,dir=], "
                 "libsvm:PATH[,test=,dense=,dim=,task=], synth-leastsq[:n=,dim=,kappa=,mu=,noise=,"
                 "spread=,ntest=], synth-logreg[:n=,dim=,scale=,hard=,ntest=])",
                 (int)nlen, spec);
        return -1;
    }
    char opts[1024];
    snprintf(opts, sizeof opts, "%s", colon ? colon + 1 : "");
    char *save = NULL;
    int first = 1;
    if (which == 1 && opts[0] == '\0') {
        snprintf(msg, len, "libsvm needs a file: libsvm:PATH[,test=PATH,dense=0|1|auto,dim=N,task=auto|class|reg]");
        return -1;
    }
    for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save), first = 0) {
        if (which == 1 && first)
            continue; /* the path */
        char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            snprintf(msg, len, "%s: option '%s' is not key=value (options: %s)", src[which].name, kv,
                     src[which].opts);
            return -1;
        }
        *eq = '\0';
        int ok = 0;
        char o[128];
        snprintf(o, sizeof o, "%s", src[which].opts);
        char *s2 = NULL;
        for (char *t = strtok_r(o, " ", &s2); t && !ok; t = strtok_r(NULL, " ", &s2))
            ok = strcmp(t, kv) == 0;
        if (!ok) {
            snprintf(msg, len, "%s: unknown option '%s' (valid: %s)", src[which].name, kv,
                     src[which].opts);
            return -1;
        }
    }
    return 0;
}

/* The trainer's own option parser on "--opt value" (NULL value: a flag). */
static int trainer_check(const char *opt, const char *value, char *msg, size_t len) {
    sim_config sc;
    sim_config_default(&sc);
    char *argv[4] = {"qsgdsim-trainer", (char *)opt, (char *)value, NULL};
    int help = 0;
    int rc = sim_config_parse(value ? 3 : 2, argv, &sc, &help, msg, len);
    optind = 0; /* leave getopt re-initialised for whoever comes next */
    return rc ? -1 : 0;
}

/* Validate one value of setting k. msg gets the reason. */
static int check_value(exp_key k, const exp_value *v, char *msg, size_t len) {
    const char *t = v->text;
    switch (k) {
    case EXP_MODEL: {
        model_spec ms;
        model_err me = {0};
        if (model_spec_parse(t, &ms, &me) != MODEL_OK) {
            snprintf(msg, len, "%s", me.msg);
            return -1;
        }
        return 0;
    }
    case EXP_DATA:
        return data_check(t, msg, len);
    case EXP_OPTIMIZER: {
        optim_params op;
        memset(&op, 0, sizeof op); /* as the trainer does */
        optim_err oe = {0};
        if (optim_params_parse(t, &op, &oe) != OPTIM_OK || optim_params_check(&op, &oe) != OPTIM_OK) {
            snprintf(msg, len, "%s", oe.msg);
            return -1;
        }
        return 0;
    }
    case EXP_QUANTIZER: {
        quant_err qe = {0};
        quant_spec qs;
        if (quant_spec_parse(t, &qs, &qe) != QUANT_OK) {
            snprintf(msg, len, "%s", qe.msg);
            return -1;
        }
        quant *q = quant_alloc(qs.name, &qs.params, 1, 4096, &qe); /* init checks the values */
        if (!q) {
            snprintf(msg, len, "%s", qe.msg);
            return -1;
        }
        quant_free(q);
        return 0;
    }
    case EXP_EXCHANGE: {
        size_t n;
        const sim_exchange_info *x = sim_exchange_list(&n);
        char names[160] = "";
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(x[i].name, t) == 0)
                return 0;
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", x[i].name);
        }
        snprintf(msg, len, "unknown exchange '%s' (valid: %s)", t, names);
        return -1;
    }
    case EXP_ALLREDUCE_IMPL:
        if (strcmp(t, "ring") && strcmp(t, "mpi")) {
            snprintf(msg, len, "unknown all-reduce implementation '%s' (valid: ring, mpi)", t);
            return -1;
        }
        return 0;
    case EXP_NETWORK: {
        net_config nc;
        net_err ne = {0};
        if (net_config_parse(t, &nc, &ne) != NET_OK) {
            snprintf(msg, len, "%s", ne.msg);
            return -1;
        }
        return 0;
    }
    case EXP_SMPI_MODEL: {
        net_smpi_model m;
        net_err ne = {0};
        if (net_smpi_model_parse(t, &m, &ne) != NET_OK) {
            snprintf(msg, len, "%s", ne.msg);
            return -1;
        }
        return 0;
    }
    case EXP_SMPI_ALLGATHERV:
    case EXP_SMPI_ALLGATHER:
    case EXP_SMPI_ALLREDUCE:
        if (!*t || strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+") !=
                       strlen(t)) {
            snprintf(msg, len, "'%s' is not an SMPI algorithm name (letters, digits, '_', '-', "
                     "e.g. ring, lr, rdb, NTSLR; see SimGrid's smpi/ collectives)", t);
            return -1;
        }
        return 0;
    case EXP_COMPUTE:
        return trainer_check("--compute", t, msg, len);
    case EXP_DEVICE: {
        if (trainer_check("--device", t, msg, len))
            return -1;
        char why[200];
        if (!strcmp(t, "cuda") && gpu_device_count(why, sizeof why) == 0) {
            snprintf(msg, len, "cuda: no usable GPU here (%s); use auto or cpu", why);
            return -1;
        }
        return 0;
    }
    case EXP_CODEC:
        return trainer_check("--codec", t, msg, len);
    case EXP_DEVICE_EFF:
        if (!(v->num > 0 && v->num <= 1)) {
            snprintf(msg, len, "must be in (0, 1] (a fraction of the peak)");
            return -1;
        }
        return 0;
    case EXP_WORKERS:
        if (v->num < 1 || v->num > 100000) {
            snprintf(msg, len, "must be in 1..100000");
            return -1;
        }
        return 0;
    case EXP_QUANT_MIN_NUMEL:
    case EXP_MAX_STEPS:
    case EXP_EVAL_EVERY:
    case EXP_SEEDS:
        if (v->num < 0) {
            snprintf(msg, len, "negative numbers are not allowed (must be >= 0)");
            return -1;
        }
        return 0;
    case EXP_BATCH:
        if (v->num < 1) {
            snprintf(msg, len, "must be >= 1 (samples per worker)");
            return -1;
        }
        return trainer_check("--batch", t, msg, len);
    case EXP_THREADS:
        if (v->num < 1 || v->num > 256) {
            snprintf(msg, len, "must be in 1..256");
            return -1;
        }
        return 0;
    case EXP_EPOCHS:
        if (!(v->num > 0)) {
            snprintf(msg, len, "must be > 0");
            return -1;
        }
        return 0;
    case EXP_TARGET_ACCURACY:
        if (!(v->num >= 0 && v->num <= 1)) {
            snprintf(msg, len, "a target accuracy is a fraction in [0, 1] (0 = none)");
            return -1;
        }
        return 0;
    case EXP_OVERLAP:
    case EXP_SHARED_DECODE:
    case EXP_NKEYS:
        return 0;
    }
    return 0;
}

/* Read one value (or a quantizer group, expanded) and validate it; appends to st. */
static int read_and_check(ctx *c, exp_key k, const config_setting_t *s, exp_setting *st, int *swept);

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

/* A quantizer group {name = "qsgd"; bits = [2, 4]; bucket = 512; ...}: one spec per
 * combination of its list members (member order, the last varying fastest). */
static int expand_quant_group(ctx *c, const config_setting_t *g, exp_setting *st, int *swept) {
    const config_setting_t *nm = config_setting_get_member(g, "name");
    if (!nm || config_setting_type(nm) != CONFIG_TYPE_STRING) {
        char names[128] = "";
        size_t off = 0;
        for (const quant_type *const *t = quant_types(); *t; t++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", t == quant_types() ? "" : ", ",
                                    (*t)->name);
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
                if (format_member(config_setting_get_elem(m, (unsigned)j), tmp, sizeof tmp)) {
                    err_s(c, config_setting_get_elem(m, (unsigned)j),
                          "quantizer %s: expected a number or a string, got %s",
                          config_setting_name(m), type_phrase(config_setting_type(config_setting_get_elem(m, (unsigned)j))));
                    bad = 1;
                }
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
            quant_err qe = {0};
            if (quant_spec_parse(one, &qs, &qe) != QUANT_OK) {
                err_s(c, m, "quantizer \"%s\": %s", one, qe.msg);
                bad = 1;
            }
        }
        mem[nm2] = m;
        cnt[nm2++] = n;
    }
    if (bad)
        return -1;
    int idx[32] = {0};
    for (;;) {
        char spec[512];
        size_t off = (size_t)snprintf(spec, sizeof spec, "%s", qname);
        for (int i = 0; i < nm2 && off < sizeof spec; i++) {
            const config_setting_t *m = is_list(mem[i]) ? config_setting_get_elem(mem[i], (unsigned)idx[i]) : mem[i];
            char val[160];
            format_member(m, val, sizeof val);
            off += (size_t)snprintf(spec + off, sizeof spec - off, "%c%s=%s", i ? ',' : ':',
                                    config_setting_name(mem[i]), val);
        }
        exp_value v = {strdup(spec), NAN, config_setting_source_line(g)};
        if (!v.text)
            return -1;
        char msg[600];
        if (check_value(EXP_QUANTIZER, &v, msg, sizeof msg)) {
            err_s(c, g, "quantizer \"%s\": %s", spec, msg);
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

static int read_and_check(ctx *c, exp_key k, const config_setting_t *s, exp_setting *st, int *swept) {
    if (k == EXP_QUANTIZER && config_setting_type(s) == CONFIG_TYPE_GROUP)
        return expand_quant_group(c, s, st, swept);
    exp_value v = {0};
    if (read_scalar(c, keys[k].name, keys[k].type, s, &v))
        return -1;
    char msg[700];
    if (check_value(k, &v, msg, sizeof msg)) {
        if (keys[k].type == EXP_T_STRING)
            err_s(c, s, "%s \"%s\": %s", keys[k].name, v.text, msg);
        else
            err_s(c, s, "%s = %s: %s", keys[k].name, v.text, msg);
        value_free(&v);
        return -1;
    }
    return push_value(st, &v);
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
            err_s(c, s, "%s: empty list (give at least one value)", keys[k].name);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
            if (is_list(el)) {
                err_s(c, el, "%s: a list inside a list (expected %s)", keys[k].name,
                      expected_phrase(keys[k].type));
                bad = 1;
                continue;
            }
            if (read_and_check(c, k, el, st, &swept))
                bad = 1;
        }
    } else {
        if (config_setting_type(s) == CONFIG_TYPE_GROUP && k != EXP_QUANTIZER) {
            err_s(c, s, "%s: expected %s (or a list of them), got a group { ... }", keys[k].name,
                  expected_phrase(keys[k].type));
            return -1;
        }
        if (read_and_check(c, k, s, st, &swept))
            bad = 1;
    }
    if (bad)
        return -1;
    /* duplicates would give two points with the same directory */
    for (size_t i = 0; i < st->n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(st->v[i].text, st->v[j].text) == 0) {
                err_at(c, st->v[i].line, "%s: value %s is listed twice (also line %d)",
                       keys[k].name, st->v[i].text, st->v[j].line);
                bad = 1;
            }
    st->swept = swept;
    return bad ? -1 : 0;
}

/* ---- sanitizing directory names ------------------------------------------------------------ */
void exp_sanitize(const char *s, char *out, size_t len) {
    size_t o = 0;
    if (len == 0)
        return;
    for (size_t i = 0; s[i] && o + 1 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char w;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')
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
                                    keys[k].abbrev, frag);
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

#define MAX_ARGV 80

/* Arguments of `qsgdsim sim` (sim = 1, from "qsgdsim") or of the trainer only (sim = 0, from
 * the trainer's argv[0]) into av[MAX_ARGV]; pointers into e's strings and outdir. */
static int build_args(const exp_experiment *e, const exp_point *p, const char *outdir, int sim,
                      const char **av) {
    int n = 0;
#define A(s) (av[n++] = (s))
    if (sim) {
        A("qsgdsim");
        A("sim");
        A("--ranks");
        A(pv(e, p, EXP_WORKERS));
        A("--network");
        A(pv(e, p, EXP_NETWORK));
        A("--smpi-model");
        A(pv(e, p, EXP_SMPI_MODEL));
        if (*pv(e, p, EXP_SMPI_ALLGATHERV)) {
            A("--allgatherv");
            A(pv(e, p, EXP_SMPI_ALLGATHERV));
        }
        if (*pv(e, p, EXP_SMPI_ALLGATHER)) {
            A("--allgather");
            A(pv(e, p, EXP_SMPI_ALLGATHER));
        }
        if (*pv(e, p, EXP_SMPI_ALLREDUCE)) {
            A("--allreduce");
            A(pv(e, p, EXP_SMPI_ALLREDUCE));
        }
        A("--out");
        A(outdir);
        A("--");
    } else {
        A("qsgdsim-trainer");
    }
    A("--model");
    A(pv(e, p, EXP_MODEL));
    A("--data");
    A(pv(e, p, EXP_DATA));
    A("--quant");
    A(pv(e, p, EXP_QUANTIZER));
    A("--quant-min-numel");
    A(pv(e, p, EXP_QUANT_MIN_NUMEL));
    A("--optim");
    A(pv(e, p, EXP_OPTIMIZER));
    A("--exchange");
    A(pv(e, p, EXP_EXCHANGE));
    if (strcmp(pv(e, p, EXP_EXCHANGE), "allreduce") == 0) {
        A("--allreduce");
        A(pv(e, p, EXP_ALLREDUCE_IMPL));
    }
    A("--batch");
    A(pv(e, p, EXP_BATCH));
    A("--epochs");
    A(pv(e, p, EXP_EPOCHS));
    A("--max-steps");
    A(pv(e, p, EXP_MAX_STEPS));
    A("--seed");
    A(pv(e, p, EXP_SEEDS));
    A("--compute");
    A(pv(e, p, EXP_COMPUTE));
    A("--codec");
    A(pv(e, p, EXP_CODEC));
    if (*pv(e, p, EXP_DEVICE_EFF)) {
        A("--device-eff");
        A(pv(e, p, EXP_DEVICE_EFF));
    }
    A("--eval-every");
    A(pv(e, p, EXP_EVAL_EVERY));
    A("--target-accuracy");
    A(pv(e, p, EXP_TARGET_ACCURACY));
    A("--threads");
    A(pv(e, p, EXP_THREADS));
    A("--device");
    A(pv(e, p, EXP_DEVICE));
    if (exp_point_value(e, p, EXP_OVERLAP)->num != 0)
        A("--overlap");
    if (exp_point_value(e, p, EXP_SHARED_DECODE)->num == 0)
        A("--no-shared-decode");
#undef A
    av[n] = NULL;
    return n;
}

char **exp_point_argv(const exp_experiment *e, const exp_point *p, const char *outdir) {
    const char *av[MAX_ARGV];
    int n = build_args(e, p, outdir, 1, av);
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

static int quant_is(const char *spec, const char *name) {
    quant_spec qs;
    quant_err qe = {0};
    return quant_spec_parse(spec, &qs, &qe) == QUANT_OK && strcmp(qs.name, name) == 0;
}

static int quant_is_elias(const char *spec) {
    quant_spec qs;
    quant_err qe = {0};
    return quant_spec_parse(spec, &qs, &qe) == QUANT_OK && strcmp(qs.name, "qsgd") == 0 &&
           qs.params.format == QUANT_FMT_ELIAS;
}

/* The trainer's option that a message of sim_config_parse names, as a setting. */
static exp_key key_of_option(const char *msg) {
    static const struct {
        const char *opt;
        exp_key k;
    } map[] = {
        {"--quant-min-numel", EXP_QUANT_MIN_NUMEL}, {"--quant", EXP_QUANTIZER},
        {"--model", EXP_MODEL}, {"--data", EXP_DATA}, {"--optim", EXP_OPTIMIZER},
        {"--exchange", EXP_EXCHANGE}, {"--allreduce", EXP_ALLREDUCE_IMPL}, {"--batch", EXP_BATCH},
        {"--epochs", EXP_EPOCHS}, {"--max-steps", EXP_MAX_STEPS}, {"--seed", EXP_SEEDS},
        {"--compute", EXP_COMPUTE}, {"--codec", EXP_CODEC}, {"--device-eff", EXP_DEVICE_EFF},
        {"--device", EXP_DEVICE},
        {"--eval-every", EXP_EVAL_EVERY}, {"--target-accuracy", EXP_TARGET_ACCURACY},
        {"--threads", EXP_THREADS}, {"--overlap", EXP_OVERLAP},
    };
    const char *best = NULL;
    exp_key bk = EXP_QUANTIZER;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *f = strstr(msg, map[i].opt);
        if (f && (!best || f < best)) {
            best = f;
            bk = map[i].k;
        }
    }
    return bk;
}

/* Combinations that cannot run, each reported once at the line of the setting to change. */
static void check_point(ctx *c, const exp_point *p) {
    const exp_experiment *e = c->e;
    const char *ex = pv(e, p, EXP_EXCHANGE), *q = pv(e, p, EXP_QUANTIZER);
    long K = (long)exp_point_value(e, p, EXP_WORKERS)->num;
    int overlap = exp_point_value(e, p, EXP_OVERLAP)->num != 0;
    if (strcmp(ex, "allreduce") == 0 && !quant_is(q, "fp32"))
        err_at(c, pline(e, p, EXP_EXCHANGE),
               "exchange \"allreduce\" with quantizer \"%s\" (%s): an all-reduce sums dense "
               "fp32 gradients; use quantizer \"fp32\" with it, or exchange allgather, ps or stripes",
               q, where(pline(e, p, EXP_QUANTIZER)));
    if (overlap && strcmp(ex, "allgather") != 0)
        err_at(c, pline(e, p, EXP_OVERLAP),
               "overlap = true with exchange \"%s\" (%s): overlap is implemented for "
               "exchange \"allgather\" only",
               ex, where(pline(e, p, EXP_EXCHANGE)));
    if (overlap && quant_is_elias(q))
        err_at(c, pline(e, p, EXP_OVERLAP),
               "overlap = true with quantizer \"%s\" (%s): overlap needs a fixed-size format "
               "(fp32, qsgd format=dense, onebit); Elias messages vary in length",
               q, where(pline(e, p, EXP_QUANTIZER)));
    if (strcmp(ex, "ps") == 0 && K < 2)
        err_at(c, pline(e, p, EXP_WORKERS),
               "workers = %ld with exchange \"ps\" (%s): a parameter server needs at least 2 "
               "ranks (rank 0 is the server)",
               K, where(pline(e, p, EXP_EXCHANGE)));
    /* the network must have a host per rank */
    char spec[700];
    network_spec(pv(e, p, EXP_NETWORK), pv(e, p, EXP_WORKERS), spec, sizeof spec);
    net_config nc;
    net_err ne = {0};
    if (net_config_parse(spec, &nc, &ne) != NET_OK)
        err_at(c, pline(e, p, EXP_NETWORK), "network \"%s\" with workers = %ld (%s): %s",
               pv(e, p, EXP_NETWORK), K, where(pline(e, p, EXP_WORKERS)), ne.msg);
    else if ((long)nc.hosts < K)
        err_at(c, pline(e, p, EXP_NETWORK),
               "network \"%s\" has %u hosts, fewer than workers = %ld (%s)", pv(e, p, EXP_NETWORK),
               nc.hosts, K, where(pline(e, p, EXP_WORKERS)));
    /* device_eff only with a flops compute model */
    const char *comp = pv(e, p, EXP_COMPUTE), *codec = pv(e, p, EXP_CODEC);
    if (*pv(e, p, EXP_DEVICE_EFF) && strncmp(comp, "flops:", 6) != 0)
        err_at(c, pline(e, p, EXP_DEVICE_EFF),
               "device_eff needs compute = \"flops:DEVICE\" (compute is \"%s\", %s)", comp,
               where(pline(e, p, EXP_COMPUTE)));
    if (strncmp(comp, "flops:", 6) == 0 && strncmp(codec, "device:", 7) == 0 &&
        strcasecmp(comp + 6, codec + 7) != 0)
        err_at(c, pline(e, p, EXP_CODEC),
               "codec \"%s\" names another device than compute \"%s\" (%s)", codec, comp,
               where(pline(e, p, EXP_COMPUTE)));
    if (c->d->nerrors)
        return; /* the trainer's own check below would repeat the errors above */
    /* last, the trainer's parser on the whole command line */
    const char *av[MAX_ARGV];
    int n = build_args(e, p, "", 0, av);
    sim_config sc;
    sim_config_default(&sc);
    char msg[600];
    int help = 0;
    int rc = sim_config_parse(n, (char **)av, &sc, &help, msg, sizeof msg);
    optind = 0;
    if (rc) {
        exp_key k = key_of_option(msg);
        err_at(c, pline(e, p, k), "point %s: the trainer rejects its options: %s", p->dir, msg);
    }
}

static void make_points(ctx *c) {
    exp_experiment *e = c->e;
    size_t total = 1;
    for (size_t a = 0; a < e->naxes; a++) {
        size_t n = e->set[e->axes[a]].n;
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
    size_t idx[EXP_NKEYS] = {0};
    for (size_t i = 0; i < total; i++) {
        for (size_t a = 0; a < e->naxes; a++)
            e->points[i].vi[e->axes[a]] = idx[a];
        for (long a = (long)e->naxes - 1; a >= 0; a--) {
            if (++idx[a] < e->set[e->axes[a]].n)
                break;
            idx[a] = 0;
        }
    }
    name_points(e);
}

long exp_point_baseline(const exp_experiment *e, size_t i) {
    const exp_setting *q = &e->set[EXP_QUANTIZER];
    const exp_point *p = &e->points[i];
    if (quant_is(q->v[p->vi[EXP_QUANTIZER]].text, "fp32"))
        return (long)i;
    if (!q->swept)
        return -1;
    size_t fp = q->n;
    for (size_t j = 0; j < q->n && fp == q->n; j++)
        if (quant_is(q->v[j].text, "fp32"))
            fp = j;
    if (fp == q->n)
        return -1;
    /* index of the point with vi[quantizer] = fp: strides of the cartesian product */
    size_t stride = 1, idx = 0;
    for (long a = (long)e->naxes - 1; a >= 0; a--) {
        exp_key k = e->axes[a];
        idx += (k == EXP_QUANTIZER ? fp : p->vi[k]) * stride;
        stride *= e->set[k].n;
    }
    return (long)idx;
}

/* ---- references ------------------------------------------------------------------------------ */
static int same_value(exp_key k, const exp_value *a, const exp_value *b) {
    if (strcmp(a->text, b->text) == 0)
        return 1;
    if (keys[k].type != EXP_T_STRING)
        return a->num == b->num;
    if (k == EXP_QUANTIZER) { /* canonical descriptions of built instances */
        quant_err qe = {0};
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
        model_err me = {0};
        memset(&ma, 0, sizeof ma);
        memset(&mb, 0, sizeof mb);
        return model_spec_parse(a->text, &ma, &me) == MODEL_OK &&
               model_spec_parse(b->text, &mb, &me) == MODEL_OK && memcmp(&ma, &mb, sizeof ma) == 0;
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

static void read_reference(ctx *c, const config_setting_t *g, exp_reference *r) {
    r->speedup = r->accuracy = NAN;
    r->line = config_setting_source_line(g);
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        err_s(c, g, "reference: expected a group { model = ...; speedup = ...; source = ...; }, got %s",
              type_phrase(config_setting_type(g)));
        return;
    }
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        int k = exp_key_find(name);
        if (k >= 0) {
            if (is_list(m) || (config_setting_type(m) == CONFIG_TYPE_GROUP)) {
                err_s(c, m, "reference %s: expected one value (%s), got %s", name,
                      expected_phrase(keys[k].type), type_phrase(config_setting_type(m)));
                continue;
            }
            exp_value v = {0};
            if (read_scalar(c, name, keys[k].type, m, &v))
                continue;
            char msg[700];
            if (check_value((exp_key)k, &v, msg, sizeof msg)) {
                err_s(c, m, "reference %s \"%s\": %s", name, v.text, msg);
                value_free(&v);
                continue;
            }
            r->has[k] = 1;
            r->v[k] = v;
        } else if (!strcmp(name, "speedup") || !strcmp(name, "accuracy")) {
            exp_value v = {0};
            if (read_scalar(c, name, EXP_T_FLOAT, m, &v))
                continue;
            value_free(&v);
            if (!strcmp(name, "speedup")) {
                if (!(v.num > 0))
                    err_s(c, m, "reference speedup must be > 0");
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
                off += (size_t)snprintf(valid + off, sizeof valid - off, "%s%s", keys[j].name,
                                        j + 1 < EXP_NKEYS ? ", " : "");
            err_s(c, m, "reference: unknown field '%s' (valid: %s)", name, valid);
        }
    }
    if (isnan(r->speedup) && isnan(r->accuracy))
        err_s(c, g, "reference: give speedup = X and/or accuracy = A (the paper's numbers)");
    if (!r->source && !(r->source = strdup("")))
        err_s(c, g, "out of memory");
}

/* ---- the file ------------------------------------------------------------------------------ */
static void set_default(exp_setting *st, exp_key k) {
    exp_value v = {strdup(keys[k].deflt), NAN, 0};
    if (keys[k].type == EXP_T_BOOL)
        v.num = strcmp(keys[k].deflt, "true") == 0;
    else if (keys[k].type != EXP_T_STRING && *keys[k].deflt)
        v.num = strtod(keys[k].deflt, NULL);
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
    ctx c = {e, d, path, 0};
    if (!e) {
        err_at(&c, 0, "out of memory");
        return NULL;
    }
    snprintf(e->path, sizeof e->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        char *s = NULL;
        if (asprintf(&s, "%s: cannot open: %s", path, strerror(errno)) >= 0) {
            diag_push(d, s);
            d->nerrors++;
        }
        free(e);
        return NULL;
    }
    fclose(f);
    config_t cfg;
    config_init(&cfg);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        config_set_include_dir(&cfg, dir); /* @include "x.cfg" next to the file */
    }
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        char *s = NULL;
        const char *ef = config_error_file(&cfg);
        const char *et = config_error_text(&cfg) ? config_error_text(&cfg) : "cannot read";
        const char *hint = "";
        if (strstr(et, "mismatched element type"))
            hint = " (an array [ ... ] holds one type: write 1.0 for a float, or use a list ( ... ))";
        else if (config_error_type(&cfg) == CONFIG_ERR_PARSE)
            hint = " (libconfig: `key = value;`, strings in double quotes, lists [a, b] or (a, b), "
                   "groups { key = value; })";
        if (asprintf(&s, "%s:%d: %s%s", ef ? ef : path, config_error_line(&cfg), et, hint) >= 0) {
            diag_push(d, s);
            d->nerrors++;
        }
        config_destroy(&cfg);
        free(e);
        return NULL;
    }
    const config_setting_t *root = config_root_setting(&cfg);
    stem(path, e->name, sizeof e->name);
    e->description = strdup("");
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        int k = exp_key_find(name);
        if (k >= 0) {
            if (read_setting(&c, (exp_key)k, s) == 0 && e->set[k].swept)
                e->axes[e->naxes++] = (exp_key)k;
        } else if (strcmp(name, "name") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                err_s(&c, s, "name: expected a string, got %s", type_phrase(config_setting_type(s)));
                continue;
            }
            const char *v = config_setting_get_string(s);
            size_t l = strlen(v);
            if (l == 0 || l >= sizeof e->name || v[0] == '.' ||
                strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-=") != l)
                err_s(&c, s, "name \"%s\": must be 1..%zu letters, digits, '.', '_', '-' (a directory "
                      "name under results/), not starting with '.'", v, sizeof e->name - 1);
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
            exp_reference *r = realloc(e->refs, (e->nrefs + (size_t)nr) * sizeof *r);
            if (!r)
                continue;
            e->refs = r;
            for (int j = 0; j < nr; j++) {
                exp_reference *ref = &e->refs[e->nrefs++];
                memset(ref, 0, sizeof *ref);
                read_reference(&c, single ? s : config_setting_get_elem(s, (unsigned)j), ref);
            }
        } else {
            char valid[1024];
            valid_top_keys(name, valid, sizeof valid);
            err_s(&c, s, "unknown setting '%s' (%s)", name, valid);
        }
    }
    for (int k = 0; k < EXP_NKEYS; k++)
        if (!e->set[k].given)
            set_default(&e->set[k], (exp_key)k);
    if (d->nerrors == 0)
        make_points(&c);
    for (size_t i = 0; i < e->npoints; i++)
        check_point(&c, &e->points[i]);
    /* references that match nothing are probably typos */
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
    }
    free(e->refs);
    free(e->points);
    free(e->description);
    free(e);
}
