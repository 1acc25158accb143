/* test_train_run.c — train_run end to end on synthetic data (no data files needed): the TSV
 * (provenance lines, header, one row per epoch plus epoch 0, written via a temp file that is
 * renamed, nothing left behind), loss decreasing, determinism for a seed, quantizers plugged
 * in per tensor (bits per step, the fp32 size threshold), and clear errors for bad specs,
 * missing files and divergence. Issue 10: a diverged run keeps its TSV, marked; a gradient
 * that overflows in the quantizer is a divergence; step counts are bounded without
 * wrapping; every spec is parsed up front; quant_min_numel 0 quantizes every tensor; a TSV
 * that cannot be written (a file size limit) is an I/O error that keeps what was written.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "train.h"

static char tmpdir[256];

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static train_config base(void) {
    train_config c = {
        .model = "logreg",
        .data = "synth-logreg:n=2000,dim=20,ntest=1000",
        .batch = 32,
        .epochs = 3,
        .optim = {.lr = 0.1, .momentum = 0.9},
        .seed = 5,
        .threads = 1,
    };
    return c;
}

static void test_tsv_and_learning(void) {
    char path[320];
    snprintf(path, sizeof path, "%s/run.tsv", tmpdir);
    train_config c = base();
    c.out_tsv = path;
    c.provenance = "command: test_train_run\ngit: test";
    train_result r;
    qsgd_err err = {0};
    int rc = train_run(&c, &r, &err);
    if (rc)
        fprintf(stderr, "\n  train_run: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    CU_ASSERT_EQUAL(r.nparams, 21); /* 20 weights + bias */
    CU_ASSERT_EQUAL(r.steps, 3 * 63);
    CU_ASSERT_EQUAL(r.last.epoch, 3);
    CU_ASSERT(r.last.test_loss < 0.7 * r.first.test_loss);
    CU_ASSERT(r.last.test_acc > 0.85); /* planted w: ~92% Bayes accuracy */
    CU_ASSERT_EQUAL(r.last.bits_per_step, 32.0 * 21);
    printf("\n  logreg synth: test loss %.4f -> %.4f, acc %.3f\n", r.first.test_loss,
           r.last.test_loss, r.last.test_acc);
    char *t = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(count_files(), 1); /* the temp file was renamed */
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# command: test_train_run\n# git: test\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# model: logreg"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# data: synth-logreg:n=2000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# quant: fp32 on 0 of"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "# optim: sgd:lr=0.1,schedule=constant"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nepoch\tstep\tlr\ttrain_loss\ttest_loss\ttest_acc\t"));
    int rows = 0, comments = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            comments++;
        else
            rows++;
    }
    CU_ASSERT_EQUAL(rows, 1 + 4); /* header + epochs 0..3 */
    CU_ASSERT(comments >= 8);
}

/* Everything but the time columns of a TSV body. */
static void strip_times(char *t, char *out, size_t len) {
    size_t o = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        int col = 0;
        for (char *p = line; *p && o + 2 < len; p++) {
            if (*p == '\t')
                col++;
            if (col != 6 && col != 7)
                out[o++] = *p;
        }
        out[o++] = '\n';
    }
    out[o] = '\0';
}

static void test_determinism_and_quant(void) {
    static char a[1 << 14], b[1 << 14], q[1 << 14];
    char path[320];
    snprintf(path, sizeof path, "%s/det.tsv", tmpdir);
    train_config c = base();
    c.model = "mlp:hidden=64";
    c.epochs = 2;
    c.out_tsv = path;
    qsgd_err err = {0};
    train_result r1, r2, r3;
    CU_ASSERT_EQUAL_FATAL(train_run(&c, &r1, &err), QSGD_OK);
    strip_times(slurp(path), a, sizeof a);
    CU_ASSERT_EQUAL_FATAL(train_run(&c, &r2, &err), QSGD_OK);
    strip_times(slurp(path), b, sizeof b);
    CU_ASSERT_STRING_EQUAL(a, b); /* same seed -> same numbers */
    CU_ASSERT_EQUAL(r1.last.test_loss, r2.last.test_loss);

    /* 8-bit QSGD on every tensor (threshold 1): fewer bits, similar result, and a different
     * trajectory (the quantizer really is in the loop). */
    c.quant = "qsgd:bits=8,bucket=512";
    c.quant_min_numel = 1;
    int rc = train_run(&c, &r3, &err);
    if (rc)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    strip_times(slurp(path), q, sizeof q);
    CU_ASSERT_STRING_NOT_EQUAL(a, q);
    double fp32_bits = 32.0 * r1.nparams;
    printf("\n  mlp synth: fp32 acc %.4f loss %.4f; qsgd8 acc %.4f loss %.4f, bits/step %.0f "
           "(fp32 %.0f)\n",
           r1.last.test_acc, r1.last.test_loss, r3.last.test_acc, r3.last.test_loss,
           r3.last.bits_per_step, fp32_bits);
    CU_ASSERT(r3.last.bits_per_step < 0.3 * fp32_bits);
    CU_ASSERT(r3.last.bits_per_step > 0.25 * fp32_bits); /* 8 of 32 bits + bucket scales */
    CU_ASSERT(fabs(r3.last.test_acc - r1.last.test_acc) < 0.03);

    /* Default threshold 10000: this small MLP (21*64 + 65*2 params) is all sent fp32. */
    c.quant_min_numel = TRAIN_QUANT_MIN_NUMEL;
    CU_ASSERT_EQUAL_FATAL(train_run(&c, &r3, &err), QSGD_OK);
    CU_ASSERT_EQUAL(r3.last.bits_per_step, fp32_bits);
    CU_ASSERT_EQUAL(r3.last.test_loss, r1.last.test_loss);
}

