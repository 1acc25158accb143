/* cmd_stats.c — `qsgdsim stats`: every compressor measured against the claims its type table
 * makes (quant_type.unbiased, .variance_bound, .bits_bound, docs/compressors-stats.md): bias
 * with a test at a stated confidence, variance ratio vs bound, bits per coordinate vs the
 * format, and the error-feedback residual over steps; writes DIR/stats.tsv, DIR/ef.tsv and
 * DIR/stats.png (plots/stats.gp). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_version.h>

#include "cmd.h"
#include "qsgd_file.h"
#include "quant.h"

#define PROG "qsgdsim stats"
#define MAX_SPECS 64
#define MAX_N (1ull << 26)
#define EF_PATHS 8 /* independent runs (ctx.worker) of the error-feedback study */

/* The default list: customary settings (issue 13's study), then every registered type not
 * named here with its table defaults, so that a new type is measured without an edit here.
 * A spec whose type is not registered is skipped. */
static const char *const default_specs[] = {
    "fp32",
    "qsgd:bits=4,bucket=512",
    "qsgd:bits=8,bucket=512",
    "qsgd:s=16,bucket=512,format=elias",
    "qsgd:bits=2,norm=max",
    "onebit",
    "topk:ratio=0.01",
    "randomk:ratio=0.01",
    "randomk:ratio=0.01,scale=0",
    "nuqsgd:s=7,bucket=512",
    "natural",
    "terngrad:bucket=512",
    "terngrad:bucket=512,clip=2.5",
    "signsgd",
    "efsignsgd",
    "fp16",
    "bf16",
    "mxfp8",
    "mxfp4:rounding=stochastic",
    "powersgd:rank=2",
    NULL,
};

/* ---- vectors --------------------------------------------------------------------------- */
enum dist_id { DIST_GAUSSIAN, DIST_HEAVY, DIST_COUNT };
static const char *const dist_names[DIST_COUNT] = {"gaussian", "heavy"};
static const char *const dist_descr[DIST_COUNT] = {
    "iid N(0,1)",
    "iid Student t, 2 degrees of freedom (infinite variance)",
};

static void draw_vector(gsl_rng *r, int dist, float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(dist == DIST_GAUSSIAN ? gsl_ran_gaussian_ziggurat(r, 1.0)
                                             : gsl_ran_tdist(r, 2.0));
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ---- options --------------------------------------------------------------------------- */
typedef struct stats_opts {
    const char *specs[MAX_SPECS];
    char *spec_mem; /* storage of specs split from --quant arguments */
    size_t n_specs;
    int dists[DIST_COUNT], n_dists;
    size_t n;
    unsigned long trials, ef_steps;
    uint64_t seed;
    double conf;
    int claim_unbiased; /* --claim unbiased */
    double claim_var;   /* --claim variance=X, NAN = the types' own */
    const char *out;
    int no_plot, quiet;
} stats_opts;

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: " PROG " [options]\n"
        "\n"
        "Measures each compressor on a fixed random vector v per distribution over T trials\n"
        "(ctx.step = trial: independent draws; stateful types reset before each trial), C(v) =\n"
        "decode(encode(v)), against the claims of its type table:\n"
        "  bias      ||mean_t C(v) - v||^2/||v||^2 beside its expected value var/T under\n"
        "            unbiasedness; types claiming unbiased are tested: X = T||mean - v||^2 has\n"
        "            mean sum_i sigma_i^2 and variance sum_i (mu4_i/T + (2-3/T) sigma_i^4) when\n"
        "            unbiased (coordinates independent), p = P(scaled chi-square with those\n"
        "            moments >= X); BIASED when p < 1 - conf\n"
        "  variance  E||C(v)-v||^2/||v||^2, mean and Student-t CI at conf; VIOLATED when the\n"
        "            lower limit exceeds the type's variance_bound\n"
        "  bits      bits per coordinate: every message of a fixed-length format must have\n"
        "            exactly max_bits, of a variable one at most max_bits; the mean is checked\n"
        "            against bits_bound (qsgd format=elias: Theorem 3.2) by its CI\n"
        "  ef        stateful types: RMS over %d runs of ||e_t||/||v_t||, t = 1..steps, on fresh\n"
        "            vectors v_t; with omega = variance_bound < 1, E||e_t||^2 <= b_t^2,\n"
        "            b_t = sqrt(omega) (||v_t|| + b_{t-1}): VIOLATED when the lower CI limit of\n"
        "            the runs' mean of ||e_t||^2 lies above b_t^2\n"
        "\n"
        "options:\n"
        "  --quant SPEC    compressor spec (repeatable; ';' also separates specs)\n"
        "                  [customary settings of every registered type]\n"
        "  --n N           vector length                           [16384]\n"
        "  --trials T      trials per (spec, distribution), >= 3   [1000]\n"
        "  --dist LIST     gaussian,heavy                          [gaussian,heavy]\n",
        EF_PATHS);
    for (int i = 0; i < DIST_COUNT; i++)
        fprintf(f, "    %-9s %s\n", dist_names[i], dist_descr[i]);
    fprintf(f,
            "  --ef-steps S    error-feedback steps, 0 = none           [50]\n"
            "  --conf P        confidence level of every check, 0.5 < P < 1 [0.999]\n"
            "  --seed S        seed of vectors (GSL mt19937) and compressors (ctx.seed) [1]\n"
            "  --claim C       replace the types' claims: `unbiased` (claim it for every spec) or\n"
            "                  `variance=X` (bound X); to test the checks, or to ask whether a\n"
            "                  type is unbiased\n"
            "  --out DIR       output directory (created)              [results/stats]\n"
            "  --no-plot       do not run gnuplot\n"
            "  -q, --quiet     do not print the table on stdout\n"
            "  -h, --help      this text\n"
            "\n"
            "outputs: DIR/stats.tsv (one row per spec and distribution), DIR/ef.tsv (one row per\n"
            "step), both with '#' provenance lines, and DIR/stats.png (plots/stats.gp; skipped\n"
            "with a warning without gnuplot). Progress and the summary go to stderr.\n"
            "exit status: 0 every claim holds, 1 a claim was violated or a compressor failed,\n"
            "2 usage error, 5 results not written, 6 out of memory.\n");
}

