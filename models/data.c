/* data.c — dataset containers (alloc, subset, densify), sharding across workers, per-worker
 * minibatch samplers, and the data spec parser that picks a loader (fmnist, libsvm, synth).
 * See data.h for the contracts.
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

int data_fail(data_err *err, int code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- datasets --------------------------------------------------------------------------- */

int dataset_alloc_dense(const data_shape *shape, size_t n, dataset **out, data_err *err) {
    *out = NULL;
    if (!shape || shape->dim == 0 || shape->nclass < 0)
        return data_fail(err, DATA_EINVAL, "dataset_alloc_dense: bad shape (dim %zu)",
                         shape ? shape->dim : 0);
    if (n > 0 && shape->dim > SIZE_MAX / sizeof(float) / n)
        return data_fail(err, DATA_ENOMEM, "dataset_alloc_dense: %zu x %zu floats overflow", n,
                         shape->dim);
    dataset *d = calloc(1, sizeof *d);
    if (!d)
        return data_fail(err, DATA_ENOMEM, "dataset_alloc_dense: out of memory");
    d->shape = *shape;
    d->n = n;
    d->layout = DATA_DENSE;
    size_t nn = n ? n : 1;
    d->x = calloc(nn * shape->dim, sizeof(float));
    if (shape->nclass > 0)
        d->label = calloc(nn, sizeof(int32_t));
    else
        d->target = calloc(nn, sizeof(float));
    if (!d->x || (!d->label && !d->target)) {
        dataset_free(d);
        return data_fail(err, DATA_ENOMEM, "dataset_alloc_dense: out of memory for %zu x %zu", n,
                         shape->dim);
    }
    *out = d;
    return DATA_OK;
}

void dataset_free(dataset *d) {
    if (!d)
        return;
    free(d->x);
    free(d->rowptr);
    free(d->col);
    free(d->val);
    free(d->label);
    free(d->target);
    free(d);
}

size_t dataset_nnz(const dataset *d) {
    if (d->layout == DATA_CSR)
        return d->rowptr[d->n];
    return d->n * d->shape.dim;
}

int dataset_subset(const dataset *d, const size_t *idx, size_t k, dataset **out, data_err *err) {
    *out = NULL;
    for (size_t i = 0; i < k; i++)
        if (idx[i] >= d->n)
            return data_fail(err, DATA_EINVAL, "dataset_subset: row %zu out of range (n = %zu)",
                             idx[i], d->n);
    dataset *s = calloc(1, sizeof *s);
    if (!s)
        return data_fail(err, DATA_ENOMEM, "dataset_subset: out of memory");
    s->shape = d->shape;
    s->n = k;
    s->layout = d->layout;
    snprintf(s->source, sizeof s->source, "%.200s[%zu rows]", d->source, k);
    size_t kk = k ? k : 1;
    if (d->label)
        s->label = malloc(kk * sizeof(int32_t));
    if (d->target)
        s->target = malloc(kk * sizeof(float));
    int ok = (!d->label || s->label) && (!d->target || s->target);
    if (d->layout == DATA_DENSE) {
        size_t dim = d->shape.dim;
        s->x = malloc(kk * dim * sizeof(float));
        ok = ok && s->x;
        if (ok)
            for (size_t i = 0; i < k; i++)
                memcpy(s->x + i * dim, d->x + idx[i] * dim, dim * sizeof(float));
    } else {
        size_t nnz = 0;
        for (size_t i = 0; i < k; i++)
            nnz += d->rowptr[idx[i] + 1] - d->rowptr[idx[i]];
        s->rowptr = malloc((k + 1) * sizeof(size_t));
        s->col = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
        s->val = malloc((nnz ? nnz : 1) * sizeof(float));
        ok = ok && s->rowptr && s->col && s->val;
        if (ok) {
            size_t p = 0;
            s->rowptr[0] = 0;
            for (size_t i = 0; i < k; i++) {
                size_t a = d->rowptr[idx[i]], b = d->rowptr[idx[i] + 1];
                memcpy(s->col + p, d->col + a, (b - a) * sizeof(uint32_t));
                memcpy(s->val + p, d->val + a, (b - a) * sizeof(float));
                p += b - a;
                s->rowptr[i + 1] = p;
            }
        }
    }
    if (!ok) {
        dataset_free(s);
        return data_fail(err, DATA_ENOMEM, "dataset_subset: out of memory for %zu rows", k);
    }
    for (size_t i = 0; i < k; i++) {
        if (d->label)
            s->label[i] = d->label[idx[i]];
        if (d->target)
            s->target[i] = d->target[idx[i]];
    }
    *out = s;
    return DATA_OK;
}

