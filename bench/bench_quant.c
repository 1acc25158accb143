/* bench_quant.c — single-core encode/decode throughput of every quantizer and wire format
 * (fp32, QSGD dense and Elias, 1-bit SGD) beside a memcpy of the same buffer, plus the
 * bits per coordinate of each message. Prints a table, or TSV with --tsv; --tsv-out FILE
 * writes the TSV to FILE beside the table. Not a test.
 *
 *   bench_quant [--n LIST] [--quick] [--tsv] [--tsv-out FILE] [--reps R] [--min-time S]
 *               [--only SUBSTR] [--no-simd] [--seed N]
 *
 * Method: input is N(0,1) float32 from GSL's mt19937 (fixed seed, ziggurat). Each cell is
 * warmed up, then timed (clock_gettime CLOCK_MONOTONIC) as R repetitions of k back-to-back
 * calls, k chosen so the R repetitions take >= --min-time seconds; the best and the median
 * per-call time over the repetitions are reported. Throughput is in M coordinates/s and in
 * input GB/s (4 bytes per coordinate, 1 GB = 1e9 B). Every cell also checks once that
 * decode(encode(v)) equals quantize(v) (the "chk" column). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "qrng.h"
#include "quant.h"
#include "theory.h"

/* Targets stated by the issue (M coordinates/s, one core). */
#define TARGET_DENSE4_ENC 1000.0 /* dense 4-bit (s = 7) QSGD encode */
#define TARGET_ELIAS 150.0       /* Elias format, encode and decode */

#define MAX_N_LIST 16
#define MAX_REPS 64

typedef struct opts {
    size_t n[MAX_N_LIST]; /* vector lengths to run */
    int nn;
    int table; /* print the human-readable table on stdout */
    FILE *tsv; /* TSV destination, or NULL */
    int reps;
    double min_time;  /* seconds per cell (all repetitions together) */
    const char *only; /* run only cells whose label contains this */
    int no_simd;
    unsigned long seed;
} opts;

/* One benchmark cell: a quantizer configuration at one n. */
typedef struct cell {
    const char *label; /* short human label, e.g. "qsgd dense 4b d=512" */
    const char *name;  /* registry name */
    quant_params p;
    size_t rows, cols;
    double target_enc; /* M coords/s, 0 = none */
    double target_dec;
} cell;

typedef struct timing {
    double best, median; /* seconds per call */
    double cpu_share;    /* thread CPU time / wall time of the best repetition: < 1 when the
                            thread was descheduled (a busy machine), so the figure is low */
    double cpu_best;     /* least thread CPU seconds per call over the repetitions: a
                            scheduler-independent estimate on a busy machine */
} timing;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct rep_time {
    double wall, share, cpu; /* per call: wall s; CPU/wall; CPU s */
} rep_time;

static int cmp_rep(const void *a, const void *b) {
    double x = ((const rep_time *)a)->wall, y = ((const rep_time *)b)->wall;
    return (x > y) - (x < y);
}

/* What one timed call does. */
typedef enum op_kind { OP_MEMCPY, OP_ENCODE, OP_DECODE } op_kind;

typedef struct op {
    op_kind kind;
    quant *q;
    const float *v; /* [n] input */
    float *out;     /* [n] output / memcpy destination */
    uint8_t *buf;   /* [cap] message */
    size_t cap;
    uint64_t nbits; /* message length (decode input, encode output) */
    size_t n;
    quant_ctx ctx;
    int status; /* first non-OK status seen */
} op;

