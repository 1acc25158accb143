/* cmd_bounds.c — `qsgdsim bounds`: measures the QSGD quantizer on many random vectors and
 * checks the results against Lemma 3.1 (variance, sparsity) and Theorem 3.2 (Elias code
 * length) of Alistarh et al. (NIPS 2017); writes DIR/bounds.tsv and DIR/bounds.png. */
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
#include "theory.h"

#define PROG "qsgdsim bounds"
#define MAX_LIST 64        /* values per list option */
#define MAX_N (1ull << 28) /* largest vector length accepted */
#define VERIFY_TRIALS 2    /* trials per config whose encodings are decoded and compared */
#define CONF_LEVEL 0.95    /* two-sided confidence level of the reported intervals */
#define MAX_REPORTS 10     /* decode/quantize mismatches printed in full */

/* ---- random vector distributions ---------------------------------------------------- */
enum dist_id { DIST_GAUSSIAN, DIST_HEAVY, DIST_CAUCHY, DIST_SPARSE, DIST_FLAT, DIST_COUNT };
static const char *const dist_names[DIST_COUNT] = {"gaussian", "heavy", "cauchy", "sparse", "flat"};
static const char *const dist_descr[DIST_COUNT] = {
    "iid N(0,1)",
    "iid Student t, 2 degrees of freedom (infinite variance)",
    "iid standard Cauchy",
    "N(0,1) with probability --density, else 0 (at least one nonzero)",
    "iid +-1 (nearly attains the variance bound sqrt(d)/s when s << sqrt d)",
};
static const char *const norm_names[] = {"l2", "max"};

/* Fill v[0..n) with one draw of distribution `dist`. */
static void draw_vector(gsl_rng *r, int dist, double density, float *v, size_t n) {
    switch (dist) {
    case DIST_GAUSSIAN:
        for (size_t i = 0; i < n; i++)
            v[i] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
        break;
    case DIST_HEAVY:
        for (size_t i = 0; i < n; i++)
            v[i] = (float)gsl_ran_tdist(r, 2.0);
        break;
    case DIST_CAUCHY:
        for (size_t i = 0; i < n; i++)
            v[i] = (float)gsl_ran_cauchy(r, 1.0);
        break;
    case DIST_SPARSE: {
        size_t nnz = 0;
        for (size_t i = 0; i < n; i++) {
            v[i] = gsl_rng_uniform(r) < density ? (float)gsl_ran_gaussian_ziggurat(r, 1.0) : 0.0f;
            nnz += v[i] != 0.0f;
        }
        if (nnz == 0)
            v[gsl_rng_uniform_int(r, n)] = (float)gsl_ran_gaussian_ziggurat(r, 1.0) + 1e-3f;
        break;
    }
    case DIST_FLAT:
        for (size_t i = 0; i < n; i++)
            v[i] = gsl_rng_uniform_int(r, 2) ? 1.0f : -1.0f;
        break;
    }
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ---- options ----------------------------------------------------------------------- */
typedef struct ulist {
    size_t len;
    unsigned long long v[MAX_LIST];
} ulist;

typedef struct bounds_opts {
    ulist n, s, bits, bucket;
    int norms[2], n_norms;
    int dists[DIST_COUNT], n_dists;
    unsigned long trials;
    uint64_t seed;
    double density;
    const char *out;
    int no_plot, quiet;
} bounds_opts;

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: " PROG " [options]\n"
        "\n"
        "Draws `trials` random vectors per (n, distribution), quantizes each with QSGD for\n"
        "every (s, bucket, norm), and compares with the bounds of Alistarh et al. (NIPS 2017):\n"
        "  variance  E||Q(v)-v||^2/||v||^2 <= min(d/s^2, sqrt(d)/s)       (Lemma 3.1 ii)\n"
        "  sparsity  E||Q(v)||_0 <= sum over buckets of min(d, s(s+sqrt d)) (Lemma 3.1 iii)\n"
        "  bits      E|Elias code| <= sum over buckets of Theorem 3.2, o(1) = 0 (s >= 2)\n"
        "with d the bucket size. A bound counts as VIOLATED when the lower limit of the 95%%\n"
        "confidence interval (Student t) of the empirical mean lies above it; then the\n"
        "row is reported on stderr and the exit status is 1. For norm=max (QSGDinf) the\n"
        "sparsity and bits bounds do not apply (printed, check n/a); the variance bound\n"
        "does apply (the Lemma 3.1 proof goes through with max|v_i| <= ||v||_2) and is checked.\n"
        "Every encoding of the first %d trials is also decoded and compared with quant_quantize.\n"
        "\n"
        "options (LIST = comma-separated; numbers are sorted ascending):\n"
        "  --n LIST        vector lengths                        [256,4096,65536]\n"
        "  --s LIST        levels s >= 1                          [1,2,4,8,16,32,64]\n"
        "  --bits LIST     instead of --s: b in 2..16 means s = 2^(b-1)-1, i.e. sign+level\n"
        "                  fit in b bits (b=2: s=1, b=4: s=7, b=8: s=127)\n"
        "  --bucket LIST   bucket sizes d, 0 = whole vector       [0,512]\n"
        "  --norm LIST     l2 | max                               [l2]\n"
        "  --dist LIST     distributions                          [gaussian,heavy,sparse,flat]\n",
        VERIFY_TRIALS);
    for (int i = 0; i < DIST_COUNT; i++)
        fprintf(f, "    %-9s %s\n", dist_names[i], dist_descr[i]);
    fprintf(
        f, "  --density P     fraction of nonzeros of `sparse`, 0 < P <= 1  [0.05]\n"
           "  --trials T      random vectors per row, >= 2           [100]\n"
           "  --seed S        seed of vectors (GSL mt19937) and quantizer (ctx.seed) [1]\n"
           "  --out DIR       output directory (created)             [results/bounds]\n"
           "  --no-plot       do not run gnuplot\n"
           "  -q, --quiet     do not print the table on stdout\n"
           "  -h, --help      this text\n"
           "\n"
           "outputs: DIR/bounds.tsv (tab-separated, '#' provenance lines, then a header) and\n"
           "DIR/bounds.png (gnuplot, plots/bounds.gp; skipped with a warning without gnuplot).\n"
           "The table also goes to stdout; progress and the summary go to stderr.\n"
           "exit status: 0 all bounds hold, 1 a bound was violated or a failure, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return CMD_USAGE;
}