int dataset_densify(dataset *d, data_err *err) {
    if (d->layout == DATA_DENSE)
        return DATA_OK;
    size_t dim = d->shape.dim;
    if (d->n > 0 && dim > SIZE_MAX / sizeof(float) / d->n)
        return data_fail(err, DATA_ENOMEM, "dataset_densify: %zu x %zu floats overflow", d->n, dim);
    float *x = calloc((d->n ? d->n : 1) * dim, sizeof(float));
    if (!x)
        return data_fail(err, DATA_ENOMEM,
                         "dataset_densify: out of memory for %zu x %zu floats (%s)", d->n, dim,
                         d->source);
    for (size_t i = 0; i < d->n; i++)
        for (size_t p = d->rowptr[i]; p < d->rowptr[i + 1]; p++)
            x[i * dim + d->col[p]] = d->val[p];
    free(d->rowptr);
    free(d->col);
    free(d->val);
    d->rowptr = NULL;
    d->col = NULL;
    d->val = NULL;
    d->x = x;
    d->layout = DATA_DENSE;
    return DATA_OK;
}

int dataset_label_histogram(const dataset *d, size_t *hist, int nclass, data_err *err) {
    if (!d->label || nclass <= 0)
        return data_fail(err, DATA_EINVAL, "label histogram: %s has no class labels", d->source);
    memset(hist, 0, (size_t)nclass * sizeof *hist);
    for (size_t i = 0; i < d->n; i++) {
        if (d->label[i] < 0 || d->label[i] >= nclass)
            return data_fail(err, DATA_EINVAL,
                             "label histogram: %s row %zu has label %d "
                             "outside 0..%d",
                             d->source, i, (int)d->label[i], nclass - 1);
        hist[d->label[i]]++;
    }
    return DATA_OK;
}

/* ---- seeds, shards, samplers ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

unsigned long data_rng_seed(uint64_t seed, uint32_t worker, uint32_t stream) {
    uint64_t h = splitmix64(seed);
    h = splitmix64(h ^ ((uint64_t)worker << 32 | stream));
    /* mt19937 uses 32 bits of its seed; 0 means "default seed" to GSL, avoid it. */
    unsigned long s = (unsigned long)(h >> 32);
    return s ? s : 1;
}

size_t data_shard_size(size_t n, unsigned nworkers, unsigned worker) {
    if (nworkers == 0 || worker >= nworkers)
        return 0;
    /* floor((w+1) n / K) - floor(w n / K), without overflow for any n. */
    size_t q = n / nworkers, r = n % nworkers;
    size_t lo = worker * q + (size_t)worker * r / nworkers;
    size_t hi = (worker + 1) * q + (size_t)(worker + 1) * r / nworkers;
    return hi - lo;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int data_shard(size_t n, unsigned nworkers, unsigned worker, uint64_t seed, size_t *idx,
               data_err *err) {
    if (nworkers == 0 || worker >= nworkers)
        return data_fail(err, DATA_EINVAL, "data_shard: worker %u of %u workers", worker, nworkers);
    size_t q = n / nworkers, r = n % nworkers;
    size_t lo = worker * q + (size_t)worker * r / nworkers;
    size_t len = data_shard_size(n, nworkers, worker);
    if (len == 0)
        return DATA_OK;
    size_t *perm = malloc(n * sizeof *perm);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!perm || !rng) {
        free(perm);
        if (rng)
            gsl_rng_free(rng);
        return data_fail(err, DATA_ENOMEM, "data_shard: out of memory for %zu indices", n);
    }
    /* stream 0x5ead: the permutation is shared by all workers (worker field 0). */
    gsl_rng_set(rng, data_rng_seed(seed, 0, 0x5eadu));
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    gsl_ran_shuffle(rng, perm, n, sizeof *perm);
    memcpy(idx, perm + lo, len * sizeof *idx);
    qsort(idx, len, sizeof *idx, cmp_size);
    free(perm);
    gsl_rng_free(rng);
    return DATA_OK;
}

