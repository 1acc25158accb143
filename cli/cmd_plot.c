/* cmd_plot.c — `qsgdsim plot DIR`: the figures of an experiment directory written by
 * `qsgdsim run` (docs/experiments.md): gathers the points' tables into gnuplot data files
 * DIR/plots/NAME.dat (one block per panel and line) and runs the checked-in scripts
 * plots/NAME.gp:
 * convergence, epoch time breakdown, speedup vs workers and vs network, bits per iteration,
 * simulated vs paper speedups, and the bounds figure when DIR has bounds.tsv. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "model.h"
#include "net.h"
#include "qsgd_file.h"
#include "qsgd_tsv.h"
#include "quant.h"

#define PROG "qsgdsim plot"
#define MAX_BINS 400    /* train-loss points per line in the convergence figure */
#define ROWS_PER_PAGE 4 /* panel rows per convergence figure file */

/* ---- TSV tables: qsgd_tsv.h ('#' lines skipped, the first other line is the header) --- */
static double num(const char *s) {
    if (!s || !*s)
        return NAN;
    char *end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

/* ---- the experiment ------------------------------------------------------------------- */
enum { C_COMPUTE, C_ENCODE, C_COMM, C_DECODE, NCOMP };

typedef struct point {
    char *dir;
    size_t *vi; /* [naxes] index into the axis' distinct values */
    char status[32];
    double acc, tpe, bits, speedup, ref_speedup;
    char ref_source[160];
    /* from DIR/<dir>/iterations.tsv */
    int have_iters;
    size_t iters;
    double ipe;         /* iterations per epoch */
    double comp[NCOMP]; /* mean seconds per iteration */
    double mean_bits;
    char model[160];
} point;

typedef struct axis {
    char *name;
    size_t n;
    char **val;   /* [n] distinct values, in order of first appearance */
    char **label; /* [n] short labels for figures */
} axis;

typedef struct plot {
    const char *dir;
    char pdir[PATH_MAX]; /* DIR/plots */
    const char *fmt;     /* png | svg | pdf | dumb */
    const char *ext;
    int terminal;
    axis *ax;
    size_t nax;
    int aq, ak, anet, aseed, amodel; /* axis indices or -1 */
    point *pt;
    size_t npt;
    int timing_only;  /* every point with iterations runs a timing-only model (profile) */
    unsigned qfollow; /* axes paired with the quantizer (one value per quantizer value, e.g.
                         the exchange of `pair = ["quantizer", "exchange"]`): they travel in
                         the quantizer's labels and never split panels */
    char **made;      /* figure paths */
    size_t nmade;
    int failed, gnuplot_missing;
    size_t ndat; /* data files written */
} plot;

static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The axes whose value is a function of the quantizer's (paired with it in the experiment
 * file) into c->qfollow, their labels appended to the quantizer's ("fp32 allreduce",
 * "QSGD 4-bit stripes"). An axis swept on its own varies under every quantizer value and is
 * never one. 0, or -1 on ENOMEM. */
static int follow_quantizer(plot *c) {
    c->qfollow = 0;
    if (c->aq < 0 || c->ax[c->aq].n < 2 || c->nax > 32)
        return 0;
    axis *q = &c->ax[c->aq];
    size_t *map = malloc(q->n * sizeof *map);
    if (!map)
        return -1;
    for (size_t a = 0; a < c->nax; a++) {
        if ((int)a == c->aq || c->ax[a].n < 2)
            continue;
        for (size_t b = 0; b < q->n; b++)
            map[b] = SIZE_MAX;
        int follows = 1;
        for (size_t i = 0; i < c->npt && follows; i++) {
            size_t qi = c->pt[i].vi[c->aq], v = c->pt[i].vi[a];
            if (map[qi] == SIZE_MAX)
                map[qi] = v;
            else
                follows = map[qi] == v;
        }
        if (!follows)
            continue;
        c->qfollow |= 1u << a;
        for (size_t b = 0; b < q->n; b++) {
            if (map[b] == SIZE_MAX)
                continue;
            size_t len = strlen(q->label[b]) + strlen(c->ax[a].label[map[b]]) + 2;
            char *l = malloc(len);
            if (!l) {
                free(map);
                return -1;
            }
            snprintf(l, len, "%s %s", q->label[b], c->ax[a].label[map[b]]);
            free(q->label[b]);
            q->label[b] = l;
        }
    }
    free(map);
    return 0;
}

/* Read a table (qsgd_tsv.h): a missing one is silent (a point not run yet), any other
 * failure is a note naming the file and line. Returns 0 or -1 (errno set). */
static int tsv_read(const char *path, qsgd_tsv *t) {
    char err[PATH_MAX + 200];
    if (qsgd_tsv_read(path, t, err, sizeof err) == 0)
        return 0;
    int e = errno;
    if (e != ENOENT)
        note("%s", err);
    errno = e;
    return -1;
}

/* 1 if the quantizer spec is lossless (fp32: the speedup baseline), from its type table */
static int spec_lossless(const char *spec) {
    quant_spec qs;
    qsgd_err qe = {0};
    return quant_spec_parse(spec, &qs, &qe) == QSGD_OK && quant_spec_lossless(&qs);
}

/* The model type a spec or a table's model line names ("profile:name=resnet50", "logreg
 * (65 parameters)"), or NULL: what it is comes from its table, never from its name. */
static const model_type *model_type_of(const char *spec) {
    char n[64];
    snprintf(n, sizeof n, "%.*s", (int)strcspn(spec, ": \t"), spec);
    return model_type_find(n);
}

/* Short figure label of value v of axis `name`; level 0 is the shortest, level 1 adds
 * detail, level 2 is the raw value. Quantizers and networks are labelled by their type's
 * table (its label hook), models by the option their table names (model_type.label_opt). */
static void value_label(const char *name, const char *v, int level, char *out, size_t len) {
    char o[64];
    if (level >= 2) {
        snprintf(out, len, "%s", v);
        return;
    }
    if (strcmp(name, "quantizer") == 0) {
        /* the type's label (quant_spec_label: its table parses the spec, aliases and all) */
        if (quant_spec_label(v, level, out, len) != 0)
            snprintf(out, len, "%s", v);
    } else if (strcmp(name, "network") == 0) {
        /* the topology's label from the values as written (net_spec_label); truncated at
         * worst, like every label here */
        net_spec_label(v, level, out, len);
    } else if (strcmp(name, "model") == 0) {
        const model_type *t = model_type_of(v);
        if (t && t->label_opt && qsgd_spec_value(v, t->label_opt, o, sizeof o))
            snprintf(out, len, "%s", o);
        else
            snprintf(out, len, "%s", v);
    } else if (strcmp(name, "workers") == 0) {
        snprintf(out, len, "K=%s", v);
    } else if (strcmp(name, "seeds") == 0) {
        snprintf(out, len, "seed %s", v);
    } else {
        snprintf(out, len, "%s=%s", name, v);
    }
}