static void op_run(op *o) {
    quant_err err;
    int rc = QUANT_OK;
    switch (o->kind) {
    case OP_MEMCPY:
        memcpy(o->out, o->v, o->n * sizeof(float));
        /* keep the copy from being optimised away */
        __asm__ volatile("" : : "r"(o->out) : "memory");
        break;
    case OP_ENCODE:
        rc = quant_encode(o->q, o->v, &o->ctx, o->buf, o->cap, &o->nbits, &err);
        break;
    case OP_DECODE:
        rc = quant_decode(o->q, o->buf, o->cap, o->nbits, o->out, &err);
        break;
    }
    if (rc != QUANT_OK && o->status == QUANT_OK) {
        o->status = rc;
        fprintf(stderr, "bench_quant: %s failed: %s\n", o->kind == OP_ENCODE ? "encode" : "decode",
                err.msg);
    }
}

/* Warm up, calibrate, then time reps repetitions of k calls. */
static timing time_op(op *o, const opts *opt) {
    op_run(o); /* warm-up: page faults, caches, branch predictors */
    double t0 = now_s();
    op_run(o);
    double t1 = now_s() - t0;
    if (t1 < 1e-7)
        t1 = 1e-7;
    double per_rep = opt->min_time / opt->reps;
    long k = (long)ceil(per_rep / t1);
    if (k < 1)
        k = 1;
    rep_time t[MAX_REPS];
    for (int r = 0; r < opt->reps; r++) {
        double c = cpu_s(), a = now_s();
        for (long i = 0; i < k; i++)
            op_run(o);
        double wall = now_s() - a, cpu = cpu_s() - c;
        t[r].share = wall > 0 ? cpu / wall : 1;
        t[r].wall = wall / (double)k;
        t[r].cpu = cpu / (double)k;
    }
    double cpu_best = t[0].cpu;
    for (int r = 1; r < opt->reps; r++)
        if (t[r].cpu < cpu_best)
            cpu_best = t[r].cpu;
    qsort(t, (size_t)opt->reps, sizeof t[0], cmp_rep);
    timing res = {t[0].wall, t[opt->reps / 2].wall, t[0].share, cpu_best};
    return res;
}

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, len, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_quant [--n LIST] [--quick] [--tsv] [--tsv-out FILE] [--reps R]\n"
               "                   [--min-time S] [--only SUBSTR] [--no-simd] [--seed N]\n"
               "  --n LIST      comma-separated lengths; 1048576, 1M, 2^20 (default 2^20,2^24)\n"
               "  --quick       smoke test: n = 2^16, 3 reps, 0.02 s per cell\n"
               "  --tsv         tab-separated output (instead of the table) on stdout\n"
               "  --tsv-out F   also write the tab-separated output to file F\n"
               "  --reps R      repetitions per cell (default 5)\n"
               "  --min-time S  seconds spent per cell over all repetitions (default 0.3)\n"
               "  --only SUBSTR run only cells whose label contains SUBSTR (e.g. elias)\n"
               "  --no-simd     set QSGDSIM_NO_SIMD=1 (scalar kernels) before allocating\n"
               "  --seed N      seed of the Gaussian input (default 1)\n");
}