static void sampler_shuffle(data_sampler *s) {
    gsl_ran_shuffle(s->rng, s->order, s->n, sizeof *s->order);
    s->pos = 0;
    s->epoch++;
}

data_sampler *data_sampler_alloc(const size_t *pool, size_t n, size_t batch, int drop_last,
                                 uint64_t seed, uint32_t worker, data_err *err) {
    if (n == 0 || batch == 0 || (drop_last && batch > n)) {
        data_fail(err, DATA_EINVAL, "data_sampler: pool of %zu rows cannot give batches of %zu%s",
                  n, batch, drop_last ? " (drop_last)" : "");
        return NULL;
    }
    data_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        data_fail(err, DATA_ENOMEM, "data_sampler: out of memory");
        return NULL;
    }
    s->order = malloc(n * sizeof *s->order);
    s->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!s->order || !s->rng) {
        data_sampler_free(s);
        data_fail(err, DATA_ENOMEM, "data_sampler: out of memory for %zu indices", n);
        return NULL;
    }
    gsl_rng_set(s->rng, data_rng_seed(seed, worker, 0x5a3b1eu));
    for (size_t i = 0; i < n; i++)
        s->order[i] = pool ? pool[i] : i;
    s->n = n;
    s->batch = batch;
    s->drop_last = drop_last;
    s->pos = n; /* the first call shuffles */
    return s;
}

void data_sampler_free(data_sampler *s) {
    if (!s)
        return;
    if (s->rng)
        gsl_rng_free(s->rng);
    free(s->order);
    free(s);
}

size_t data_sampler_batches_per_epoch(const data_sampler *s) {
    return s->drop_last ? s->n / s->batch : (s->n + s->batch - 1) / s->batch;
}

size_t data_sampler_next(data_sampler *s, size_t *idx) {
    size_t left = s->n - s->pos;
    if (left == 0 || (s->drop_last && left < s->batch))
        sampler_shuffle(s);
    size_t k = s->n - s->pos < s->batch ? s->n - s->pos : s->batch;
    memcpy(idx, s->order + s->pos, k * sizeof *idx);
    s->pos += k;
    s->batches++;
    return k;
}

/* ---- data specs -------------------------------------------------------------------------- */

/* Split "k=v,k=v" options; calls back per pair. Returns DATA_OK or the callback's error. */
typedef int (*opt_fn)(void *ctx, const char *key, const char *val, data_err *err);

static int for_each_opt(const char *what, const char *opts, opt_fn fn, void *ctx, data_err *err) {
    char buf[1024];
    if (strlen(opts) >= sizeof buf)
        return data_fail(err, DATA_EINVAL, "%s: option string too long", what);
    strcpy(buf, opts);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return data_fail(err, DATA_EINVAL, "%s: option '%s' is not key=value", what, tok);
        *eq = '\0';
        int rc = fn(ctx, tok, eq + 1, err);
        if (rc)
            return rc;
    }
    return DATA_OK;
}

static int parse_size(const char *what, const char *key, const char *v, size_t *out,
                      data_err *err) {
    char *end;
    errno = 0;
    double x = strtod(v, &end); /* accepts 6e4 */
    if (end == v || *end || errno || x < 0 || x != floor(x) || x > 1e15)
        return data_fail(err, DATA_EINVAL, "%s: %s=%s is not a non-negative integer", what, key, v);
    *out = (size_t)x;
    return DATA_OK;
}

static int parse_double(const char *what, const char *key, const char *v, double *out,
                        data_err *err) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x))
        return data_fail(err, DATA_EINVAL, "%s: %s=%s is not a number", what, key, v);
    *out = x;
    return DATA_OK;
}

struct fmnist_spec {
    char dir[512];
    size_t n, ntest;
    data_norm norm;
};