static int label_axis(axis *a) {
    char buf[256];
    for (int level = 0; level <= 2; level++) {
        for (size_t i = 0; i < a->n; i++) {
            value_label(a->name, a->val[i], level, buf, sizeof buf);
            free(a->label[i]);
            if (!(a->label[i] = strdup(buf)))
                return -1;
        }
        int unique = 1;
        for (size_t i = 0; i < a->n && unique; i++)
            for (size_t j = i + 1; j < a->n && unique; j++)
                unique = strcmp(a->label[i], a->label[j]) != 0;
        if (unique)
            return 0;
    }
    return 0;
}

/* Read the per-point trainer tables: breakdown means, iterations per epoch, model. */
static void load_point_iters(plot *c, point *p) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/iterations.tsv", c->dir, p->dir);
    qsgd_tsv t;
    if (tsv_read(path, &t) != 0)
        return;
    snprintf(p->model, sizeof p->model, "%s", t.model);
    static const char *names[NCOMP] = {"compute", "encode", "comm", "decode"};
    int col[NCOMP], ci = qsgd_tsv_col(&t, "iteration"), ce = qsgd_tsv_col(&t, "epoch"),
                    cb = qsgd_tsv_col(&t, "bits_sent");
    for (int k = 0; k < NCOMP; k++)
        col[k] = qsgd_tsv_col(&t, names[k]);
    if (t.nrow > 0 && ci >= 0 && ce >= 0) {
        double sum[NCOMP] = {0}, bits = 0;
        for (size_t r = 0; r < t.nrow; r++) {
            for (int k = 0; k < NCOMP; k++) {
                double v = qsgd_tsv_num(&t, r, col[k]);
                sum[k] += isfinite(v) ? v : 0;
            }
            double b = qsgd_tsv_num(&t, r, cb);
            bits += isfinite(b) ? b : 0;
        }
        p->iters = t.nrow;
        for (int k = 0; k < NCOMP; k++)
            p->comp[k] = sum[k] / (double)t.nrow;
        p->mean_bits = bits / (double)t.nrow;
        double it = qsgd_tsv_num(&t, t.nrow - 1, ci), ep = qsgd_tsv_num(&t, t.nrow - 1, ce);
        p->ipe = ep > 0 ? it / ep : NAN;
        p->have_iters = 1;
    }
    qsgd_tsv_free(&t);
}

static void plot_free(plot *c) {
    for (size_t a = 0; a < c->nax; a++) {
        for (size_t i = 0; i < c->ax[a].n; i++) {
            free(c->ax[a].val[i]);
            free(c->ax[a].label[i]);
        }
        free(c->ax[a].val);
        free(c->ax[a].label);
        free(c->ax[a].name);
    }
    free(c->ax);
    for (size_t i = 0; i < c->npt; i++) {
        free(c->pt[i].dir);
        free(c->pt[i].vi);
    }
    free(c->pt);
    for (size_t i = 0; i < c->nmade; i++)
        free(c->made[i]);
    free(c->made);
}

/* Load DIR/summary.tsv (or DIR/points.tsv before the run has summarized). Returns CMD_OK,
 * CMD_USAGE (not an experiment directory) or CMD_FAIL. */
static int load_experiment(plot *c) {
    char path[PATH_MAX];
    qsgd_tsv t;
    snprintf(path, sizeof path, "%s/summary.tsv", c->dir);
    int from_summary = 1;
    if (tsv_read(path, &t) != 0) {
        from_summary = 0;
        snprintf(path, sizeof path, "%s/points.tsv", c->dir);
        if (tsv_read(path, &t) != 0) {
            note("%s is not an experiment directory: no readable summary.tsv or points.tsv (%s)",
                 c->dir, strerror(errno));
            return CMD_USAGE;
        }
    }
    int cdir = qsgd_tsv_col(&t, "dir"), cstatus = qsgd_tsv_col(&t, "status");
    if (cdir != 1 || qsgd_tsv_col(&t, "point") != 0) {
        note("%s: expected the columns 'point' and 'dir' first", path);
        qsgd_tsv_free(&t);
        return CMD_USAGE;
    }
    size_t last_axis = from_summary && cstatus > 1 ? (size_t)cstatus : t.ncol;
    c->nax = last_axis - 2;
    c->ax = calloc(c->nax ? c->nax : 1, sizeof *c->ax);
    c->pt = calloc(t.nrow ? t.nrow : 1, sizeof *c->pt);
    if (!c->ax || !c->pt)
        goto nomem;
    c->aq = c->ak = c->anet = c->aseed = c->amodel = -1;
    for (size_t a = 0; a < c->nax; a++) {
        axis *x = &c->ax[a];
        if (!(x->name = strdup(t.head[a + 2])))
            goto nomem;
        x->val = calloc(t.nrow ? t.nrow : 1, sizeof *x->val);
        x->label = calloc(t.nrow ? t.nrow : 1, sizeof *x->label);
        if (!x->val || !x->label)
            goto nomem;
        if (strcmp(x->name, "quantizer") == 0)
            c->aq = (int)a;
        else if (strcmp(x->name, "workers") == 0)
            c->ak = (int)a;
        else if (strcmp(x->name, "network") == 0)
            c->anet = (int)a;
        else if (strcmp(x->name, "seeds") == 0)
            c->aseed = (int)a;
        else if (strcmp(x->name, "model") == 0)
            c->amodel = (int)a;
    }
    int cacc = qsgd_tsv_col(&t, "accuracy"), ctpe = qsgd_tsv_col(&t, "time_per_epoch"),
        cbits = qsgd_tsv_col(&t, "bits_per_iter"), csp = qsgd_tsv_col(&t, "speedup"),
        cref = qsgd_tsv_col(&t, "ref_speedup"), csrc = qsgd_tsv_col(&t, "ref_source");
    c->npt = t.nrow;
    for (size_t i = 0; i < t.nrow; i++) {
        point *p = &c->pt[i];
        if (!(p->dir = strdup(t.cell[i][1])) || !(p->vi = calloc(c->nax + 1, sizeof *p->vi)))
            goto nomem;
        for (size_t a = 0; a < c->nax; a++) {
            axis *x = &c->ax[a];
            const char *v = t.cell[i][a + 2];
            size_t k = 0;
            while (k < x->n && strcmp(x->val[k], v) != 0)
                k++;
            if (k == x->n && !(x->val[x->n++] = strdup(v)))
                goto nomem;
            p->vi[a] = k;
        }
        snprintf(p->status, sizeof p->status, "%s", cstatus >= 0 ? t.cell[i][cstatus] : "?");
        p->acc = qsgd_tsv_num(&t, i, cacc);
        p->tpe = qsgd_tsv_num(&t, i, ctpe);
        p->bits = qsgd_tsv_num(&t, i, cbits);
        p->speedup = qsgd_tsv_num(&t, i, csp);
        p->ref_speedup = qsgd_tsv_num(&t, i, cref);
        snprintf(p->ref_source, sizeof p->ref_source, "%s", csrc >= 0 ? t.cell[i][csrc] : "");
        load_point_iters(c, p);
        if (!isfinite(p->bits))
            p->bits = p->have_iters ? p->mean_bits : NAN;
        if (!isfinite(p->tpe) && p->have_iters)
            p->tpe = (p->comp[0] + p->comp[1] + p->comp[2] + p->comp[3]) * p->ipe;
    }
    /* speedups from points.tsv alone: fp32 point with the same other values */
    if (!from_summary && c->aq >= 0)
        for (size_t i = 0; i < c->npt; i++)
            for (size_t j = 0; j < c->npt; j++) {
                if (!spec_lossless(c->ax[c->aq].val[c->pt[j].vi[c->aq]]))
                    continue;
                int same = 1;
                for (size_t a = 0; a < c->nax && same; a++)
                    same = (int)a == c->aq || c->pt[i].vi[a] == c->pt[j].vi[a];
                if (same)
                    c->pt[i].speedup = c->pt[j].tpe / c->pt[i].tpe;
            }
    for (size_t a = 0; a < c->nax; a++)
        if (label_axis(&c->ax[a]))
            goto nomem;
    if (follow_quantizer(c))
        goto nomem;
    size_t with = 0, timing = 0;
    for (size_t i = 0; i < c->npt; i++)
        if (c->pt[i].have_iters) {
            const model_type *mt = model_type_of(c->pt[i].model);
            with++;
            timing += mt && mt->timing_only;
        }
    c->timing_only = with > 0 && timing == with;
    qsgd_tsv_free(&t);
    return CMD_OK;
nomem:
    qsgd_tsv_free(&t);
    note("out of memory");
    return CMD_FAIL;
}