static int cmp_ull(const void *a, const void *b) {
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* Parse "a,b,c" of integers in [lo, hi]; sorted ascending, no duplicates. */
static int parse_ulist(const char *opt, const char *arg, unsigned long long lo,
                       unsigned long long hi, ulist *out) {
    char msg[160];
    out->len = 0;
    const char *p = arg;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char tok[32];
        if (len == 0 || len >= sizeof tok) {
            snprintf(msg, sizeof msg, "%s '%%s': empty or overlong element%%s", opt);
            return usage_error(msg, arg, "");
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        char *e;
        errno = 0;
        unsigned long long x = strtoull(tok, &e, 10);
        if (*e != '\0' || tok[0] == '-' || tok[0] == '+' || errno) {
            snprintf(msg, sizeof msg, "%s: '%%s' is not a non-negative integer%%s", opt);
            return usage_error(msg, tok, "");
        }
        if (x < lo || x > hi) {
            snprintf(msg, sizeof msg, "%s: %%s is out of range [%llu, %llu]%%s", opt, lo, hi);
            return usage_error(msg, tok, "");
        }
        if (out->len == MAX_LIST) {
            snprintf(msg, sizeof msg, "%s '%%s': more than %d values%%s", opt, MAX_LIST);
            return usage_error(msg, arg, "");
        }
        out->v[out->len++] = x;
        if (!end)
            break;
        p = end + 1;
    }
    qsort(out->v, out->len, sizeof out->v[0], cmp_ull);
    for (size_t i = 1; i < out->len; i++)
        if (out->v[i] == out->v[i - 1]) {
            snprintf(msg, sizeof msg, "%s '%%s': value %llu given twice%%s", opt, out->v[i]);
            return usage_error(msg, arg, "");
        }
    return CMD_OK;
}

/* Parse "a,b" of names from names[0..count) into idx; keeps the given order. */
static int parse_names(const char *opt, const char *arg, const char *const *names, int count,
                       int *idx, int *n_idx) {
    char msg[256], valid[160] = "";
    for (int i = 0; i < count; i++) {
        strcat(valid, i ? ", " : "");
        strcat(valid, names[i]);
    }
    *n_idx = 0;
    const char *p = arg;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < count; i++)
            if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
                found = i;
        if (found < 0) {
            char tok[64];
            snprintf(tok, sizeof tok, "%.*s", (int)(len < 60 ? len : 60), p);
            snprintf(msg, sizeof msg, "%s: unknown value '%%s' (valid: %%s)", opt);
            return usage_error(msg, tok, valid);
        }
        for (int j = 0; j < *n_idx; j++)
            if (idx[j] == found) {
                snprintf(msg, sizeof msg, "%s '%%s': '%s' given twice%%s", opt, names[found]);
                return usage_error(msg, arg, "");
            }
        idx[(*n_idx)++] = found;
        if (!end)
            break;
        p = end + 1;
    }
    return CMD_OK;
}

