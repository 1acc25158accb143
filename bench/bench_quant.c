/* bench_quant.c — single-core encode/decode throughput of every registered compressor beside
 * a memcpy of the same buffer, plus the bits per coordinate of each message, against the
 * issues' speed targets; PyTorch implementations of topk, terngrad, natural and powersgd as
 * GRACE writes them side by side (bench/torch_compress_peer.py, a co-process, when python3
 * can import torch), and OpenBLAS sgemm alone at powersgd's GEMM shapes. Prints a table, or
 * TSV with --tsv; --tsv-out FILE writes the TSV to FILE beside the table. Not a test.
 *
 *   bench_quant [--n LIST] [--spec LIST] [--quick] [--tsv] [--tsv-out FILE] [--reps R]
 *               [--min-time S] [--only SUBSTR] [--no-simd] [--no-peer] [--seed N]
 *
 * Cells are spec strings (quant_alloc_spec), optionally with a shape: SPEC (a vector, 1 x n),
 * SPEC@R (R x n/R) or SPEC@sq (the squarest R x n/R, R a power of two). The default list has
 * every compressor at its customary setting; a spec whose type is not registered in this
 * build is skipped with a note.
 *
 * Method: input is N(0,1) float32 from GSL's mt19937 (fixed seed, ziggurat). Each cell is
 * warmed up, then timed (clock_gettime CLOCK_MONOTONIC) as R repetitions of k back-to-back
 * calls, k chosen so the R repetitions take >= --min-time seconds; the best and the median
 * per-call time over the repetitions are reported. Throughput is in M coordinates/s and in
 * input GB/s (4 bytes per coordinate, 1 GB = 1e9 B). Every cell also checks once that
 * decode(encode(v)) equals quantize(v) (the "chk" column). OpenBLAS runs on one thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "qrng.h"
#include "quant.h"
#include "theory.h"

/* Targets stated by the issues (M coordinates/s, one core). */
#define TARGET_DENSE4_ENC 1000.0 /* dense 4-bit (s = 7) QSGD encode */
#define TARGET_ELIAS 150.0       /* Elias format, encode and decode */
#define TARGET_ENC 300.0         /* issue 13: every other encoder */
#define TARGET_DEC 500.0         /* issue 13: every other decoder */
#define TARGET_TOPK_ENC 150.0    /* issue 13: topk encode */
#define TARGET_GEMM_SHARE 0.70   /* issue 13: powersgd's GEMMs vs sgemm alone at their shapes */
#define TARGET_PEER_RATIO 5.0    /* issue 13: ours / PyTorch (GRACE) throughput */

/* OpenBLAS: the Fortran sgemm (column-major) and the thread count (an extension). */
void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);
void openblas_set_num_threads(int num_threads);

#define MAX_N_LIST 16
#define MAX_REPS 64
#define MAX_SPECS 64

typedef struct opts {
    size_t n[MAX_N_LIST]; /* vector lengths to run */
    int nn;
    int table; /* print the human-readable table on stdout */
    FILE *tsv; /* TSV destination, or NULL */
    int reps;
    double min_time;  /* seconds per cell (all repetitions together) */
    const char *only; /* run only cells whose label contains this */
    int no_simd;
    int use_peer;
    unsigned long seed;
    const char *spec[MAX_SPECS]; /* --spec entries (SPEC[@R|@sq]); none: the default list */
    int nspec;
} opts;

/* One benchmark cell: a quantizer spec and shape at one n. */
typedef struct cell {
    char label[48]; /* short human label, e.g. "qsgd dense 4b d=512" */
    char spec[200]; /* spec string for quant_alloc_spec */
    size_t rows, cols;
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
typedef enum op_kind { OP_MEMCPY, OP_ENCODE, OP_DECODE, OP_SGEMM } op_kind;

/* A row-major C[m x n] = op(A)[m x k] op(B)[k x n] (op: 'N' or 'T'). */
typedef struct gemm {
    char ta, tb;
    int m, n, k, lda, ldb;
    const float *a, *b;
    float *c;
} gemm;

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
    gemm g;     /* OP_SGEMM */
    int status; /* first non-OK status seen */
} op;