/* ---- groups of points ------------------------------------------------------------------
 * A group is a combination of the values of the axes in `mask` (bit a = axis a); groups are
 * numbered in order of first appearance among the points. */
typedef struct groups {
    size_t n;
    size_t *key;   /* [n] mixed-radix keys */
    size_t *first; /* [n] first point of each group */
    size_t *of;    /* [npt] group of each point */
} groups;

static size_t group_key(const plot *c, const point *p, unsigned mask) {
    size_t k = 0;
    for (size_t a = 0; a < c->nax; a++)
        if (mask & (1u << a))
            k = k * c->ax[a].n + p->vi[a];
    return k;
}

static int groups_make(const plot *c, unsigned mask, groups *g) {
    memset(g, 0, sizeof *g);
    g->key = malloc((c->npt + 1) * sizeof *g->key);
    g->first = malloc((c->npt + 1) * sizeof *g->first);
    g->of = malloc((c->npt + 1) * sizeof *g->of);
    if (!g->key || !g->first || !g->of)
        return -1;
    for (size_t i = 0; i < c->npt; i++) {
        size_t k = group_key(c, &c->pt[i], mask), j = 0;
        while (j < g->n && g->key[j] != k)
            j++;
        if (j == g->n) {
            g->key[g->n] = k;
            g->first[g->n++] = i;
        }
        g->of[i] = j;
    }
    return 0;
}

static void groups_free(groups *g) {
    free(g->key);
    free(g->first);
    free(g->of);
}

/* Label of the group of point p over mask: "K=4, 1GbE" ("" for an empty mask). */
static void group_label(const plot *c, const point *p, unsigned mask, char *out, size_t len) {
    size_t l = 0;
    out[0] = '\0';
    for (size_t a = 0; a < c->nax; a++)
        if ((mask & (1u << a)) && l < len)
            l +=
                (size_t)snprintf(out + l, len - l, "%s%s", l ? ", " : "", c->ax[a].label[p->vi[a]]);
}

static unsigned all_axes(const plot *c) { /* the axes that split panels and groups */
    return (c->nax >= 32 ? 0xffffffffu : (1u << c->nax) - 1) & ~c->qfollow;
}

static unsigned bit(int a) {
    return a >= 0 ? 1u << a : 0;
}

/* ---- gnuplot --------------------------------------------------------------------------- */
typedef struct gpsetup {
    char *s;
    size_t len, cap;
} gpsetup;

static void gp_add(gpsetup *g, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(g->s ? g->s + g->len : NULL, g->s ? g->cap - g->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (g->s && g->len + (size_t)n < g->cap) {
            g->len += (size_t)n;
            return;
        }
        size_t cap = (g->cap + (size_t)n + 1) * 2;
        char *s = realloc(g->s, cap);
        if (!s)
            return;
        if (!g->s)
            s[0] = '\0';
        g->s = s;
        g->cap = cap;
    }
}

/* name='value' (gnuplot single-quoted) */
static void gp_str(gpsetup *g, const char *name, const char *value) {
    size_t need = strlen(value) * 2 + 8;
    char *q = malloc(need);
    if (!q)
        return;
    q[0] = '\0';
    exp_gp_quote(q, need, value);
    gp_add(g, "%s=%s; ", name, q);
    free(q);
}

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

/* Colour of quantizer value i: fp32 black, the others the palette in order. */
static const char *qcolor(const plot *c, size_t i) {
    if (c->aq < 0)
        return palette[0];
    if (spec_lossless(c->ax[c->aq].val[i]))
        return "#222222";
    size_t k = 0;
    for (size_t j = 0; j < i; j++)
        k += !spec_lossless(c->ax[c->aq].val[j]);
    return palette[k % (sizeof palette / sizeof palette[0])];
}