static int parse_args(int argc, char **argv, bounds_opts *o) {
    enum {
        O_N = 256,
        O_S,
        O_BITS,
        O_BUCKET,
        O_NORM,
        O_DIST,
        O_DENSITY,
        O_TRIALS,
        O_SEED,
        O_OUT,
        O_NOPLOT
    };
    static const struct option opts[] = {
        {"n", required_argument, NULL, O_N},
        {"s", required_argument, NULL, O_S},
        {"bits", required_argument, NULL, O_BITS},
        {"bucket", required_argument, NULL, O_BUCKET},
        {"norm", required_argument, NULL, O_NORM},
        {"dist", required_argument, NULL, O_DIST},
        {"density", required_argument, NULL, O_DENSITY},
        {"trials", required_argument, NULL, O_TRIALS},
        {"seed", required_argument, NULL, O_SEED},
        {"out", required_argument, NULL, O_OUT},
        {"no-plot", no_argument, NULL, O_NOPLOT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const unsigned long long def_n[] = {256, 4096, 65536},
                                    def_s[] = {1, 2, 4, 8, 16, 32, 64}, def_bucket[] = {0, 512};
    memset(o, 0, sizeof *o);
    o->n.len = 3;
    memcpy(o->n.v, def_n, sizeof def_n);
    o->s.len = 7;
    memcpy(o->s.v, def_s, sizeof def_s);
    o->bucket.len = 2;
    memcpy(o->bucket.v, def_bucket, sizeof def_bucket);
    o->norms[0] = QUANT_NORM_L2;
    o->n_norms = 1;
    o->dists[0] = DIST_GAUSSIAN;
    o->dists[1] = DIST_HEAVY;
    o->dists[2] = DIST_SPARSE;
    o->dists[3] = DIST_FLAT;
    o->n_dists = 4;
    o->trials = 100;
    o->seed = 1;
    o->density = 0.05;
    o->out = "results/bounds";
    int have_s = 0, rc, c;
    opterr = 0; /* we print our own messages */
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        char *e;
        rc = CMD_OK;
        switch (c) {
        case O_N:
            rc = parse_ulist("--n", optarg, 1, MAX_N, &o->n);
            break;
        case O_S:
            rc = parse_ulist("--s", optarg, 1, 1u << 20, &o->s);
            have_s = 1;
            break;
        case O_BITS:
            rc = parse_ulist("--bits", optarg, 2, 16, &o->bits);
            break;
        case O_BUCKET:
            rc = parse_ulist("--bucket", optarg, 0, MAX_N, &o->bucket);
            break;
        case O_NORM:
            rc = parse_names("--norm", optarg, norm_names, 2, o->norms, &o->n_norms);
            break;
        case O_DIST:
            rc = parse_names("--dist", optarg, dist_names, DIST_COUNT, o->dists, &o->n_dists);
            break;
        case O_DENSITY:
            errno = 0;
            o->density = strtod(optarg, &e);
            if (*optarg == '\0' || *e != '\0' || errno || !(o->density > 0.0 && o->density <= 1.0))
                return usage_error("--density: '%s' is not a number in (0, 1]%s", optarg, "");
            break;
        case O_TRIALS:
            errno = 0;
            o->trials = strtoul(optarg, &e, 10);
            if (*optarg == '\0' || *e != '\0' || errno || *optarg == '-' || o->trials < 2 ||
                o->trials > 100000000ul)
                return usage_error("--trials: '%s' is not an integer in [2, 1e8]%s", optarg, "");
            break;
        case O_SEED:
            errno = 0;
            o->seed = strtoull(optarg, &e, 0);
            if (*optarg == '\0' || *e != '\0' || errno || *optarg == '-')
                return usage_error("--seed: '%s' is not a non-negative 64-bit integer%s", optarg,
                                   "");
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
    if (have_s && o->bits.len)
        return usage_error("--s and --bits are exclusive; give one%s%s", "", "");
    if (o->bits.len) { /* library convention, see quant.h */
        o->s.len = o->bits.len;
        for (size_t i = 0; i < o->bits.len; i++)
            o->s.v[i] = (1ull << (o->bits.v[i] - 1)) - 1;
    }
    /* Let the library judge the levels now (a tiny instance), not after minutes of work. */
    for (size_t i = 0; i < o->s.len; i++) {
        quant_params p = {.s = (unsigned)o->s.v[i], .norm = (quant_norm)o->norms[0]};
        qsgd_err err;
        quant *q = quant_alloc("qsgd", &p, 1, 1, &err);
        if (!q) {
            char val[32];
            snprintf(val, sizeof val, "%llu", o->s.v[i]);
            return usage_error(o->bits.len ? "--bits: s = %s rejected by the quantizer: %s"
                                           : "--s: %s rejected by the quantizer: %s",
                               val, err.msg);
        }
        quant_free(q);
    }
    return CMD_OK;
}

/* ---- per-row results --------------------------------------------------------------- */
enum check { CHK_OK, CHK_VIOLATED, CHK_NA };
static const char *const check_names[] = {"ok", "VIOLATED", "n/a"};

typedef struct stat3 {
    double mean, lo, hi;
} stat3;

typedef struct row {
    size_t n, bucket, d; /* d: effective bucket size, min(bucket ? bucket : n, n) */
    unsigned s;
    int norm, dist;
    stat3 var, nnz, elias;
    double var_bound, nnz_bound, elias_bound, dense_bits;
    enum check var_chk, nnz_chk, elias_chk;
} row;

/* Mean and two-sided CONF_LEVEL Student-t confidence interval of x[0..k), k >= 2. */
static stat3 mean_ci(const double *x, size_t k) {
    stat3 r;
    r.mean = gsl_stats_mean(x, 1, k);
    double sd = gsl_stats_sd_m(x, 1, k, r.mean);
    double half = gsl_cdf_tdist_Pinv(0.5 + CONF_LEVEL / 2, (double)(k - 1)) * sd / sqrt((double)k);
    r.lo = r.mean - half;
    r.hi = r.mean + half;
    return r;
}

static enum check check_bound(stat3 x, double bound, int applies) {
    if (!applies || isnan(bound))
        return CHK_NA;
    return x.lo > bound * (1 + 1e-12) + 1e-12 ? CHK_VIOLATED : CHK_OK;
}

static const char *const table_header = "n\ts\tbucket\td\tnorm\tdist\ttrials\t"
                                        "var_ratio\tvar_lo\tvar_hi\tvar_bound\tvar_check\t"
                                        "nnz\tnnz_lo\tnnz_hi\tnnz_bound\tnnz_check\t"
                                        "elias_bits\telias_lo\telias_hi\telias_bound\telias_check\t"
                                        "dense_bits\tfp32_bits\n";

static void print_row(FILE *f, const row *r, unsigned long trials) {
    fprintf(f, "%zu\t%u\t%zu\t%zu\t%s\t%s\t%lu\t", r->n, r->s, r->bucket, r->d, norm_names[r->norm],
            dist_names[r->dist], trials);
    fprintf(f, "%.6g\t%.6g\t%.6g\t%.6g\t%s\t", r->var.mean, r->var.lo, r->var.hi, r->var_bound,
            check_names[r->var_chk]);
    fprintf(f, "%.8g\t%.8g\t%.8g\t%.8g\t%s\t", r->nnz.mean, r->nnz.lo, r->nnz.hi, r->nnz_bound,
            check_names[r->nnz_chk]);
    fprintf(f, "%.8g\t%.8g\t%.8g\t%.8g\t%s\t", r->elias.mean, r->elias.lo, r->elias.hi,
            r->elias_bound, r->elias_chk == CHK_NA && r->s < 2 ? "-" : check_names[r->elias_chk]);
    fprintf(f, "%.8g\t%.8g\n", r->dense_bits, 32.0 * (double)r->n);
}

static void describe_row(char *buf, size_t len, const row *r) {
    snprintf(buf, len, "n=%zu s=%u bucket=%zu (d=%zu) norm=%s dist=%s", r->n, r->s, r->bucket, r->d,
             norm_names[r->norm], dist_names[r->dist]);
}

/* ---- the measurement --------------------------------------------------------------- */
/* One quantizer configuration for the current n: the same parameters in both formats. */
typedef struct config {
    quant *qe, *qd; /* format=elias, format=dense */
    unsigned s, bits;
    size_t bucket, d;
    int norm;
} config;

static int fail_quant(const char *what, const config *c, size_t n, const qsgd_err *err) {
    fprintf(stderr, PROG ": %s failed for n=%zu s=%u bucket=%zu norm=%s: %s (code %d)\n", what, n,
            c->s, c->bucket, norm_names[c->norm], err->msg, err->code);
    return CMD_FAIL;
}

/* Compare Q(v) from quant_quantize (ref) with a decoded message (got). Returns 0 if equal
 * up to float rounding of the reconstruction (zeros must be exact). */
static int compare_decoded(const float *ref, const float *got, size_t n, size_t *bad) {
    for (size_t i = 0; i < n; i++) {
        double a = ref[i], b = got[i];
        if ((a == 0) != (b == 0) || fabs(a - b) > 1e-6 * fmax(fabs(a), fabs(b)) || isnan(b)) {
            *bad = i;
            return -1;
        }
    }
    return 0;
}

/* Encode v with q (one of the config's two formats) into buf and return its bits; for the
 * first VERIFY_TRIALS trials also decode it and compare with quantize's qv, reporting a
 * mismatch as CONSISTENCY VIOLATED (counted in *consistency_bad). CMD_OK or CMD_FAIL. */
static int encode_checked(quant *q, const char *fmt, const config *c, size_t n, int dist,
                          unsigned long t, const float *v, const float *qv, const quant_ctx *ctx,
                          uint8_t *buf, size_t cap, float *dec, uint64_t *bits,
                          int *consistency_bad) {
    qsgd_err err = {0};
    char what[64];
    snprintf(what, sizeof what, "quant_encode(format=%s)", fmt);
    if (quant_encode(q, v, ctx, buf, cap, bits, &err) != QSGD_OK)
        return fail_quant(what, c, n, &err);
    if (t >= VERIFY_TRIALS)
        return CMD_OK;
    snprintf(what, sizeof what, "quant_decode(format=%s)", fmt);
    if (quant_decode(q, buf, (size_t)((*bits + 7) / 8), *bits, dec, &err) != QSGD_OK)
        return fail_quant(what, c, n, &err);
    size_t bad;
    if (compare_decoded(qv, dec, n, &bad) != 0 && ++*consistency_bad <= MAX_REPORTS)
        fprintf(stderr,
                PROG ": CONSISTENCY VIOLATED: n=%zu s=%u bucket=%zu norm=%s dist=%s trial %lu: "
                     "decode(encode(v), %s)[%zu] = %.9g but quantize(v)[%zu] = %.9g (v = %.9g)\n",
                n, c->s, c->bucket, norm_names[c->norm], dist_names[dist], t, fmt, bad,
                (double)dec[bad], bad, (double)qv[bad], (double)v[bad]);
    return CMD_OK;
}

/* Measure all configurations of one n; fills rows[dist slot * n_conf + config index]. */
static int measure_n(const bounds_opts *o, size_t n, row *rows, int *consistency_bad) {
    size_t n_conf = o->s.len * o->bucket.len * (size_t)o->n_norms;
    config *cf = calloc(n_conf, sizeof *cf);
    float *v = malloc(n * sizeof *v);     /* (n) the vector */
    float *qv = malloc(n * sizeof *qv);   /* (n) Q(v) from quant_quantize */
    float *dec = malloc(n * sizeof *dec); /* (n) decoded message */
    /* per-trial samples: [dist][conf][metric][trial], metric = var, nnz, elias, dense */
    size_t n_samp = (size_t)o->n_dists * n_conf * 4 * o->trials;
    double *samp = malloc(n_samp * sizeof *samp);
    uint8_t *buf = NULL;
    size_t cap = 0;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = CMD_OK;
    qsgd_err err;
    if (!cf || !v || !qv || !dec || !samp || !rng) {
        fprintf(stderr, PROG ": out of memory for n=%zu (%zu samples)\n", n, n_samp);
        rc = CMD_FAIL;
        goto out;
    }

    /* One allocation per configuration, reused by every trial. */
    size_t k = 0;
    for (size_t is = 0; is < o->s.len; is++)
        for (size_t ib = 0; ib < o->bucket.len; ib++)
            for (int in = 0; in < o->n_norms; in++, k++) {
                config *c = &cf[k];
                c->s = (unsigned)o->s.v[is];
                c->bits = o->bits.len ? (unsigned)o->bits.v[is] : 0;
                c->bucket = (size_t)o->bucket.v[ib];
                c->d = c->bucket == 0 || c->bucket > n ? n : c->bucket;
                c->norm = o->norms[in];
                quant_params p = {0};
                if (c->bits)
                    p.bits = c->bits; /* let the library apply its convention */
                else
                    p.s = c->s;
                p.bucket = c->bucket;
                p.norm = (quant_norm)c->norm;
                p.format = QUANT_FMT_ELIAS;
                c->qe = quant_alloc("qsgd", &p, 1, n, &err);
                if (!c->qe) {
                    rc = fail_quant("quant_alloc(format=elias)", c, n, &err);
                    goto out;
                }
                p.format = QUANT_FMT_DENSE;
                c->qd = quant_alloc("qsgd", &p, 1, n, &err);
                if (!c->qd) {
                    rc = fail_quant("quant_alloc(format=dense)", c, n, &err);
                    goto out;
                }
                if (c->qe->params.s != c->s || c->qd->params.s != c->s) {
                    fprintf(stderr,
                            PROG ": QUANTIZER PROBLEM: asked for %s%u, the library resolved s=%u "
                                 "(elias) / s=%u (dense), expected s=%u\n",
                            c->bits ? "bits=" : "s=", c->bits ? c->bits : c->s, c->qe->params.s,
                            c->qd->params.s, c->s);
                    rc = CMD_FAIL;
                    goto out;
                }
                size_t need = quant_max_bytes(c->qe);
                if (quant_max_bytes(c->qd) > need)
                    need = quant_max_bytes(c->qd);
                if (need > cap)
                    cap = need;
            }
    buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, PROG ": out of memory (encode buffer of %zu bytes, n=%zu)\n", cap, n);
        rc = CMD_FAIL;
        goto out;
    }

    for (int id = 0; id < o->n_dists; id++) {
        int dist = o->dists[id];
        /* Same vectors for every (s, bucket, norm) of this (n, dist): common random numbers. */
        gsl_rng_set(rng, (unsigned long)splitmix64(o->seed ^
                                                   splitmix64((uint64_t)n * 16 + (uint64_t)dist)));
        for (unsigned long t = 0; t < o->trials; t++) {
            draw_vector(rng, dist, o->density, v, n);
            double vv = 0;
            for (size_t i = 0; i < n; i++)
                vv += (double)v[i] * v[i];
            quant_ctx ctx = {
                .seed = o->seed, .worker = 0, .step = (uint32_t)t, .tensor = (uint32_t)dist};
            for (size_t ic = 0; ic < n_conf; ic++) {
                config *c = &cf[ic];
                double *sm = samp + ((size_t)id * n_conf + ic) * 4 * o->trials;
                if (quant_quantize(c->qe, v, &ctx, qv, &err) != QSGD_OK) {
                    rc = fail_quant("quant_quantize", c, n, &err);
                    goto out;
                }
                double ee = 0;
                size_t nnz = 0;
                for (size_t i = 0; i < n; i++) {
                    double e = (double)qv[i] - v[i];
                    ee += e * e;
                    nnz += qv[i] != 0.0f;
                }
                uint64_t be, bd;
                if ((rc = encode_checked(c->qe, "elias", c, n, dist, t, v, qv, &ctx, buf, cap, dec,
                                         &be, consistency_bad)) != CMD_OK ||
                    (rc = encode_checked(c->qd, "dense", c, n, dist, t, v, qv, &ctx, buf, cap, dec,
                                         &bd, consistency_bad)) != CMD_OK)
                    goto out;
                sm[0 * o->trials + t] = ee / vv;
                sm[1 * o->trials + t] = (double)nnz;
                sm[2 * o->trials + t] = (double)be;
                sm[3 * o->trials + t] = (double)bd;
            }
        }
    }

    /* Summaries and checks. */
    for (int id = 0; id < o->n_dists; id++)
        for (size_t ic = 0; ic < n_conf; ic++) {
            const config *c = &cf[ic];
            const double *sm = samp + ((size_t)id * n_conf + ic) * 4 * o->trials;
            row *r = &rows[(size_t)id * n_conf + ic];
            memset(r, 0, sizeof *r);
            r->n = n;
            r->s = c->s;
            r->bucket = c->bucket;
            r->d = c->d;
            r->norm = c->norm;
            r->dist = o->dists[id];
            r->var = mean_ci(sm, o->trials);
            r->nnz = mean_ci(sm + o->trials, o->trials);
            r->elias = mean_ci(sm + 2 * o->trials, o->trials);
            r->dense_bits = gsl_stats_mean(sm + 3 * o->trials, 1, o->trials);
            /* Bounds per bucket: nb - 1 full buckets of d and a last one of n - (nb-1)d. */
            size_t nb = (n + c->d - 1) / c->d, last = n - (nb - 1) * c->d;
            double s = c->s;
            r->var_bound = theory_variance_bound((double)c->d, s); /* increasing in d */
            r->nnz_bound = (double)(nb - 1) * theory_nnz_bound((double)c->d, s) +
                           theory_nnz_bound((double)last, s);
            r->elias_bound = c->s >= 2
                                 ? (double)(nb - 1) * theory_elias_bits_bound((double)c->d, s) +
                                       theory_elias_bits_bound((double)last, s)
                                 : NAN;
            int l2 = c->norm == QUANT_NORM_L2;
            r->var_chk = check_bound(r->var, r->var_bound, 1);
            r->nnz_chk = check_bound(r->nnz, r->nnz_bound, l2);
            r->elias_chk = check_bound(r->elias, r->elias_bound, l2 && c->s >= 2);
        }

out:
    if (cf)
        for (size_t i = 0; i < n_conf; i++) {
            quant_free(cf[i].qe);
            quant_free(cf[i].qd);
        }
    free(cf);
    free(v);
    free(qv);
    free(dec);
    free(samp);
    free(buf);
    gsl_rng_free(rng);
    return rc;
}

/* ---- output ------------------------------------------------------------------------ */
static void write_provenance(FILE *f, const bounds_opts *o) {
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "# qsgdsim bounds: QSGD on random vectors vs Lemma 3.1 / Theorem 3.2 of Alistarh et "
               "al. (NIPS 2017)\n");
    fprintf(f, "# version: qsgdsim %s\n# git: %s\n# command: %s\n# seed: %llu\n# date: %s\n",
            exp_version(), exp_git(), exp_command_line(), (unsigned long long)o->seed, date);
    fprintf(f,
            "# gsl: %s (vectors: mt19937 seeded per (seed, n, dist); quantizer: ctx.seed=seed, "
            "ctx.worker=0, ctx.step=trial, ctx.tensor=dist index)\n",
            GSL_VERSION);
    fprintf(f, "# levels: s levels in [0,1]%s\n",
            o->bits.len ? "; from --bits b: s = 2^(b-1)-1 (sign+level in b bits)"
                        : " (given as --s)");
    fprintf(f, "# dists:");
    for (int i = 0; i < o->n_dists; i++) {
        fprintf(f, " %s = %s", dist_names[o->dists[i]], dist_descr[o->dists[i]]);
        if (o->dists[i] == DIST_SPARSE)
            fprintf(f, " [density %g]", o->density);
        fputs(i + 1 < o->n_dists ? ";" : "\n", f);
    }
    fprintf(f, "# columns: per row `trials` vectors, the same ones for every s/bucket/norm of one "
               "(n, dist); "
               "d = effective bucket size (bucket 0 = whole vector)\n");
    fprintf(f,
            "#   var_* = ||Q(v)-v||^2/||v||^2, mean and %.0f%% Student-t CI; var_bound = "
            "min(d/s^2, sqrt(d)/s)\n",
            100 * CONF_LEVEL);
    fprintf(f,
            "#   nnz_* = ||Q(v)||_0; nnz_bound = sum over buckets of min(d_b, s(s+sqrt(d_b)))\n");
    fprintf(f, "#   elias_* = bits of format=elias; elias_bound = Theorem 3.2 with o(1)=0 summed "
               "over buckets, "
               "nan for s=1 (s>=2 only)\n");
    fprintf(f, "#   dense_bits = bits of format=dense (mean); fp32_bits = 32n\n");
    fprintf(f, "#   *_check: ok | VIOLATED (lower CI limit above the bound) | n/a (nnz and elias "
               "bounds do "
               "not apply to norm=max) | - (s=1); the variance bound is checked for norm=max too "
               "(Lemma 3.1's "
               "proof holds with scale max|v_i| <= ||v||_2)\n");
}