static void test_codec(void) {
    /* Codec on an mlp with one big tensor: only tensors >= threshold get a quantizer. */
    data_shape sh = {.dim = 784, .channels = 1, .height = 28, .width = 28, .nclass = 10};
    qsgd_err me = {0};
    model *m = model_alloc_spec("mlp:hidden=32", &sh, 8, &me);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    qsgd_err err = {0};
    grad_codec *c = grad_codec_alloc(m, "qsgd:bits=4,bucket=128", TRAIN_QUANT_MIN_NUMEL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->nquantized, 1); /* 32x784 weights; the rest < 10000 */
    char d[400];
    CU_ASSERT_EQUAL(grad_codec_describe(c, d, sizeof d), 0);
    printf("\n  codec: %s\n", d);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "on 1 of"));
    float *g = malloc(m->nparams * sizeof *g), *o = malloc(m->nparams * sizeof *o);
    for (size_t i = 0; i < m->nparams; i++)
        g[i] = (float)sin(0.1 * i);
    uint64_t bits = 0;
    uint8_t *msg = malloc(c->max_bytes);
    CU_ASSERT_EQUAL(grad_codec_roundtrip(c, g, o, 1, 0, 0, msg, c->max_bytes, &bits, &err),
                    QSGD_OK);
    size_t small = m->nparams - 32 * 784;
    CU_ASSERT(bits > 32u * small + 4u * 32 * 784);
    CU_ASSERT(bits < 32u * small + 5u * 32 * 784);
    /* fp32 tensors are copied exactly; the quantized one is close (unbiased, 4 bits) */
    int exact = 1;
    double e2 = 0, n2 = 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *tt = &m->tensors[t];
        for (size_t i = tt->offset; i < tt->offset + tt->numel; i++) {
            if (tt->numel < 10000)
                exact &= o[i] == g[i];
            else {
                e2 += (o[i] - g[i]) * (o[i] - g[i]);
                n2 += g[i] * g[i];
            }
        }
    }
    CU_ASSERT(exact);
    CU_ASSERT(e2 > 0 && e2 < 1.0 * n2); /* variance bound sqrt(128)/7 ~ 1.6; typically less */
    grad_codec_free(c);
    CU_ASSERT_PTR_NULL(grad_codec_alloc(m, "qsgd:bits=99", 1, &err));
    CU_ASSERT_EQUAL(err.code, QSGD_EINVAL);
    free(msg);
    free(g);
    free(o);
    model_free(m);
}

/* A gradient the quantizer refuses because it is not finite (or its norm overflows float) is
 * a divergence, not a configuration error; quant_min_numel 0 quantizes every tensor; a bad
 * quantizer spec is refused even when no tensor is large enough to use it. */
