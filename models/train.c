/* train.c — single-worker training loop: data spec -> model -> (per-tensor quantizer
 * round trip) -> SGD, with per-epoch evaluation, progress lines and a TSV written to a
 * temporary file and renamed into place (complete or diverged; every write checked). Also
 * the plan of a run (steps, schedule), which the distributed trainer shares; the per-tensor
 * codec is grad_codec.c.
 */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qsgd_file.h"
#include "qsgd_opt.h"

/* OpenBLAS extension; declared here so that no particular cblas.h is needed. */
void openblas_set_num_threads(int num_threads);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int no_quant(const char *spec) {
    return !spec || !*spec || !strcmp(spec, "none");
}

/* ---- the plan of a run ------------------------------------------------------------------ */

int train_plan_steps(double epochs, size_t steps_per_epoch, size_t max_steps, size_t *steps,
                     qsgd_err *err) {
    double want = ceil(epochs * (double)steps_per_epoch);
    if (max_steps && (double)max_steps < want)
        want = (double)max_steps;
    if (!(want <= TRAIN_MAX_STEPS))
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "%g epochs of %zu steps are %.4g steps, more than the %.0f a run may "
                         "have (the quantizers' step counter is 32 bits): lower --epochs or set "
                         "--max-steps",
                         epochs, steps_per_epoch, want, TRAIN_MAX_STEPS);
    *steps = (size_t)want;
    return QSGD_OK;
}

void train_schedule_resolve(optim_params *p, size_t steps, size_t steps_per_epoch,
                            double decay_epochs) {
    if (p->schedule == OPTIM_LR_COSINE && p->total_steps == 0)
        p->total_steps = steps;
    if (p->schedule == OPTIM_LR_STEP && p->step_size == 0) {
        double de = decay_epochs > 0 ? decay_epochs : 1.0;
        p->step_size = (size_t)fmax(1.0, floor(de * (double)steps_per_epoch + 0.5));
    }
}

/* ---- TSV output ------------------------------------------------------------------------------ */

typedef struct tsv {
    FILE *f;
    char path[1024], tmp[1100];
    int errnum; /* errno of the first failed write (0: none) */
    int rows;   /* data rows written */
} tsv;

static int tsv_open(tsv *t, const char *path, qsgd_err *err) {
    memset(t, 0, sizeof *t);
    if (!path)
        return QSGD_OK;
    if (strlen(path) >= sizeof t->path)
        return QSGD_FAIL(err, QSGD_EINVAL, "output path too long: %s", path);
    strcpy(t->path, path);
    char suffix[32], msg[2400];
    snprintf(suffix, sizeof suffix, ".tmp.%ld", (long)getpid());
    t->f = qsgd_file_open(path, suffix, t->tmp, sizeof t->tmp, msg, sizeof msg);
    if (!t->f)
        return QSGD_FAIL(err, QSGD_EIO, "%s", msg);
    return QSGD_OK;
}

/* After writes to t->f: 0, or -1 with the first failure's errno kept (full disk, EFBIG). */
static int tsv_check(tsv *t, int wrote) {
    if (!t->f)
        return 0;
    qsgd_file_check(wrote, &t->errnum);
    return qsgd_file_flush(t->f, &t->errnum);
}

static int tsv_write_failed(tsv *t, qsgd_err *err) {
    char msg[1300];
    qsgd_file_error(t->tmp, t->errnum, msg, sizeof msg);
    return QSGD_FAIL(err, QSGD_EIO, "%s (what was written is kept there)", msg);
}

/* The last line "# status: STATUS", close, rename into place. On failure the temp file stays
 * (never renamed to look complete) and the message names it. */
static int tsv_commit(tsv *t, const char *status, qsgd_err *err) {
    if (!t->f)
        return QSGD_OK;
    errno = 0;
    tsv_check(t, fprintf(t->f, "# status: %s\n", status));
    FILE *f = t->f;
    t->f = NULL;
    char msg[2400];
    if (qsgd_file_commit(f, &t->errnum, t->tmp, t->path, QSGD_FILE_KEEP, msg, sizeof msg) == 0)
        return QSGD_OK;
    if (t->errnum)
        return tsv_write_failed(t, err);
    return QSGD_FAIL(err, QSGD_EIO, "%s (the results are in %s)", msg, t->tmp);
}

/* A failed run: a temp file without results (no epoch trained) is removed; one with results
 * is kept as it is, closed with "# status: failed: ..." if that can be written. */
static void tsv_abort(tsv *t, const char *why) {
    if (!t->f)
        return;
    if (t->rows > 1)
        fprintf(t->f, "# status: failed: %s\n", why);
    qsgd_file_abandon(t->f, t->tmp, t->rows > 1 ? QSGD_FILE_KEEP : 0);
    t->f = NULL;
}