/* Run script `name` with the setup; output DIR/plots/<out>.<ext> (or the terminal). */
static void run_figure(plot *c, const char *name, const char *out, gpsetup *g) {
    if (c->gnuplot_missing)
        return;
    char script[PATH_MAX + 64], common[PATH_MAX + 64], path[PATH_MAX + 64], tmp[PATH_MAX + 96];
    if (exp_find_plot_script(name, script, sizeof script) != 0 ||
        exp_find_plot_script("common.gp", common, sizeof common) != 0) {
        note("plot script %s or common.gp not found (looked for %s); no %s figure", name, script,
             out);
        c->failed++;
        return;
    }
    snprintf(path, sizeof path, "%s/%s.%s", c->pdir, out, c->ext);
    snprintf(tmp, sizeof tmp, "%s/.%s.partial.%ld.%s", c->pdir, out, (long)getpid(), c->ext);
    gp_str(g, "common", common);
    gp_str(g, "fmt", c->fmt);
    gp_str(g, "outfile", c->terminal ? "" : tmp);
    gp_str(g, "pdir", c->pdir);
    if (!g->s) {
        note("out of memory");
        c->failed++;
        return;
    }
    if (c->terminal) {
        printf("\n==== %s (%s) ====\n", out, name);
        fflush(stdout);
    }
    int rc = exp_run_gnuplot(g->s, script);
    if (rc == 127) {
        note("gnuplot not found (install gnuplot-nox, or set QSGDSIM_GNUPLOT); the data files are "
             "in %s, no figures",
             c->pdir);
        c->gnuplot_missing = 1;
        unlink(tmp);
        return;
    }
    if (c->terminal) {
        if (rc != 0) {
            note("gnuplot failed (status %d) on %s", rc, script);
            c->failed++;
        }
        return;
    }
    struct stat st;
    if (rc != 0 || stat(tmp, &st) != 0 || st.st_size == 0) {
        note("gnuplot failed (status %d) on %s; no %s", rc, script, path);
        unlink(tmp);
        c->failed++;
        return;
    }
    char err[3 * PATH_MAX];
    if (qsgd_file_rename(tmp, path, 0, err, sizeof err) != 0) {
        note("%s", err);
        c->failed++;
        return;
    }
    char **m = realloc(c->made, (c->nmade + 1) * sizeof *m);
    if (m) {
        c->made = m;
        c->made[c->nmade++] = strdup(path);
    }
}

static FILE *open_dat(plot *c, const char *name, char *path, size_t len) {
    snprintf(path, len, "%s/%s", c->pdir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        note("cannot write %s: %s", path, strerror(errno));
        c->failed++;
    } else {
        c->ndat++;
    }
    return f;
}

/* ---- convergence ----------------------------------------------------------------------- */
/* Blocks (panel, line) in order panel * nlines + line; seeds of one line are separated by a
 * single blank line inside the block. Train: epoch, sim_time, binned mean train loss. Eval:
 * epoch, sim_time, test_loss, test_accuracy. */
static void fig_convergence(plot *c) {
    if (c->timing_only) {
        note("convergence: skipped (profile models: synthetic loss, timing only)");
        return;
    }
    int line_axis = c->aq;
    if (line_axis < 0)
        for (size_t a = 0; a < c->nax && line_axis < 0; a++)
            if ((int)a != c->aseed)
                line_axis = (int)a;
    unsigned pmask = all_axes(c) & ~bit(line_axis) & ~bit(c->aseed);
    groups pg;
    if (groups_make(c, pmask, &pg)) {
        groups_free(&pg);
        note("out of memory");
        c->failed++;
        return;
    }
    size_t nl = line_axis >= 0 ? c->ax[line_axis].n : 1;
    char tpath[PATH_MAX + 32], epath[PATH_MAX + 32];
    FILE *ft = open_dat(c, "convergence_train.dat", tpath, sizeof tpath);
    FILE *fe = ft ? open_dat(c, "convergence_eval.dat", epath, sizeof epath) : NULL;
    if (!ft || !fe) {
        if (ft)
            fclose(ft);
        groups_free(&pg);
        return;
    }
    fprintf(ft,
            "# qsgdsim plot: train loss per point, binned (<= %d bins); blocks: panel * %zu + "
            "line\n# epoch\tsim_time\ttrain_loss\n",
            MAX_BINS, nl);
    fprintf(fe,
            "# qsgdsim plot: test evaluations per point; blocks: panel * %zu + line\n"
            "# epoch\tsim_time\ttest_loss\ttest_accuracy\n",
            nl);
    int any_acc = 0, any_data = 0;
    for (size_t pnl = 0; pnl < pg.n; pnl++)
        for (size_t ln = 0; ln < nl; ln++) {
            fprintf(ft, "# block %zu: panel %zu line %zu\n", pnl * nl + ln, pnl + 1, ln + 1);
            fprintf(fe, "# block %zu: panel %zu line %zu\n", pnl * nl + ln, pnl + 1, ln + 1);
            int wrote_t = 0, wrote_e = 0;
            for (size_t i = 0; i < c->npt; i++) {
                point *p = &c->pt[i];
                if (pg.of[i] != pnl || (line_axis >= 0 && p->vi[line_axis] != ln))
                    continue;
                char path[PATH_MAX];
                qsgd_tsv t;
                snprintf(path, sizeof path, "%s/%s/iterations.tsv", c->dir, p->dir);
                if (tsv_read(path, &t) == 0) {
                    int ce = qsgd_tsv_col(&t, "epoch"), cs = qsgd_tsv_col(&t, "sim_time"),
                        cl = qsgd_tsv_col(&t, "train_loss");
                    /* bins: at most MAX_BINS, and at least 1/64 of the run (smooths the
                     * minibatch noise) */
                    size_t bin = (t.nrow + MAX_BINS - 1) / MAX_BINS;
                    if (bin < t.nrow / 64)
                        bin = t.nrow / 64;
                    if (wrote_t && t.nrow)
                        fputc('\n', ft);
                    for (size_t r0 = 0; bin && r0 < t.nrow; r0 += bin) {
                        double se = 0, ss = 0, sl = 0;
                        size_t n = 0;
                        for (size_t r = r0; r < r0 + bin && r < t.nrow; r++) {
                            double l = qsgd_tsv_num(&t, r, cl);
                            if (!isfinite(l))
                                continue;
                            se += qsgd_tsv_num(&t, r, ce);
                            ss += qsgd_tsv_num(&t, r, cs);
                            sl += l;
                            n++;
                        }
                        if (n) {
                            fprintf(ft, "%.6g\t%.9g\t%.9g\n", se / n, ss / n, sl / n);
                            wrote_t = any_data = 1;
                        }
                    }
                    qsgd_tsv_free(&t);
                }
                snprintf(path, sizeof path, "%s/%s/eval.tsv", c->dir, p->dir);
                if (tsv_read(path, &t) == 0) {
                    int ce = qsgd_tsv_col(&t, "epoch"), cs = qsgd_tsv_col(&t, "sim_time"),
                        cl = qsgd_tsv_col(&t, "test_loss"), ca = qsgd_tsv_col(&t, "test_accuracy");
                    if (wrote_e && t.nrow)
                        fputc('\n', fe);
                    for (size_t r = 0; r < t.nrow; r++) {
                        double a = qsgd_tsv_num(&t, r, ca);
                        any_acc |= isfinite(a);
                        fprintf(fe, "%.6g\t%.9g\t%.9g\t%.9g\n", qsgd_tsv_num(&t, r, ce),
                                qsgd_tsv_num(&t, r, cs), qsgd_tsv_num(&t, r, cl), a);
                        wrote_e = any_data = 1;
                    }
                    qsgd_tsv_free(&t);
                }
            }
            if (!wrote_t)
                fprintf(ft, "NaN\tNaN\tNaN\n");
            if (!wrote_e)
                fprintf(fe, "NaN\tNaN\tNaN\tNaN\n");
            fprintf(ft, "\n\n");
            fprintf(fe, "\n\n");
        }
    fclose(ft);
    fclose(fe);
    if (!any_data) {
        note("convergence: skipped (no point has iterations.tsv or eval.tsv yet)");
        groups_free(&pg);
        return;
    }
    /* pages of at most ROWS_PER_PAGE panel rows */
    size_t pages = (pg.n + ROWS_PER_PAGE - 1) / ROWS_PER_PAGE;
    for (size_t page = 0; page < pages; page++) {
        gpsetup g = {0};
        size_t first = page * ROWS_PER_PAGE;
        size_t rows = pg.n - first < ROWS_PER_PAGE ? pg.n - first : ROWS_PER_PAGE;
        gp_str(&g, "trainfile", tpath);
        gp_str(&g, "evalfile", epath);
        gp_add(&g, "npanels=%zu; first=%zu; nlines=%zu; any_acc=%d; ", rows, first, nl, any_acc);
        for (size_t r = 0; r < rows; r++) {
            char t[300], name[32];
            group_label(c, &c->pt[pg.first[first + r]], pmask, t, sizeof t);
            snprintf(name, sizeof name, "ptitle%zu", r + 1);
            gp_str(&g, name, t);
        }
        for (size_t ln = 0; ln < nl; ln++) {
            char name[32];
            snprintf(name, sizeof name, "ltitle%zu", ln + 1);
            gp_str(&g, name, line_axis >= 0 ? c->ax[line_axis].label[ln] : "");
            snprintf(name, sizeof name, "lcolor%zu", ln + 1);
            gp_str(&g, name, line_axis == c->aq ? qcolor(c, ln) : palette[ln % 10]);
        }
        char out[64];
        if (page == 0)
            snprintf(out, sizeof out, "convergence");
        else
            snprintf(out, sizeof out, "convergence-%zu", page + 1);
        gp_str(&g, "figtitle", pages > 1 ? out : "");
        run_figure(c, "convergence.gp", out, &g);
        free(g.s);
    }
    groups_free(&pg);
}