static void test_quantizer_cases(void) {
    data_shape sh = {.dim = 20, .nclass = 2};
    qsgd_err me = {0};
    model *m = model_alloc_spec("mlp:hidden=8", &sh, 8, &me);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    qsgd_err qe = {0};
    grad_codec *c = grad_codec_alloc(m, "qsgd:bits=4", 0, &qe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->nquantized, m->ntensors); /* 0: every tensor */
    float *g = calloc(m->nparams, sizeof *g), *o = calloc(m->nparams, sizeof *o);
    uint8_t *msg = malloc(c->max_bytes);
    uint64_t bits;
    size_t cap = c->max_bytes;
    CU_ASSERT_EQUAL(grad_codec_roundtrip(c, g, o, 1, 0, 0, msg, cap, &bits, &qe), QSGD_OK);
    g[3] = -INFINITY;
    CU_ASSERT_EQUAL(grad_codec_roundtrip(c, g, o, 1, 0, 1, msg, cap, &bits, &qe),
                    GRAD_CODEC_EOVERFLOW);
    CU_ASSERT_PTR_NOT_NULL(strstr(qe.msg, "tensor 0"));
    g[3] = 3e38f; /* finite, but the bucket's l2 norm is beyond float */
    g[4] = 3e38f;
    CU_ASSERT_EQUAL(grad_codec_roundtrip(c, g, o, 1, 0, 2, msg, cap, &bits, &qe),
                    GRAD_CODEC_EOVERFLOW);
    grad_codec_free(c);
    free(msg);
    c = grad_codec_alloc(m, "onebit", 0, &qe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    msg = malloc(c->max_bytes);
    g[3] = NAN;
    CU_ASSERT_EQUAL(grad_codec_roundtrip(c, g, o, 1, 0, 0, msg, c->max_bytes, &bits, &qe),
                    GRAD_CODEC_EOVERFLOW);
    grad_codec_free(c);
    free(msg);
    free(g);
    free(o);
    model_free(m);

    qsgd_err err = {0};
    train_config cf = base();
    cf.model = "mlp:hidden=8";
    cf.epochs = 1;
    cf.quant = "qsgd:bits=1"; /* no level: invalid, though no tensor reaches 10000 */
    cf.quant_min_numel = TRAIN_QUANT_MIN_NUMEL;
    CU_ASSERT_EQUAL(train_run(&cf, NULL, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "qsgd:bits=1"));
    cf.model = "mlp:hidden=0x";
    cf.quant = NULL;
    CU_ASSERT_EQUAL(train_run(&cf, NULL, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mlp:hidden=0x"));
    cf.model = "mlp:hidden=8";
    cf.quant = "qsgd:bits=8";
    cf.quant_min_numel = 0; /* every tensor quantized: fewer bits than fp32 */
    train_result r;
    CU_ASSERT_EQUAL_FATAL(train_run(&cf, &r, &err), QSGD_OK);
    CU_ASSERT(r.last.bits_per_step < 0.5 * 32.0 * r.nparams);
}

/* epochs x steps per epoch must not wrap (2^62 x 4 is 0 in size_t): refused beyond 2^32 - 1
 * steps, and max_steps bounds a huge epoch count. */
static void test_step_bounds(void) {
    train_config c = base();
    c.data = "synth-logreg:n=128,dim=5,ntest=64"; /* 4 steps per epoch of 32 */
    c.epochs = (size_t)1 << 62;
    qsgd_err err = {0};
    train_result r;
    CU_ASSERT_EQUAL(train_run(&c, &r, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "4294967295"));
    c.max_steps = 5;
    CU_ASSERT_EQUAL_FATAL(train_run(&c, &r, &err), QSGD_OK);
    CU_ASSERT_EQUAL(r.steps, 5);
}

/* A TSV that cannot be written (a file size limit: EFBIG, as a full disk gives ENOSPC) is an
 * I/O error naming the file and the reason, and what was written stays in the temp file. */
static void test_write_failure(void) {
    char path[320];
    snprintf(path, sizeof path, "%s/big.tsv", tmpdir);
    train_config c = base();
    c.data = "synth-logreg:n=128,dim=5,ntest=64";
    c.epochs = 200; /* ~60 bytes a row: past the limit */
    c.out_tsv = path;
    struct rlimit old, lim;
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
    qsgd_err err = {0};
    int rc = train_run(&c, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CU_ASSERT_EQUAL(rc, QSGD_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot write"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "File too large"));
    CU_ASSERT_EQUAL(access(path, F_OK), -1); /* never renamed to look complete */
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, tmp));
    CU_ASSERT_EQUAL(access(tmp, F_OK), 0); /* what was written is kept */
    remove(tmp);
}

static void test_errors(void) {
    train_config c = base();
    qsgd_err err = {0};
    char path[320];
    snprintf(path, sizeof path, "%s/never.tsv", tmpdir);
    c.out_tsv = path;
    c.model = "transformer";
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "transformer"));
    c = base();
    c.data = "libsvm:/nonexistent/a.svm";
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/a.svm"));
    c = base();
    c.model = "softmax"; /* fine on 2 classes; leastsq is not */
    c.epochs = 1;
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_OK);
    c.model = "leastsq";
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_EINVAL);
    c = base();
    c.data = "synth-leastsq:n=500,dim=10,kappa=10";
    c.model = "leastsq";
    c.optim = (optim_params){.lr = 50};
    c.out_tsv = path;
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_EDIVERGED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "diverged"));
    /* the epochs before the divergence are kept, in place, marked on their last line */
    char *t = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "\n0\t0\t"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "\n# status: diverged at step "));
    CU_ASSERT_EQUAL(t[strlen(t) - 1], '\n');
    c.optim = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP}; /* step_size from epochs */
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_OK);
    c.optim = (optim_params){.lr = 0.1, .momentum = 1.5};
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "momentum"));
    c.optim = (optim_params){.lr = 0.1};
    c.out_tsv = "/nonexistent-dir/x.tsv";
    CU_ASSERT_EQUAL(train_run(&c, NULL, &err), QSGD_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent-dir/x.tsv"));
    /* no partial outputs were left in tmpdir by the failed runs */
    CU_ASSERT_EQUAL(access(path, F_OK) == 0, 1); /* the successful step-schedule run */
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_train_run.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("train_run", NULL, NULL);
    CU_add_test(s, "TSV, provenance, loss decreases", test_tsv_and_learning);
    CU_add_test(s, "determinism; quantizer in the loop", test_determinism_and_quant);
    CU_add_test(s, "per-tensor codec and size threshold", test_codec);
    CU_add_test(s, "errors", test_errors);
    CU_add_test(s, "quantizer overflow, quant_min_numel 0, specs up front", test_quantizer_cases);
    CU_add_test(s, "step counts bounded, max_steps honoured", test_step_bounds);
    CU_add_test(s, "TSV write failure", test_write_failure);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