static void fmt_num(char *buf, size_t len, const char *fmt, double v) {
    if (isnan(v))
        snprintf(buf, len, "nan");
    else
        snprintf(buf, len, fmt, v);
}

/* Progress line and TSV row; -1 if the row could not be written (t->errnum). */
static int emit(const train_config *cfg, tsv *t, const train_epoch *e) {
    char trl[32], tel[32], acc[32], acc_pct[32];
    fmt_num(trl, sizeof trl, "%.6f", e->train_loss);
    fmt_num(tel, sizeof tel, "%.6f", e->test_loss);
    fmt_num(acc, sizeof acc, "%.6f", e->test_acc);
    fmt_num(acc_pct, sizeof acc_pct, "%6.2f%%", 100.0 * e->test_acc);
    if (cfg->log) {
        fprintf(cfg->log,
                "epoch %3zu  step %7zu  lr %.4g  train_loss %s  test_loss %s  "
                "test_acc %s  time %.1fs (eval %.1fs)  bits/step %.4g\n",
                e->epoch, e->step, e->lr, trl, tel, acc_pct, e->seconds, e->eval_seconds,
                e->bits_per_step);
        fflush(cfg->log);
    }
    if (!t->f)
        return 0;
    errno = 0;
    int w = fprintf(t->f, "%zu\t%zu\t%.6g\t%s\t%s\t%s\t%.3f\t%.3f\t%.0f\n", e->epoch, e->step,
                    e->lr, trl, tel, acc, e->seconds, e->eval_seconds, e->bits_per_step);
    t->rows++;
    return tsv_check(t, w);
}

/* ---- the run ---------------------------------------------------------------------------- */

