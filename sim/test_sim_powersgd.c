/* test_sim_powersgd.c — PowerSGD on --exchange allreduce (sim/ex_allreduce_powersgd.c) end
 * to end through `qsgdsim sim` (CTest sim_powersgd_allreduce; SMPI, virtual ranks):
 *   - K = 1: the same evaluations (test loss and accuracy, printed to 9 digits) as the
 *     all-gather of the single-worker quantizer, so the update is its C(M) bit for bit;
 *   - K = 2, 4 (--no-shared-decode: every rank its own parameters; QSGDSIM_CHECK_SAME=1): the
 *     parameters and the update hash the same on every rank after every iteration, and
 *     bits_sent is the exact ring traffic of the factors P and Q' plus the fp32 rest;
 *   - training converges: powersgd:rank=2 on 4 workers, the loss drops;
 *   - the settings: --allreduce mpi with powersgd is refused (exit 2) with a message naming
 *     what works; the parameter server runs powersgd as the per-worker quantizer;
 *   - with the OpenMPI trainer (argument 2): SMPI == OpenMPI bit for bit on 3 ranks.
 * Model: mlp:hidden=16 on synth-logreg (dim 50, 2 classes): tensors W1 16 x 50, b1 16,
 * W2 2 x 16, b2 2, all quantized (--quant-min-numel 0).
 *
 *   test_sim_powersgd QSGDSIM [MPI_TRAINER]
 */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *qsgdsim, *mpi_trainer;
static char tmpdir[256];

#define COMMON                                                                                     \
    "--data synth-logreg:n=1200,dim=50,ntest=300 --model mlp:hidden=16 --quant-min-numel 0 "       \
    "--batch 16 --seed 7 --compute fixed:0.001 --codec none --quiet"

