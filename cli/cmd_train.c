/* cmd_train.c — `qsgdsim train`: single-worker SGD training of a model on a data set
 * (Fashion-MNIST, LIBSVM files, synthetic convex problems), optionally with every gradient
 * passed through a quantizer (encode -> decode -> step). Prints one line per epoch and writes
 * a TSV with provenance lines. All the work is train_run() in models/train.c. The options that
 * are run settings (--model, --data, --quant, --batch, --epochs, ...) are the rows of
 * sim/sim_settings.def with a .train default: their names, ranges, messages and help lines
 * are the trainer's; the options below in own[] are train's alone. Exit statuses:
 * sim_exit.h (2 bad option or spec, 3 diverged with the TSV kept, 4 data, 5 the TSV could not
 * be written, 6 out of memory, 1 internal). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "model.h"
#include "qsgd_file.h"
#include "quant.h"
#include "sim.h"
#include "sim_exit.h"
#include "train.h"

#define PROG "qsgdsim train"

/* train's own options: shorthands of the optimizer spec, the output, and the deprecated
 * spelling of --quant-min-numel. */
enum {
    O_LR = 1,
    O_SCHED,
    O_LRMIN,
    O_GAMMA,
    O_DECAY,
    O_T0,
    O_WARMUP,
    O_MOM,
    O_NESTEROV,
    O_WD,
    O_OUT,
    O_QUIET,
    O_QMIN_OLD,
    O_HELP,
    O_ROW = 256, /* + the settings row id */
};
static const struct train_opt {
    const char *name, *meta, *help;
    int id;
} own[] = {
    {"lr", "X", "base learning rate (default 0.05)", O_LR},
    {"schedule", "S", "constant | step | cosine | invsqrt | invt (default cosine)", O_SCHED},
    {"lr-min", "X", "cosine: final learning rate (default 0)", O_LRMIN},
    {"gamma", "X", "step: decay factor (default 0.1)", O_GAMMA},
    {"decay-epochs", "X", "step: epochs between decays (default 1)", O_DECAY},
    {"t0", "X", "invsqrt / invt: time scale in steps (default 1)", O_T0},
    {"warmup", "N", "linear warmup steps (default 0)", O_WARMUP},
    {"momentum", "X", "heavy-ball momentum (default 0.9)", O_MOM},
    {"nesterov", NULL, "Nesterov momentum", O_NESTEROV},
    {"wd", "X", "L2 weight decay added to the gradient (default 0)", O_WD},
    {"out", "FILE", "TSV output (default train.tsv; written atomically)", O_OUT},
    {"quiet", NULL, "no per-epoch lines", O_QUIET},
    {"quant-min", "N", "deprecated spelling of --quant-min-numel", O_QMIN_OLD},
};
#define NOWN (sizeof own / sizeof own[0])

/* The default of a train row as text ("" = none). */
static const char *train_default(const sim_setting *s) {
    return strcmp(s->train, "=") == 0 ? s->def : s->train;
}

/* One --help entry: head, then text whose lines are joined by '\n'. */
static void usage_entry(FILE *f, const char *opt, const char *meta, const char *text) {
    char head[64];
    snprintf(head, sizeof head, "--%s%s%s", opt, meta ? " " : "", meta ? meta : "");
    fprintf(f, "  %-19s", head);
    for (const char *l = text, *nl; l; l = nl ? nl + 1 : NULL) {
        nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (n > 58) { /* wrap a long line at its last blank before column 80 */
            size_t b = 58;
            while (b > 20 && l[b] != ' ')
                b--;
            if (l[b] == ' ') {
                n = b;
                nl = l + b;
            }
        }
        fprintf(f, "%s%.*s\n", l == text ? " " : "                      ", (int)n, l);
    }
}

/* name appended to the " | " list in buf (usage_entry wraps it) */
static void join_name(char *buf, size_t len, const char *name) {
    size_t off = strlen(buf);
    snprintf(buf + off, len - off, "%s%s", off ? " | " : "", name);
}