static int write_table(const char *dir, const bounds_opts *o, const row *rows, size_t n_rows,
                       char *path, size_t plen) {
    char tmp[PATH_MAX + 64], err[2 * PATH_MAX + 128];
    snprintf(path, plen, "%s/bounds.tsv", dir);
    FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, err, sizeof err);
    if (!f) {
        fprintf(stderr, PROG ": %s\n", err);
        return CMD_FAIL;
    }
    write_provenance(f, o);
    fputs(table_header, f);
    for (size_t i = 0; i < n_rows; i++)
        print_row(f, &rows[i], o->trials);
    int errnum = 0;
    if (qsgd_file_commit(f, &errnum, tmp, path, QSGD_FILE_SYNC, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return CMD_FAIL;
    }
    return CMD_OK;
}

static void append_words(char *dst, size_t len, const char *word) {
    size_t pos = strlen(dst);
    snprintf(dst + pos, len - pos, "%s%s", pos ? " " : "", word);
}

/* Draw DIR/bounds.png from the table. Returns 0, or -1 (warning printed, no figure). */
static int draw_figure(const char *dir, const char *table, const bounds_opts *o, char *png,
                       size_t plen) {
    char script[PATH_MAX], tmp[PATH_MAX];
    snprintf(png, plen, "%s/bounds.png", dir);
    if (exp_find_plot_script("bounds.gp", script, sizeof script) != 0) {
        fprintf(stderr, PROG ": warning: plot script not found (looked for %s); no figure\n",
                script);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/bounds.png.partial.%ld.png", dir, (long)getpid());
    char ns[MAX_LIST * 12] = "", buckets[MAX_LIST * 12] = "", norms[16] = "", dists[64] = "", w[32];
    for (size_t i = 0; i < o->n.len; i++) {
        snprintf(w, sizeof w, "%llu", o->n.v[i]);
        append_words(ns, sizeof ns, w);
    }
    for (size_t i = 0; i < o->bucket.len; i++) {
        snprintf(w, sizeof w, "%llu", o->bucket.v[i]);
        append_words(buckets, sizeof buckets, w);
    }
    for (int i = 0; i < o->n_norms; i++)
        append_words(norms, sizeof norms, norm_names[o->norms[i]]);
    for (int i = 0; i < o->n_dists; i++)
        append_words(dists, sizeof dists, dist_names[o->dists[i]]);
    char setup[4 * PATH_MAX + 1024] = "";
    size_t pos;
#define GP_SET(name, value)                                                                        \
    do {                                                                                           \
        pos = strlen(setup);                                                                       \
        snprintf(setup + pos, sizeof setup - pos, "%s=", name);                                    \
        exp_gp_quote(setup, sizeof setup, value);                                                  \
        pos = strlen(setup);                                                                       \
        snprintf(setup + pos, sizeof setup - pos, "; ");                                           \
    } while (0)
    GP_SET("datafile", table);
    GP_SET("outfile", tmp);
    GP_SET("ns", ns);
    GP_SET("buckets", buckets);
    GP_SET("norms", norms);
    GP_SET("dists", dists);
    snprintf(w, sizeof w, "%lu", o->trials);
    GP_SET("trials", w);
#undef GP_SET
    int rc = exp_run_gnuplot(setup, script);
    if (rc == 127) {
        fprintf(stderr,
                PROG ": warning: gnuplot not found (install gnuplot-nox, or set QSGDSIM_GNUPLOT); "
                     "table written, no figure\n");
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

/* Table order: n, bucket, norm, dist, s (so that each plotted line is contiguous). */
static int row_cmp(const void *pa, const void *pb) {
    const row *a = pa, *b = pb;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    if (a->norm != b->norm)
        return a->norm - b->norm;
    if (a->dist != b->dist)
        return a->dist - b->dist;
    return (a->s > b->s) - (a->s < b->s);
}

int cmd_bounds(int argc, char **argv) {
    bounds_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc < 0)
        return CMD_OK; /* --help */
    if (rc != CMD_OK)
        return rc;

    if (qsgd_mkdir_p(o.out) != 0) {
        fprintf(stderr, PROG ": --out %s: cannot create directory: %s\n", o.out, strerror(errno));
        return CMD_FAIL;
    }
    size_t n_conf = o.s.len * o.bucket.len * (size_t)o.n_norms;
    size_t per_n = n_conf * (size_t)o.n_dists, total = per_n * o.n.len;
    row *rows = calloc(total, sizeof *rows);
    if (!rows) {
        fprintf(stderr, PROG ": out of memory\n");
        return CMD_FAIL;
    }
    int consistency_bad = 0;
    double t0 = now_s();
    for (size_t i = 0; i < o.n.len; i++) {
        double t1 = now_s();
        rc = measure_n(&o, (size_t)o.n.v[i], rows + i * per_n, &consistency_bad);
        if (rc != CMD_OK) {
            free(rows);
            return rc;
        }
        fprintf(stderr, PROG ": n=%llu: %zu configs x %d dists x %lu trials in %.1f s\n", o.n.v[i],
                n_conf, o.n_dists, o.trials, now_s() - t1);
    }
    qsort(rows, total, sizeof *rows, row_cmp);

    char table[PATH_MAX], png[PATH_MAX], desc[160];
    rc = write_table(o.out, &o, rows, total, table, sizeof table);
    if (rc != CMD_OK) {
        free(rows);
        return rc;
    }
    if (!o.quiet) {
        fputs(table_header, stdout);
        for (size_t i = 0; i < total; i++)
            print_row(stdout, &rows[i], o.trials);
        fflush(stdout);
    }

    /* Loud report of violations, then a summary. */
    size_t checked[3] = {0}, violated[3] = {0};
    const char *what[3] = {"variance ratio", "nnz", "Elias bits"};
    double tight[3] = {-1, -1, -1}; /* largest mean/bound among checked rows */
    const row *tight_row[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < total; i++) {
        const row *r = &rows[i];
        const enum check ck[3] = {r->var_chk, r->nnz_chk, r->elias_chk};
        const stat3 *x[3] = {&r->var, &r->nnz, &r->elias};
        const double bd[3] = {r->var_bound, r->nnz_bound, r->elias_bound};
        for (int k = 0; k < 3; k++) {
            if (ck[k] == CHK_NA)
                continue;
            checked[k]++;
            if (bd[k] > 0 && x[k]->mean / bd[k] > tight[k]) {
                tight[k] = x[k]->mean / bd[k];
                tight_row[k] = r;
            }
            if (ck[k] == CHK_VIOLATED) {
                violated[k]++;
                describe_row(desc, sizeof desc, r);
                fprintf(stderr,
                        "BOUND VIOLATED: %s: %s = %.6g (95%% CI [%.6g, %.6g], %lu trials) > bound "
                        "%.6g\n",
                        desc, what[k], x[k]->mean, x[k]->lo, x[k]->hi, o.trials, bd[k]);
            }
        }
    }
    fprintf(stderr,
            PROG
            ": %zu rows in %.1f s; bounds held: variance %zu/%zu, nnz %zu/%zu, Elias bits %zu/%zu "
            "(other rows n/a)\n",
            total, now_s() - t0, checked[0] - violated[0], checked[0], checked[1] - violated[1],
            checked[1], checked[2] - violated[2], checked[2]);
    for (int k = 0; k < 3; k++) {
        if (!tight_row[k])
            continue;
        describe_row(desc, sizeof desc, tight_row[k]);
        fprintf(stderr, PROG ": closest to its bound, %s: %.3f x bound at %s\n", what[k], tight[k],
                desc);
    }
    fprintf(stderr, PROG ": table: %s\n", table);

    if (o.no_plot) {
        snprintf(png, sizeof png, "%s/bounds.png", o.out);
        if (unlink(png) == 0)
            fprintf(stderr, PROG ": removed stale %s (--no-plot)\n", png);
    } else if (draw_figure(o.out, table, &o, png, sizeof png) == 0) {
        fprintf(stderr, PROG ": figure: %s\n", png);
    } else if (unlink(png) == 0) {
        fprintf(stderr, PROG ": removed stale %s from an earlier run\n", png);
    }
    free(rows);

    size_t nviol = violated[0] + violated[1] + violated[2];
    if (nviol || consistency_bad) {
        fprintf(stderr, PROG ": FAILED: %zu bound violation(s), %d decode/quantize mismatch(es)\n",
                nviol, consistency_bad);
        return CMD_FAIL;
    }
    return CMD_OK;
}