static int usage_error(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return CMD_USAGE;
}

static int parse_ul(const char *opt, const char *arg, unsigned long long lo, unsigned long long hi,
                    unsigned long long *out) {
    char *e;
    errno = 0;
    unsigned long long x = strtoull(arg, &e, 0);
    if (*arg == '\0' || *e != '\0' || errno || *arg == '-' || x < lo || x > hi) {
        char msg[160], range[64];
        snprintf(msg, sizeof msg, "%s: '%%s' is not an integer in [%%s]", opt);
        snprintf(range, sizeof range, "%llu, %llu", lo, hi);
        return usage_error(msg, arg, range);
    }
    *out = x;
    return CMD_OK;
}

/* Append the specs of one --quant argument (split at ';' and blanks) to o->specs. */
static int add_specs(stats_opts *o, const char *arg, char **mem, size_t *used, size_t cap) {
    const char *p = arg;
    for (;;) {
        p += strspn(p, "; \t");
        if (*p == '\0')
            return CMD_OK;
        size_t len = strcspn(p, "; \t");
        if (o->n_specs == MAX_SPECS) {
            char max[16];
            snprintf(max, sizeof max, "%d", MAX_SPECS);
            return usage_error("--quant: more than %s specs%s", max, "");
        }
        if (*used + len + 1 > cap)
            return usage_error("--quant '%s': too long%s", arg, "");
        char *s = *mem + *used;
        memcpy(s, p, len);
        s[len] = '\0';
        *used += len + 1;
        o->specs[o->n_specs++] = s;
        p += len;
    }
}

static int parse_dists(const char *arg, stats_opts *o) {
    o->n_dists = 0;
    const char *p = arg;
    for (;;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < DIST_COUNT; i++)
            if (strlen(dist_names[i]) == len && strncmp(p, dist_names[i], len) == 0)
                found = i;
        char tok[64];
        snprintf(tok, sizeof tok, "%.*s", (int)(len < 60 ? len : 60), p);
        if (found < 0)
            return usage_error("--dist: unknown distribution '%s' (valid: %s)", tok,
                               "gaussian, heavy");
        for (int j = 0; j < o->n_dists; j++)
            if (o->dists[j] == found)
                return usage_error("--dist: '%s' given twice%s", tok, "");
        o->dists[o->n_dists++] = found;
        if (p[len] == '\0')
            return CMD_OK;
        p += len + 1;
    }
}