static int parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    if (strncmp(s, "2^", 2) == 0) {
        unsigned long e = strtoul(s + 2, &end, 10);
        if (end == s + 2 || *end || e > 40)
            return -1;
        *out = (size_t)1 << e;
        return 0;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return -1;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (*end || v == 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
    o->nn = 0;
    o->table = 1;
    o->tsv = NULL;
    o->reps = 5;
    o->min_time = 0.3;
    o->only = NULL;
    o->no_simd = 0;
    o->seed = 1;
    int quick = 0, have_n = 0, have_reps = 0, have_time = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--tsv")) {
            o->table = 0;
            o->tsv = stdout;
        } else if (val && !strcmp(a, "--tsv-out")) {
            o->tsv = fopen(val, "w");
            if (!o->tsv) {
                fprintf(stderr, "bench_quant: cannot write %s: %s\n", val, strerror(errno));
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--no-simd")) {
            o->no_simd = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (val && !strcmp(a, "--n")) {
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%s", val);
            o->nn = 0;
            for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) {
                if (o->nn == MAX_N_LIST || parse_size(tok, &o->n[o->nn]) != 0) {
                    fprintf(stderr, "bench_quant: bad --n entry '%s'\n", tok);
                    return -1;
                }
                o->nn++;
            }
            have_n = 1;
            i++;
        } else if (val && !strcmp(a, "--reps")) {
            o->reps = atoi(val);
            have_reps = 1;
            if (o->reps < 1 || o->reps > MAX_REPS) {
                fprintf(stderr, "bench_quant: --reps must be 1..%d\n", MAX_REPS);
                return -1;
            }
            i++;
        } else if (val && !strcmp(a, "--min-time")) {
            o->min_time = atof(val);
            have_time = 1;
            if (!(o->min_time >= 0)) {
                fprintf(stderr, "bench_quant: bad --min-time '%s'\n", val);
                return -1;
            }
            i++;
        } else if (val && !strcmp(a, "--only")) {
            o->only = val;
            i++;
        } else if (val && !strcmp(a, "--seed")) {
            o->seed = strtoul(val, NULL, 10);
            i++;
        } else {
            fprintf(stderr, "bench_quant: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (quick) {
        if (!have_n) {
            o->n[0] = (size_t)1 << 16;
            o->nn = 1;
        }
        if (!have_reps)
            o->reps = 3;
        if (!have_time)
            o->min_time = 0.02;
    }
    if (o->nn == 0) {
        o->n[0] = (size_t)1 << 20;
        o->n[1] = (size_t)1 << 24;
        o->nn = 2;
    }
    return 0;
}

/* Compare decode(encode(v)) with quantize(v) from the same state. 0 = equal. */
static int check_roundtrip(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                           float *a, float *b, size_t n) {
    quant_err err;
    uint64_t nbits;
    quant_reset(q);
    if (quant_quantize(q, v, ctx, a, &err) != QUANT_OK)
        return -1;
    quant_reset(q);
    if (quant_encode(q, v, ctx, buf, cap, &nbits, &err) != QUANT_OK)
        return -1;
    if (quant_decode(q, buf, cap, nbits, b, &err) != QUANT_OK)
        return -1;
    quant_reset(q);
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i]) && !(isnan(a[i]) && isnan(b[i])))
            return 1;
    return 0;
}

static double mcps(size_t n, double t) {
    return t > 0 ? (double)n / t / 1e6 : 0;
}
static double gbps(size_t n, double t) {
    return t > 0 ? 4.0 * (double)n / t / 1e9 : 0;
}

static const char *mark(double got, double target) {
    return got >= target ? "\xe2\x9c\x93" : "\xe2\x9c\x97"; /* ✓ / ✗ */
}

static int n_targets, n_targets_met;

static void print_tsv_row(FILE *f, size_t n, const char *label, const char *spec, size_t rows,
                          size_t cols, const char *opname, double bpc, timing t, double target,
                          const char *chk) {
    fprintf(f, "%zu\t%s\t%s\t%zu\t%zu\t%s\t%.4f\t%.6e\t%.6e\t%.1f\t%.1f\t%.3f\t%.2f\t%.1f\t", n,
            label, spec, rows, cols, opname, bpc, t.best, t.median, mcps(n, t.best),
            mcps(n, t.median), gbps(n, t.best), t.cpu_share, mcps(n, t.cpu_best));
    if (target > 0)
        fprintf(f, "%.0f\t%s\t", target, mcps(n, t.best) >= target ? "yes" : "no");
    else
        fprintf(f, "-\t-\t");
    fprintf(f, "%s\n", chk);
}