/* ---- bar charts: epoch time breakdown and bits ---------------------------------------- */
/* Clusters (values of cluster_axis) of bars (values of bar_axis) per panel (the other axes
 * of pmask). Writes x, bar label, then ncols values per bar. */
typedef double (*bar_value)(const plot *c, const point *p, int k);

static double v_breakdown(const plot *c, const point *p, int k) {
    (void)c;
    if (!p->have_iters)
        return NAN;
    double tot = p->comp[0] + p->comp[1] + p->comp[2] + p->comp[3];
    double scale = isfinite(p->tpe) && tot > 0 ? p->tpe / tot : p->ipe; /* seconds per epoch */
    double cum = 0;
    for (int j = 0; j <= k; j++)
        cum += p->comp[j];
    return cum * scale;
}

/* k = 0: bits per iteration; k = 1: fp32's bits / this (same model), NaN without fp32. */
static double v_bits(const plot *c, const point *p, int k) {
    if (k == 0)
        return p->bits;
    for (size_t i = 0; i < c->npt; i++) {
        const point *q = &c->pt[i];
        if (spec_lossless(c->ax[c->aq].val[q->vi[c->aq]]) &&
            (c->amodel < 0 || q->vi[c->amodel] == p->vi[c->amodel]) && q->bits > 0)
            return q->bits / p->bits;
    }
    return NAN;
}

/* Returns the number of bars written, or 0. */
static size_t write_bars(plot *c, FILE *f, FILE *fl, const groups *pg, unsigned pmask,
                         int cluster_axis, int bar_axis, int ncols, bar_value val, double *ymax_out,
                         size_t *maxbars) {
    size_t nc = cluster_axis >= 0 ? c->ax[cluster_axis].n : 1;
    size_t nb = bar_axis >= 0 ? c->ax[bar_axis].n : 1;
    size_t bars = 0;
    (void)pmask;
    for (size_t pnl = 0; pnl < pg->n; pnl++) {
        fprintf(f, "# panel %zu\n", pnl + 1);
        fprintf(fl, "# panel %zu\n", pnl + 1);
        size_t wrote = 0;
        double x = 0, pmax = 0;
        double *lx = calloc(nc, sizeof *lx); /* cluster centres (NaN: empty cluster) */
        if (!lx)
            return 0;
        for (size_t cl = 0; cl < nc; cl++) {
            double top = 0, x0 = x;
            lx[cl] = NAN;
            size_t inb = 0;
            for (size_t b = 0; b < nb; b++) {
                /* the first point (e.g. seed) of this panel, cluster and bar */
                const point *p = NULL;
                for (size_t i = 0; i < c->npt && !p; i++)
                    if (pg->of[i] == pnl && (cluster_axis < 0 || c->pt[i].vi[cluster_axis] == cl) &&
                        (bar_axis < 0 || c->pt[i].vi[bar_axis] == b))
                        p = &c->pt[i];
                if (!p)
                    continue;
                double v[8];
                int ok = 0;
                for (int k = 0; k < ncols; k++) {
                    v[k] = val(c, p, k);
                    ok |= isfinite(v[k]);
                }
                if (!ok)
                    continue;
                fprintf(f, "%g\t%s\t%zu", x, bar_axis >= 0 ? c->ax[bar_axis].label[b] : "", b + 1);
                for (int k = 0; k < ncols; k++) {
                    fprintf(f, "\t%.9g", v[k]);
                    if (isfinite(v[k]) && v[k] > top)
                        top = v[k];
                }
                fputc('\n', f);
                x += 1;
                inb++;
                wrote++;
            }
            if (inb) {
                lx[cl] = (x0 + x - 1) / 2.0;
                if (top > pmax)
                    pmax = top;
                x += 0.6; /* gap between clusters */
            }
        }
        /* cluster labels in one row at the panel's highest bar */
        for (size_t cl = 0; cl < nc; cl++)
            if (isfinite(lx[cl]))
                fprintf(fl, "%g\t%.9g\t%s\n", lx[cl], pmax,
                        cluster_axis >= 0 ? c->ax[cluster_axis].label[cl] : "");
        free(lx);
        if (pmax > *ymax_out)
            *ymax_out = pmax;
        if (!wrote) {
            fprintf(f, "NaN\t-\t1");
            for (int k = 0; k < ncols; k++)
                fprintf(f, "\tNaN");
            fputc('\n', f);
        }
        fprintf(fl, "%s", wrote ? "" : "NaN\tNaN\t-\n");
        fprintf(f, "\n\n");
        fprintf(fl, "\n\n");
        bars += wrote;
        if (wrote > *maxbars)
            *maxbars = wrote;
    }
    return bars;
}