static int fmnist_opt(void *ctx, const char *k, const char *v, data_err *err) {
    struct fmnist_spec *s = ctx;
    if (!strcmp(k, "dir")) {
        snprintf(s->dir, sizeof s->dir, "%s", v);
        return DATA_OK;
    }
    if (!strcmp(k, "n"))
        return parse_size("fmnist", k, v, &s->n, err);
    if (!strcmp(k, "ntest"))
        return parse_size("fmnist", k, v, &s->ntest, err);
    if (!strcmp(k, "norm")) {
        if (!strcmp(v, "std"))
            s->norm = DATA_NORM_STANDARDIZE;
        else if (!strcmp(v, "unit"))
            s->norm = DATA_NORM_UNIT;
        else if (!strcmp(v, "raw"))
            s->norm = DATA_NORM_RAW;
        else
            return data_fail(err, DATA_EINVAL, "fmnist: norm=%s (valid: std, unit, raw)", v);
        return DATA_OK;
    }
    return data_fail(err, DATA_EINVAL, "fmnist: unknown option '%s' (valid: dir, n, ntest, norm)",
                     k);
}

struct libsvm_spec {
    char test[512];
    data_libsvm_opts o;
};

static int libsvm_opt(void *ctx, const char *k, const char *v, data_err *err) {
    struct libsvm_spec *s = ctx;
    if (!strcmp(k, "test")) {
        snprintf(s->test, sizeof s->test, "%s", v);
        return DATA_OK;
    }
    if (!strcmp(k, "dense")) {
        if (!strcmp(v, "1"))
            s->o.dense = 1;
        else if (!strcmp(v, "0"))
            s->o.dense = 0;
        else if (!strcmp(v, "auto"))
            s->o.dense = -1;
        else
            return data_fail(err, DATA_EINVAL, "libsvm: dense=%s (valid: 0, 1, auto)", v);
        return DATA_OK;
    }
    if (!strcmp(k, "dim"))
        return parse_size("libsvm", k, v, &s->o.dim, err);
    if (!strcmp(k, "task")) {
        if (!strcmp(v, "auto"))
            s->o.task = DATA_TASK_AUTO;
        else if (!strcmp(v, "class"))
            s->o.task = DATA_TASK_CLASSIFY;
        else if (!strcmp(v, "reg"))
            s->o.task = DATA_TASK_REGRESSION;
        else
            return data_fail(err, DATA_EINVAL, "libsvm: task=%s (valid: auto, class, reg)", v);
        return DATA_OK;
    }
    return data_fail(err, DATA_EINVAL,
                     "libsvm: unknown option '%s' (valid: test, dense, dim, task)", k);
}

struct synth_spec {
    data_synth_leastsq_opts ls;
    data_synth_logreg_opts lr;
    size_t ntest;
    int is_leastsq;
};

static int synth_opt(void *ctx, const char *k, const char *v, data_err *err) {
    struct synth_spec *s = ctx;
    const char *w = s->is_leastsq ? "synth-leastsq" : "synth-logreg";
    size_t *n = s->is_leastsq ? &s->ls.n : &s->lr.n;
    size_t *dim = s->is_leastsq ? &s->ls.dim : &s->lr.dim;
    if (!strcmp(k, "n"))
        return parse_size(w, k, v, n, err);
    if (!strcmp(k, "dim") || !strcmp(k, "d"))
        return parse_size(w, k, v, dim, err);
    if (!strcmp(k, "ntest"))
        return parse_size(w, k, v, &s->ntest, err);
    if (s->is_leastsq) {
        if (!strcmp(k, "kappa"))
            return parse_double(w, k, v, &s->ls.kappa, err);
        if (!strcmp(k, "mu"))
            return parse_double(w, k, v, &s->ls.mu, err);
        if (!strcmp(k, "noise"))
            return parse_double(w, k, v, &s->ls.noise, err);
        if (!strcmp(k, "spread")) {
            if (!strcmp(v, "log"))
                s->ls.linear_spread = 0;
            else if (!strcmp(v, "linear"))
                s->ls.linear_spread = 1;
            else
                return data_fail(err, DATA_EINVAL, "%s: spread=%s (valid: log, linear)", w, v);
            return DATA_OK;
        }
        return data_fail(err, DATA_EINVAL,
                         "%s: unknown option '%s' (valid: n, dim, kappa, mu, noise, spread, ntest)",
                         w, k);
    }
    if (!strcmp(k, "scale"))
        return parse_double(w, k, v, &s->lr.scale, err);
    if (!strcmp(k, "hard")) {
        size_t h = 0;
        int rc = parse_size(w, k, v, &h, err);
        s->lr.hard = h != 0;
        return rc;
    }
    return data_fail(err, DATA_EINVAL,
                     "%s: unknown option '%s' (valid: n, dim, scale, hard, ntest)", w, k);
}