static int parse_args(int argc, char **argv, stats_opts *o) {
    enum { O_QUANT = 256, O_N, O_TRIALS, O_DIST, O_EF, O_CONF, O_SEED, O_CLAIM, O_OUT, O_NOPLOT };
    static const struct option opts[] = {
        {"quant", required_argument, NULL, O_QUANT},
        {"n", required_argument, NULL, O_N},
        {"trials", required_argument, NULL, O_TRIALS},
        {"dist", required_argument, NULL, O_DIST},
        {"ef-steps", required_argument, NULL, O_EF},
        {"conf", required_argument, NULL, O_CONF},
        {"seed", required_argument, NULL, O_SEED},
        {"claim", required_argument, NULL, O_CLAIM},
        {"out", required_argument, NULL, O_OUT},
        {"no-plot", no_argument, NULL, O_NOPLOT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->dists[0] = DIST_GAUSSIAN;
    o->dists[1] = DIST_HEAVY;
    o->n_dists = 2;
    o->n = 16384;
    o->trials = 1000;
    o->ef_steps = 50;
    o->seed = 1;
    o->conf = 0.999;
    o->claim_var = NAN;
    o->out = "results/stats";
    size_t cap = 0, used = 0;
    for (int i = 1; i < argc; i++)
        cap += strlen(argv[i]) + 1;
    o->spec_mem = malloc(cap + 1);
    if (!o->spec_mem) {
        fprintf(stderr, PROG ": out of memory\n");
        return QSGD_EXIT_RESOURCES;
    }
    int c, rc;
    unsigned long long x;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        char *e;
        rc = CMD_OK;
        switch (c) {
        case O_QUANT:
            rc = add_specs(o, optarg, &o->spec_mem, &used, cap);
            break;
        case O_N:
            if ((rc = parse_ul("--n", optarg, 2, MAX_N, &x)) == CMD_OK)
                o->n = (size_t)x;
            break;
        case O_TRIALS:
            if ((rc = parse_ul("--trials", optarg, 3, 10000000, &x)) == CMD_OK)
                o->trials = (unsigned long)x;
            break;
        case O_EF:
            if ((rc = parse_ul("--ef-steps", optarg, 0, 100000, &x)) == CMD_OK)
                o->ef_steps = (unsigned long)x;
            break;
        case O_DIST:
            rc = parse_dists(optarg, o);
            break;
        case O_CONF:
            errno = 0;
            o->conf = strtod(optarg, &e);
            if (*optarg == '\0' || *e != '\0' || errno || !(o->conf > 0.5 && o->conf < 1.0))
                return usage_error("--conf: '%s' is not a number in (0.5, 1)%s", optarg, "");
            break;
        case O_SEED:
            rc = parse_ul("--seed", optarg, 0, UINT64_MAX, &x);
            o->seed = x;
            break;
        case O_CLAIM:
            if (strcmp(optarg, "unbiased") == 0) {
                o->claim_unbiased = 1;
            } else if (strncmp(optarg, "variance=", 9) == 0) {
                errno = 0;
                o->claim_var = strtod(optarg + 9, &e);
                if (optarg[9] == '\0' || *e != '\0' || errno || !(o->claim_var >= 0) ||
                    !isfinite(o->claim_var))
                    return usage_error("--claim: '%s' is not variance=X with X >= 0%s", optarg, "");
            } else {
                return usage_error("--claim: unknown claim '%s' (valid: %s)", optarg,
                                   "unbiased, variance=X");
            }
            break;
        case O_OUT:
            if (*optarg == '\0')
                return usage_error("--out: empty directory name%s%s", "", "");
            o->out = optarg;
            break;
        case O_NOPLOT:
            o->no_plot = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case ':':
            return usage_error("option '%s' needs a value%s", argv[optind - 1], "");
        default:
            return usage_error("unknown option '%s'%s", argv[optind - 1], "");
        }
        if (rc != CMD_OK)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'%s", argv[optind], "");

    if (o->n_specs == 0) { /* the defaults: customary settings, then every other type */
        for (size_t i = 0; default_specs[i]; i++) {
            quant_spec sp;
            qsgd_err err;
            if (quant_spec_parse(default_specs[i], &sp, &err) == QSGD_OK)
                o->specs[o->n_specs++] = default_specs[i];
        }
        for (const quant_type *const *t = quant_types(); *t && o->n_specs < MAX_SPECS; t++) {
            size_t len = strlen((*t)->name), j;
            for (j = 0; j < o->n_specs; j++)
                if (strncmp(o->specs[j], (*t)->name, len) == 0 &&
                    (o->specs[j][len] == '\0' || o->specs[j][len] == ':'))
                    break;
            if (j == o->n_specs)
                o->specs[o->n_specs++] = (*t)->name;
        }
    }
    /* Every spec must make a quantizer of this length now, not after minutes of work. */
    for (size_t i = 0; i < o->n_specs; i++) {
        qsgd_err err;
        quant *q = quant_alloc_spec(o->specs[i], 1, o->n, &err);
        if (!q)
            return usage_error("--quant %s: %s", o->specs[i], err.msg);
        quant_free(q);
    }
    return CMD_OK;
}

/* ---- results of one (spec, distribution) ---------------------------------------------- */
enum check { CHK_OK, CHK_VIOLATED, CHK_NA };

typedef struct stat3 {
    double mean, lo, hi;
} stat3;

typedef struct row {
    size_t spec; /* index in o->specs */
    int dist;
    int claim;                     /* unbiased: 1, 0, -1 unknown */
    double bias, bias_exp, bias_p; /* ||m - v||^2/||v||^2, var/T, p-value */
    enum check bias_chk;           /* CHK_NA: no claim of unbiasedness */
    stat3 var;                     /* E||C(v)-v||^2/||v||^2 */
    double var_bound;              /* NAN: none */
    enum check var_chk;
    stat3 bits;                                      /* per coordinate */
    double bits_min, bits_max, max_bits, bits_bound; /* per coordinate */
    int fixed;                                       /* fixed-length format */
    enum check bits_chk;
    int ef;                                     /* stateful: ef_* measured */
    double ef_first, ef_last, ef_max, ef_bound; /* ||e_t||/||v_t||; bound at the last step */
    enum check ef_chk;
} row;

/* Mean and two-sided conf Student-t confidence interval of x[0..k), k >= 2. */
static stat3 mean_ci(const double *x, size_t k, double conf) {
    stat3 r;
    r.mean = gsl_stats_mean(x, 1, k);
    double sd = gsl_stats_sd_m(x, 1, k, r.mean);
    double half = gsl_cdf_tdist_Pinv(0.5 + conf / 2, (double)(k - 1)) * sd / sqrt((double)k);
    r.lo = r.mean - half;
    r.hi = r.mean + half;
    return r;
}

static enum check above(double lo, double bound) {
    if (isnan(bound))
        return CHK_NA;
    return lo > bound * (1 + 1e-9) + 1e-12 ? CHK_VIOLATED : CHK_OK;
}

/* p-value of the bias statistic X = sum_i s1_i^2 / T (s1_i = sum_t x_ti, x = C(v) - v) under
 * unbiasedness, from the per-coordinate sums s2 = sum x^2, s4 = sum x^4: E X = sum sigma_i^2,
 * Var X = sum_i (mu4_i/T + (2 - 3/T) sigma_i^4) for independent coordinates, estimated with
 * mu4_i = s4_i/T, sigma_i^4 = (s2_i^2 - s4_i)/(T(T-1)) (unbiased); X is compared with the
 * scaled chi-square g chi2_h of the same mean and variance (Satterthwaite). */
static double bias_pvalue(const double *s1, const double *s2, const double *s4, size_t n, double T,
                          double *X_out, double *M_out) {
    double X = 0, M = 0, V = 0;
    for (size_t i = 0; i < n; i++) {
        X += s1[i] * s1[i] / T;
        M += s2[i] / T;
        double sig4 = (s2[i] * s2[i] - s4[i]) / (T * (T - 1));
        V += s4[i] / (T * T) + (2 - 3 / T) * (sig4 > 0 ? sig4 : 0);
    }
    *X_out = X;
    *M_out = M;
    if (!(M > 0) || !(V > 0))
        return X == 0 ? 1.0 : 0.0;
    double g = V / (2 * M), h = 2 * M * M / V;
    return gsl_cdf_chisq_Q(X / g, h);
}

/* ---- the measurement ------------------------------------------------------------------- */
typedef struct work {
    size_t n;
    float *v[DIST_COUNT];        /* (n) the fixed vector of each distribution */
    float **efv;                 /* [DIST_COUNT][ef_steps] (n) fresh vectors of the EF runs */
    double *efnorm;              /* [DIST_COUNT * ef_steps] their norms */
    float *out;                  /* (n) decoded */
    double *s1, *s2, *s4;        /* (n) per-coordinate sums over trials */
    double *r, *b;               /* (trials) variance ratios, bits */
    double *ee, *ee2;            /* (ef_steps) sums over runs of ||e_t||^2 and ||e_t||^4 */
    double *ef_ratio, *ef_bound; /* (ef_steps) of the current row, for ef.tsv */
    uint8_t *buf;
    size_t cap;
} work;

static int fail_quant(const char *what, const char *spec, const qsgd_err *err) {
    fprintf(stderr, PROG ": %s: %s failed: %s (code %d)\n", spec, what, err->msg, err->code);
    return CMD_FAIL;
}

static int measure(const stats_opts *o, work *w, size_t is, int dist, row *r) {
    const char *spec = o->specs[is];
    const size_t n = w->n, T = o->trials;
    qsgd_err err = {0};
    quant *q = quant_alloc_spec(spec, 1, n, &err);
    if (!q)
        return fail_quant("quant_alloc", spec, &err);
    const quant_type *t = q->type;
    memset(r, 0, sizeof *r);
    r->spec = is;
    r->dist = dist;
    r->claim = t->unbiased ? t->unbiased(&q->params) : -1;
    if (o->claim_unbiased)
        r->claim = 1;
    r->var_bound = t->variance_bound ? t->variance_bound(q) : NAN;
    if (!isnan(o->claim_var))
        r->var_bound = o->claim_var;
    r->bits_bound = t->bits_bound ? t->bits_bound(q) / (double)n : NAN;
    r->fixed = !(t->variable_length && t->variable_length(&q->params));
    uint64_t maxb = quant_max_bits(q);
    r->max_bits = (double)maxb / (double)n;
    int rc = CMD_OK, bits_bad = 0;
    size_t need = quant_max_bytes(q);
    if (need > w->cap) {
        uint8_t *nb = realloc(w->buf, need);
        if (!nb) {
            quant_free(q);
            fprintf(stderr, PROG ": %s: out of memory (%zu bytes)\n", spec, need);
            return QSGD_EXIT_RESOURCES;
        }
        w->buf = nb;
        w->cap = need;
    }

    const float *v = w->v[dist];
    double vv = 0;
    for (size_t i = 0; i < n; i++)
        vv += (double)v[i] * v[i];
    memset(w->s1, 0, n * sizeof *w->s1);
    memset(w->s2, 0, n * sizeof *w->s2);
    memset(w->s4, 0, n * sizeof *w->s4);
    uint64_t bmin = UINT64_MAX, bmax = 0;
    for (size_t k = 0; k < T; k++) {
        quant_reset(q);
        quant_ctx ctx = {
            .seed = o->seed, .worker = 0, .step = (uint32_t)k, .tensor = (uint32_t)dist};
        uint64_t nbits;
        if (quant_encode(q, v, &ctx, w->buf, w->cap, &nbits, &err) != QSGD_OK) {
            rc = fail_quant("quant_encode", spec, &err);
            goto out;
        }
        if (quant_decode(q, w->buf, (size_t)((nbits + 7) / 8), nbits, w->out, &err) != QSGD_OK) {
            rc = fail_quant("quant_decode", spec, &err);
            goto out;
        }
        double ee = 0;
        for (size_t i = 0; i < n; i++) {
            double x = (double)w->out[i] - (double)v[i], x2 = x * x;
            w->s1[i] += x;
            w->s2[i] += x2;
            w->s4[i] += x2 * x2;
            ee += x2;
        }
        w->r[k] = ee / vv;
        w->b[k] = (double)nbits / (double)n;
        bmin = nbits < bmin ? nbits : bmin;
        bmax = nbits > bmax ? nbits : bmax;
        if (nbits > maxb || (r->fixed && nbits != maxb))
            bits_bad++;
    }
    double X, M;
    r->bias_p = bias_pvalue(w->s1, w->s2, w->s4, n, (double)T, &X, &M);
    r->bias = X / (double)T / vv;
    r->bias_exp = M / (double)T / vv;
    r->bias_chk = r->claim == 1 ? (r->bias_p < 1 - o->conf ? CHK_VIOLATED : CHK_OK) : CHK_NA;
    r->var = mean_ci(w->r, T, o->conf);
    r->var_chk = above(r->var.lo, r->var_bound);
    r->bits = mean_ci(w->b, T, o->conf);
    r->bits_min = (double)bmin / (double)n;
    r->bits_max = (double)bmax / (double)n;
    r->bits_chk = bits_bad ? CHK_VIOLATED : above(r->bits.lo, r->bits_bound);
    if (r->bits_chk == CHK_NA)
        r->bits_chk = CHK_OK; /* the max_bits check always applies */
    if (bits_bad)
        fprintf(stderr, PROG ": %s: %d message(s) of %s bits: min %llu max %llu, max_bits %llu\n",
                spec, bits_bad,
                r->fixed ? "a fixed-length format not of exactly max_bits" : "more than max_bits",
                (unsigned long long)bmin, (unsigned long long)bmax, (unsigned long long)maxb);

    /* Error feedback: EF_PATHS runs over the same fresh vectors. */
    r->ef_chk = CHK_NA;
    if (t->stateful && quant_residual(q) && o->ef_steps > 0) {
        const size_t S = o->ef_steps;
        memset(w->ee, 0, S * sizeof *w->ee);
        memset(w->ee2, 0, S * sizeof *w->ee2);
        for (uint32_t path = 0; path < EF_PATHS; path++) {
            quant_reset(q);
            for (size_t k = 0; k < S; k++) {
                quant_ctx ctx = {.seed = o->seed,
                                 .worker = path,
                                 .step = (uint32_t)(k + 1),
                                 .tensor = (uint32_t)(DIST_COUNT + dist)};
                uint64_t nbits;
                if (quant_encode(q, w->efv[dist * S + k], &ctx, w->buf, w->cap, &nbits, &err) !=
                    QSGD_OK) {
                    rc = fail_quant("quant_encode (error feedback)", spec, &err);
                    goto out;
                }
                const float *e = quant_residual(q);
                double s = 0;
                for (size_t i = 0; i < n; i++)
                    s += (double)e[i] * e[i];
                w->ee[k] += s;
                w->ee2[k] += s * s;
            }
        }
        double omega = r->var_bound, rt = sqrt(omega), b = 0, P = EF_PATHS;
        double tq = gsl_cdf_tdist_Pinv(0.5 + o->conf / 2, P - 1);
        int bounded = omega < 1;
        r->ef = 1;
        r->ef_chk = bounded ? CHK_OK : CHK_NA;
        for (size_t k = 0; k < S; k++) {
            double vn = w->efnorm[dist * S + k], ratio = sqrt(w->ee[k] / EF_PATHS) / vn;
            b = bounded ? rt * (vn + b) : NAN;
            w->ef_ratio[k] = ratio;
            w->ef_bound[k] = b / vn;
            if (k == 0)
                r->ef_first = r->ef_max = ratio;
            r->ef_max = ratio > r->ef_max ? ratio : r->ef_max;
            r->ef_last = ratio;
            r->ef_bound = b / vn;
            /* the bound is on E||e_t||^2: the lower CI limit of its mean over the runs */
            double m = w->ee[k] / P, sd = sqrt(fmax(0, (w->ee2[k] - P * m * m) / (P - 1)));
            if (bounded && m - tq * sd / sqrt(P) > b * b * (1 + 1e-9))
                r->ef_chk = CHK_VIOLATED;
        }
    }
out:
    quant_free(q);
    return rc;
}

/* ---- output ---------------------------------------------------------------------------- */
static const char *check_name(enum check c) {
    return c == CHK_OK ? "ok" : c == CHK_VIOLATED ? "VIOLATED" : "n/a";
}
static const char *bias_check_name(const row *r) {
    return r->bias_chk == CHK_NA ? "-" : r->bias_chk == CHK_OK ? "ok" : "BIASED";
}
static const char *claim_name(int claim) {
    return claim == 1 ? "yes" : claim == 0 ? "no" : "?";
}

static const char *const table_header =
    "spec\tdist\tn\ttrials\tunbiased\tbias\tbias_expected\tbias_p\tbias_check\t"
    "var_ratio\tvar_lo\tvar_hi\tvar_bound\tvar_check\t"
    "bits\tbits_min\tbits_max\tmax_bits\tbits_bound\tbits_check\t"
    "ef_first\tef_last\tef_max\tef_bound\tef_check\n";

static int print_row(FILE *f, const stats_opts *o, const row *r) {
    int k = fprintf(f, "%s\t%s\t%zu\t%lu\t%s\t%.6g\t%.6g\t%.4g\t%s\t", o->specs[r->spec],
                    dist_names[r->dist], o->n, o->trials, claim_name(r->claim), r->bias,
                    r->bias_exp, r->bias_p, bias_check_name(r));
    if (k >= 0)
        k = fprintf(f, "%.6g\t%.6g\t%.6g\t%.6g\t%s\t", r->var.mean, r->var.lo, r->var.hi,
                    r->var_bound, check_name(r->var_chk));
    if (k >= 0)
        k = fprintf(f, "%.8g\t%.8g\t%.8g\t%.8g\t%.8g\t%s\t", r->bits.mean, r->bits_min, r->bits_max,
                    r->max_bits, r->bits_bound, check_name(r->bits_chk));
    if (k >= 0) {
        if (r->ef)
            k = fprintf(f, "%.6g\t%.6g\t%.6g\t%.6g\t%s\n", r->ef_first, r->ef_last, r->ef_max,
                        r->ef_bound, check_name(r->ef_chk));
        else
            k = fprintf(f, "nan\tnan\tnan\tnan\t-\n");
    }
    return k;
}

static void write_provenance(FILE *f, const stats_opts *o, const char *what) {
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "# qsgdsim stats: %s\n", what);
    fprintf(f, "# version: qsgdsim %s\n# git: %s\n# command: %s\n# seed: %llu\n# date: %s\n",
            exp_version(), exp_git(), exp_command_line(), (unsigned long long)o->seed, date);
    fprintf(f,
            "# gsl: %s (vectors: mt19937 seeded per (seed, n, dist); compressor: ctx.seed=seed, "
            "ctx.worker=0, ctx.step=trial, ctx.tensor=dist index; EF runs: ctx.worker=run, "
            "ctx.step=t, ctx.tensor=%d+dist index)\n",
            GSL_VERSION, DIST_COUNT);
    fprintf(f, "# dists:");
    for (int i = 0; i < o->n_dists; i++)
        fprintf(f, " %s = %s%s", dist_names[o->dists[i]], dist_descr[o->dists[i]],
                i + 1 < o->n_dists ? ";" : "\n");
    fprintf(f, "# confidence level of every check: %g%s\n", o->conf,
            o->claim_unbiased || !isnan(o->claim_var)
                ? " (claims replaced by --claim: a test of the checks)"
                : "");
}

static int write_stats(const stats_opts *o, const row *rows, size_t n_rows, char *path,
                       size_t plen) {
    char tmp[PATH_MAX + 64], err[2 * PATH_MAX + 128];
    snprintf(path, plen, "%s/stats.tsv", o->out);
    FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, err, sizeof err);
    if (!f) {
        fprintf(stderr, PROG ": %s\n", err);
        return QSGD_EXIT_IO;
    }
    int errnum = 0;
    write_provenance(f, o, "each compressor C on random vectors vs the claims of its type");
    fprintf(
        f,
        "# columns: per row `trials` encodes + decodes of one fixed vector v, C(v) the decoded "
        "message, state reset before each\n"
        "#   unbiased = the type's claim (yes|no|?); bias = ||mean C(v) - v||^2/||v||^2, "
        "bias_expected = its expectation var_ratio/trials if unbiased, bias_p = p-value of "
        "unbiasedness (scaled chi-square, see --help); bias_check ok | BIASED (claim yes, p "
        "< 1 - conf) | -\n"
        "#   var_* = ||C(v)-v||^2/||v||^2, mean and Student-t CI; var_bound = the type's "
        "variance_bound (nan: none); var_check ok | VIOLATED (var_lo above it) | n/a\n"
        "#   bits* per coordinate: mean, min, max over trials; max_bits = the format's "
        "max_bits/n; bits_bound = bits_bound/n (nan: none); bits_check VIOLATED when a "
        "message exceeds max_bits, a fixed-length one differs from it, or the mean's CI lies "
        "above bits_bound\n"
        "#   ef_* (stateful types) = RMS over %d runs of ||e_t||/||v_t|| at t = 1, t = "
        "%lu, its max; ef_bound = b_t/||v_t|| at the last step (b_t = sqrt(var_bound) "
        "(||v_t|| + b_(t-1)), nan when var_bound >= 1 or none); ef_check ok | VIOLATED | n/a | -\n",
        EF_PATHS, o->ef_steps);
    qsgd_file_check(fputs(table_header, f), &errnum);
    for (size_t i = 0; i < n_rows; i++)
        qsgd_file_check(print_row(f, o, &rows[i]), &errnum);
    if (qsgd_file_commit(f, &errnum, tmp, path, QSGD_FILE_SYNC, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return QSGD_EXIT_IO;
    }
    return CMD_OK;
}

/* ef.tsv: one row per (spec, dist, t) of the stateful specs; ratios[row][t]. */
static int write_ef(const stats_opts *o, const row *rows, size_t n_rows, double *const *ratio,
                    double *const *bound) {
    char path[PATH_MAX], tmp[PATH_MAX + 64], err[2 * PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/ef.tsv", o->out);
    FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, err, sizeof err);
    if (!f) {
        fprintf(stderr, PROG ": %s\n", err);
        return QSGD_EXIT_IO;
    }
    int errnum = 0;
    write_provenance(f, o, "error-feedback residual of the stateful compressors over steps");
    fprintf(f,
            "# columns: e_ratio = RMS over %d runs of ||e_t||/||v_t|| after step t (fresh "
            "vectors v_t); e_bound = b_t/||v_t|| (nan: no contraction bound)\n",
            EF_PATHS);
    qsgd_file_check(fputs("spec\tdist\tt\te_ratio\te_bound\n", f), &errnum);
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i].ef)
            for (size_t k = 0; k < o->ef_steps; k++)
                qsgd_file_check(fprintf(f, "%s\t%s\t%zu\t%.6g\t%.6g\n", o->specs[rows[i].spec],
                                        dist_names[rows[i].dist], k + 1, ratio[i][k], bound[i][k]),
                                &errnum);
    if (qsgd_file_commit(f, &errnum, tmp, path, QSGD_FILE_SYNC, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return QSGD_EXIT_IO;
    }
    return CMD_OK;
}