/* Run one cell at one n: returns nonzero on an error. */
static int run_cell(const cell *c, size_t n, const float *v, float *out, float *ref,
                    const opts *opt) {
    quant_err err;
    quant *q = quant_alloc(c->name, &c->p, c->rows, c->cols, &err);
    if (!q) {
        fprintf(stderr, "bench_quant: %s: quant_alloc failed: %s\n", c->label, err.msg);
        return 1;
    }
    char spec[160];
    quant_describe(q, spec, sizeof spec);
    size_t cap = quant_max_bytes(q);
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "bench_quant: out of memory (%zu bytes)\n", cap);
        quant_free(q);
        return 1;
    }
    quant_ctx ctx = {.seed = 42, .worker = 0, .step = 1, .tensor = 0};

    int bad = check_roundtrip(q, v, &ctx, buf, cap, ref, out, n);
    const char *chk = bad == 0 ? "ok" : bad < 0 ? "ERROR" : "MISMATCH";

    op o = {.kind = OP_ENCODE,
            .q = q,
            .v = v,
            .out = out,
            .buf = buf,
            .cap = cap,
            .n = n,
            .ctx = ctx,
            .status = QUANT_OK};
    timing te = time_op(&o, opt);
    /* decode the message of the last encode */
    double bpc = (double)o.nbits / (double)n;
    o.kind = OP_DECODE;
    timing td = time_op(&o, opt);
    int failed = o.status != QUANT_OK || bad != 0;

    /* Theorem 3.2 bound (s >= 2, l2 norm) for the Elias format, in bits per coordinate. */
    char bound[32] = "";
    if (!strcmp(c->name, "qsgd") && q->params.format == QUANT_FMT_ELIAS && q->params.s >= 2 &&
        q->params.norm == QUANT_NORM_L2) {
        size_t d = q->params.bucket ? q->params.bucket : n;
        size_t full = n / d, rest = n % d;
        double b = (double)full * theory_elias_bits_bound((double)d, q->params.s);
        if (rest)
            b += theory_elias_bits_bound((double)rest, q->params.s);
        snprintf(bound, sizeof bound, "%.3f", b / (double)n);
    }

    if (opt->tsv) {
        print_tsv_row(opt->tsv, n, c->label, spec, c->rows, c->cols, "encode", bpc, te,
                      c->target_enc, chk);
        print_tsv_row(opt->tsv, n, c->label, spec, c->rows, c->cols, "decode", bpc, td,
                      c->target_dec, chk);
        fflush(opt->tsv);
    }
    if (opt->table) {
        char shape[48];
        snprintf(shape, sizeof shape, "%zux%zu", c->rows, c->cols);
        double share = te.cpu_share < td.cpu_share ? te.cpu_share : td.cpu_share;
        printf("%-26s %-11s %7.3f %7s %8.1f %6.2f %8.1f %8.1f  %8.1f %6.2f %8.1f %8.1f %4.0f  %-3s",
               c->label, shape, bpc, bound[0] ? bound : "-", mcps(n, te.best), gbps(n, te.best),
               mcps(n, te.median), mcps(n, te.cpu_best), mcps(n, td.best), gbps(n, td.best),
               mcps(n, td.median), mcps(n, td.cpu_best), 100 * share, chk);
        if (c->target_enc > 0)
            printf("  enc>=%.0f %s", c->target_enc, mark(mcps(n, te.best), c->target_enc));
        if (c->target_dec > 0)
            printf("  dec>=%.0f %s", c->target_dec, mark(mcps(n, td.best), c->target_dec));
        printf("\n");
        printf("%-26s   %s\n", "", spec);
    }
    if (c->target_enc > 0) {
        n_targets++;
        n_targets_met += mcps(n, te.best) >= c->target_enc;
    }
    if (c->target_dec > 0) {
        n_targets++;
        n_targets_met += mcps(n, td.best) >= c->target_dec;
    }
    fflush(stdout);
    free(buf);
    quant_free(q);
    return failed;
}