/* Run a shell command (stdout and stderr into DIR.log); its exit status. */
static int runf(const char *log, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(cmd, sizeof cmd - 600, fmt, ap);
    va_end(ap);
    if (w < 0)
        return -1;
    snprintf(cmd + w, 600, " > '%s/%s.log' 2>&1", tmpdir, log);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Simulate: `qsgdsim sim --ranks K --out TMP/name -- COMMON args`, log TMP/name.log. */
static int sim(const char *name, int K, const char *env, const char *args) {
    return runf(name, "%s '%s' sim --ranks %d --out '%s/%s' -- " COMMON " %s", env ? env : "",
                qsgdsim, K, tmpdir, name, args);
}

static char *slurp(const char *name, const char *file) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s%s", tmpdir, name, file);
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (size_t k; b && (k = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    return b;
}

/* Column `col` (by header name) of every data row of TSV name/file into v (at most max). */
static int column(const char *name, const char *file, const char *col, double *v, int max) {
    char *s = slurp(name, file);
    if (!s)
        return -1;
    int idx = -1, n = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *f[32];
        int nf = 0;
        for (char *p = line; nf < 32;) {
            f[nf++] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (idx < 0) {
            for (int i = 0; i < nf; i++)
                if (!strcmp(f[i], col))
                    idx = i;
            if (idx < 0)
                break;
        } else if (idx < nf && n < max) {
            v[n++] = strtod(f[idx], NULL);
        }
    }
    free(s);
    return idx < 0 ? -1 : n;
}

/* The data rows of name's eval.tsv without the simulated time (column 3). */
static char *evals(const char *name) {
    char *s = slurp(name, "/eval.tsv");
    if (!s)
        return NULL;
    char *out = calloc(strlen(s) + 1, 1), *o = out;
    for (char *line = strtok(s, "\n"); line && out; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        int col = 0;
        for (char *p = line; *p; p++) {
            col += *p == '\t';
            if (col != 2 || *p == '\t')
                *o++ = *p;
        }
        *o++ = '\n';
    }
    free(s);
    return out;
}

static int count_lines(const char *name, const char *pat) {
    char *s = slurp(name, ".log");
    int n = 0;
    for (char *p = s; p && (p = strstr(p, pat)); p++)
        n++;
    free(s);
    return n;
}

static void dump_log(const char *name) {
    char *s = slurp(name, ".log");
    if (s)
        fprintf(stderr, "---- %s.log:\n%s----\n", name, s);
    free(s);
}

/* Floats rank 0 sends in ring_allreduce of n values on K ranks: reduce-scatter all chunks
 * but 1, all-gather all but 2 (chunk c = [n c / K, n (c + 1) / K)). */
static double ring_sent(double n, int K) {
    if (K == 1)
        return 0;
    size_t nn = (size_t)n, total = 0;
    for (int s = 0; s < K - 1; s++) {
        int cs = ((0 - s) % K + K) % K, ca = ((1 - s) % K + K) % K;
        total += nn * (size_t)(cs + 1) / (size_t)K - nn * (size_t)cs / (size_t)K;
        total += nn * (size_t)(ca + 1) / (size_t)K - nn * (size_t)ca / (size_t)K;
    }
    return (double)total;
}

/* Runs a and b both exited 0 (else their logs are shown) and wrote the same evaluations
 * (non-empty); 1 when so. */
static int same_evals(const char *a, int ra, const char *b, int rb) {
    CU_ASSERT_EQUAL(ra, 0);
    CU_ASSERT_EQUAL(rb, 0);
    if (ra || rb) {
        dump_log(a);
        dump_log(b);
        return 0;
    }
    char *ea = evals(a), *eb = evals(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ea);
    CU_ASSERT_PTR_NOT_NULL_FATAL(eb);
    CU_ASSERT(strlen(ea) > 40);
    CU_ASSERT_STRING_EQUAL(ea, eb);
    int same = strcmp(ea, eb) == 0;
    if (!same)
        fprintf(stderr, "%s:\n%s%s:\n%s", a, ea, b, eb);
    free(ea);
    free(eb);
    return same;
}

static void test_k1_equals_quantizer(void) {
    const char *a = "--exchange allreduce --quant powersgd:rank=2 --max-steps 40 --eval-every 10";
    const char *g = "--exchange allgather --quant powersgd:rank=2 --max-steps 40 --eval-every 10";
    int ra = sim("k1-ar", 1, NULL, a), rg = sim("k1-ag", 1, NULL, g);
    if (!same_evals("k1-ar", ra, "k1-ag", rg))
        return;
    /* the train losses agree up to the loss's one rounding to float (the ring carries it in
     * fp32: at most 2^-24 relative) and the 9 significant digits of the tables (5e-9 relative
     * each): FLT_EPSILON = 2^-23 bounds both */
    double la[64], lg[64];
    int na = column("k1-ar", "/iterations.tsv", "train_loss", la, 64),
        ng = column("k1-ag", "/iterations.tsv", "train_loss", lg, 64);
    CU_ASSERT_EQUAL(na, 40);
    CU_ASSERT_EQUAL(ng, 40);
    for (int i = 0; i < na && i < ng; i++)
        CU_ASSERT(fabs(la[i] - lg[i]) <= FLT_EPSILON * fabs(lg[i]));
    /* one worker sends nothing */
    double b[64];
    CU_ASSERT_EQUAL(column("k1-ar", "/iterations.tsv", "bits_sent", b, 64), 40);
    CU_ASSERT_EQUAL(b[0], 0);
}

static void same_update(int K, int rank) {
    char name[64], args[256];
    snprintf(name, sizeof name, "same-K%d-r%d", K, rank);
    snprintf(args, sizeof args,
             "--exchange allreduce --quant powersgd:rank=%d --no-shared-decode --max-steps 12 "
             "--eval-every 6",
             rank);
    int rc = sim(name, K, "QSGDSIM_CHECK_SAME=1", args);
    CU_ASSERT_EQUAL(rc, 0);
    char want[64];
    snprintf(want, sizeof want, "identical on all %d ranks", K);
    int lines = count_lines(name, want);
    CU_ASSERT_EQUAL(lines, 12);
    if (rc || lines != 12)
        dump_log(name);
    /* bits: all-reduce 1 = P of W1 (16 r) and W2 (2 r), b1, b2, the loss; 2 = Q'^T of W1
     * (50 r) and W2 (16 r); rank 0's exact ring traffic (r of W2: at most 2) */
    double r2 = rank < 2 ? rank : 2; /* W2's effective rank: min(rank, 2, 16) */
    double n1 = 16.0 * rank + 2.0 * r2 + 16 + 2 + 1, n2 = 50.0 * rank + 16.0 * r2;
    double want_bits = 32 * (ring_sent(n1, K) + ring_sent(n2, K)), b[16];
    int n = column(name, "/iterations.tsv", "bits_sent", b, 16);
    CU_ASSERT_EQUAL(n, 12);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(b[i], want_bits);
    if (n > 0 && b[0] != want_bits)
        fprintf(stderr, "K=%d rank=%d: bits_sent %.0f, expected %.0f\n", K, rank, b[0], want_bits);
}

static void test_same_update_k2(void) {
    same_update(2, 2);
}
static void test_same_update_k4(void) {
    same_update(4, 2);
    same_update(4, 4);
}

static void test_converges(void) {
    int rc = sim(
        "conv", 4, NULL,
        "--exchange allreduce --quant powersgd:rank=2 --epochs 20 --max-steps 150 --eval-every 75");
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    double l[160], acc[8];
    int n = column("conv", "/iterations.tsv", "train_loss", l, 160);
    CU_ASSERT_EQUAL_FATAL(n, 150);
    double first = 0, last = 0;
    for (int i = 0; i < 10; i++) {
        first += l[i] / 10;
        last += l[n - 10 + i] / 10;
    }
    int ne = column("conv", "/eval.tsv", "test_accuracy", acc, 8);
    CU_ASSERT_EQUAL_FATAL(ne, 3);
    fprintf(stderr,
            "  powersgd:rank=2 allreduce K=4: train loss %.4f -> %.4f, accuracy %.3f -> %.3f\n",
            first, last, acc[0], acc[ne - 1]);
    CU_ASSERT(last < 0.7 * first);
    CU_ASSERT(acc[ne - 1] > acc[0] + 0.1);
}

static void refused(const char *name, int K, const char *args, const char *want1,
                    const char *want2) {
    int rc = sim(name, K, NULL, args);
    CU_ASSERT_EQUAL(rc, 2);
    int has = count_lines(name, want1) > 0 && count_lines(name, want2) > 0;
    CU_ASSERT(has);
    if (rc != 2 || !has)
        dump_log(name);
}

static void test_refusals(void) {
    refused("bad-mpi", 2, "--exchange allreduce --quant powersgd --allreduce mpi",
            "--allreduce ring", "powersgd");
    /* the parameter server keeps the per-worker quantizer (as the all-gather): it runs */
    int rc = sim("ps", 3, NULL, "--exchange ps --quant powersgd:rank=4 --max-steps 4");
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
        dump_log("ps");
}

static void test_smpi_equals_openmpi(void) {
    if (!mpi_trainer) {
        fprintf(stderr, "  (no OpenMPI trainer: skipped)\n");
        return;
    }
    const char *args = COMMON " --exchange allreduce --quant powersgd:rank=2 --max-steps 12 "
                              "--eval-every 6";
    int rs = runf("smpi3", "'%s' sim --ranks 3 --out '%s/smpi3' -- %s", qsgdsim, tmpdir, args);
    int rm = runf("mpi3",
                  "OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 "
                  "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none "
                  "mpirun --allow-run-as-root --oversubscribe -np 3 '%s' --out '%s/mpi3' %s",
                  mpi_trainer, tmpdir, args);
    if (!same_evals("smpi3", rs, "mpi3", rm))
        return;
    double ls[16] = {0}, lm[16] = {0}, bs[16] = {0}, bm[16] = {0};
    CU_ASSERT_EQUAL(column("smpi3", "/iterations.tsv", "train_loss", ls, 16), 12);
    CU_ASSERT_EQUAL(column("mpi3", "/iterations.tsv", "train_loss", lm, 16), 12);
    CU_ASSERT_EQUAL(column("smpi3", "/iterations.tsv", "bits_sent", bs, 16), 12);
    CU_ASSERT_EQUAL(column("mpi3", "/iterations.tsv", "bits_sent", bm, 16), 12);
    CU_ASSERT(memcmp(ls, lm, sizeof ls) == 0 && memcmp(bs, bm, sizeof bs) == 0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s QSGDSIM [MPI_TRAINER]\n", argv[0]);
        return 2;
    }
    qsgdsim = argv[1];
    mpi_trainer = argc > 2 && argv[2][0] ? argv[2] : NULL;
    snprintf(tmpdir, sizeof tmpdir, "%s/qsgdsim-psgd.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("powersgd_allreduce", NULL, NULL);
    CU_add_test(s, "K=1: the single-worker quantizer's C(M), bit for bit",
                test_k1_equals_quantizer);
    CU_add_test(s, "K=2: the same parameters and update on every rank; exact bits",
                test_same_update_k2);
    CU_add_test(s, "K=4 (ranks 2, 4): the same on every rank; exact bits", test_same_update_k4);
    CU_add_test(s, "K=4 rank 2: training converges", test_converges);
    CU_add_test(s, "--allreduce mpi refused; --exchange ps per worker", test_refusals);
    CU_add_test(s, "K=3: SMPI == OpenMPI", test_smpi_equals_openmpi);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!failed && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