static void usage(FILE *f) {
    fprintf(f, "usage: " PROG " [options]\n"
               "Train one model on one worker; per-epoch progress on stdout, results in a TSV.\n"
               "\n");
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = sim_setting_get(i);
        if (!s->train)
            continue;
        char text[1200], help[400], list[800] = "";
        sim_setting_help(s, help, sizeof help);
        if (i == SIM_SET_MODEL) /* the registries' names */
            for (const model_type *const *t = model_types(); *t; t++)
                join_name(list, sizeof list, (*t)->name);
        else if (i == SIM_SET_DATA)
            data_sources_names(list, sizeof list);
        else if (i == SIM_SET_QUANTIZER)
            for (const quant_type *const *t = quant_types(); *t; t++)
                join_name(list, sizeof list, (*t)->name);
        const char *def = train_default(s);
        char dtext[200] = "";
        if (*def)
            snprintf(dtext, sizeof dtext, "%s(default %s)",
                     strlen(help) + strlen(def) < 46 ? " " : "\n", def);
        snprintf(text, sizeof text, "%s%s%s%s", help, dtext, *list ? "\n" : "", list);
        usage_entry(f, s->option, s->meta, text);
    }
    for (size_t k = 0; k < NOWN; k++)
        if (own[k].help)
            usage_entry(f, own[k].name, own[k].meta, own[k].help);
    usage_entry(f, "help", NULL, "this help (also -h)");
    fprintf(f, "Specs: qsgdsim list models | quantizers; data sources' options: README.md.\n"
               "Exit status: 0 complete, 2 bad option or spec, 3 diverged (the TSV is kept, its "
               "last\nline says where), 4 data, 5 the TSV could not be written (what was written "
               "is kept\nin the temporary file named), 6 out of memory, 1 internal error.\n");
}

static int bad(const char *opt, const char *val, const char *why) {
    fprintf(stderr, PROG ": %s '%s': %s\n", opt, val, why);
    fprintf(stderr, "Try '" PROG " --help'.\n");
    return QSGD_EXIT_CONFIG;
}

/* err's text: "where: msg", or msg alone when it already starts with where (the data
 * readers' "FILE:LINE: ..."). */
static const char *err_text(const qsgd_err *e, char *buf, size_t len) {
    size_t wl = strlen(e->where);
    if (wl && strncmp(e->msg, e->where, wl) == 0 && e->msg[wl] == ':')
        snprintf(buf, len, "%s", e->msg);
    else
        qsgd_err_text(e, buf, len);
    return buf;
}

/* A non-negative integer (1e3 is 1000); "too large" beyond SIZE_MAX, never a wrapped value. */
static int parse_count(const char *opt, const char *s, size_t *out) {
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !(x >= 0) || x != floor(x))
        return bad(opt, s, "expected a non-negative integer");
    if (!(x < 18446744073709551616.0)) /* 2^64: SIZE_MAX + 1 */
        return bad(opt, s, "too large");
    *out = (size_t)x;
    return 0;
}

static int parse_real(const char *opt, const char *s, double *out) {
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || x != x)
        return bad(opt, s, "expected a number");
    if (!isfinite(x))
        return bad(opt, s, "too large (not a finite number)");
    *out = x;
    return 0;
}