int data_load_spec(const char *spec, uint64_t seed, dataset **train, dataset **test,
                   data_err *err) {
    *train = *test = NULL;
    if (!spec || !*spec)
        return data_fail(err, DATA_EINVAL,
                         "empty data spec (valid: fmnist, libsvm:PATH, "
                         "synth-leastsq, synth-logreg)");
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *opts = colon ? colon + 1 : "";
    int rc;
    if (nlen == 6 && !strncmp(spec, "fmnist", 6)) {
        struct fmnist_spec s = {.dir = DATA_FMNIST_DIR};
        if ((rc = for_each_opt("fmnist", opts, fmnist_opt, &s, err)))
            return rc;
        data_idx_opts o = {.norm = s.norm, .limit = s.n};
        if ((rc = data_fmnist_load(s.dir, "train", &o, train, err)))
            return rc;
        o.limit = s.ntest;
        if ((rc = data_fmnist_load(s.dir, "test", &o, test, err))) {
            dataset_free(*train);
            *train = NULL;
            return rc;
        }
        return DATA_OK;
    }
    if (nlen == 6 && !strncmp(spec, "libsvm", 6)) {
        struct libsvm_spec s = {.o = {.dense = -1}};
        char path[512];
        const char *comma = strchr(opts, ',');
        size_t plen = comma ? (size_t)(comma - opts) : strlen(opts);
        if (plen == 0 || plen >= sizeof path)
            return data_fail(err, DATA_EINVAL,
                             "libsvm spec '%s': expected libsvm:PATH[,test=PATH,"
                             "dense=0|1|auto,dim=N,task=auto|class|reg]",
                             spec);
        memcpy(path, opts, plen);
        path[plen] = '\0';
        if (comma && (rc = for_each_opt("libsvm", comma + 1, libsvm_opt, &s, err)))
            return rc;
        data_libsvm_info *info = malloc(sizeof *info);
        if (!info)
            return data_fail(err, DATA_ENOMEM, "out of memory");
        rc = data_libsvm_load(path, &s.o, train, info, err);
        if (rc == DATA_OK && s.test[0]) {
            /* The test file must use the training file's classes and dimension. */
            data_libsvm_opts t = s.o;
            t.dim = (*train)->shape.dim;
            if (info->nclasses > 0) {
                t.task = DATA_TASK_CLASSIFY;
                t.classes = info->classes;
                t.nclasses = info->nclasses;
            } else {
                t.task = DATA_TASK_REGRESSION;
            }
            t.dense = (*train)->layout == DATA_DENSE;
            rc = data_libsvm_load(s.test, &t, test, NULL, err);
            if (rc) {
                dataset_free(*train);
                *train = NULL;
            }
        } else if (rc == DATA_OK) {
            *test = *train;
        }
        free(info);
        return rc;
    }
    int is_ls = nlen == 13 && !strncmp(spec, "synth-leastsq", 13);
    int is_lr = nlen == 12 && !strncmp(spec, "synth-logreg", 12);
    if (is_ls || is_lr) {
        struct synth_spec s = {.is_leastsq = is_ls};
        s.ls.seed = s.lr.seed = seed;
        if ((rc = for_each_opt(is_ls ? "synth-leastsq" : "synth-logreg", opts, synth_opt, &s, err)))
            return rc;
        if (is_ls) {
            if ((rc = data_synth_leastsq(&s.ls, 0, train, NULL, err)))
                return rc;
            data_synth_leastsq_opts t = s.ls;
            t.n = s.ntest ? s.ntest : (s.ls.n ? s.ls.n : 1000);
            rc = data_synth_leastsq(&t, 1, test, NULL, err);
        } else {
            if ((rc = data_synth_logreg(&s.lr, 0, train, NULL, err)))
                return rc;
            data_synth_logreg_opts t = s.lr;
            t.n = s.ntest ? s.ntest : (s.lr.n ? s.lr.n : 1000);
            rc = data_synth_logreg(&t, 1, test, NULL, err);
        }
        if (rc) {
            dataset_free(*train);
            *train = NULL;
        }
        return rc;
    }
    return data_fail(err, DATA_EINVAL,
                     "unknown data set '%.*s' in spec '%s' (valid: fmnist, "
                     "libsvm:PATH, synth-leastsq, synth-logreg)",
                     (int)nlen, spec, spec);
}