static void op_run(op *o) {
    qsgd_err err;
    int rc = QSGD_OK;
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
    case OP_SGEMM: { /* row-major C = A B  <=>  column-major C^T = B^T A^T */
        const gemm *g = &o->g;
        float one = 1.0f, zero = 0.0f;
        sgemm_(&g->tb, &g->ta, &g->n, &g->m, &g->k, &one, g->b, &g->ldb, g->a, &g->lda, &zero, g->c,
               &g->n);
        __asm__ volatile("" : : "r"(g->c) : "memory");
        break;
    }
    }
    if (rc != QSGD_OK && o->status == QSGD_OK) {
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
    fprintf(f, "usage: bench_quant [--n LIST] [--spec LIST] [--quick] [--tsv] [--tsv-out FILE]\n"
               "                   [--reps R] [--min-time S] [--only SUBSTR] [--no-simd]\n"
               "                   [--no-peer] [--seed N]\n"
               "  --n LIST      comma-separated lengths; 1048576, 1M, 2^20 (default 2^20,2^24)\n"
               "  --spec LIST   cells to run instead of the default list, separated by ';' (or\n"
               "                --spec given again): SPEC (a vector, 1 x n), SPEC@R (R x n/R)\n"
               "                or SPEC@sq (the squarest power-of-two R x n/R), e.g.\n"
               "                --spec 'topk:ratio=0.01;powersgd:rank=2@sq'\n"
               "  --quick       smoke test: n = 2^16, 3 reps, 0.02 s per cell\n"
               "  --tsv         tab-separated output (instead of the table) on stdout\n"
               "  --tsv-out F   also write the tab-separated output to file F\n"
               "  --reps R      repetitions per cell (default 5)\n"
               "  --min-time S  seconds spent per cell over all repetitions (default 0.3)\n"
               "  --only SUBSTR run only cells whose label contains SUBSTR (e.g. elias)\n"
               "  --no-simd     set QSGDSIM_NO_SIMD=1 (scalar kernels) before allocating\n"
               "  --no-peer     do not start the PyTorch peer (bench/torch_compress_peer.py;\n"
               "                QSGDSIM_TORCH_COMPRESS_PEER=path, QSGDSIM_PYTHON=interpreter)\n"
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
    o->use_peer = 1;
    o->seed = 1;
    o->nspec = 0;
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
        } else if (!strcmp(a, "--no-peer")) {
            o->use_peer = 0;
        } else if (val && !strcmp(a, "--spec")) {
            /* split in place on ';' (argv strings are writable) */
            for (char *tok = strtok(argv[i + 1], ";"); tok; tok = strtok(NULL, ";")) {
                while (*tok == ' ')
                    tok++;
                if (!*tok)
                    continue;
                if (o->nspec == MAX_SPECS) {
                    fprintf(stderr, "bench_quant: more than %d --spec entries\n", MAX_SPECS);
                    return -1;
                }
                o->spec[o->nspec++] = tok;
            }
            i++;
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
    qsgd_err err;
    uint64_t nbits;
    quant_reset(q);
    if (quant_quantize(q, v, ctx, a, &err) != QSGD_OK)
        return -1;
    quant_reset(q);
    if (quant_encode(q, v, ctx, buf, cap, &nbits, &err) != QSGD_OK)
        return -1;
    if (quant_decode(q, buf, cap, nbits, b, &err) != QSGD_OK)
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

/* ---- the PyTorch co-process (bench/torch_compress_peer.py) ------------------------------ */

typedef struct peer {
    pid_t pid;
    FILE *to, *from;
    char version[96];
    /* the last measurement, reused by cells with the same peer command */
    char last_cmd[160];
    double last[4];
} peer;

/* Start `py script --serve`; 0 when it answers "ready". *why gets its answer otherwise. */
static int peer_try(peer *p, const char *py, const char *script, char *why, size_t wlen) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) {
        snprintf(why, wlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, wlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execlp(py, py, script, "--serve", (char *)NULL);
        printf("unavailable cannot run %s: %s\n", py, strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->pid = pid;
    p->to = fdopen(in[1], "w");
    p->from = fdopen(out[0], "r");
    char line[512] = "";
    if (!fgets(line, sizeof line, p->from) || strncmp(line, "ready torch=", 12) != 0) {
        line[strcspn(line, "\n")] = 0;
        snprintf(why, wlen, "%s: %s", py, *line ? line : "no answer");
        fclose(p->to);
        fclose(p->from);
        waitpid(pid, NULL, 0);
        p->pid = 0;
        return -1;
    }
    line[strcspn(line, "\n")] = 0;
    snprintf(p->version, sizeof p->version, "torch %.40s (%.30s)", line + 12, py);
    return 0;
}

/* Interpreters tried in order: $QSGDSIM_PYTHON alone if set, else python3 then
 * /usr/bin/python3 (Debian's python3-torch lives there; a pyenv python3 first on PATH would
 * not see it). why gets the reason when there is no peer. */
static int peer_start(peer *p, char *why, size_t wlen) {
    memset(p, 0, sizeof *p);
    char script[1024];
    const char *env = getenv("QSGDSIM_TORCH_COMPRESS_PEER");
    if (env && *env) {
        snprintf(script, sizeof script, "%s", env);
    } else { /* next to this source file (CMake compiles it by absolute path) */
        snprintf(script, sizeof script, "%s", __FILE__);
        char *slash = strrchr(script, '/');
        if (slash)
            snprintf(slash + 1, sizeof script - (size_t)(slash + 1 - script),
                     "torch_compress_peer.py");
        else
            snprintf(script, sizeof script, "torch_compress_peer.py");
    }
    if (access(script, R_OK) != 0) {
        snprintf(why, wlen, "%s not found (set QSGDSIM_TORCH_COMPRESS_PEER)", script);
        return -1;
    }
    const char *py = getenv("QSGDSIM_PYTHON");
    const char *cands[3] = {py, NULL, NULL};
    if (!py || !*py) {
        cands[0] = "python3";
        cands[1] = "/usr/bin/python3";
    }
    char one[600] = "";
    why[0] = 0;
    for (int i = 0; i < 3 && cands[i]; i++) {
        if (peer_try(p, cands[i], script, one, sizeof one) == 0)
            return 0;
        size_t l = strlen(why);
        snprintf(why + l, wlen - l, "%s%s", l ? "; " : "", one);
    }
    return -1;
}

/* One measurement: t = {enc best, enc median, dec best, dec median} seconds per call. */
static int peer_run(peer *p, const char *name, size_t rows, size_t cols, double param,
                    const opts *opt, double t[4]) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "run %s %zu %zu %.17g %d %g", name, rows, cols, param, opt->reps,
             opt->min_time);
    if (!strcmp(cmd, p->last_cmd)) {
        memcpy(t, p->last, sizeof p->last);
        return 0;
    }
    fprintf(p->to, "%s\n", cmd);
    fflush(p->to);
    char line[512];
    if (!fgets(line, sizeof line, p->from))
        return -1;
    if (sscanf(line, "ok %lf %lf %lf %lf", &t[0], &t[1], &t[2], &t[3]) != 4) {
        line[strcspn(line, "\n")] = 0;
        fprintf(stderr, "bench_quant: torch peer: %s\n", line);
        return -1;
    }
    snprintf(p->last_cmd, sizeof p->last_cmd, "%s", cmd);
    memcpy(p->last, t, sizeof p->last);
    return 0;
}

static void peer_stop(peer *p) {
    if (!p->pid)
        return;
    fprintf(p->to, "quit\n");
    fclose(p->to);
    fclose(p->from);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

/* ---- targets and peers of a cell ------------------------------------------------------- */

/* The number after "key=" in a canonical spec, or def. */
static double spec_num(const char *spec, const char *key, double def) {
    char k[40];
    snprintf(k, sizeof k, "%s=", key);
    for (const char *s = strstr(spec, k); s; s = strstr(s + 1, k))
        if (s == spec || s[-1] == ',' || s[-1] == ':')
            return atof(s + strlen(k));
    return def;
}

typedef struct cell_goal {
    double enc, dec;   /* M coords/s, 0 = none */
    int gemm;          /* powersgd: compare with sgemm alone at its shapes */
    int feedback;      /* powersgd with error feedback: encode also forms P Q^T */
    unsigned rank;     /* powersgd rank */
    const char *peer;  /* torch_compress_peer.py compressor, or NULL */
    double peer_param; /* its parameter */
} cell_goal;

static cell_goal goal_of(const quant *q, const char *spec) {
    cell_goal g = {TARGET_ENC, TARGET_DEC, 0, 0, 0, NULL, 0};
    const char *name = q->type->name;
    if (!strcmp(name, "qsgd") && q->params.format == QUANT_FMT_ELIAS) {
        g.enc = g.dec = TARGET_ELIAS;
    } else if (!strcmp(name, "qsgd") && q->params.s == 7) {
        g.enc = TARGET_DENSE4_ENC;
    } else if (!strcmp(name, "topk")) {
        g.enc = TARGET_TOPK_ENC;
        double k = spec_num(spec, "k", 0);
        g.peer = "topk";
        g.peer_param = k > 0 ? k / (double)q->n : spec_num(spec, "ratio", 0.01);
    } else if (!strcmp(name, "terngrad")) {
        if (!strstr(spec, "clip=none")) /* GRACE's TernGrad always clips at 2.5 sigma */
            g.peer = spec_num(spec, "clip", 0) == 2.5 ? "terngrad" : NULL;
    } else if (!strcmp(name, "natural")) {
        g.peer = "natural";
    } else if (!strcmp(name, "powersgd")) {
        g.enc = g.dec = 0;
        g.rank = (unsigned)spec_num(spec, "rank", 2);
        g.gemm = q->rows > 1 && g.rank > 0;
        g.feedback = spec_num(spec, "feedback", 1) != 0;
        if (g.gemm) {
            g.peer = "powersgd";
            g.peer_param = g.rank;
        }
    }
    return g;
}

/* sgemm alone at powersgd's shapes on a rows x cols matrix M, rank r: t[0] = P = M Q,
 * t[1] = Q = M^T P (the encoder's two), t[2] = P Q^T (the decoder's), best seconds per call. */
static int time_sgemm(size_t rows, size_t cols, unsigned r, const float *m, float *out,
                      const opts *opt, double t[3]) {
    float *q = calloc(cols * r, sizeof *q), *p = calloc(rows * r, sizeof *p);
    if (!q || !p) {
        free(q);
        free(p);
        return -1;
    }
    for (size_t i = 0; i < cols * r; i++)
        q[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < rows * r; i++)
        p[i] = (float)((i * 2246822519u) % 1000) / 1000.0f - 0.5f;
    int R = (int)r, Rw = (int)rows, Cl = (int)cols;
    gemm gs[3] = {
        {'N', 'N', Rw, R, Cl, Cl, R, m, q, p},  /* P[rows x r] = M Q */
        {'T', 'N', Cl, R, Rw, Cl, R, m, p, q},  /* Q[cols x r] = M^T P */
        {'N', 'T', Rw, Cl, R, R, R, p, q, out}, /* [rows x cols] = P Q^T */
    };
    /* P = M Q writes p, which M^T P reads and which writes q: the values stay finite */
    for (int i = 0; i < 3; i++) {
        op o = {.kind = OP_SGEMM, .g = gs[i], .status = QSGD_OK};
        t[i] = time_op(&o, opt).best;
    }
    free(q);
    free(p);
    return 0;
}

static int n_targets, n_targets_met, n_ratios, n_ratios_met;

static void print_tsv_row(FILE *f, size_t n, const char *label, const char *spec, size_t rows,
                          size_t cols, const char *opname, double bpc, timing t, double target,
                          const char *chk, double peer_s, double gemm_share) {
    fprintf(f, "%zu\t%s\t%s\t%zu\t%zu\t%s\t%.4f\t%.6e\t%.6e\t%.1f\t%.1f\t%.3f\t%.2f\t%.1f\t", n,
            label, spec, rows, cols, opname, bpc, t.best, t.median, mcps(n, t.best),
            mcps(n, t.median), gbps(n, t.best), t.cpu_share, mcps(n, t.cpu_best));
    if (target > 0)
        fprintf(f, "%.0f\t%s\t", target, mcps(n, t.best) >= target ? "yes" : "no");
    else if (gemm_share > 0)
        fprintf(f, "gemm>=%.2f\t%s\t", TARGET_GEMM_SHARE,
                gemm_share >= TARGET_GEMM_SHARE ? "yes" : "no");
    else
        fprintf(f, "-\t-\t");
    fprintf(f, "%s\t", chk);
    if (peer_s > 0)
        fprintf(f, "%.1f\t%.2f\t", mcps(n, peer_s), peer_s / t.best);
    else
        fprintf(f, "-\t-\t");
    if (gemm_share > 0)
        fprintf(f, "%.3f\n", gemm_share);
    else
        fprintf(f, "-\n");
}

/* Run one cell at one n: returns nonzero on an error. */
static int run_cell(const cell *c, size_t n, const float *v, float *out, float *ref,
                    const opts *opt, peer *pr) {
    qsgd_err err;
    quant *q = quant_alloc_spec(c->spec, c->rows, c->cols, &err);
    if (!q) {
        fprintf(stderr, "bench_quant: %s (%s): quant_alloc_spec failed: %s\n", c->label, c->spec,
                err.msg);
        return 1;
    }
    char spec[200];
    quant_describe(q, spec, sizeof spec);
    cell_goal goal = goal_of(q, spec);
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
            .status = QSGD_OK};
    timing te = time_op(&o, opt);
    /* decode the message of the last encode */
    double bpc = (double)o.nbits / (double)n;
    o.kind = OP_DECODE;
    timing td = time_op(&o, opt);
    int failed = o.status != QSGD_OK || bad != 0;

    /* sgemm alone at powersgd's shapes; ref is free again (it held quantize's output) */
    double sg[3] = {0, 0, 0}, share_enc = 0, share_dec = 0;
    if (goal.gemm && time_sgemm(c->rows, c->cols, goal.rank, v, ref, opt, sg) == 0) {
        /* with error feedback the encoder also decompresses (e = M - P Q^T) */
        share_enc = (sg[0] + sg[1] + (goal.feedback ? sg[2] : 0)) / te.best;
        share_dec = sg[2] / td.best;
    }
    /* the PyTorch (GRACE) peer */
    double pt[4] = {0, 0, 0, 0};
    int have_pt = goal.peer && pr && pr->pid &&
                  peer_run(pr, goal.peer, c->rows, c->cols, goal.peer_param, opt, pt) == 0;

    /* Theorem 3.2 bound (s >= 2, l2 norm) for the Elias format, in bits per coordinate. */
    char bound[32] = "";
    if (!strcmp(q->type->name, "qsgd") && q->params.format == QUANT_FMT_ELIAS && q->params.s >= 2 &&
        q->params.norm == QUANT_NORM_L2) {
        size_t d = q->params.bucket ? q->params.bucket : n;
        size_t full = n / d, rest = n % d;
        double b = (double)full * theory_elias_bits_bound((double)d, q->params.s);
        if (rest)
            b += theory_elias_bits_bound((double)rest, q->params.s);
        snprintf(bound, sizeof bound, "%.3f", b / (double)n);
    }

    if (opt->tsv) {
        print_tsv_row(opt->tsv, n, c->label, spec, c->rows, c->cols, "encode", bpc, te, goal.enc,
                      chk, have_pt ? pt[0] : 0, share_enc);
        print_tsv_row(opt->tsv, n, c->label, spec, c->rows, c->cols, "decode", bpc, td, goal.dec,
                      chk, have_pt ? pt[2] : 0, share_dec);
        if (goal.gemm && sg[0] > 0) {
            static const char *gn[3] = {"sgemm M Q", "sgemm M^T P", "sgemm P Q^T"};
            for (int i = 0; i < 3; i++) {
                timing ts = {sg[i], sg[i], 1, sg[i]};
                print_tsv_row(opt->tsv, n, gn[i], "openblas sgemm", c->rows, c->cols, "gemm", 0, ts,
                              0, "-", 0, 0);
            }
        }
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
        if (goal.enc > 0)
            printf("  enc>=%.0f %s", goal.enc, mark(mcps(n, te.best), goal.enc));
        if (goal.dec > 0)
            printf("  dec>=%.0f %s", goal.dec, mark(mcps(n, td.best), goal.dec));
        if (goal.gemm && sg[0] > 0)
            printf("  gemm enc %.0f%% %s dec %.0f%% %s", 100 * share_enc,
                   mark(share_enc, TARGET_GEMM_SHARE), 100 * share_dec,
                   mark(share_dec, TARGET_GEMM_SHARE));
        printf("\n");
        printf("%-26s   %s\n", "", spec);
        if (goal.gemm && sg[0] > 0)
            printf("%-26s   sgemm alone (OpenBLAS, 1 thread): M Q %.3f + M^T P %.3f%s = %.3f ms "
                   "(encode %.3f ms); P Q^T %.3f ms (decode %.3f ms); target >= %.0f%%\n",
                   "", 1e3 * sg[0], 1e3 * sg[1], goal.feedback ? " + P Q^T" : "",
                   1e3 * (sg[0] + sg[1] + (goal.feedback ? sg[2] : 0)), 1e3 * te.best, 1e3 * sg[2],
                   1e3 * td.best, 100 * TARGET_GEMM_SHARE);
        if (have_pt)
            printf("%-26s   torch (GRACE's %s): enc %.1f, dec %.1f Mc/s (median %.1f, %.1f); "
                   "ours/theirs enc %.1fx %s dec %.1fx %s (target >= %.0fx)\n",
                   "", goal.peer, mcps(n, pt[0]), mcps(n, pt[2]), mcps(n, pt[1]), mcps(n, pt[3]),
                   pt[0] / te.best, mark(pt[0] / te.best, TARGET_PEER_RATIO), pt[2] / td.best,
                   mark(pt[2] / td.best, TARGET_PEER_RATIO), TARGET_PEER_RATIO);
        else if (goal.peer && pr && pr->pid)
            printf("%-26s   torch peer: no answer for %s\n", "", goal.peer);
    }
    if (goal.enc > 0) {
        n_targets++;
        n_targets_met += mcps(n, te.best) >= goal.enc;
    }
    if (goal.dec > 0) {
        n_targets++;
        n_targets_met += mcps(n, td.best) >= goal.dec;
    }
    if (goal.gemm && sg[0] > 0) {
        n_targets += 2;
        n_targets_met += (share_enc >= TARGET_GEMM_SHARE) + (share_dec >= TARGET_GEMM_SHARE);
    }
    if (have_pt) {
        n_ratios += 2;
        n_ratios_met +=
            (pt[0] / te.best >= TARGET_PEER_RATIO) + (pt[2] / td.best >= TARGET_PEER_RATIO);
    }
    fflush(stdout);
    free(buf);
    quant_free(q);
    return failed;
}

/* Copy src into dst[len], truncated. */
static void str_copy(char *dst, size_t len, const char *src) {
    size_t l = strlen(src);
    if (l >= len)
        l = len - 1;
    memcpy(dst, src, l);
    dst[l] = 0;
}

/* Fill c from "SPEC[@R|@sq]" at length n; -1 (with a note in why) when the shape does not fit
 * n, -2 when the spec's type is not registered in this build. */
static int cell_from_entry(cell *c, const char *label, const char *entry, size_t n, char *why,
                           size_t wlen) {
    str_copy(c->spec, sizeof c->spec, entry);
    char *at = strchr(c->spec, '@');
    c->rows = 1;
    if (at) {
        *at++ = 0;
        if (!strcmp(at, "sq")) {
            size_t r = 1;
            while ((r * 2) * (r * 2) <= n && n % (r * 2) == 0)
                r *= 2;
            c->rows = r;
        } else {
            char *end;
            unsigned long long r = strtoull(at, &end, 10);
            if (end == at || *end || r == 0 || n % r) {
                snprintf(why, wlen, "shape @%s does not divide n = %zu", at, n);
                return -1;
            }
            c->rows = (size_t)r;
        }
    }
    c->cols = n / c->rows;
    str_copy(c->label, sizeof c->label, label ? label : entry);
    char name[64];
    str_copy(name, sizeof name, c->spec);
    name[strcspn(name, ":")] = 0;
    if (!quant_type_find(name)) {
        snprintf(why, wlen, "no quantizer '%s' registered in this build", name);
        return -2;
    }
    return 0;
}

/* The default list at length n: {label, entry} pairs into lab/ent (each 200 bytes). */
static int default_entries(size_t n, char lab[][48], char ent[][200], int cap) {
    int k = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (k < cap)                                                                               \
            snprintf(ent[k], 200, __VA_ARGS__);                                                    \
    } while (0)
#define LAB(...)                                                                                   \
    do {                                                                                           \
        if (k < cap)                                                                               \
            snprintf(lab[k++], 48, __VA_ARGS__);                                                   \
    } while (0)
    ADD("fp32");
    LAB("fp32");
    static const unsigned dense_bits[] = {2, 4, 8};
    static const size_t buckets[] = {512, 0};
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < 2; j++) {
            ADD("qsgd:bits=%u,bucket=%zu,norm=l2,format=dense", dense_bits[b], buckets[j]);
            LAB("qsgd dense %ub %s", dense_bits[b], buckets[j] ? "d=512" : "d=n");
        }
    for (int j = 0; j < 2; j++) {
        size_t d = buckets[j] ? buckets[j] : n;
        unsigned ss[4] = {1, 7, 127, (unsigned)lround(sqrt((double)d))};
        const char *sn[4] = {"s=1", "s=7", "s=127", "s=sqrt(d)"};
        for (int i = 0; i < 4; i++) {
            ADD("qsgd:s=%u,bucket=%zu,norm=l2,format=elias", ss[i], buckets[j]);
            LAB("qsgd elias %s %s", sn[i], buckets[j] ? "d=512" : "d=n");
        }
    }
    ADD("onebit");
    LAB("onebit vector");
    if (n % 1024 == 0) {
        ADD("onebit@1024");
        LAB("onebit matrix");
    }
    static const char *const rest[][2] = {
        {"topk 1% raw", "topk:ratio=0.01,index=raw"},
        {"topk 1% elias", "topk:ratio=0.01,index=elias"},
        {"randomk 1% seed", "randomk:ratio=0.01,index=seed"},
        {"terngrad", "terngrad"},
        {"terngrad clip=2.5", "terngrad:clip=2.5"},
        {"natural", "natural"},
        {"signsgd", "signsgd"},
        {"efsignsgd", "efsignsgd"},
        {"nuqsgd s=7", "nuqsgd:s=7"},
        {"fp16", "fp16"},
        {"bf16", "bf16"},
        {"mxfp8", "mxfp8"},
        {"mxfp4", "mxfp4"},
        {"powersgd rank 2", "powersgd:rank=2@sq"},
        {"powersgd rank 4", "powersgd:rank=4@sq"},
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        ADD("%s", rest[i][1]);
        LAB("%s", rest[i][0]);
    }