int cmd_train(int argc, char **argv) {
    struct option opts[SIM_NSETTINGS + NOWN + 2];
    size_t no = 0;
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = sim_setting_get(i);
        if (s->train)
            opts[no++] =
                (struct option){s->option, s->kind == SIM_SK_FLAG ? no_argument : required_argument,
                                NULL, O_ROW + i};
    }
    for (size_t k = 0; k < NOWN; k++)
        opts[no++] = (struct option){own[k].name, own[k].meta ? required_argument : no_argument,
                                     NULL, own[k].id};
    opts[no++] = (struct option){"help", no_argument, NULL, O_HELP};
    opts[no] = (struct option){NULL, 0, NULL, 0};
    /* a file size limit (ulimit -f) must fail the write (EFBIG, reported), not kill us */
    signal(SIGXFSZ, SIG_IGN);
    /* the run settings, parsed by the table's parse into a sim_config from train's defaults */
    static sim_config sc; /* its strings outlive the loop; one call per process */
    memset(&sc, 0, sizeof sc);
    char why[400];
    for (int i = 0; i < SIM_NSETTINGS; i++) {
        const sim_setting *s = sim_setting_get(i);
        if (s->train && *train_default(s) &&
            sim_setting_parse(i, train_default(s), &sc, why, sizeof why)) {
            fprintf(stderr, PROG ": internal: default of --%s: %s\n", s->option, why);
            return QSGD_EXIT_INTERNAL;
        }
    }
    train_config c = {
        .optim = {.lr = 0.05, .schedule = OPTIM_LR_COSINE, .momentum = 0.9},
        .decay_epochs = 1,
        .out_tsv = "train.tsv",
        .log = stdout,
    };
    int rc = 0, ch;
    qsgd_err oe = {0};
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == O_QMIN_OLD) {
            fprintf(stderr, PROG ": warning: --quant-min is deprecated, use --quant-min-numel\n");
            ch = O_ROW + SIM_SET_QUANT_MIN_NUMEL;
        }
        if (ch >= O_ROW && ch < O_ROW + SIM_NSETTINGS) {
            const sim_setting *s = sim_setting_get(ch - O_ROW);
            if (sim_setting_parse(ch - O_ROW, s->kind == SIM_SK_FLAG ? NULL : optarg, &sc, why,
                                  sizeof why)) {
                fprintf(stderr, PROG ": --%s: %s\n", s->option, why);
                fprintf(stderr, "Try '" PROG " --help'.\n");
                return QSGD_EXIT_CONFIG;
            }
            continue;
        }
        switch (ch) {
        case O_LR:
            rc = parse_real("--lr", optarg, &c.optim.lr);
            break;
        case O_SCHED: {
            optim_params p = c.optim;
            char spec[80];
            snprintf(spec, sizeof spec, "schedule=%.60s", optarg);
            if (optim_params_parse(spec, &p, &oe))
                return bad("--schedule", optarg, "valid: constant, step, cosine, invsqrt, invt");
            c.optim.schedule = p.schedule;
            break;
        }
        case O_LRMIN:
            rc = parse_real("--lr-min", optarg, &c.optim.lr_min);
            break;
        case O_GAMMA:
            rc = parse_real("--gamma", optarg, &c.optim.gamma);
            break;
        case O_DECAY:
            rc = parse_real("--decay-epochs", optarg, &c.decay_epochs);
            break;
        case O_T0:
            rc = parse_real("--t0", optarg, &c.optim.t0);
            break;
        case O_WARMUP:
            rc = parse_count("--warmup", optarg, &c.optim.warmup);
            break;
        case O_MOM:
            rc = parse_real("--momentum", optarg, &c.optim.momentum);
            break;
        case O_NESTEROV:
            c.optim.nesterov = 1;
            break;
        case O_WD:
            rc = parse_real("--wd", optarg, &c.optim.weight_decay);
            break;
        case O_OUT:
            c.out_tsv = optarg;
            break;
        case O_QUIET:
            c.log = NULL;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return QSGD_EXIT_OK;
        default:
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return QSGD_EXIT_CONFIG;
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return bad("argument", argv[optind], "unexpected (options only)");
    /* the settings into train's config */
    c.model = sc.model;
    c.data = sc.data;
    c.quant = sc.quant;
    c.quant_min_numel = sc.quant_min_numel;
    c.batch = sc.batch;
    c.epochs = sc.epochs;
    c.max_steps = sc.max_steps;
    c.seed = sc.seed;
    c.threads = sc.threads;
    c.device = sc.backend;
    const char *optim_spec = sc.optim[0] ? sc.optim : NULL;
    if (optim_spec && optim_params_parse(optim_spec, &c.optim, &oe))
        return bad("--optim", optim_spec, oe.msg);
    optim_params chk = c.optim; /* train_run fills cosine's total and step's step_size */
    if (chk.total_steps == 0)
        chk.total_steps = chk.warmup + 1;
    if (chk.step_size == 0)
        chk.step_size = 1;
    if (optim_params_check(&chk, &oe))
        return bad("optimizer", optim_spec ? optim_spec : "options", oe.msg);
    /* every spec parsed before any work (train_run checks again, for its other callers) */
    model_spec ms;
    qsgd_err me = {0};
    char text[900];
    if (model_spec_parse(c.model, &ms, &me) != QSGD_OK)
        return bad("--model", c.model, err_text(&me, text, sizeof text));
    if (c.quant && *c.quant && strcmp(c.quant, "none") != 0) {
        qsgd_err qe = {0};
        quant *q = quant_alloc_spec(c.quant, 1, 1, &qe);
        if (!q)
            return bad("--quant", c.quant, err_text(&qe, text, sizeof text));
        quant_free(q);
    }

    /* Parent directory of the output. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", c.out_tsv);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (qsgd_mkdir_p(dir) != 0) {
            fprintf(stderr, PROG ": cannot create directory %s: %s\n", dir, strerror(errno));
            return QSGD_EXIT_IO;
        }
    }
    char prov[4600];
    snprintf(prov, sizeof prov, "qsgdsim %s (git %s)\ncommand: %s", exp_version(), exp_git(),
             exp_command_line());
    c.provenance = prov;

    train_result r;
    qsgd_err err = {0};
    int trc = train_run(&c, &r, &err);
    if (trc == QSGD_EDIVERGED) {
        fprintf(stderr, PROG ": %s\n", err_text(&err, text, sizeof text));
        fprintf(stderr, PROG ": the epochs before it are kept in %s (last line: the status)\n",
                c.out_tsv);
        return QSGD_EXIT_DIVERGED;
    }
    if (trc) {
        fprintf(stderr, PROG ": %s\n", err_text(&err, text, sizeof text));
        return qsgd_status_exit(trc);
    }
    if (c.log) {
        printf("done: %zu steps in %.1f s (training only), final test loss %.4f", r.steps,
               r.seconds, r.last.test_loss);
        if (r.last.test_acc == r.last.test_acc)
            printf(", test accuracy %.2f%%", 100.0 * r.last.test_acc);
        printf("; wrote %s\n", c.out_tsv);
    }
    return QSGD_EXIT_OK;
}