int train_run(const train_config *cfg, train_result *res, qsgd_err *err) {
    if (res)
        memset(res, 0, sizeof *res);
    size_t batch = cfg->batch ? cfg->batch : 128;
    double epochs = cfg->epochs != 0 ? cfg->epochs : 1;
    if (!(epochs > 0) || !isfinite(epochs))
        return QSGD_FAIL(err, QSGD_EINVAL, "train: epochs %g must be > 0 and finite", epochs);
    if (!cfg->model || !cfg->data)
        return QSGD_FAIL(err, QSGD_EINVAL, "train: model and data specs are required");
    /* every spec is parsed before any work: a bad quantizer is an error even if no tensor is
     * large enough to use it (built once on a 1 x 1 tensor, which checks its options' values) */
    model_spec ms;
    qsgd_err mse = {0};
    if (model_spec_parse(cfg->model, &ms, &mse) != QSGD_OK)
        return QSGD_FAIL(err, QSGD_EINVAL, "model '%s': %s", cfg->model, mse.msg);
    if (!no_quant(cfg->quant)) {
        qsgd_err qe = {0};
        quant *q = quant_alloc_spec(cfg->quant, 1, 1, &qe);
        if (!q)
            return QSGD_FAIL(err, qe.code == QSGD_ENOMEM ? QSGD_ENOMEM : QSGD_EINVAL,
                             "quantizer '%s': %s", cfg->quant, qe.msg);
        quant_free(q);
    }
    if (cfg->threads > 0)
        openblas_set_num_threads(cfg->threads);

    dataset *train = NULL, *test = NULL;
    model *m = NULL;
    grad_codec *codec = NULL;
    uint8_t *msg = NULL; /* [codec->max_bytes] the gradient's message */
    optim *opt = NULL;
    data_sampler *smp = NULL;
    float *theta = NULL, *grad = NULL, *gq = NULL;
    size_t *idx = NULL;
    tsv out = {0};
    int rc;

    qsgd_err de = {0};
    if ((rc = data_load_spec(cfg->data, cfg->seed, &train, &test, &de))) {
        if (err)
            *err = de; /* its code (EINVAL, ENOMEM, EDATA, EFORMAT), message and where */
        goto done;
    }
    if (test->shape.dim != train->shape.dim || test->shape.nclass != train->shape.nclass) {
        rc = QSGD_FAIL(err, QSGD_EINVAL,
                       "test set %s (dim %zu, %d classes) does not match the "
                       "training set %s (dim %zu, %d classes)",
                       test->source, test->shape.dim, test->shape.nclass, train->source,
                       train->shape.dim, train->shape.nclass);
        goto done;
    }
    if (batch > train->n)
        batch = train->n;
    qsgd_err me = {0};
    m = model_alloc_spec_for(cfg->model, train, batch, cfg->device, &me);
    if (!m) {
        rc = QSGD_FAIL(err, me.code == QSGD_ENOMEM ? QSGD_ENOMEM : QSGD_EINVAL,
                       "model '%s' on %s: %s", cfg->model, train->source, me.msg);
        goto done;
    }
    if (cfg->log)
        fprintf(cfg->log, "%s: gradients computed on %s\n", cfg->model, model_device_desc(m));
    size_t n = m->nparams;
    theta = malloc(n * sizeof *theta);
    grad = malloc(n * sizeof *grad);
    gq = malloc(n * sizeof *gq);
    idx = malloc(batch * sizeof *idx);
    if (!theta || !grad || !gq || !idx) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory for %zu parameters", n);
        goto done;
    }
    m->type->init_params(m, theta, cfg->seed);
    qsgd_err qe = {0};
    codec = grad_codec_alloc(m, cfg->quant, cfg->quant_min_numel, &qe);
    if (!codec) {
        rc = QSGD_FAIL(err, qe.code == QSGD_ENOMEM ? QSGD_ENOMEM : QSGD_EINVAL,
                       "quantizer '%s': %s", cfg->quant, qe.msg);
        goto done;
    }
    if (!(msg = malloc(codec->max_bytes))) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory for a %zu-byte message", codec->max_bytes);
        goto done;
    }
    smp = data_sampler_alloc(NULL, train->n, batch, 0, cfg->seed, 0, &de);
    if (!smp) {
        rc = QSGD_FAIL(err, QSGD_EINVAL, "%s", de.msg);
        goto done;
    }
    size_t spe = data_sampler_batches_per_epoch(smp);
    size_t total = 0;
    if ((rc = train_plan_steps(epochs, spe, cfg->max_steps, &total, err)))
        goto done;
    optim_params op = cfg->optim;
    train_schedule_resolve(&op, total, spe, cfg->decay_epochs);
    qsgd_err oe = {0};
    opt = optim_alloc(n, &op, &oe);
    if (!opt) {
        rc = QSGD_FAIL(err, QSGD_EINVAL, "%s", oe.msg);
        goto done;
    }

    /* Provenance and header. */
    if ((rc = tsv_open(&out, cfg->out_tsv, err)))
        goto done;
    char qdesc[400], odesc[256];
    grad_codec_describe(codec, qdesc, sizeof qdesc);
    optim_describe(&op, odesc, sizeof odesc);
    time_t wall = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime(&wall));
    char host[128] = "?";
    gethostname(host, sizeof host - 1);
    FILE *sinks[2] = {out.f, cfg->log};
    for (int s = 0; s < 2; s++) {
        FILE *f = sinks[s];
        if (!f)
            continue;
        fprintf(f, "# qsgdsim train: single-worker SGD%s\n",
                codec->nquantized ? " with quantized gradients (encode -> decode -> step)" : "");
        if (cfg->provenance && *cfg->provenance) {
            const char *p = cfg->provenance;
            while (*p) {
                const char *nl = strchr(p, '\n');
                int l = nl ? (int)(nl - p) : (int)strlen(p);
                fprintf(f, "# %.*s\n", l, p);
                p += l + (nl ? 1 : 0);
            }
        }
        fprintf(f, "# model: %s (%zu params in %zu tensors, %s)\n", cfg->model, n, m->ntensors,
                m->type->name);
        fprintf(f, "# gradients computed on: %s (device %s)\n", model_device_desc(m),
                model_device_name(cfg->device));
        fprintf(f, "# data: %s (%zu rows, dim %zu, %d classes); test: %s (%zu rows)\n",
                train->source, train->n, train->shape.dim, train->shape.nclass,
                test == train ? "= training set" : test->source, test->n);
        fprintf(f, "# quant: %s\n", qdesc);
        fprintf(f, "# optim: %s\n", odesc);
        char ep[40]; /* whole epochs in full, as before ("4611686018427387904") */
        if (epochs == floor(epochs) && epochs < 1e20)
            snprintf(ep, sizeof ep, "%.0f", epochs);
        else
            qsgd_opt_fmt_num(epochs, ep);
        fprintf(f, "# batch %zu, epochs %s, steps/epoch %zu, steps %zu, seed %llu, threads %d\n",
                batch, ep, spe, total, (unsigned long long)cfg->seed, cfg->threads);
        fprintf(f, "# date %s, host %s\n", date, host);
    }
    if (out.f && tsv_check(&out, fprintf(out.f, "epoch\tstep\tlr\ttrain_loss\ttest_loss\ttest_acc"
                                                "\tseconds\teval_seconds\tbits_per_step\n"))) {
        rc = tsv_write_failed(&out, err);
        goto done;
    }

    /* Epoch 0: the initial model. */
    train_epoch e = {.train_loss = NAN};
    double t0 = now_s();
    if ((rc = m->type->evaluate(m, theta, test, &e.test_loss, &e.test_acc, &me))) {
        rc = QSGD_FAIL(err, QSGD_EINVAL, "evaluate: %s", me.msg);
        goto done;
    }
    e.eval_seconds = now_s() - t0;
    e.lr = optim_lr(&op, 0);
    if (emit(cfg, &out, &e)) {
        rc = tsv_write_failed(&out, err);
        goto done;
    }
    if (res)
        res->first = e;

    size_t step = 0;
    double train_seconds = 0;
    char dstatus[400] = "";                   /* "diverged at step N (epoch E): why" */
    for (size_t ep = 1; step < total; ep++) { /* total <= ceil(epochs x spe) */
        double ts = now_s(), loss_sum = 0, bits_sum = 0;
        size_t nb = 0;
        double lr = 0;
        for (size_t b = 0; b < spe && step < total; b++) {
            size_t k = data_sampler_next(smp, idx);
            double loss = 0;
            if ((rc = m->type->loss_grad(m, theta, train, idx, k, &loss, grad, &me))) {
                rc = QSGD_FAIL(err, QSGD_EINVAL, "loss_grad at step %zu: %s", step, me.msg);
                goto done;
            }
            if (!isfinite(loss)) {
                snprintf(dstatus, sizeof dstatus, "diverged at step %zu (epoch %zu): loss %g", step,
                         ep, loss);
                rc = QSGD_FAIL(err, QSGD_EDIVERGED, "training %s; lower the learning rate (%s)",
                               dstatus, odesc);
                goto diverged;
            }
            uint64_t bits = 32u * (uint64_t)n;
            const float *g = grad;
            if (codec->nquantized) {
                qsgd_err qe2 = {0};
                int crc = grad_codec_roundtrip(codec, grad, gq, cfg->seed, 0, (uint32_t)step, msg,
                                               codec->max_bytes, &bits, &qe2);
                if (crc == GRAD_CODEC_EOVERFLOW) {
                    snprintf(dstatus, sizeof dstatus,
                             "diverged at step %zu (epoch %zu): the gradient overflowed: %.300s",
                             step, ep, qe2.msg);
                    rc = QSGD_FAIL(err, QSGD_EDIVERGED, "training %s; lower the learning rate (%s)",
                                   dstatus, odesc);
                    goto diverged;
                }
                if (crc) {
                    rc = QSGD_FAIL(err, qe2.code == QSGD_ENOMEM ? QSGD_ENOMEM : QSGD_EINTERNAL,
                                   "quantizer at step %zu: %s", step, qe2.msg);
                    goto done;
                }
                g = gq;
            }
            lr = optim_step(opt, theta, g, step);
            loss_sum += loss;
            bits_sum += (double)bits;
            nb++;
            step++;
        }
        train_seconds += now_s() - ts;
        e.epoch = ep;
        e.step = step;
        e.lr = lr;
        e.train_loss = loss_sum / (double)nb;
        e.bits_per_step = bits_sum / (double)nb;
        e.seconds = train_seconds;
        t0 = now_s();
        if ((rc = m->type->evaluate(m, theta, test, &e.test_loss, &e.test_acc, &me))) {
            rc = QSGD_FAIL(err, QSGD_EINVAL, "evaluate: %s", me.msg);
            goto done;
        }
        e.eval_seconds = now_s() - t0;
        if (emit(cfg, &out, &e)) {
            rc = tsv_write_failed(&out, err);
            goto done;
        }
    }
    if (res) {
        res->last = e;
        res->nparams = n;
        res->steps = step;
        res->seconds = train_seconds;
    }
    rc = tsv_commit(&out, "complete", err);
    goto done;
diverged:
    /* the epochs before the divergence are results: keep them, marked (err->msg says where) */
    if (res) {
        res->last = e;
        res->nparams = n;
        res->steps = step;
        res->seconds = train_seconds;
    }
    if (out.f) {
        qsgd_err werr = {0};
        if (tsv_commit(&out, dstatus, &werr)) {
            rc = QSGD_EIO;
            if (err)
                *err = werr;
        }
    }
done:
    tsv_abort(&out, err ? err->msg : "error");
    data_sampler_free(smp);
    optim_free(opt);
    grad_codec_free(codec);
    free(msg);
    model_free(m);
    if (test != train)
        dataset_free(test);
    dataset_free(train);
    free(theta);
    free(grad);
    free(gq);
    free(idx);
    return rc;
}