static void bar_setup(plot *c, gpsetup *g, const groups *pg, unsigned pmask, int bar_axis) {
    gp_add(g, "npanels=%zu; ", pg->n);
    for (size_t pnl = 0; pnl < pg->n; pnl++) {
        char t[300], name[32];
        group_label(c, &c->pt[pg->first[pnl]], pmask, t, sizeof t);
        snprintf(name, sizeof name, "ptitle%zu", pnl + 1);
        gp_str(g, name, t);
    }
    size_t nb = bar_axis >= 0 ? c->ax[bar_axis].n : 1;
    gp_add(g, "nbars=%zu; ", nb);
    for (size_t b = 0; b < nb; b++) {
        char name[32];
        snprintf(name, sizeof name, "bcolor%zu", b + 1);
        gp_str(g, name, bar_axis == c->aq ? qcolor(c, b) : palette[b % 10]);
    }
}

static void fig_breakdown(plot *c) {
    size_t with = 0;
    for (size_t i = 0; i < c->npt; i++)
        with += c->pt[i].have_iters;
    if (!with) {
        note("breakdown: skipped (no point has iterations.tsv yet)");
        return;
    }
    int cluster_axis = c->ak >= 0 && c->ax[c->ak].n > 1 ? c->ak : -1;
    int bar_axis = c->aq;
    unsigned pmask = all_axes(c) & ~bit(cluster_axis) & ~bit(bar_axis) & ~bit(c->aseed);
    if (cluster_axis < 0)
        pmask &= ~bit(c->ak);
    groups pg;
    if (groups_make(c, pmask, &pg)) {
        groups_free(&pg);
        c->failed++;
        return;
    }
    char path[PATH_MAX + 32], lpath[PATH_MAX + 32];
    FILE *f = open_dat(c, "breakdown.dat", path, sizeof path);
    FILE *fl = f ? open_dat(c, "breakdown_labels.dat", lpath, sizeof lpath) : NULL;
    if (!f || !fl) {
        if (f)
            fclose(f);
        groups_free(&pg);
        return;
    }
    fprintf(f, "# qsgdsim plot: simulated seconds per epoch, cumulative: compute, +encode, "
               "+comm, +decode (mean per iteration x iterations per epoch); one block per panel\n"
               "# x\tbar\tbar_index\tcompute\tcompute+encode\t+comm\t+decode\n");
    fprintf(fl, "# x\ty\tcluster label\n");
    double ymax = 0;
    size_t maxbars = 0;
    size_t bars =
        write_bars(c, f, fl, &pg, pmask, cluster_axis, bar_axis, 4, v_breakdown, &ymax, &maxbars);
    fclose(f);
    fclose(fl);
    if (!bars) {
        note("breakdown: skipped (no timings)");
        groups_free(&pg);
        return;
    }
    size_t steps = 0;
    double ep = 0;
    for (size_t i = 0; i < c->npt; i++)
        if (c->pt[i].have_iters) {
            steps = c->pt[i].iters;
            ep = c->pt[i].iters / c->pt[i].ipe;
        }
    gpsetup g = {0};
    gp_str(&g, "datafile", path);
    gp_str(&g, "labelfile", lpath);
    bar_setup(c, &g, &pg, pmask, bar_axis);
    char sub[200] = "";
    if (ep < 0.999)
        snprintf(sub, sizeof sub, " (extrapolated from %zu iterations = %.3g epochs)", steps, ep);
    gp_str(&g, "subtitle", sub);
    gp_add(&g, "maxbars=%zu; ", maxbars);
    run_figure(c, "breakdown.gp", "breakdown", &g);
    free(g.s);
    groups_free(&pg);
}

static void fig_bits(plot *c) {
    if (c->aq < 0 || c->ax[c->aq].n < 2) {
        note("bits: skipped (quantizer not swept)");
        return;
    }
    int cluster_axis = c->amodel >= 0 && c->ax[c->amodel].n > 1 ? c->amodel : -1;
    groups pg;
    if (groups_make(c, 0, &pg)) { /* one panel */
        groups_free(&pg);
        c->failed++;
        return;
    }
    char path[PATH_MAX + 32], lpath[PATH_MAX + 32];
    FILE *f = open_dat(c, "bits.dat", path, sizeof path);
    FILE *fl = f ? open_dat(c, "bits_labels.dat", lpath, sizeof lpath) : NULL;
    if (!f || !fl) {
        if (f)
            fclose(f);
        groups_free(&pg);
        return;
    }
    fprintf(f, "# qsgdsim plot: bits sent per iteration by one worker (first point of each "
               "model and quantizer); ratio = fp32 bits / these bits\n"
               "# x\tquantizer\tindex\tbits\tratio\n");
    fprintf(fl, "# x\ty\tcluster label\n");
    double ymax = 0;
    size_t maxbars = 0;
    size_t bars = write_bars(c, f, fl, &pg, 0, cluster_axis, c->aq, 2, v_bits, &ymax, &maxbars);
    fclose(f);
    fclose(fl);
    if (!bars) {
        note("bits: skipped (no bits per iteration yet)");
        groups_free(&pg);
        return;
    }
    gpsetup g = {0};
    gp_str(&g, "datafile", path);
    gp_str(&g, "labelfile", lpath);
    bar_setup(c, &g, &pg, 0, c->aq);
    gp_add(&g, "maxbars=%zu; ", maxbars);
    run_figure(c, "bits.gp", "bits", &g);
    free(g.s);
    groups_free(&pg);
}