#undef ADD
#undef LAB
    return k;
}

int main(int argc, char **argv) {
    opts opt;
    if (parse_args(argc, argv, &opt) != 0)
        return 2;
    if (opt.no_simd)
        setenv("QSGDSIM_NO_SIMD", "1", 1);

    openblas_set_num_threads(1); /* one core: powersgd's GEMMs and sgemm alone alike */
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    int simd = qrng_simd_available();
    peer pr;
    char pwhy[1400] = "--no-peer";
    int have_peer = opt.use_peer && peer_start(&pr, pwhy, sizeof pwhy) == 0;
    if (!have_peer)
        memset(&pr, 0, sizeof pr);
    char head[7][1500];
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
             "targets (issues 12, 13): encode >= %.0f, decode >= %.0f Mc/s; topk encode >= %.0f; "
             "qsgd dense 4-bit (s=7) encode >= %.0f; qsgd elias encode and decode >= %.0f; "
             "powersgd: encode/decode time of sgemm alone at its GEMM shapes >= %.0f%% of "
             "powersgd's; ours/torch >= %.0fx",
             TARGET_ENC, TARGET_DEC, TARGET_TOPK_ENC, TARGET_DENSE4_ENC, TARGET_ELIAS,
             100 * TARGET_GEMM_SHARE, TARGET_PEER_RATIO);
    if (have_peer)
        snprintf(head[5], sizeof head[5],
                 "peer: %s, one thread, bench/torch_compress_peer.py (topk, terngrad, natural, "
                 "powersgd as GRACE writes them; its own N(0,1) input)",
                 pr.version);
    else
        snprintf(head[5], sizeof head[5], "peer unavailable (%s): C side only", pwhy);
    snprintf(head[6], sizeof head[6], "blas: OpenBLAS, openblas_set_num_threads(1)");
    for (int i = 0; i < 7; i++) {
        if (opt.table)
            printf("%s\n", head[i]);
        if (opt.tsv)
            fprintf(opt.tsv, "# %s\n", head[i]);
    }
    if (opt.tsv)
        fprintf(opt.tsv, "n\tlabel\tspec\trows\tcols\top\tbits_per_coord\tbest_s\tmedian_s"
                         "\tmcoords_best\tmcoords_median\tgbps_best\tcpu_share\tmcoords_cpu"
                         "\ttarget_mcoords\ttarget_met\tcheck\tpeer_mcoords\tratio_vs_peer"
                         "\tgemm_share\n");

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
            print_tsv_row(opt.tsv, n, "memcpy", "memcpy", 1, n, "copy", 32.0, tm, 0, "-", 0, 0);
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
        static char lab[MAX_SPECS][48], ent[MAX_SPECS][200];
        int ne = 0;
        if (opt.nspec == 0)
            ne = default_entries(n, lab, ent, MAX_SPECS);
        for (int i = 0; i < opt.nspec; i++, ne++) {
            str_copy(ent[ne], sizeof ent[ne], opt.spec[i]);
            str_copy(lab[ne], sizeof lab[ne], opt.spec[i]);
        }
        for (int i = 0; i < ne; i++) {
            cell c;
            char why[160];
            int rc = cell_from_entry(&c, lab[i], ent[i], n, why, sizeof why);
            if (opt.only && !strstr(c.label, opt.only))
                continue;
            if (rc == -2) { /* a compressor this build does not have: a note, not an error */
                if (opt.table)
                    printf("%-26s   skipped: %s\n", c.label, why);
                if (opt.tsv)
                    fprintf(opt.tsv, "# skipped %s: %s\n", ent[i], why);
                continue;
            }
            if (rc != 0) {
                fprintf(stderr, "bench_quant: %s: %s\n", ent[i], why);
                failures++;
                continue;
            }
            failures += run_cell(&c, n, v, out, ref, &opt, have_peer ? &pr : NULL);
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
               "quantizer spec;\ngemm: time of sgemm alone at powersgd's shapes / powersgd's "
               "time (encode: M Q, M^T P and, with error feedback, P Q^T; decode: P Q^T);\ntorch: "
               "the PyTorch peer's "
               "throughput; ours/theirs: its time / ours (encode includes its error-feedback "
               "memory where ours has one).\n");
        printf("targets met: %d of %d; ours/torch >= %.0fx: %d of %d%s\n", n_targets_met, n_targets,
               TARGET_PEER_RATIO, n_ratios_met, n_ratios, have_peer ? "" : " (peer unavailable)");
    }
    if (have_peer)
        peer_stop(&pr);
    if (opt.tsv) {
        fprintf(opt.tsv, "# targets met: %d of %d; ours/torch >= %.0fx: %d of %d\n", n_targets_met,
                n_targets, TARGET_PEER_RATIO, n_ratios_met, n_ratios);
        if (opt.tsv != stdout)
            fclose(opt.tsv);
    }
    if (failures)
        fprintf(stderr, "bench_quant: %d cell(s) failed\n", failures);
    return failures ? 1 : 0;
}