/* The cells for one n. Returns their number (<= cap). */
static int make_cells(size_t n, cell *cs, int cap, char labels[][48]) {
    int k = 0;
#define ADD(LABEL, NAME, ROWS, COLS, TE, TD, ...)                                                  \
    do {                                                                                           \
        if (k < cap) {                                                                             \
            snprintf(labels[k], 48, "%s", LABEL);                                                  \
            cell c_ = {labels[k], NAME, {__VA_ARGS__}, ROWS, COLS, TE, TD};                        \
            cs[k++] = c_;                                                                          \
        }                                                                                          \
    } while (0)
    ADD("fp32", "fp32", 1, n, 0, 0, 0);
    static const unsigned dense_bits[] = {2, 4, 8};
    static const size_t buckets[] = {512, 0};
    char lab[48];
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < 2; j++) {
            snprintf(lab, sizeof lab, "qsgd dense %ub %s", dense_bits[b],
                     buckets[j] ? "d=512" : "d=n");
            double te = dense_bits[b] == 4 ? TARGET_DENSE4_ENC : 0;
            ADD(lab, "qsgd", 1, n, te, 0, .bits = dense_bits[b], .bucket = buckets[j],
                .norm = QUANT_NORM_L2, .format = QUANT_FMT_DENSE);
        }
    for (int j = 0; j < 2; j++) {
        size_t d = buckets[j] ? buckets[j] : n;
        unsigned ss[4] = {1, 7, 127, (unsigned)lround(sqrt((double)d))};
        const char *sn[4] = {"s=1", "s=7", "s=127", "s=sqrt(d)"};
        for (int i = 0; i < 4; i++) {
            snprintf(lab, sizeof lab, "qsgd elias %s %s", sn[i], buckets[j] ? "d=512" : "d=n");
            ADD(lab, "qsgd", 1, n, TARGET_ELIAS, TARGET_ELIAS, .s = ss[i], .bucket = buckets[j],
                .norm = QUANT_NORM_L2, .format = QUANT_FMT_ELIAS);
        }
    }
    ADD("onebit vector", "onebit", 1, n, 0, 0, 0);
    if (n % 1024 == 0)
        ADD("onebit matrix", "onebit", 1024, n / 1024, 0, 0, 0);
#undef ADD
    return k;
}