/* ---- speedup vs workers / vs network -------------------------------------------------- */
/* One block per line = (quantizer, other combination); rows: x, x label, time per epoch,
 * speedup (means over seeds). */
static void fig_speedup(plot *c, int xaxis, const char *what, const char *out) {
    int numeric = strcmp(what, "workers") == 0;
    if (xaxis < 0 || c->ax[xaxis].n < 2) {
        note("%s: skipped (%s not swept: needs at least two values)", out, what);
        return;
    }
    unsigned omask = all_axes(c) & ~bit(xaxis) & ~bit(c->aq) & ~bit(c->aseed);
    groups og;
    if (groups_make(c, omask, &og)) {
        groups_free(&og);
        c->failed++;
        return;
    }
    size_t nq = c->aq >= 0 ? c->ax[c->aq].n : 1, nx = c->ax[xaxis].n;
    char path[PATH_MAX + 96], dname[64];
    snprintf(dname, sizeof dname, "%.40s.dat", out);
    FILE *f = open_dat(c, dname, path, sizeof path);
    if (!f) {
        groups_free(&og);
        return;
    }
    fprintf(f,
            "# qsgdsim plot: time per epoch and speedup over fp32 vs %s; blocks: quantizer * "
            "%zu + other (means over seeds)\n# x\tlabel\ttime_per_epoch\tspeedup\n",
            what, og.n);
    int any_speedup = 0, any = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t o = 0; o < og.n; o++) {
            fprintf(f, "# block %zu\n", q * og.n + o);
            int wrote = 0;
            for (size_t xv = 0; xv < nx; xv++) {
                double st = 0, ss = 0;
                size_t nt = 0, ns = 0;
                for (size_t i = 0; i < c->npt; i++) {
                    const point *p = &c->pt[i];
                    if (og.of[i] != o || p->vi[xaxis] != xv || (c->aq >= 0 && p->vi[c->aq] != q))
                        continue;
                    if (isfinite(p->tpe)) {
                        st += p->tpe;
                        nt++;
                    }
                    if (isfinite(p->speedup)) {
                        ss += p->speedup;
                        ns++;
                    }
                }
                if (!nt && !ns)
                    continue;
                double x = numeric ? num(c->ax[xaxis].val[xv]) : (double)xv;
                fprintf(f, "%.9g\t%s\t%.9g\t%.9g\n", x, c->ax[xaxis].label[xv], nt ? st / nt : NAN,
                        ns ? ss / ns : NAN);
                wrote = any = 1;
                any_speedup |= ns > 0;
            }
            if (!wrote)
                fprintf(f, "NaN\t-\tNaN\tNaN\n");
            fprintf(f, "\n\n");
        }
    fclose(f);
    if (!any) {
        note("%s: skipped (no timings yet)", out);
        groups_free(&og);
        return;
    }
    gpsetup g = {0};
    gp_str(&g, "datafile", path);
    gp_add(&g, "nq=%zu; nother=%zu; any_speedup=%d; ", nq, og.n, any_speedup);
    gp_str(&g, "xkind", what);
    char oname[200] = "";
    for (size_t a = 0, l = 0; a < c->nax; a++)
        if ((omask & (1u << a)) && l < sizeof oname)
            l +=
                (size_t)snprintf(oname + l, sizeof oname - l, "%s%s", l ? ", " : "", c->ax[a].name);
    gp_str(&g, "oname", oname);
    gp_add(&g, "nx=%zu; ", nx);
    for (size_t q = 0; q < nq; q++) {
        char name[32];
        snprintf(name, sizeof name, "qtitle%zu", q + 1);
        gp_str(&g, name, c->aq >= 0 ? c->ax[c->aq].label[q] : "");
        snprintf(name, sizeof name, "qcolor%zu", q + 1);
        gp_str(&g, name, qcolor(c, q));
    }
    for (size_t o = 0; o < og.n; o++) {
        char t[300], name[32];
        group_label(c, &c->pt[og.first[o]], omask, t, sizeof t);
        snprintf(name, sizeof name, "otitle%zu", o + 1);
        gp_str(&g, name, t);
    }
    run_figure(c, "speedup.gp", out, &g);
    free(g.s);
    groups_free(&og);
}

/* ---- simulated vs paper speedups ------------------------------------------------------- */
static void fig_reference(plot *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->npt; i++)
        n += isfinite(c->pt[i].ref_speedup);
    if (!n)
        return; /* nothing to compare: not worth a note */
    char path[PATH_MAX + 32];
    FILE *f = open_dat(c, "reference.dat", path, sizeof path);
    if (!f)
        return;
    fprintf(f, "# qsgdsim plot: simulated speedup over fp32 vs the paper's (reference groups of "
               "the experiment file)\n# x\tlabel\tsimulated\tpaper\tsource\n");
    unsigned lmask = all_axes(c) & ~bit(c->aseed);
    /* keep only the axes that vary among the referenced points */
    for (size_t a = 0; a < c->nax; a++) {
        size_t v0 = (size_t)-1;
        int varies = 0;
        for (size_t i = 0; i < c->npt; i++)
            if (isfinite(c->pt[i].ref_speedup)) {
                if (v0 == (size_t)-1)
                    v0 = c->pt[i].vi[a];
                else
                    varies |= c->pt[i].vi[a] != v0;
            }
        if (!varies)
            lmask &= ~(1u << a);
    }
    size_t x = 0;
    for (size_t i = 0; i < c->npt; i++) {
        const point *p = &c->pt[i];
        if (!isfinite(p->ref_speedup))
            continue;
        char lab[300];
        group_label(c, p, lmask, lab, sizeof lab);
        for (char *s = lab; *s; s++)
            if (*s == '\t')
                *s = ' ';
        fprintf(f, "%zu\t%s\t%.6g\t%.6g\t%s\n", x++, lab, p->speedup, p->ref_speedup,
                p->ref_source);
    }
    fclose(f);
    gpsetup g = {0};
    gp_str(&g, "datafile", path);
    gp_add(&g, "nitems=%zu; ", n);
    run_figure(c, "reference.gp", "reference", &g);
    free(g.s);
}

/* ---- bounds (DIR/bounds.tsv from `qsgdsim bounds`) ------------------------------------- */
static void uniq_words(const qsgd_tsv *t, const char *col, char *out, size_t len) {
    int k = qsgd_tsv_col(t, col);
    out[0] = '\0';
    if (k < 0)
        return;
    size_t l = 0;
    for (size_t r = 0; r < t->nrow; r++) {
        const char *v = t->cell[r][k];
        int seen = 0;
        for (size_t q = 0; q < r && !seen; q++)
            seen = strcmp(t->cell[q][k], v) == 0;
        if (!seen && l + strlen(v) + 2 < len)
            l += (size_t)snprintf(out + l, len - l, "%s%s", l ? " " : "", v);
    }
}