static void print_table(FILE *f, const stats_opts *o, const row *rows, size_t n_rows) {
    fprintf(f,
            "%-34s %-8s %-3s %-11s %-11s %-6s | %-10s %-21s %-9s %-8s | %-7s %-7s %-7s %-8s "
            "| %-8s %-8s %s\n",
            "spec", "dist", "unb", "bias", "expected", "check", "var", "CI", "bound", "check",
            "bits/n", "max/n", "bound/n", "check", "ef_last", "ef_max", "check");
    for (size_t i = 0; i < n_rows; i++) {
        const row *r = &rows[i];
        char ci[48], ef1[16] = "-", ef2[16] = "-";
        snprintf(ci, sizeof ci, "[%.4g, %.4g]", r->var.lo, r->var.hi);
        if (r->ef) {
            snprintf(ef1, sizeof ef1, "%.4g", r->ef_last);
            snprintf(ef2, sizeof ef2, "%.4g", r->ef_max);
        }
        fprintf(f,
                "%-34s %-8s %-3s %-11.4g %-11.4g %-6s | %-10.4g %-21s %-9.4g %-8s | %-7.4g %-7.4g "
                "%-7.4g %-8s | %-8s %-8s %s\n",
                o->specs[r->spec], dist_names[r->dist], claim_name(r->claim), r->bias, r->bias_exp,
                bias_check_name(r), r->var.mean, ci, r->var_bound, check_name(r->var_chk),
                r->bits.mean, r->max_bits, r->bits_bound, check_name(r->bits_chk), ef1, ef2,
                r->ef ? check_name(r->ef_chk) : "-");
    }
}