int main(int argc, char **argv) {
    opts opt;
    if (parse_args(argc, argv, &opt) != 0)
        return 2;
    if (opt.no_simd)
        setenv("QSGDSIM_NO_SIMD", "1", 1);

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    int simd = qrng_simd_available();
    char head[5][320];
    snprintf(head[0], sizeof head[0], "bench_quant: quantizer throughput on one core");
    snprintf(head[1], sizeof head[1], "cpu: %s", cpu);
    snprintf(head[2], sizeof head[2], "simd: %s%s",
             simd >= 2   ? "AVX-512 kernels in use (qrng_simd_available() = 2)"
             : simd == 1 ? "AVX2 kernels in use (qrng_simd_available() = 1)"
                         : "scalar kernels (qrng_simd_available() = 0)",
             opt.no_simd                 ? " (--no-simd)"
             : getenv("QSGDSIM_NO_SIMD") ? " (QSGDSIM_NO_SIMD set)"
                                         : "");
    snprintf(head[3], sizeof head[3],
             "input: N(0,1) float32, GSL mt19937 seed %lu; timing: best and median of %d reps, "
             ">= %.2f s per cell; 1 GB = 1e9 B of float32 input",
             opt.seed, opt.reps, opt.min_time);
    snprintf(head[4], sizeof head[4],
             "targets (issue): dense 4-bit (s=7) encode >= %.0f Mc/s; elias encode and decode "
             ">= %.0f Mc/s",
             TARGET_DENSE4_ENC, TARGET_ELIAS);
    for (int i = 0; i < 5; i++) {
        if (opt.table)
            printf("%s\n", head[i]);
        if (opt.tsv)
            fprintf(opt.tsv, "# %s\n", head[i]);
    }
    if (opt.tsv)
        fprintf(opt.tsv, "n\tlabel\tspec\trows\tcols\top\tbits_per_coord\tbest_s\tmedian_s"
                         "\tmcoords_best\tmcoords_median\tgbps_best\tcpu_share\tmcoords_cpu"
                         "\ttarget_mcoords\ttarget_met\tcheck\n");

    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int failures = 0;
    for (int ni = 0; ni < opt.nn; ni++) {
        size_t n = opt.n[ni];
        float *v = malloc(n * sizeof *v);     /* [n] input */
        float *out = malloc(n * sizeof *out); /* [n] output */
        float *ref = malloc(n * sizeof *ref); /* [n] quantize() reference */
        if (!v || !out || !ref) {
            fprintf(stderr, "bench_quant: out of memory at n = %zu\n", n);
            return 1;
        }
        gsl_rng_set(rng, opt.seed);
        for (size_t i = 0; i < n; i++)
            v[i] = (float)gsl_ran_gaussian_ziggurat(rng, 1.0);
        memset(out, 0, n * sizeof *out);

        op m = {.kind = OP_MEMCPY, .v = v, .out = out, .n = n};
        timing tm = time_op(&m, &opt);
        if (opt.tsv)
            print_tsv_row(opt.tsv, n, "memcpy", "memcpy", 1, n, "copy", 32.0, tm, 0, "-");
        if (opt.table) {
            int e = 0;
            while (((size_t)1 << (e + 1)) <= n)
                e++;
            char pow2[16] = "";
            if (((size_t)1 << e) == n)
                snprintf(pow2, sizeof pow2, " = 2^%d", e);
            printf("\nn = %zu%s, %.1f MiB of float32 input\n", n, pow2, (double)n * 4 / 1048576);
            printf("%-26s %-11s %7s %7s %8s %6s %8s %8s  %8s %6s %8s %8s %4s  %-3s  %s\n",
                   "quantizer", "shape", "bits/c", "bound", "enc Mc/s", "GB/s", "(median)",
                   "(cpu-t)", "dec Mc/s", "GB/s", "(median)", "(cpu-t)", "cpu%", "chk",
                   "target (Mc/s, best)");
            printf("%-26s %-11s %7.3f %7s %8.1f %6.2f %8.1f %8.1f  %8s %6s %8s %8s %4.0f  %-3s\n",
                   "memcpy (ceiling)", "-", 32.0, "-", mcps(n, tm.best), gbps(n, tm.best),
                   mcps(n, tm.median), mcps(n, tm.cpu_best), "-", "-", "-", "-", 100 * tm.cpu_share,
                   "-");
        }
        cell cs[32];
        char labels[32][48];
        int nc = make_cells(n, cs, 32, labels);
        for (int i = 0; i < nc; i++) {
            if (opt.only && !strstr(cs[i].label, opt.only))
                continue;
            failures += run_cell(&cs[i], n, v, out, ref, &opt);
        }
        free(v);
        free(out);
        free(ref);
    }
    gsl_rng_free(rng);
    if (opt.table) {
        printf("\nbits/c: message bits per coordinate; bound: Theorem 3.2 expected-bits bound "
               "(s >= 2, o(1) = 0) per coordinate;\ncpu%%: thread CPU time / wall time of the "
               "best repetition (< 100: descheduled, the machine was busy);\n(cpu-t): M coords per "
               "second of thread CPU time (best repetition), an estimate that ignores "
               "descheduling;\n"
               "chk: decode(encode(v)) == quantize(v); second line of each row: the canonical "
               "quantizer spec.\n");
        printf("targets met: %d of %d\n", n_targets_met, n_targets);
    }
    if (opt.tsv) {
        fprintf(opt.tsv, "# targets met: %d of %d\n", n_targets_met, n_targets);
        if (opt.tsv != stdout)
            fclose(opt.tsv);
    }
    if (failures)
        fprintf(stderr, "bench_quant: %d cell(s) failed\n", failures);
    return failures ? 1 : 0;
}