static void fig_bounds(plot *c) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/bounds.tsv", c->dir);
    qsgd_tsv t;
    if (tsv_read(path, &t) != 0)
        return;
    char ns[512], buckets[256], norms[64], dists[128], trials[64];
    uniq_words(&t, "n", ns, sizeof ns);
    uniq_words(&t, "bucket", buckets, sizeof buckets);
    uniq_words(&t, "norm", norms, sizeof norms);
    uniq_words(&t, "dist", dists, sizeof dists);
    uniq_words(&t, "trials", trials, sizeof trials);
    qsgd_tsv_free(&t);
    gpsetup g = {0};
    gp_str(&g, "datafile", path);
    gp_str(&g, "ns", ns);
    gp_str(&g, "buckets", buckets);
    gp_str(&g, "norms", norms);
    gp_str(&g, "dists", dists);
    gp_str(&g, "trials", trials);
    run_figure(c, "bounds.gp", "bounds", &g);
    free(g.s);
}

/* ---- command --------------------------------------------------------------------------- */
static void usage(FILE *f) {
    fprintf(f,
            "usage: qsgdsim plot DIR [--format png|svg|pdf] [--terminal]\n"
            "Figures of an experiment directory written by `qsgdsim run` (docs/experiments.md).\n"
            "Reads DIR/summary.tsv (or DIR/points.tsv) and each point's iterations.tsv and\n"
            "eval.tsv; writes gnuplot data files DIR/plots/*.dat and runs the scripts plots/*.gp:\n"
            "  convergence    train loss and test accuracy (test loss when there is no accuracy)\n"
            "                 vs epoch and vs simulated time; one line per quantizer, one panel\n"
            "                 row per combination of the other axes (4 rows per file)\n"
            "  breakdown      simulated seconds per epoch, stacked compute/encode/comm/decode,\n"
            "                 per quantizer and worker count (the paper's Figure 2)\n"
            "  speedup        time per epoch and speedup over fp32 vs workers (needs >= 2 worker\n"
            "                 counts); speedup_network: the same vs network (>= 2 networks)\n"
            "  bits           bits per iteration per quantizer (and model)\n"
            "  reference      simulated vs paper speedups (points matched by `reference` groups)\n"
            "  bounds         when DIR has bounds.tsv (`qsgdsim bounds`)\n"
            "A figure whose axes are not swept is skipped with a note.\n"
            "  --format F     png (default), svg or pdf: DIR/plots/<figure>.<F>\n"
            "  --terminal     text previews on stdout (gnuplot's dumb terminal), no files\n"
            "  -h, --help     this text\n"
            "Scripts are found in $QSGDSIM_PLOTS_DIR, next to the program or in the source tree;\n"
            "gnuplot is $QSGDSIM_GNUPLOT or `gnuplot` on PATH.\n"
            "exit status: 0 ok, 1 gnuplot missing or a figure failed (the data files are still\n"
            "written), 2 usage error or DIR is not an experiment directory.\n");
}

int cmd_plot(int argc, char **argv) {
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"terminal", no_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    plot c;
    memset(&c, 0, sizeof c);
    c.fmt = "png";
    int ch;
    while ((ch = getopt_long(argc, argv, "f:th", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "png") && strcmp(optarg, "svg") && strcmp(optarg, "pdf")) {
                fprintf(stderr, PROG ": --format: '%s' is not one of png, svg, pdf\n\n", optarg);
                usage(stderr);
                return CMD_USAGE;
            }
            c.fmt = optarg;
            break;
        case 't':
            c.terminal = 1;
            break;
        case 'h':
            usage(stdout);
            return CMD_OK;
        default:
            fprintf(stderr, PROG ": unknown or incomplete option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, PROG ": %s\n\n",
                optind >= argc ? "no experiment directory given" : "more than one directory given");
        usage(stderr);
        return CMD_USAGE;
    }
    c.dir = argv[optind];
    struct stat st;
    if (stat(c.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": %s: not a directory%s%s\n\n", c.dir, errno ? ": " : "",
                errno ? strerror(errno) : "");
        usage(stderr);
        return CMD_USAGE;
    }
    c.ext = c.fmt;
    if (c.terminal)
        c.fmt = "dumb";
    snprintf(c.pdir, sizeof c.pdir, "%s/plots", c.dir);
    int rc = 0;
    char bpath[PATH_MAX + 16];
    snprintf(bpath, sizeof bpath, "%s/bounds.tsv", c.dir);
    int has_bounds = access(bpath, R_OK) == 0;
    char spath[PATH_MAX + 16], ppath[PATH_MAX + 16];
    snprintf(spath, sizeof spath, "%s/summary.tsv", c.dir);
    snprintf(ppath, sizeof ppath, "%s/points.tsv", c.dir);
    int is_exp = access(spath, R_OK) == 0 || access(ppath, R_OK) == 0;
    if (!is_exp && !has_bounds) {
        fprintf(stderr,
                PROG ": %s is not an experiment directory (no summary.tsv, points.tsv or "
                     "bounds.tsv)\n\n",
                c.dir);
        usage(stderr);
        return CMD_USAGE;
    }
    if (is_exp) {
        rc = load_experiment(&c);
        if (rc != CMD_OK) {
            plot_free(&c);
            return rc;
        }
    }
    if (qsgd_mkdir_p(c.pdir) != 0) {
        note("cannot create %s: %s", c.pdir, strerror(errno));
        plot_free(&c);
        return CMD_FAIL;
    }
    if (is_exp) {
        fig_convergence(&c);
        fig_breakdown(&c);
        fig_speedup(&c, c.ak, "workers", "speedup");
        fig_speedup(&c, c.anet, "network", "speedup_network");
        fig_bits(&c);
        fig_reference(&c);
    }
    if (has_bounds)
        fig_bounds(&c);
    if (!c.terminal) {
        if (c.nmade) {
            printf("figures:\n");
            for (size_t i = 0; i < c.nmade; i++)
                printf("  %s\n", c.made[i]);
        }
        if (c.ndat)
            printf("data files: %s/*.dat\n", c.pdir);
    }
    rc = c.gnuplot_missing || c.failed ? CMD_FAIL : CMD_OK;
    plot_free(&c);
    return rc;
}