/* DIR/stats.png from the tables. Returns 0, or -1 (warning printed, no figure). */
static int draw_figure(const stats_opts *o, const row *rows, size_t n_rows, const char *table,
                       char *png, size_t plen) {
    char script[PATH_MAX], tmp[PATH_MAX], ef[PATH_MAX], dists[64] = "", w[32];
    snprintf(png, plen, "%s/stats.png", o->out);
    snprintf(ef, sizeof ef, "%s/ef.tsv", o->out);
    if (exp_find_plot_script("stats.gp", script, sizeof script) != 0) {
        fprintf(stderr, PROG ": warning: plot script not found (looked for %s); no figure\n",
                script);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/stats.png.partial.%ld.png", o->out, (long)getpid());
    for (int i = 0; i < o->n_dists; i++) {
        size_t pos = strlen(dists);
        snprintf(dists + pos, sizeof dists - pos, "%s%s", i ? " " : "", dist_names[o->dists[i]]);
    }
    size_t elen = 1;
    for (size_t i = 0; i < n_rows; i++)
        elen += strlen(o->specs[rows[i].spec]) + 16;
    char *efnames = malloc(elen), *speclist = malloc(elen),
         *setup = malloc(4 * PATH_MAX + 4 * elen + 512);
    if (!efnames || !speclist || !setup) {
        free(efnames);
        free(speclist);
        free(setup);
        fprintf(stderr, PROG ": warning: out of memory; no figure\n");
        return -1;
    }
    size_t ssize = 4 * PATH_MAX + 4 * elen + 512;
    efnames[0] = speclist[0] = setup[0] = '\0';
    for (size_t i = 0, pos = 0; i < o->n_specs; i++)
        pos += (size_t)snprintf(speclist + pos, elen - pos, "%s%s", i ? " " : "", o->specs[i]);
    for (size_t i = 0, pos = 0; i < n_rows; i++)
        if (rows[i].ef)
            pos += (size_t)snprintf(efnames + pos, elen - pos, "%s%s/%s", pos ? " " : "",
                                    o->specs[rows[i].spec], dist_names[rows[i].dist]);
    size_t pos;
#define GP_SET(name, value)                                                                        \
    do {                                                                                           \
        pos = strlen(setup);                                                                       \
        snprintf(setup + pos, ssize - pos, "%s=", name);                                           \
        exp_gp_quote(setup, ssize, value);                                                         \
        pos = strlen(setup);                                                                       \
        snprintf(setup + pos, ssize - pos, "; ");                                                  \
    } while (0)
    GP_SET("datafile", table);
    GP_SET("effile", ef);
    GP_SET("outfile", tmp);
    GP_SET("dists", dists);
    GP_SET("specs", speclist);
    snprintf(w, sizeof w, "%zu", o->n);
    GP_SET("n", w);
    snprintf(w, sizeof w, "%lu", o->ef_steps);
    GP_SET("efsteps", w);
    GP_SET("efnames", efnames);
    snprintf(w, sizeof w, "%lu", o->trials);
    GP_SET("trials", w);
    snprintf(w, sizeof w, "%g", o->conf);
    GP_SET("conf", w);
#undef GP_SET
    int rc = exp_run_gnuplot(setup, script);
    free(efnames);
    free(speclist);
    free(setup);
    if (rc == 127) {
        fprintf(stderr,
                PROG ": warning: gnuplot not found (install gnuplot-nox, or set QSGDSIM_GNUPLOT); "
                     "tables written, no figure\n");
        unlink(tmp);
        return -1;
    }
    struct stat st;
    if (rc != 0 || stat(tmp, &st) != 0 || st.st_size == 0) {
        fprintf(stderr, PROG ": warning: gnuplot failed (status %d) running %s; no figure\n", rc,
                script);
        unlink(tmp);
        return -1;
    }
    char err[3 * PATH_MAX];
    if (qsgd_file_rename(tmp, png, 0, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": warning: %s\n", err);
        return -1;
    }
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void work_free(work *w, size_t steps) {
    for (int d = 0; d < DIST_COUNT; d++)
        free(w->v[d]);
    if (w->efv)
        for (size_t k = 0; k < DIST_COUNT * steps; k++)
            free(w->efv[k]);
    free(w->efv);
    free(w->efnorm);
    free(w->out);
    free(w->s1);
    free(w->s2);
    free(w->s4);
    free(w->r);
    free(w->b);
    free(w->ee);
    free(w->ee2);
    free(w->buf);
}

/* The vectors: one fixed v and ef_steps fresh ones per distribution, the same for every
 * spec (common random numbers). */
static int work_alloc(const stats_opts *o, work *w) {
    const size_t n = o->n, S = o->ef_steps;
    memset(w, 0, sizeof *w);
    w->n = n;
    w->out = malloc(n * sizeof *w->out);
    w->s1 = malloc(n * sizeof *w->s1);
    w->s2 = malloc(n * sizeof *w->s2);
    w->s4 = malloc(n * sizeof *w->s4);
    w->r = malloc(o->trials * sizeof *w->r);
    w->b = malloc(o->trials * sizeof *w->b);
    w->ee = malloc((S + 1) * sizeof *w->ee);
    w->ee2 = malloc((S + 1) * sizeof *w->ee2);
    w->efv = calloc(DIST_COUNT * S + 1, sizeof *w->efv);
    w->efnorm = malloc((DIST_COUNT * S + 1) * sizeof *w->efnorm);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int ok = w->out && w->s1 && w->s2 && w->s4 && w->r && w->b && w->ee && w->ee2 && w->efv &&
             w->efnorm && rng;
    for (int id = 0; ok && id < o->n_dists; id++) {
        int d = o->dists[id];
        gsl_rng_set(rng, (unsigned long)splitmix64(o->seed ^ splitmix64((uint64_t)n * 16 + d)));
        ok = (w->v[d] = malloc(n * sizeof *w->v[d])) != NULL;
        if (ok)
            draw_vector(rng, d, w->v[d], n);
        for (size_t k = 0; ok && k < S; k++) {
            float *x = malloc(n * sizeof *x);
            w->efv[d * S + k] = x;
            ok = x != NULL;
            if (!ok)
                break;
            draw_vector(rng, d, x, n);
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += (double)x[i] * x[i];
            w->efnorm[d * S + k] = sqrt(s);
        }
    }
    gsl_rng_free(rng);
    if (!ok) {
        work_free(w, S);
        fprintf(stderr, PROG ": out of memory (n=%zu)\n", n);
        return QSGD_EXIT_RESOURCES;
    }
    return CMD_OK;
}

int cmd_stats(int argc, char **argv) {
    stats_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != CMD_OK) {
        free(o.spec_mem);
        return rc < 0 ? CMD_OK : rc; /* -1: --help */
    }
    if (qsgd_mkdir_p(o.out) != 0) {
        fprintf(stderr, PROG ": --out %s: cannot create directory: %s\n", o.out, strerror(errno));
        free(o.spec_mem);
        return QSGD_EXIT_IO;
    }
    const size_t S = o.ef_steps, n_rows = o.n_specs * (size_t)o.n_dists;
    work w;
    row *rows = calloc(n_rows, sizeof *rows);
    double **ratio = calloc(n_rows, sizeof *ratio), **bound = calloc(n_rows, sizeof *bound);
    if (!rows || !ratio || !bound || (rc = work_alloc(&o, &w)) != CMD_OK) {
        if (rc == CMD_OK)
            fprintf(stderr, PROG ": out of memory\n");
        free(rows);
        free(ratio);
        free(bound);
        free(o.spec_mem);
        return QSGD_EXIT_RESOURCES;
    }
    double t0 = now_s();
    size_t k = 0;
    for (size_t is = 0; is < o.n_specs && rc == CMD_OK; is++) {
        double t1 = now_s();
        for (int id = 0; id < o.n_dists && rc == CMD_OK; id++, k++) {
            ratio[k] = malloc((S + 1) * sizeof **ratio);
            bound[k] = malloc((S + 1) * sizeof **bound);
            if (!ratio[k] || !bound[k]) {
                fprintf(stderr, PROG ": out of memory\n");
                rc = QSGD_EXIT_RESOURCES;
                break;
            }
            w.ef_ratio = ratio[k];
            w.ef_bound = bound[k];
            rc = measure(&o, &w, is, o.dists[id], &rows[k]);
        }
        if (rc == CMD_OK)
            fprintf(stderr, PROG ": %-34s %d dist(s) x %lu trials in %.2f s\n", o.specs[is],
                    o.n_dists, o.trials, now_s() - t1);
    }
    char table[PATH_MAX], png[PATH_MAX];
    if (rc == CMD_OK)
        rc = write_stats(&o, rows, n_rows, table, sizeof table);
    if (rc == CMD_OK)
        rc = write_ef(&o, rows, n_rows, ratio, bound);
    if (rc == CMD_OK && !o.quiet) {
        print_table(stdout, &o, rows, n_rows);
        fflush(stdout);
    }

    size_t viol = 0;
    for (size_t i = 0; rc == CMD_OK && i < n_rows; i++) {
        const row *r = &rows[i];
        const char *spec = o.specs[r->spec], *dist = dist_names[r->dist];
        if (r->bias_chk == CHK_VIOLATED) {
            viol++;
            fprintf(stderr,
                    "CLAIM VIOLATED: %s (%s): claims unbiased, but ||mean C(v) - v||^2/||v||^2 = "
                    "%.4g vs %.4g expected if unbiased (p = %.3g < %.3g)\n",
                    spec, dist, r->bias, r->bias_exp, r->bias_p, 1 - o.conf);
        }
        if (r->var_chk == CHK_VIOLATED) {
            viol++;
            fprintf(stderr,
                    "CLAIM VIOLATED: %s (%s): variance ratio %.6g (%g%% CI [%.6g, %.6g], %lu "
                    "trials) > bound %.6g\n",
                    spec, dist, r->var.mean, 100 * o.conf, r->var.lo, r->var.hi, o.trials,
                    r->var_bound);
        }
        if (r->bits_chk == CHK_VIOLATED) {
            viol++;
            fprintf(stderr,
                    "CLAIM VIOLATED: %s (%s): bits per coordinate %.6g (min %.6g, max %.6g, CI "
                    "[%.6g, %.6g]) vs max_bits/n %.6g (%s), bits_bound/n %.6g\n",
                    spec, dist, r->bits.mean, r->bits_min, r->bits_max, r->bits.lo, r->bits.hi,
                    r->max_bits, r->fixed ? "fixed length" : "variable length", r->bits_bound);
        }
        if (r->ef_chk == CHK_VIOLATED) {
            viol++;
            fprintf(stderr,
                    "CLAIM VIOLATED: %s (%s): error-feedback residual ||e_t||/||v_t|| above the "
                    "contraction bound (last %.4g, bound %.4g)\n",
                    spec, dist, r->ef_last, r->ef_bound);
        }
    }
    if (rc == CMD_OK) {
        fprintf(stderr, PROG ": %zu rows in %.1f s; %zu claim(s) violated\n", n_rows, now_s() - t0,
                viol);
        fprintf(stderr, PROG ": tables: %s, %s/ef.tsv\n", table, o.out);
        snprintf(png, sizeof png, "%s/stats.png", o.out);
        if (o.no_plot) {
            if (unlink(png) == 0)
                fprintf(stderr, PROG ": removed stale %s (--no-plot)\n", png);
        } else if (draw_figure(&o, rows, n_rows, table, png, sizeof png) == 0) {
            fprintf(stderr, PROG ": figure: %s\n", png);
        } else if (unlink(png) == 0) {
            fprintf(stderr, PROG ": removed stale %s from an earlier run\n", png);
        }
        if (viol) {
            fprintf(stderr, PROG ": FAILED: %zu claim(s) violated\n", viol);
            rc = CMD_FAIL;
        }
    }
    for (size_t i = 0; i < n_rows; i++) {
        free(ratio[i]);
        free(bound[i]);
    }
    free(ratio);
    free(bound);
    free(rows);
    work_free(&w, S);
    free(o.spec_mem);
    return rc;
}
